//! Range items visible to a query level and name resolution through them, innermost level
//! first, as PostgreSQL resolves column references. Ambiguity (which PostgreSQL refuses) is
//! taken as the union of the candidates.

use super::sources::Lineage;

/// One output column of a range item.
#[derive(Clone, Debug)]
pub struct Col {
    pub name: String,
    pub lineage: Lineage,
}

/// A FROM item (or a CTE): its reference name and columns.
#[derive(Clone, Debug)]
pub struct Item {
    pub name: String,
    pub columns: Vec<Col>,
    /// Columns beyond `columns` whose names or count pgward does not know (a relation the
    /// snapshot lacks, a function returning a record): any other name resolves to this.
    pub rest: Option<Lineage>,
    /// A relation the snapshot lacks (index into the analysis' unknown relations): any name
    /// resolves to it, as that relation's column of that name.
    pub unknown: Option<usize>,
}

impl Item {
    /// The lineage of the whole row.
    pub fn row_lineage(&self) -> Lineage {
        let mut l = Lineage::union(self.columns.iter().map(|c| &c.lineage));
        if let Some(rest) = &self.rest {
            l.add(rest);
        }
        l.transformed()
    }

    pub fn new(name: impl Into<String>, columns: Vec<Col>) -> Item {
        Item {
            name: name.into(),
            columns,
            rest: None,
            unknown: None,
        }
    }

    fn column(&self, name: &str) -> Option<Lineage> {
        let found: Vec<&Lineage> = self
            .columns
            .iter()
            .filter(|c| c.name == name)
            .map(|c| &c.lineage)
            .collect();
        if !found.is_empty() {
            return Some(Lineage::union(found));
        }
        self.rest.clone()
    }
}

/// A query's columns in output order, with an unknown tail when the count is not known.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    pub cols: Vec<Col>,
    /// Columns after `cols` of unknown count, all fed by this.
    pub tail: Option<Lineage>,
}

impl Columns {
    pub fn lineage_at(&self, i: usize) -> Lineage {
        match self.cols.get(i) {
            Some(c) => c.lineage.clone(),
            None => self.tail.clone().unwrap_or_default(),
        }
    }

    pub fn all(&self) -> Lineage {
        let mut l = Lineage::union(self.cols.iter().map(|c| &c.lineage));
        if let Some(t) = &self.tail {
            l.add(t);
        }
        l
    }

    pub fn extend(&mut self, other: Columns) {
        if self.tail.is_some() {
            let mut t = self.tail.take().unwrap_or_default();
            t.add(&other.all());
            self.tail = Some(t);
            return;
        }
        self.cols.extend(other.cols);
        self.tail = other.tail;
    }
}

/// One query level.
#[derive(Debug, Default)]
pub struct Scope<'p> {
    pub items: Vec<Item>,
    /// What `*` expands to, in order (joins merge USING columns first).
    pub star: Columns,
    pub ctes: Vec<Item>,
    pub parent: Option<&'p Scope<'p>>,
    /// The parent's items are not visible from here (a non-LATERAL subquery in FROM), though
    /// its CTEs and the levels above are.
    pub skip_parent_items: bool,
}

/// How a column reference resolved.
pub enum Resolved {
    /// A column: its lineage, plus relations the snapshot lacks that may hold it.
    Column(Lineage, Vec<usize>),
    /// The name is a range item: a whole-row reference.
    WholeRow(Lineage, Vec<usize>),
    NotFound,
}

impl<'p> Scope<'p> {
    pub fn child(parent: &'p Scope<'p>) -> Scope<'p> {
        Scope {
            parent: Some(parent),
            ..Scope::default()
        }
    }

    /// A scope for a FROM subquery: CTEs and outer levels visible, sibling items not
    /// (unless LATERAL).
    pub fn subquery(parent: &'p Scope<'p>, lateral: bool) -> Scope<'p> {
        Scope {
            parent: Some(parent),
            skip_parent_items: !lateral,
            ..Scope::default()
        }
    }

    pub fn cte(&self, name: &str) -> Option<&Item> {
        self.ctes
            .iter()
            .rev()
            .find(|c| c.name == name)
            .or_else(|| self.parent.and_then(|p| p.cte(name)))
    }

    /// `name` (unqualified) or `item.name`.
    pub fn resolve(&self, item: Option<&str>, name: &str) -> Resolved {
        self.resolve_from(item, name, false)
    }

    fn resolve_from(&self, item: Option<&str>, name: &str, skip_items: bool) -> Resolved {
        if !skip_items {
            let candidates = self
                .items
                .iter()
                .filter(|i| item.is_none_or(|t| i.name == t));
            let mut found = Vec::new();
            let mut unknown = Vec::new();
            for i in candidates {
                if let Some(l) = i.column(name) {
                    found.push(l);
                }
                if let Some(u) = i.unknown {
                    unknown.push(u);
                }
            }
            if !found.is_empty() {
                return Resolved::Column(Lineage::union(found.iter()), unknown);
            }
            if item.is_none() {
                let rows: Vec<&Item> = self.items.iter().filter(|i| i.name == name).collect();
                if !rows.is_empty() {
                    let lineages: Vec<Lineage> = rows.iter().map(|i| i.row_lineage()).collect();
                    let mut all_unknown: Vec<usize> =
                        rows.iter().filter_map(|i| i.unknown).collect();
                    all_unknown.extend(unknown);
                    return Resolved::WholeRow(Lineage::union(lineages.iter()), all_unknown);
                }
            }
            if !unknown.is_empty() {
                return Resolved::Column(Lineage::default(), unknown);
            }
        }
        match self.parent {
            Some(p) => p.resolve_from(item, name, self.skip_parent_items),
            None => Resolved::NotFound,
        }
    }

    /// The item called `name` (for `t.*`), innermost level first.
    pub fn item(&self, name: &str) -> Option<&Item> {
        self.item_from(name, false)
    }

    fn item_from(&self, name: &str, skip_items: bool) -> Option<&Item> {
        let here = if skip_items {
            None
        } else {
            self.items.iter().rev().find(|i| i.name == name)
        };
        here.or_else(|| {
            self.parent
                .and_then(|p| p.item_from(name, self.skip_parent_items))
        })
    }
}
