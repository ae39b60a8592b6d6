//! WITH clauses: each CTE's columns (a recursive one re-read until its lineage stops
//! growing), and what a recursive CTE's SEARCH and CYCLE clauses add. CYCLE compares each new
//! row's cycle columns with those on its path and stops the recursion on a match, so how many
//! rows come back tells whether a guess equalled the value: those columns steer the result.

use pg_query::protobuf::{CommonTableExpr, WithClause};
use pg_query::NodeEnum;

use super::analyzer::{Analyzer, SteerKind};
use super::nodes::strings;
use super::scope::{Col, Columns, Item, Scope};
use super::sources::Lineage;
use crate::denial::Denial;

/// Rounds a recursive CTE is re-read until its lineage stops growing.
const RECURSIVE_ROUNDS: usize = 8;

impl Analyzer<'_> {
    pub(super) fn with_clause(
        &mut self,
        with: &WithClause,
        scope: &mut Scope,
    ) -> Result<(), Denial> {
        for node in &with.ctes {
            let Some(NodeEnum::CommonTableExpr(cte)) = node.node.as_ref() else {
                continue;
            };
            let Some(query) = cte.ctequery.as_deref() else {
                continue;
            };
            let aliases: Vec<String> = strings(&cte.aliascolnames)
                .into_iter()
                .map(str::to_string)
                .collect();
            let named = |mut cols: Columns| {
                for (c, n) in cols.cols.iter_mut().zip(&aliases) {
                    c.name = n.clone();
                }
                cols
            };
            if !with.recursive {
                let cols = named(self.query_node(query, scope)?);
                let cols = self.search_and_cycle(cte, cols);
                scope.ctes.push(cte_item(&cte.ctename, cols));
                continue;
            }
            // Recursive: start from nothing, re-read until the lineage stops growing.
            let mut binding = Columns {
                cols: vec![],
                tail: Some(Lineage::default()),
            };
            let mut stable = false;
            for _ in 0..RECURSIVE_ROUNDS {
                scope.ctes.push(cte_item(&cte.ctename, binding.clone()));
                let result = self.query_node(query, scope);
                scope.ctes.pop();
                let cols = named(result?);
                let next = grow(&binding, &cols);
                if same(&next, &binding) {
                    stable = true;
                    break;
                }
                binding = next;
            }
            if !stable {
                binding = Columns {
                    cols: vec![],
                    tail: Some(Lineage::opaque()),
                };
            }
            let binding = self.search_and_cycle(cte, binding);
            scope.ctes.push(cte_item(&cte.ctename, binding));
        }
        Ok(())
    }

    /// The columns SEARCH and CYCLE add (computed from the columns they name), and the
    /// cycle check's comparison of its columns, which chooses the rows.
    fn search_and_cycle(&mut self, cte: &CommonTableExpr, mut cols: Columns) -> Columns {
        if let Some(search) = cte.search_clause.as_ref() {
            let by = named_columns(&cols, &strings(&search.search_col_list));
            cols.cols.push(Col {
                name: search.search_seq_column.clone(),
                lineage: by.transformed(),
            });
        }
        if let Some(cycle) = cte.cycle_clause.as_ref() {
            let by = named_columns(&cols, &strings(&cycle.cycle_col_list));
            self.steer_value(
                by.clone().transformed(),
                SteerKind::Distinct,
                "a recursive query's CYCLE clause (it compares rows to stop)",
            );
            for name in [&cycle.cycle_mark_column, &cycle.cycle_path_column] {
                cols.cols.push(Col {
                    name: name.clone(),
                    lineage: by.clone().transformed(),
                });
            }
        }
        cols
    }
}

/// The lineage of the named columns (a name it lacks: whatever the CTE may hold).
fn named_columns(cols: &Columns, names: &[&str]) -> Lineage {
    let mut out = Lineage::default();
    for name in names {
        match cols.cols.iter().find(|c| c.name == *name) {
            Some(c) => out.add(&c.lineage),
            None => out.add(&cols.all()),
        }
    }
    out
}

fn cte_item(name: &str, cols: Columns) -> Item {
    Item {
        name: name.to_string(),
        columns: cols.cols,
        rest: cols.tail,
        unknown: None,
    }
}

/// The binding of a recursive CTE after one more round: what it had plus what it produced.
fn grow(binding: &Columns, produced: &Columns) -> Columns {
    let mut cols = produced.cols.clone();
    for (i, c) in cols.iter_mut().enumerate() {
        c.lineage.add(&binding.lineage_at(i));
    }
    let tail = match (&binding.tail, &produced.tail) {
        (_, Some(t)) => Some(t.clone()),
        _ => None,
    };
    Columns { cols, tail }
}

fn same(a: &Columns, b: &Columns) -> bool {
    a.tail == b.tail
        && a.cols.len() == b.cols.len()
        && a.cols
            .iter()
            .zip(&b.cols)
            .all(|(x, y)| x.lineage == y.lineage)
}
