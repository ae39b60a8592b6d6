//! Expressions: which sources feed a value. Column references resolve through the scope
//! (whole-row references are recorded), functions and operators union their arguments,
//! sublinks read their subquery; anything else is opaque (fail closed).

use pg_query::protobuf::{ColumnRef, TypeName};
use pg_query::{Node, NodeEnum};

use super::analyzer::{Analyzer, Check, SteerKind};
use super::fallible;
use super::names;
use super::nodes::{str_of, strings};
use super::scope::{Resolved, Scope};
use super::sources::Lineage;
use crate::denial::Denial;

/// What a fallible computation of a masked value is called in a refusal.
const FALLIBLE: &str = "a cast, arithmetic or function that can fail on its value (whether \
                        it fails would tell the value)";

/// What a masked operand of AND, OR or COALESCE beside a fallible one is called.
pub(super) const SHORT_CIRCUIT: &str =
    "AND, OR or COALESCE beside a computation that can fail (it \
                             decides whether that computation runs)";

pub(super) const SUBLINK_EXISTS: i32 = 1;
pub(super) const SUBLINK_ALL: i32 = 2;
pub(super) const SUBLINK_ANY: i32 = 3;
pub(super) const SUBLINK_ROW: i32 = 4;
pub(super) const SUBLINK_EXPR: i32 = 5;
pub(super) const SUBLINK_ARRAY: i32 = 7;

/// A cast that keeps the value whole (to unbounded text types): a lookup through it is still
/// a lookup. Anything else (a length, another type) computes a new value.
fn cast_keeps_value(t: Option<&TypeName>) -> bool {
    let Some(t) = t else { return false };
    let name = strings(&t.names).last().copied().unwrap_or("");
    t.typmods.is_empty()
        && t.array_bounds.is_empty()
        && matches!(name, "text" | "varchar" | "citext")
}

impl Analyzer<'_> {
    pub(super) fn expr(&mut self, node: &Node, scope: &Scope) -> Result<Lineage, Denial> {
        self.enter()?;
        let out = self.expr_inner(node, scope);
        self.leave();
        out
    }

    fn exprs<'n>(
        &mut self,
        nodes: impl IntoIterator<Item = &'n Node>,
        scope: &Scope,
    ) -> Result<Lineage, Denial> {
        let mut l = Lineage::default();
        for n in nodes {
            l.add(&self.expr(n, scope)?);
        }
        Ok(l)
    }

    pub(super) fn opt_expr(
        &mut self,
        node: Option<&Node>,
        scope: &Scope,
    ) -> Result<Lineage, Denial> {
        match node {
            Some(n) => self.expr(n, scope),
            None => Ok(Lineage::default()),
        }
    }

    fn expr_inner(&mut self, node: &Node, scope: &Scope) -> Result<Lineage, Denial> {
        let Some(n) = node.node.as_ref() else {
            return Ok(Lineage::default());
        };
        Ok(match n {
            NodeEnum::ColumnRef(cr) => self.column_ref(cr, scope),
            NodeEnum::ParamRef(_)
            | NodeEnum::AConst(_)
            | NodeEnum::SqlvalueFunction(_)
            | NodeEnum::SetToDefault(_)
            | NodeEnum::CurrentOfExpr(_)
            | NodeEnum::Integer(_)
            | NodeEnum::Float(_)
            | NodeEnum::Boolean(_)
            | NodeEnum::String(_)
            | NodeEnum::BitString(_) => Lineage::default(),
            NodeEnum::TypeCast(tc) => {
                let l = self.opt_expr(tc.arg.as_deref(), scope)?;
                if !fallible::cast_total(tc.type_name.as_ref()) {
                    self.may_fail_on(l.clone());
                }
                if cast_keeps_value(tc.type_name.as_ref()) {
                    l
                } else {
                    l.transformed()
                }
            }
            NodeEnum::CollateClause(c) => self.opt_expr(c.arg.as_deref(), scope)?,
            NodeEnum::NamedArgExpr(a) => self.opt_expr(a.arg.as_deref(), scope)?,
            NodeEnum::ResTarget(rt) => self.opt_expr(rt.val.as_deref(), scope)?,
            NodeEnum::MultiAssignRef(m) => self.opt_expr(m.source.as_deref(), scope)?,
            NodeEnum::List(l) => self.exprs(&l.items, scope)?,
            NodeEnum::AExpr(a) => {
                // `x IN (a, b)`, BETWEEN, NOT IN and row comparisons are ANDs and ORs that
                // stop early: an operand that can fail beside a masked value tells it.
                let before = self.fallible_seen;
                let mut l = self.opt_expr(a.lexpr.as_deref(), scope)?;
                let r = self.opt_expr(a.rexpr.as_deref(), scope)?;
                let rows = [a.lexpr.as_deref(), a.rexpr.as_deref()]
                    .iter()
                    .any(|n| matches!(n.and_then(|n| n.node.as_ref()), Some(NodeEnum::RowExpr(_))));
                // AExprKind: IN 7, the BETWEENs 11-14; a row comparison compares in order.
                let stops_early = matches!(a.kind, 7 | 11..=14) || rows;
                if stops_early && self.fallible_seen > before {
                    self.steer_value(
                        Lineage::union([&l, &r]),
                        SteerKind::Predicate,
                        SHORT_CIRCUIT,
                    );
                }
                let op = strings(&a.name).last().copied().unwrap_or("");
                // A strict operator is not run on NULL: a NULL the value decides, beside an
                // operand or an operator that can fail, tells it.
                let fails = !fallible::operator_total(a.kind, op)
                    || fallible::right_is_pattern(a.kind, op)
                    || self.fallible_seen > before;
                if (l.nullable || r.nullable) && fails {
                    self.steer_value(
                        Lineage::union([&l, &r]),
                        SteerKind::Predicate,
                        SHORT_CIRCUIT,
                    );
                }
                if !fallible::operator_total(a.kind, op) || l.shaped || r.shaped {
                    self.may_fail_on(Lineage::union([&l, &r]));
                } else if fallible::right_is_pattern(a.kind, op) {
                    self.may_fail_on(r.clone());
                }
                l.add(&r);
                // NULLIF (AExprKind 6) and JSON access give NULL by the value.
                l.nullable |= a.kind == 6 || matches!(op, "->" | "->>" | "#>" | "#>>");
                l.transformed()
            }
            NodeEnum::BoolExpr(b) => self.short_circuit(&b.args, scope)?,
            NodeEnum::FuncCall(f) => self.func_call(f, scope)?,
            NodeEnum::SubLink(s) => self.sublink_expr(node, s, scope)?,
            NodeEnum::CaseExpr(c) => {
                let mut l = Lineage::default();
                if let Some(arg) = c.arg.as_deref() {
                    let a = self.expr(arg, scope)?;
                    self.steer_value(a, SteerKind::Predicate, "a CASE");
                }
                for w in &c.args {
                    if let Some(NodeEnum::CaseWhen(cw)) = w.node.as_ref() {
                        let cond = self.opt_expr(cw.expr.as_deref(), scope)?;
                        self.steer_value(cond, SteerKind::Predicate, "a CASE condition");
                        l.add(&self.opt_expr(cw.result.as_deref(), scope)?);
                    }
                }
                l.add(&self.opt_expr(c.defresult.as_deref(), scope)?);
                l.transformed()
            }
            NodeEnum::CoalesceExpr(c) => self.short_circuit(&c.args, scope)?,
            NodeEnum::MinMaxExpr(m) => self.exprs(&m.args, scope)?.transformed(),
            NodeEnum::NullTest(t) => self.opt_expr(t.arg.as_deref(), scope)?.transformed(),
            NodeEnum::BooleanTest(t) => self.opt_expr(t.arg.as_deref(), scope)?.transformed(),
            NodeEnum::AArrayExpr(a) => {
                let l = self.exprs(&a.elements, scope)?;
                if l.shaped && a.elements.len() > 1 {
                    self.may_fail_on(l.clone());
                }
                l.transformed()
            }
            NodeEnum::RowExpr(r) => self.exprs(&r.args, scope)?.transformed(),
            NodeEnum::GroupingFunc(g) => self.exprs(&g.args, scope)?.transformed(),
            NodeEnum::XmlExpr(x) => {
                let mut l = self.exprs(&x.named_args, scope)?;
                l.add(&self.exprs(&x.args, scope)?);
                if !fallible::xml_total(x.op) {
                    self.may_fail_on(l.clone());
                }
                l.transformed()
            }
            NodeEnum::XmlSerialize(x) => {
                let l = self.opt_expr(x.expr.as_deref(), scope)?;
                if !fallible::xml_serialize_total(x.xmloption, x.type_name.as_ref()) {
                    self.may_fail_on(l.clone());
                }
                l.transformed()
            }
            NodeEnum::AIndirection(ai) => self.indirection(ai, scope)?,
            NodeEnum::AIndices(ix) => {
                let mut l = self.opt_expr(ix.lidx.as_deref(), scope)?;
                l.add(&self.opt_expr(ix.uidx.as_deref(), scope)?);
                l
            }
            _ => self.opaque_node(node, scope),
        })
    }

    /// AND, OR and COALESCE evaluate their operands only as far as needed: where one may
    /// fail, the others decide whether it runs, so a masked value among them steers whether
    /// the statement fails.
    /// A computation that can fail on `l`'s value: judged as a predicate on it, and counted
    /// for the short-circuits around it.
    pub(super) fn may_fail_on(&mut self, l: Lineage) {
        self.fallible_seen += 1;
        self.steer_value(l, SteerKind::Predicate, FALLIBLE);
    }

    fn short_circuit(&mut self, args: &[Node], scope: &Scope) -> Result<Lineage, Denial> {
        let before = self.fallible_seen;
        let l = self.exprs(args, scope)?;
        if self.fallible_seen > before && args.len() > 1 {
            self.steer_value(l.clone(), SteerKind::Predicate, SHORT_CIRCUIT);
        }
        Ok(l.transformed())
    }

    pub(super) fn column_ref(&mut self, cr: &ColumnRef, scope: &Scope) -> Lineage {
        let star = matches!(
            cr.fields.last().and_then(|f| f.node.as_ref()),
            Some(NodeEnum::AStar(_))
        );
        let parts: Vec<&str> = cr.fields.iter().filter_map(str_of).collect();
        if star {
            // `t.*` or `*` inside an expression is the row value.
            let lineage = match parts.last() {
                Some(t) => match scope.item(t) {
                    Some(item) => {
                        let mut l = item.row_lineage();
                        if let Some(u) = item.unknown {
                            l.add(&Lineage::of(self.unknown_column(u, None)));
                        }
                        l.transformed()
                    }
                    None => Lineage::opaque(),
                },
                None => scope.star.all().transformed(),
            };
            self.checks.push(Check::WholeRow {
                lineage: lineage.clone(),
            });
            return lineage;
        }
        let (item, name) = match parts.as_slice() {
            [name] => (None, *name),
            [.., t, name] => (Some(*t), *name),
            [] => return Lineage::opaque(),
        };
        match scope.resolve(item, name) {
            Resolved::Column(mut l, unknown) => {
                for u in unknown {
                    l.add(&Lineage::of(self.unknown_column(u, Some(name))));
                }
                l
            }
            Resolved::WholeRow(mut l, unknown) => {
                for u in unknown {
                    l.add(&Lineage::of(self.unknown_column(u, None)));
                }
                let l = l.transformed();
                self.checks.push(Check::WholeRow { lineage: l.clone() });
                l
            }
            Resolved::NotFound if names::is_system_column(name) => Lineage::default(),
            Resolved::NotFound => Lineage::opaque(),
        }
    }

    /// `(u).email` reads one column of a row; `arr[i]` and `(x).f` otherwise compute.
    fn indirection(
        &mut self,
        ai: &pg_query::protobuf::AIndirection,
        scope: &Scope,
    ) -> Result<Lineage, Denial> {
        if let (Some(NodeEnum::ColumnRef(cr)), Some(field)) = (
            ai.arg.as_deref().and_then(|a| a.node.as_ref()),
            ai.indirection.first().and_then(str_of),
        ) {
            if let [name] = cr
                .fields
                .iter()
                .filter_map(str_of)
                .collect::<Vec<_>>()
                .as_slice()
            {
                if let Resolved::WholeRow(..) = scope.resolve(None, name) {
                    if let Resolved::Column(l, unknown) = scope.resolve(Some(name), field) {
                        let mut l = l;
                        for u in unknown {
                            l.add(&Lineage::of(self.unknown_column(u, Some(field))));
                        }
                        return Ok(if ai.indirection.len() > 1 {
                            let rest = self.exprs(&ai.indirection[1..], scope)?;
                            let mut l = l;
                            l.add(&rest);
                            l.transformed()
                        } else {
                            l
                        });
                    }
                }
            }
        }
        let before = self.fallible_seen;
        let mut l = self.opt_expr(ai.arg.as_deref(), scope)?;
        let nullable_arg = l.nullable;
        l.add(&self.exprs(&ai.indirection, scope)?);
        // A NULL array skips its subscripts: one that can fail beside a value that may be
        // NULL tells it.
        if nullable_arg && self.fallible_seen > before {
            self.steer_value(l.clone(), SteerKind::Predicate, SHORT_CIRCUIT);
        }
        l.nullable = true;
        // One element (not a slice) has no shape of its own.
        l.shaped &= !ai
            .indirection
            .iter()
            .all(|i| matches!(i.node.as_ref(), Some(NodeEnum::AIndices(ix)) if !ix.is_slice));
        Ok(l.transformed())
    }

    pub(super) fn sort_key_expr(&mut self, node: &Node, scope: &Scope) -> Result<Lineage, Denial> {
        match node.node.as_ref() {
            Some(NodeEnum::SortBy(sb)) => self.opt_expr(sb.node.as_deref(), scope),
            _ => self.expr(node, scope),
        }
    }

    pub(super) fn window(
        &mut self,
        wd: &pg_query::protobuf::WindowDef,
        scope: &Scope,
    ) -> Result<(), Denial> {
        for p in &wd.partition_clause {
            let l = self.expr(p, scope)?;
            self.steer_value(l, SteerKind::GroupBy, "a window PARTITION BY");
        }
        for o in &wd.order_clause {
            let l = self.sort_key_expr(o, scope)?;
            self.steer_value(l, SteerKind::OrderBy, "a window ORDER BY");
        }
        for b in [wd.start_offset.as_deref(), wd.end_offset.as_deref()]
            .into_iter()
            .flatten()
        {
            let l = self.expr(b, scope)?;
            self.steer_value(l, SteerKind::Predicate, "a window frame");
        }
        Ok(())
    }
}
