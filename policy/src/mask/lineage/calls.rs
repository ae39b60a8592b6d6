//! Function calls and subqueries in expressions: which arguments can make a call fail on a
//! masked value, set-returning and side-channel functions, user code, aggregates' ORDER BY
//! and FILTER; a subquery's lineage, and `x IN (SELECT ...)` judged as in a WHERE.

use pg_query::protobuf::{FuncCall, SubLink};

use super::analyzer::{Analyzer, Check, SteerKind};
use super::expr::{
    SUBLINK_ALL, SUBLINK_ANY, SUBLINK_ARRAY, SUBLINK_EXISTS, SUBLINK_EXPR, SUBLINK_ROW,
};
use super::fallible;
use super::names;
use super::nodes::func_name;
use super::scope::Scope;
use super::sources::Lineage;
use crate::denial::Denial;

impl Analyzer<'_> {
    pub(super) fn func_call(&mut self, f: &FuncCall, scope: &Scope) -> Result<Lineage, Denial> {
        let (schema, name) = func_name(f);
        if names::is_query_string_function(schema, name) {
            return Err(names::query_string_denial(name));
        }
        let before = self.fallible_seen;
        let mut per_arg = Vec::with_capacity(f.args.len());
        for a in &f.args {
            per_arg.push(self.expr(a, scope)?);
        }
        // A strict function is not called on a NULL argument: a NULL the masked value
        // decides, beside an argument or a position that can fail (`substr(nullif(x, '7'),
        // 1, -1)`), tells the value.
        let fails_somewhere = self.fallible_seen > before
            || f.func_variadic
            || (0..f.args.len()).any(|i| fallible::fallible_arg(schema, name, i, &f.args));
        if fails_somewhere && per_arg.iter().any(|l| l.nullable) {
            self.steer_value(
                Lineage::union(per_arg.iter()),
                SteerKind::Predicate,
                super::expr::SHORT_CIRCUIT,
            );
        }
        let fallible: Vec<&Lineage> = (per_arg.iter().enumerate())
            .filter(|(i, l)| {
                // VARIADIC spreads an array of any length over the arguments.
                f.func_variadic
                    || fallible::fallible_arg(schema, name, *i, &f.args)
                    || (l.shaped && !fallible::shape_safe(name))
            })
            .map(|(_, l)| l)
            .collect();
        if !fallible.is_empty() {
            self.may_fail_on(Lineage::union(fallible));
        }
        let args = Lineage::union(per_arg.iter());
        for o in &f.agg_order {
            let l = self.sort_key_expr(o, scope)?;
            self.steer_value(l, SteerKind::OrderBy, "an aggregate's ORDER BY");
        }
        if let Some(filter) = f.agg_filter.as_deref() {
            // FILTER and HAVING decide over groups: any PII in them is refused, lookups too.
            let l = self.expr(filter, scope)?;
            self.steer_value(l, SteerKind::Predicate, "FILTER");
        }
        if let Some(over) = f.over.as_deref() {
            self.window(over, scope)?;
        }
        if names::is_set_returning(name) || self.index.is_set_returning(name) {
            self.steer_value(
                args.clone(),
                SteerKind::Predicate,
                "a set-returning function (its row count depends on the value)",
            );
        }
        if names::is_side_channel_function(schema, name) {
            self.checks.push(Check::CopyOut {
                lineage: args.clone(),
                what: "this function",
            });
        }
        let mut l = args;
        l.shaped = fallible::shapes_array(name) && !l.is_empty();
        // NULL by the value: no match, no such element, equal to the second argument.
        l.nullable |= fallible::nulls_by_value(name, f.args.len()) && !l.is_empty();
        let user_code = names::is_user_function(schema)
            || (schema.is_none() && !self.index.is_builtin_function(name));
        if user_code {
            // User code may read any table: its result counts as PII.
            self.opaque_code = true;
            self.reads_pii = true;
            l.add(&Lineage::opaque());
        }
        Ok(l.transformed())
    }

    pub(super) fn sublink(&mut self, s: &SubLink, scope: &Scope) -> Result<Lineage, Denial> {
        let child = Scope::child(scope);
        let cols = match s.subselect.as_deref() {
            Some(q) => self.query_node(q, &child)?,
            None => Default::default(),
        };
        // A scalar subquery fails on a second row ("more than one row returned").
        if s.sub_link_type == SUBLINK_EXPR {
            self.fallible_seen += 1;
        }
        Ok(match s.sub_link_type {
            SUBLINK_EXISTS => Lineage::default(),
            SUBLINK_EXPR => cols.lineage_at(0),
            _ => {
                let mut l = self.opt_expr(s.testexpr.as_deref(), scope)?;
                l.add(&cols.all());
                // ARRAY(SELECT ...) of arrays shaped by a value fails when their shapes differ.
                if s.sub_link_type == SUBLINK_ARRAY && l.shaped {
                    self.may_fail_on(l.clone());
                }
                l.transformed()
            }
        })
    }

    /// A subquery in an expression: `x IN (SELECT ...)` tests x against its rows (a set of
    /// guesses is refused as in a WHERE); other comparisons with its rows steer.
    pub(super) fn sublink_expr(
        &mut self,
        node: &pg_query::Node,
        s: &SubLink,
        scope: &Scope,
    ) -> Result<Lineage, Denial> {
        let l = self.sublink(s, scope)?;
        if s.sub_link_type == SUBLINK_ANY && super::steer::is_equality(&s.oper_name) {
            self.predicate(node, scope, "IN (SELECT ...)")?;
        } else if matches!(s.sub_link_type, SUBLINK_ANY | SUBLINK_ALL | SUBLINK_ROW) {
            self.steer_value(
                l.clone(),
                SteerKind::Predicate,
                "a comparison with a subquery's rows",
            );
        }
        Ok(l)
    }
}
