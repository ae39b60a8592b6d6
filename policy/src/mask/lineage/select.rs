//! SELECT bodies: set operations, VALUES, the target list with `*` and
//! `t.*`, and the clauses that steer the result (WHERE, GROUP BY, HAVING, WINDOW, DISTINCT,
//! ORDER BY, LIMIT/OFFSET).

use pg_query::protobuf::SelectStmt;
use pg_query::{Node, NodeEnum};

use super::analyzer::{Analyzer, Check, SteerKind};
use super::nodes::str_of;
use super::output_name::output_name;
use super::scope::{Col, Columns, Resolved, Scope};
use super::sources::Lineage;
use crate::denial::Denial;

const SETOP_UNION: i32 = 2;

impl Analyzer<'_> {
    /// The columns a query returns (SELECT, or a DML statement's RETURNING in a CTE).
    pub(super) fn query_node(&mut self, node: &Node, parent: &Scope) -> Result<Columns, Denial> {
        match node.node.as_ref() {
            Some(NodeEnum::SelectStmt(s)) => self.select(s, parent),
            Some(
                NodeEnum::InsertStmt(_)
                | NodeEnum::UpdateStmt(_)
                | NodeEnum::DeleteStmt(_)
                | NodeEnum::MergeStmt(_),
            ) => self.dml(node, parent),
            _ => Ok(Columns {
                cols: vec![],
                tail: Some(self.opaque_node(node, parent)),
            }),
        }
    }

    pub(super) fn select(&mut self, s: &SelectStmt, parent: &Scope) -> Result<Columns, Denial> {
        self.enter()?;
        let out = self.select_inner(s, parent);
        self.leave();
        out
    }

    fn select_inner(&mut self, s: &SelectStmt, parent: &Scope) -> Result<Columns, Denial> {
        let mut scope = Scope::child(parent);
        if let Some(with) = &s.with_clause {
            self.with_clause(with, &mut scope)?;
        }
        let outputs = if let (Some(l), Some(r)) = (s.larg.as_deref(), s.rarg.as_deref()) {
            let left = self.select(l, &scope)?;
            let right = self.select(r, &scope)?;
            let n = left.cols.len().max(right.cols.len());
            let mut cols = Vec::with_capacity(n);
            for i in 0..n {
                let (a, b) = (left.lineage_at(i), right.lineage_at(i));
                if s.op == SETOP_UNION && !s.all {
                    self.steer_value(
                        Lineage::union([&a, &b]).transformed(),
                        SteerKind::Distinct,
                        "UNION (it removes duplicates; use UNION ALL)",
                    );
                } else if s.op != SETOP_UNION {
                    // INTERSECT / EXCEPT (ALL or not) compare rows for equality, and PostgreSQL
                    // may sort them to do it: the rows come back in the values' order, so a
                    // probe row placed among them reads a value by bisection.
                    self.steer_value(
                        Lineage::union([&a, &b]).transformed(),
                        SteerKind::OrderBy,
                        "INTERSECT or EXCEPT (PostgreSQL may sort on it, and the order shows)",
                    );
                }
                let name = left
                    .cols
                    .get(i)
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| "?column?".into());
                cols.push(Col {
                    name,
                    lineage: Lineage::rows_of([&a, &b]),
                });
            }
            let tail = match (&left.tail, &right.tail) {
                (None, None) => None,
                _ => Some(Lineage::union([&left.all(), &right.all()])),
            };
            Columns { cols, tail }
        } else if !s.values_lists.is_empty() {
            let mut cols: Vec<Col> = Vec::new();
            for row in &s.values_lists {
                let items: &[Node] = match row.node.as_ref() {
                    Some(NodeEnum::List(l)) => &l.items,
                    _ => std::slice::from_ref(row),
                };
                for (i, item) in items.iter().enumerate() {
                    let l = self.expr(item, &scope)?;
                    match cols.get_mut(i) {
                        Some(c) => c.lineage = Lineage::rows_of([&c.lineage, &l]),
                        None => cols.push(Col {
                            name: format!("column{}", i + 1),
                            lineage: l,
                        }),
                    }
                }
            }
            Columns { cols, tail: None }
        } else {
            for item in &s.from_clause {
                let out = self.range_item(item, &scope)?;
                scope.items.extend(out.items);
                scope.star.extend(out.star);
            }
            if let Some(w) = s.where_clause.as_deref() {
                self.predicate(w, &scope, "WHERE")?;
            }
            let outputs = self.target_list(&s.target_list, &scope)?;
            for g in &s.group_clause {
                self.group_item(g, &scope, &outputs)?;
            }
            if let Some(h) = s.having_clause.as_deref() {
                let l = self.expr(h, &scope)?;
                self.steer_value(l, SteerKind::Predicate, "HAVING");
            }
            for w in &s.window_clause {
                if let Some(NodeEnum::WindowDef(wd)) = w.node.as_ref() {
                    self.window(wd, &scope)?;
                }
            }
            outputs
        };
        self.distinct(s, &scope, &outputs)?;
        for sort in &s.sort_clause {
            let l = self.sort_key(sort, &scope, &outputs)?;
            self.steer_value(l, SteerKind::OrderBy, "ORDER BY");
        }
        for limit in [s.limit_count.as_deref(), s.limit_offset.as_deref()]
            .into_iter()
            .flatten()
        {
            let l = self.expr(limit, &scope)?;
            self.steer_value(l, SteerKind::Predicate, "LIMIT/OFFSET");
        }
        if s.into_clause.is_some() {
            self.checks.push(Check::CopyOut {
                lineage: outputs.all(),
                what: "SELECT INTO",
            });
        }
        Ok(outputs)
    }

    fn distinct(&mut self, s: &SelectStmt, scope: &Scope, outputs: &Columns) -> Result<(), Denial> {
        match s.distinct_clause.as_slice() {
            [] => {}
            // Plain DISTINCT is a list with one empty node.
            [only] if only.node.is_none() => {
                self.steer_value(outputs.all().transformed(), SteerKind::Distinct, "DISTINCT");
            }
            on => {
                for d in on {
                    let l = self.sort_key(d, scope, outputs)?;
                    self.steer_value(l, SteerKind::Distinct, "DISTINCT ON");
                }
            }
        }
        Ok(())
    }

    pub(super) fn target_list(
        &mut self,
        targets: &[Node],
        scope: &Scope,
    ) -> Result<Columns, Denial> {
        let mut out = Columns::default();
        for t in targets {
            let Some(NodeEnum::ResTarget(rt)) = t.node.as_ref() else {
                continue;
            };
            let Some(val) = rt.val.as_deref() else {
                continue;
            };
            if let Some(NodeEnum::ColumnRef(cr)) = val.node.as_ref() {
                if matches!(
                    cr.fields.last().and_then(|f| f.node.as_ref()),
                    Some(NodeEnum::AStar(_))
                ) {
                    out.extend(self.star(&cr.fields, scope));
                    continue;
                }
            }
            let lineage = self.expr(val, scope)?;
            let name = if rt.name.is_empty() {
                output_name(val)
            } else {
                rt.name.clone()
            };
            out.extend(Columns {
                cols: vec![Col { name, lineage }],
                tail: None,
            });
        }
        Ok(out)
    }

    /// `*` or `t.*` at the top of a target list: the columns themselves.
    fn star(&mut self, fields: &[Node], scope: &Scope) -> Columns {
        let qualifier = fields.len().checked_sub(2).and_then(|i| fields.get(i));
        match qualifier.and_then(str_of) {
            None => scope.star.clone(),
            Some(t) => match scope.item(t) {
                Some(item) => {
                    let mut tail = item.rest.clone();
                    if let Some(u) = item.unknown {
                        let l = Lineage::of(self.unknown_column(u, None));
                        tail.get_or_insert_with(Lineage::default).add(&l);
                    }
                    Columns {
                        cols: item.columns.clone(),
                        tail,
                    }
                }
                None => Columns {
                    cols: vec![],
                    tail: Some(Lineage::opaque()),
                },
            },
        }
    }

    /// ORDER BY / DISTINCT ON / GROUP BY item: a position, an output name, or an expression.
    fn sort_key(
        &mut self,
        node: &Node,
        scope: &Scope,
        outputs: &Columns,
    ) -> Result<Lineage, Denial> {
        let inner = match node.node.as_ref() {
            Some(NodeEnum::SortBy(sb)) => match sb.node.as_deref() {
                Some(n) => n,
                None => return Ok(Lineage::default()),
            },
            _ => node,
        };
        match inner.node.as_ref() {
            Some(NodeEnum::AConst(c)) => {
                if let Some(pg_query::protobuf::a_const::Val::Ival(i)) = c.val.as_ref() {
                    let pos = usize::try_from(i.ival).unwrap_or(0);
                    return Ok(outputs.lineage_at(pos.saturating_sub(1)));
                }
                Ok(Lineage::default())
            }
            Some(NodeEnum::ColumnRef(cr)) if cr.fields.len() == 1 => {
                let name = cr.fields.first().and_then(str_of).unwrap_or("");
                let mut l = Lineage::union(
                    outputs
                        .cols
                        .iter()
                        .filter(|c| c.name == name)
                        .map(|c| &c.lineage),
                );
                let found_output = outputs.cols.iter().any(|c| c.name == name);
                let found_input = !matches!(scope.resolve(None, name), Resolved::NotFound);
                if !found_output || found_input {
                    // An input column of that name may be what PostgreSQL picks.
                    l.add(&self.expr(inner, scope)?);
                }
                Ok(l)
            }
            _ => self.expr(inner, scope),
        }
    }

    fn group_item(&mut self, node: &Node, scope: &Scope, outputs: &Columns) -> Result<(), Denial> {
        if let Some(NodeEnum::GroupingSet(gs)) = node.node.as_ref() {
            for n in &gs.content {
                self.group_item(n, scope, outputs)?;
            }
            return Ok(());
        }
        if let Some(NodeEnum::List(l)) = node.node.as_ref() {
            for n in &l.items {
                self.group_item(n, scope, outputs)?;
            }
            return Ok(());
        }
        let l = self.sort_key(node, scope, outputs)?;
        self.steer_value(l, SteerKind::GroupBy, "GROUP BY");
        Ok(())
    }
}
