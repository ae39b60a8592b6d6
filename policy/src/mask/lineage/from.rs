//! FROM items: relations (tables, views expanded through their definition, CTEs, relations
//! the snapshot lacks), subqueries, XMLTABLE; functions are in [`super::function`], joins in
//! [`super::join`].

use pg_query::protobuf::{Alias, RangeVar};
use pg_query::{Node, NodeEnum};

use super::analyzer::{Analyzer, SteerKind};
use super::names;
use super::nodes::strings;
use super::scope::{Col, Columns, Item, Scope};
use super::sources::{Lineage, Source};
use crate::denial::deny;
use crate::denial::Denial;
use crate::mask::config::is_system_schema;
use crate::mask::index::schemas_searched;

/// What one FROM item contributes to its query level.
pub struct FromOut {
    pub items: Vec<Item>,
    pub star: Columns,
}

/// Renames columns after an alias' column list, as PostgreSQL does (extra aliases ignored).
pub(super) fn rename(mut columns: Columns, alias: Option<&Alias>) -> Columns {
    if let Some(alias) = alias {
        for (c, name) in columns.cols.iter_mut().zip(strings(&alias.colnames)) {
            c.name = name.to_string();
        }
    }
    columns
}

pub(super) fn alias_name<'n>(alias: Option<&'n Alias>, default: &'n str) -> &'n str {
    match alias {
        Some(a) if !a.aliasname.is_empty() => a.aliasname.as_str(),
        _ => default,
    }
}

fn item_from(name: &str, columns: Columns, unknown: Option<usize>) -> FromOut {
    let item = Item {
        name: name.to_string(),
        columns: columns.cols.clone(),
        rest: columns.tail.clone(),
        unknown,
    };
    FromOut {
        items: vec![item],
        star: columns,
    }
}

impl Analyzer<'_> {
    pub(super) fn range_item(&mut self, node: &Node, scope: &Scope) -> Result<FromOut, Denial> {
        self.enter()?;
        let out = self.range_item_inner(node, scope);
        self.leave();
        out
    }

    fn range_item_inner(&mut self, node: &Node, scope: &Scope) -> Result<FromOut, Denial> {
        match node.node.as_ref() {
            Some(NodeEnum::RangeVar(rv)) => self.range_var(rv, scope),
            Some(NodeEnum::RangeSubselect(sub)) => {
                let child = Scope::subquery(scope, sub.lateral);
                let columns = match sub.subquery.as_deref() {
                    Some(q) => self.query_node(q, &child)?,
                    None => Columns::default(),
                };
                let columns = rename(columns, sub.alias.as_ref());
                Ok(item_from(
                    alias_name(sub.alias.as_ref(), "unnamed_subquery"),
                    columns,
                    None,
                ))
            }
            Some(NodeEnum::RangeFunction(rf)) => self.range_function(rf, scope),
            Some(NodeEnum::JoinExpr(j)) => self.join(j, scope),
            Some(NodeEnum::RangeTableSample(ts)) => {
                // The percentage and the seed choose which rows come back.
                for arg in ts.args.iter().chain(ts.repeatable.as_deref()) {
                    let l = self.expr(arg, scope)?;
                    self.steer_value(l, SteerKind::Predicate, "TABLESAMPLE");
                }
                match ts.relation.as_deref() {
                    Some(rel) => self.range_item(rel, scope),
                    None => Ok(self.opaque_item(node, scope, "")),
                }
            }
            Some(NodeEnum::RangeTableFunc(tf)) => {
                let doc = match tf.docexpr.as_deref() {
                    Some(d) => self.expr(d, scope)?,
                    None => Lineage::default(),
                };
                self.steer_value(doc.clone(), SteerKind::Predicate, "XMLTABLE rows");
                // The row path and namespaces choose rows too; a column's path and DEFAULT
                // are expressions that may read any column in scope (DEFAULT u.ssn).
                let namespaces = tf.namespaces.iter().map(|n| match n.node.as_ref() {
                    Some(NodeEnum::ResTarget(t)) => t.val.as_deref().unwrap_or(n),
                    _ => n,
                });
                for steer in tf.rowexpr.as_deref().into_iter().chain(namespaces) {
                    let l = self.expr(steer, scope)?;
                    self.steer_value(l, SteerKind::Predicate, "XMLTABLE rows");
                }
                let doc = doc.transformed();
                let mut cols = Vec::with_capacity(tf.columns.len());
                for c in &tf.columns {
                    let Some(NodeEnum::RangeTableFuncCol(col)) = c.node.as_ref() else {
                        return Err(super::nodes::unreadable());
                    };
                    let mut lineage = if col.for_ordinality {
                        Lineage::default()
                    } else {
                        doc.clone()
                    };
                    for e in col
                        .colexpr
                        .as_deref()
                        .into_iter()
                        .chain(col.coldefexpr.as_deref())
                    {
                        lineage.add(&self.expr(e, scope)?.transformed());
                    }
                    cols.push(Col {
                        name: col.colname.clone(),
                        lineage,
                    });
                }
                let columns = rename(Columns { cols, tail: None }, tf.alias.as_ref());
                Ok(item_from(
                    alias_name(tf.alias.as_ref(), "xmltable"),
                    columns,
                    None,
                ))
            }
            _ => Ok(self.opaque_item(node, scope, "")),
        }
    }

    /// A FROM item pgward cannot read: every column of unknown origin.
    fn opaque_item(&mut self, node: &Node, scope: &Scope, name: &str) -> FromOut {
        let lineage = self.opaque_node(node, scope);
        item_from(
            name,
            Columns {
                cols: vec![],
                tail: Some(lineage),
            },
            None,
        )
    }

    /// A relation pgward cannot place: every column of unknown origin, counted as PII.
    fn opaque_relation(&mut self, name: &str) -> FromOut {
        self.reads_pii = true;
        item_from(
            name,
            Columns {
                cols: vec![],
                tail: Some(Lineage::opaque()),
            },
            None,
        )
    }

    fn range_var(&mut self, rv: &RangeVar, scope: &Scope) -> Result<FromOut, Denial> {
        let name = alias_name(rv.alias.as_ref(), &rv.relname).to_string();
        if rv.schemaname.is_empty() {
            if let Some(cte) = scope.cte(&rv.relname) {
                let columns = Columns {
                    cols: cte.columns.clone(),
                    tail: cte.rest.clone(),
                };
                let columns = rename(columns, rv.alias.as_ref());
                return Ok(item_from(&name, columns, None));
            }
        }
        let schema = (!rv.schemaname.is_empty()).then_some(rv.schemaname.as_str());
        if names::is_statistics_relation(schema, &rv.relname) {
            return Err(deny(
                "masking.statistics",
                format!(
                    "{} holds sample values of columns, masked ones included",
                    rv.relname
                ),
                "use pg_stats for columns that are not masked through an unmasked role",
            ));
        }
        let index = self.index;
        let mut relation = match schema {
            Some(s) => index.relation(s, &rv.relname),
            None => index.resolve(&rv.relname, self.path()),
        };
        if relation.is_none() && schema.is_none() && self.in_view > 0 {
            // A view definition printed under another search_path than the one given: the
            // name is the one relation of that name, or untraceable when several share it.
            match index.relations_named(&rv.relname).as_slice() {
                [only] => relation = Some(*only),
                [] => {}
                _ => return Ok(self.opaque_relation(&name)),
            }
        }
        let Some(relation) = relation else {
            let schemas: Vec<String> = match schema {
                Some(s) => vec![s.to_string()],
                None => schemas_searched(self.path()).map(str::to_string).collect(),
            };
            // Resolve the name now so that an unknown relation that may hold PII marks the
            // statement as reading PII.
            self.unknown_source(&schemas, &rv.relname, None);
            self.unknown_relations.push((schemas, rv.relname.clone()));
            let idx = self.unknown_relations.len() - 1;
            return Ok(FromOut {
                items: vec![Item {
                    name: name.clone(),
                    columns: vec![],
                    rest: None,
                    unknown: Some(idx),
                }],
                star: Columns {
                    cols: vec![],
                    tail: Some(Lineage::of(self.unknown_column(idx, None))),
                },
            });
        };
        if index.has_pii(relation.oid) {
            self.reads_pii = true;
        }
        if relation.columns.is_empty() && is_system_schema(&relation.schema) {
            // The snapshot lists PostgreSQL's own relations without their columns: any
            // column of theirs is clear.
            let columns = Columns {
                cols: vec![],
                tail: Some(Lineage::default()),
            };
            return Ok(item_from(&name, columns, None));
        }
        let mut cols: Vec<Col> = relation
            .columns
            .iter()
            .map(|c| Col {
                name: c.name.clone(),
                lineage: Lineage::of(Source::Column(relation.oid, c.attnum)),
            })
            .collect();
        // PostgreSQL's own views read only system catalogs (pg_stats is refused by name).
        let system = matches!(
            relation.schema.as_str(),
            "pg_catalog" | "information_schema"
        );
        if let (Some(definition), false) = (&relation.view_definition, system) {
            let view = self.view_columns(definition)?;
            for (i, c) in cols.iter_mut().enumerate() {
                c.lineage.add(&view.lineage_at(i));
            }
        }
        let columns = rename(Columns { cols, tail: None }, rv.alias.as_ref());
        Ok(item_from(&name, columns, None))
    }

    /// The columns of a view's definition. Its own WHERE and ORDER BY are the view owner's
    /// choice, not the reader's, so checks inside it are not kept.
    fn view_columns(&mut self, definition: &str) -> Result<Columns, Denial> {
        self.enter()?;
        let kept = self.checks.len();
        // View definitions resolve names with their own search_path.
        self.in_view += 1;
        let columns = match pg_query::parse(definition, 0) {
            Ok(parsed) => match parsed
                .protobuf
                .stmts
                .first()
                .and_then(|s| s.stmt.as_deref())
            {
                Some(node) => self.query_node(node, &Scope::default()),
                None => Ok(Columns::default()),
            },
            Err(_) => Ok(Columns {
                cols: vec![],
                tail: Some(Lineage::opaque()),
            }),
        };
        self.in_view -= 1;
        self.checks.truncate(kept);
        self.leave();
        columns
    }
}
