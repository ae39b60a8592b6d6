//! Functions in FROM (one call, `ROWS FROM (...)`, a multi-argument `unnest`): what they see
//! (every function in FROM is LATERAL in PostgreSQL, written or not) and which columns they
//! return, where pgward knows them. A function whose columns pgward does not know, or not
//! for sure, claims no name for itself alone: its item has an unknown rest, so that a name
//! is read both as its column and as whatever the outer levels give it.

use pg_query::protobuf::{FuncCall, RangeFunction};
use pg_query::{Node, NodeEnum};

use super::analyzer::{Analyzer, SteerKind};
use super::from::{alias_name, FromOut};
use super::names;
use super::nodes::strings;
use super::scope::{Col, Columns, Item, Scope};
use super::sources::Lineage;
use crate::denial::Denial;

/// The columns of one function: their names in order, and whether those are exactly its
/// columns (names and count) or only pgward's best guess.
struct Shape {
    names: Vec<String>,
    exact: bool,
}

/// Functions returning a fixed pair of columns.
const KEY_VALUE: &[&str] = &[
    "json_each",
    "json_each_text",
    "jsonb_each",
    "jsonb_each_text",
];

fn column_defs(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|c| match c.node.as_ref() {
            Some(NodeEnum::ColumnDef(cd)) => Some(cd.colname.clone()),
            _ => None,
        })
        .collect()
}

impl Analyzer<'_> {
    pub(super) fn range_function(
        &mut self,
        rf: &RangeFunction,
        scope: &Scope,
    ) -> Result<FromOut, Denial> {
        // transformRangeFunction makes this level's earlier items visible whether or not
        // LATERAL is written.
        let child = Scope::subquery(scope, true);
        let count = rf.functions.len();
        let mut lineage = Lineage::default();
        let mut shapes = Vec::with_capacity(count);
        let mut first_name: Option<String> = None;
        for f in &rf.functions {
            // Each entry is a list: the call, then an optional column definition list.
            let (call, defs) = match f.node.as_ref() {
                Some(NodeEnum::List(l)) => (l.items.first(), l.items.get(1)),
                _ => (Some(f), None),
            };
            let Some(call) = call else { continue };
            let l = self.expr(call, &child)?;
            // A function in FROM returns as many rows as its argument makes it: PII in the
            // arguments steers the row count.
            self.steer_value(l.clone(), SteerKind::Predicate, "a function in FROM");
            lineage.add(&l);
            let mut defs = match defs.and_then(|d| d.node.as_ref()) {
                Some(NodeEnum::List(l)) => column_defs(&l.items),
                _ => vec![],
            };
            if defs.is_empty() && count == 1 {
                defs = column_defs(&rf.coldeflist);
            }
            let fc = match call.node.as_ref() {
                Some(NodeEnum::FuncCall(fc)) => Some(fc.as_ref()),
                _ => None,
            };
            let fname = fc.and_then(|fc| strings(&fc.funcname).last().map(|s| s.to_string()));
            if first_name.is_none() {
                first_name = Some(fname.clone().unwrap_or_else(|| "function".into()));
            }
            shapes.push(if defs.is_empty() {
                self.function_shape(fc, rf, count)
            } else {
                Shape {
                    names: defs,
                    exact: true,
                }
            });
        }
        let lineage = lineage.transformed();
        let fname = first_name.unwrap_or_else(|| "function".into());
        let name = alias_name(rf.alias.as_ref(), &fname).to_string();
        Ok(function_item(name, shapes, rf, lineage))
    }

    /// The columns of a call without a column definition list.
    fn function_shape(&self, fc: Option<&FuncCall>, rf: &RangeFunction, count: usize) -> Shape {
        let unknown = Shape {
            names: vec![],
            exact: false,
        };
        let Some(fc) = fc else {
            // CAST, COALESCE, CURRENT_DATE...: one value, named after the alias when alone.
            return match rf.alias.as_ref() {
                Some(a) if count == 1 && !a.aliasname.is_empty() => Shape {
                    names: vec![a.aliasname.clone()],
                    exact: false,
                },
                _ => unknown,
            };
        };
        let parts = strings(&fc.funcname);
        let schema = parts
            .len()
            .checked_sub(2)
            .and_then(|i| parts.get(i).copied());
        let Some(last) = parts.last().copied() else {
            return unknown;
        };
        // User code may return any number of columns, under any names.
        let builtin = !names::is_user_function(schema)
            && (schema.is_some() || self.index.is_builtin_function(last));
        if !builtin {
            return unknown;
        }
        if KEY_VALUE.contains(&last) {
            return Shape {
                names: vec!["key".into(), "value".into()],
                exact: true,
            };
        }
        // A scalar result is named after the alias when the function is alone, else after
        // the function (chooseScalarFunctionAlias).
        let scalar = match rf.alias.as_ref() {
            Some(a) if count == 1 && !a.aliasname.is_empty() => a.aliasname.clone(),
            _ => last.to_string(),
        };
        if last == "unnest" {
            // unnest(a, b, ...) alone in FROM is ROWS FROM (unnest(a), unnest(b), ...); an
            // array of a composite type unnests into that type's columns.
            let n = if !rf.is_rowsfrom && count == 1 {
                fc.args.len().max(1)
            } else {
                1
            };
            let name = if n > 1 { "unnest".to_string() } else { scalar };
            return Shape {
                names: vec![name; n],
                exact: false,
            };
        }
        if names::is_single_column_srf(last) {
            return Shape {
                names: vec![scalar],
                exact: true,
            };
        }
        if names::is_set_returning(last)
            || self.index.is_set_returning(last)
            || last.contains("record")
            || last.ends_with("_each")
        {
            return unknown;
        }
        // Another built-in function: one value, unless it returns a composite (OUT
        // parameters), whose columns pgward does not list.
        Shape {
            names: vec![scalar],
            exact: false,
        }
    }
}

/// The item and `*` columns of a function's FROM item. Every column is fed by all the
/// arguments (`lineage`), WITH ORDINALITY's by none where its place is known.
fn function_item(
    name: String,
    shapes: Vec<Shape>,
    rf: &RangeFunction,
    lineage: Lineage,
) -> FromOut {
    let all_exact = shapes.iter().all(|s| s.exact);
    let col = |name: &str, lineage: &Lineage| Col {
        name: name.to_string(),
        lineage: lineage.clone(),
    };
    // `*` positions known for sure (before the first inexact function), then its guesses.
    let mut star: Vec<Col> = Vec::new();
    let mut certain = 0;
    // Names of exact functions placed after an inexact one: certain, at unknown positions.
    let mut after: Vec<String> = Vec::new();
    let mut prefix = true;
    for s in &shapes {
        if prefix {
            star.extend(s.names.iter().map(|n| col(n, &lineage)));
            if s.exact {
                certain = star.len();
            } else {
                prefix = false;
            }
        } else if s.exact {
            after.extend(s.names.iter().cloned());
        }
    }
    let ordinality = Lineage::default();
    if rf.ordinality {
        if all_exact {
            star.push(col("ordinality", &ordinality));
            certain = star.len();
        } else {
            after.push("ordinality".into());
        }
    }
    let aliases: Vec<String> = rf
        .alias
        .as_ref()
        .map(|a| {
            strings(&a.colnames)
                .into_iter()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for (c, a) in star.iter_mut().zip(&aliases) {
        c.name = a.clone();
    }
    if all_exact {
        let columns = Columns {
            cols: star,
            tail: None,
        };
        return FromOut {
            items: vec![Item::new(name, columns.cols.clone())],
            star: columns,
        };
    }
    // Column aliases name columns that exist (PostgreSQL refuses more aliases than columns);
    // the exact functions' names after an inexact one stand unless an alias may rename them.
    let mut known: Vec<Col> = star[..certain].to_vec();
    known.extend(aliases.iter().skip(certain).map(|a| col(a, &lineage)));
    if aliases.is_empty() {
        known.extend(after.iter().map(|n| col(n, &lineage)));
    }
    let item = Item {
        name,
        columns: known,
        rest: Some(lineage.clone()),
        unknown: None,
    };
    FromOut {
        items: vec![item],
        star: Columns {
            cols: star,
            tail: Some(lineage),
        },
    }
}
