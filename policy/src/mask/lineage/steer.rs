//! Predicates (WHERE, JOIN ON, HAVING, FILTER): AND/OR/NOT are walked; an equality lookup
//! (`col = v`, `col IN (...)`, `col = ANY(...)`, `col IN (SELECT ...)`) is recorded as an
//! equality check; any other use of a value is recorded as steering the result.

use pg_query::{Node, NodeEnum, NodeRef};

use super::analyzer::{Analyzer, Check, SteerKind};
use super::nodes::strings;
use super::scope::Scope;
use super::sources::Lineage;
use crate::denial::Denial;

const AEXPR_OP: i32 = 1;
const AEXPR_OP_ANY: i32 = 2;
const AEXPR_IN: i32 = 7;
const SUBLINK_ANY: i32 = 3;

/// `=` or `OPERATOR(pg_catalog.=)` (or none: `IN`); an operator from another schema may
/// compare anyhow.
pub(super) fn is_equality(name: &[Node]) -> bool {
    matches!(strings(name).as_slice(), [] | ["="] | ["pg_catalog", "="])
}

fn is_equality_or_inequality(name: &[Node]) -> bool {
    is_equality(name) || matches!(strings(name).as_slice(), ["<>"] | ["pg_catalog", "<>"])
}

impl Analyzer<'_> {
    /// Records that `lineage` steers the result in `what`.
    pub(super) fn steer_value(&mut self, lineage: Lineage, kind: SteerKind, what: &'static str) {
        if !lineage.is_empty() {
            self.checks.push(Check::Steer {
                lineage,
                kind,
                what,
            });
        }
    }

    pub(super) fn predicate(
        &mut self,
        node: &Node,
        scope: &Scope,
        what: &'static str,
    ) -> Result<(), Denial> {
        self.enter()?;
        let out = self.predicate_inner(node, scope, what);
        self.leave();
        out
    }

    fn predicate_inner(
        &mut self,
        node: &Node,
        scope: &Scope,
        what: &'static str,
    ) -> Result<(), Denial> {
        match node.node.as_ref() {
            Some(NodeEnum::BoolExpr(b)) => {
                for arg in &b.args {
                    self.predicate(arg, scope, what)?;
                }
                Ok(())
            }
            Some(NodeEnum::AExpr(a)) if a.kind == AEXPR_OP && is_equality(&a.name) => {
                let left = self.opt_lineage(a.lexpr.as_deref(), scope)?;
                let right = self.opt_lineage(a.rexpr.as_deref(), scope)?;
                self.checks.push(Check::Equal {
                    left_set: candidate_set(a.lexpr.as_deref(), &left),
                    right_set: candidate_set(a.rexpr.as_deref(), &right),
                    left,
                    right,
                    what,
                });
                Ok(())
            }
            Some(NodeEnum::AExpr(a))
                if (a.kind == AEXPR_IN && is_equality_or_inequality(&a.name))
                    || (a.kind == AEXPR_OP_ANY && is_equality(&a.name)) =>
            {
                let left = self.opt_lineage(a.lexpr.as_deref(), scope)?;
                let items: Vec<&Node> = match a.rexpr.as_deref().and_then(|r| r.node.as_ref()) {
                    Some(NodeEnum::List(l)) => l.items.iter().collect(),
                    _ => a.rexpr.as_deref().into_iter().collect(),
                };
                let left_set = candidate_set(a.lexpr.as_deref(), &left);
                for item in items {
                    let right = self.expr(item, scope)?;
                    // `= ANY (array)`: one array of any length; only one written out (or a
                    // parameter) is a list of lookups, a computed one is a set of guesses.
                    let computed = a.kind == AEXPR_OP_ANY && !written_out(item);
                    self.checks.push(Check::Equal {
                        left: left.clone(),
                        right_set: computed || candidate_set(Some(item), &right),
                        right,
                        left_set,
                        what,
                    });
                }
                Ok(())
            }
            Some(NodeEnum::SubLink(s))
                if s.sub_link_type == SUBLINK_ANY
                    && (s.oper_name.is_empty() || is_equality(&s.oper_name)) =>
            {
                let left = self.opt_lineage(s.testexpr.as_deref(), scope)?;
                let child = Scope::child(scope);
                let cols = match s.subselect.as_deref() {
                    Some(q) => self.query_node(q, &child)?,
                    None => Default::default(),
                };
                let right = cols.all();
                self.checks.push(Check::Equal {
                    left_set: candidate_set(s.testexpr.as_deref(), &left),
                    right_set: (right.is_empty() && reads_rows(s.subselect.as_deref()))
                        || right.is_made(),
                    left,
                    right,
                    what,
                });
                Ok(())
            }
            _ => {
                let l = self.expr(node, scope)?;
                self.steer_value(l, SteerKind::Predicate, what);
                Ok(())
            }
        }
    }

    fn opt_lineage(&mut self, node: Option<&Node>, scope: &Scope) -> Result<Lineage, Denial> {
        match node {
            Some(n) => self.expr(n, scope),
            None => Ok(Lineage::default()),
        }
    }
}

/// A compared side that may be a computed set of candidates: it reads rows (a column, a
/// subquery, a set-returning function) of no table (a function's, a VALUES list's), or it
/// computes from what it reads (`lpad(g::text, 9, '0') || left(o.status, 0)`), or some of its
/// rows do (a UNION ALL of a table's column and guesses). Only a plain copy of a stored
/// column, a constant or a parameter is compared as a lookup.
fn candidate_set(node: Option<&Node>, lineage: &Lineage) -> bool {
    (lineage.is_empty() && reads_rows(node)) || lineage.is_made() || node.is_some_and(volatile)
}

/// Whether an expression calls a built-in that gives another value at each call: compared
/// in a LATERAL evaluated once per row, it is a new guess each time.
fn volatile(node: &Node) -> bool {
    let called = |f: &pg_query::protobuf::FuncCall| {
        strings(&f.funcname)
            .last()
            .is_some_and(|name| super::fallible::is_volatile_builtin(name))
    };
    let Some(n) = node.node.as_ref() else {
        return false;
    };
    if let NodeEnum::FuncCall(f) = n {
        if called(f) {
            return true;
        }
    }
    n.nodes().into_iter().any(|(inner, _, _, _)| match inner {
        NodeRef::FuncCall(f) => called(f),
        _ => false,
    })
}

/// An array written out in the statement: a constant, a parameter, `ARRAY[...]` of such, or
/// a cast of one. Its length is bounded by the statement's.
fn written_out(node: &Node) -> bool {
    match node.node.as_ref() {
        Some(NodeEnum::AConst(_) | NodeEnum::ParamRef(_)) => true,
        Some(NodeEnum::TypeCast(tc)) => tc.arg.as_deref().is_some_and(written_out),
        Some(NodeEnum::AArrayExpr(a)) => a.elements.iter().all(written_out),
        _ => false,
    }
}

/// Whether an expression reads rows of something: a column, a subquery, a function in FROM,
/// a set-returning function.
fn reads_rows(node: Option<&Node>) -> bool {
    let Some(n) = node.and_then(|n| n.node.as_ref()) else {
        return false;
    };
    if matches!(n, NodeEnum::ColumnRef(_) | NodeEnum::SubLink(_)) {
        return true;
    }
    let set_returning = |f: &pg_query::protobuf::FuncCall| {
        strings(&f.funcname)
            .last()
            .is_some_and(|name| super::names::is_set_returning(name))
    };
    if let NodeEnum::FuncCall(f) = n {
        if set_returning(f) {
            return true;
        }
    }
    n.nodes().into_iter().any(|(inner, _, _, _)| match inner {
        NodeRef::ColumnRef(_) | NodeRef::SubLink(_) | NodeRef::RangeFunction(_) => true,
        NodeRef::FuncCall(f) => set_returning(f),
        _ => false,
    })
}
