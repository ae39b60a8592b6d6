//! Range items visible to a query level and name resolution through them, innermost level
//! first, as PostgreSQL resolves column references (parse_relation.c: colNameToVar, then
//! refnameNamespaceItem), with its namespace visibility (parse_clause.c: a non-LATERAL
//! subquery in FROM sees none of its own level, a join's ON clause only the join's sides).
//! Ambiguity (which PostgreSQL refuses) is taken as the union of the candidates; an item
//! whose columns pgward does not know may or may not hold a name, so the name is read both
//! as its column and as what the levels above give it.

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

/// One query level, or a part of one (a join's left side, a join's ON clause).
#[derive(Debug, Default)]
pub struct Scope<'p> {
    pub items: Vec<Item>,
    /// What `*` expands to, in order (joins merge USING columns first).
    pub star: Columns,
    pub ctes: Vec<Item>,
    pub parent: Option<&'p Scope<'p>>,
    /// The parent's items are not visible from here (a non-LATERAL subquery in FROM, a join's
    /// ON clause), though its CTEs and the levels above are. The parent's own query level is
    /// hidden whole: every scope of that level is skipped up to the level's root.
    pub skip_parent_items: bool,
    /// This scope belongs to its parent's query level (items PostgreSQL adds to the level's
    /// namespace for a while: a join's left side while its right side is read): when the
    /// level is hidden from a subquery, so are these items.
    pub same_level: bool,
}

/// How a column reference resolved.
pub enum Resolved {
    /// A column: its lineage, plus relations the snapshot lacks that may hold it.
    Column(Lineage, Vec<usize>),
    /// The name is a range item: a whole-row reference.
    WholeRow(Lineage, Vec<usize>),
    NotFound,
}

/// What a column search has gathered so far: columns that may be the name's (items whose
/// columns pgward does not know), until an item that certainly has it.
#[derive(Default)]
struct Found {
    lineage: Lineage,
    unknown: Vec<usize>,
    any: bool,
}

impl<'p> Scope<'p> {
    pub fn child(parent: &'p Scope<'p>) -> Scope<'p> {
        Scope {
            parent: Some(parent),
            ..Scope::default()
        }
    }

    /// A scope for a FROM subquery: CTEs and outer levels visible, the items of the query
    /// level it sits in not (unless LATERAL).
    pub fn subquery(parent: &'p Scope<'p>, lateral: bool) -> Scope<'p> {
        Scope {
            parent: Some(parent),
            skip_parent_items: !lateral,
            ..Scope::default()
        }
    }

    /// A part of the parent's query level holding `items` (a join's left side, visible to a
    /// LATERAL right side), or, with `only`, a join's ON clause: these items and the levels
    /// above, none of the rest of this level.
    pub fn within(parent: &'p Scope<'p>, items: Vec<Item>, only: bool) -> Scope<'p> {
        Scope {
            items,
            parent: Some(parent),
            skip_parent_items: only,
            same_level: true,
            ..Scope::default()
        }
    }

    /// Whether the parent's items are hidden, given whether this scope's are.
    fn parent_hidden(&self, hidden: bool) -> bool {
        self.skip_parent_items || (self.same_level && hidden)
    }

    pub fn cte(&self, name: &str) -> Option<&Item> {
        self.ctes
            .iter()
            .rev()
            .find(|c| c.name == name)
            .or_else(|| self.parent.and_then(|p| p.cte(name)))
    }

    /// `name` (unqualified) or `item.name`. As PostgreSQL does, an unqualified name is
    /// looked for as a column at every level first, and only then as a range item (a
    /// whole-row reference); a qualified one in the nearest item of that name.
    pub fn resolve(&self, item: Option<&str>, name: &str) -> Resolved {
        let mut found = Found::default();
        let certain = self.column_from(item, name, false, &mut found);
        if !certain && item.is_none() {
            if let Some(row) = self.item(name) {
                // An item of unknown columns passed on the way may hold the name instead.
                let mut l = found.lineage;
                l.add(&row.row_lineage());
                let mut unknown = found.unknown;
                unknown.extend(row.unknown);
                return Resolved::WholeRow(l, unknown);
            }
        }
        if found.any {
            Resolved::Column(found.lineage, found.unknown)
        } else {
            Resolved::NotFound
        }
    }

    /// Searches for a column, innermost level first; true once the search is settled (an
    /// item has the name, or the qualifier named an item). Items whose columns pgward does
    /// not know may or may not have it: their lineage is gathered and the search goes on
    /// outward, so that the name is read both ways.
    fn column_from(&self, item: Option<&str>, name: &str, hidden: bool, found: &mut Found) -> bool {
        if !hidden {
            let mut named = false;
            let mut certain: Vec<&Lineage> = Vec::new();
            let mut maybe: Vec<&Lineage> = Vec::new();
            for i in self
                .items
                .iter()
                .filter(|i| item.is_none_or(|t| i.name == t))
            {
                named = true;
                if let Some(u) = i.unknown {
                    found.unknown.push(u);
                    found.any = true;
                }
                let before = certain.len();
                certain.extend(
                    i.columns
                        .iter()
                        .filter(|c| c.name == name)
                        .map(|c| &c.lineage),
                );
                if certain.len() == before {
                    maybe.extend(i.rest.as_ref());
                }
            }
            if !certain.is_empty() {
                // Another item of this level holding the name too is an error in PostgreSQL
                // (ambiguous) or a column USING merged: the certain ones are what it reads,
                // rows of either side.
                found.lineage.add(&Lineage::rows_of(certain));
                found.any = true;
                return true;
            }
            if !maybe.is_empty() {
                found.lineage.add(&Lineage::union(maybe));
                found.any = true;
            }
            if named && item.is_some() {
                return true;
            }
        }
        match self.parent {
            Some(p) => p.column_from(item, name, self.parent_hidden(hidden), found),
            None => false,
        }
    }

    /// The item called `name` (for `t.*`), innermost level first.
    pub fn item(&self, name: &str) -> Option<&Item> {
        self.item_from(name, false)
    }

    fn item_from(&self, name: &str, hidden: bool) -> Option<&Item> {
        let here = if hidden {
            None
        } else {
            self.items.iter().rev().find(|i| i.name == name)
        };
        here.or_else(|| {
            self.parent
                .and_then(|p| p.item_from(name, self.parent_hidden(hidden)))
        })
    }
}
