//! Does a WHERE (or MERGE ... ON) filter rows of the statement's target?
//!
//! The rule, decided on the parse tree: the predicate is folded into one of
//! `Const` (its value never looks at a row: `true`, `1 = 1`, `'a' = 'a'`, `x = x`, a subquery
//! that does not mention the target, `$1`), `Other` (depends on something, but not on the
//! target's rows: another relation's columns, `random()`), or `Rows` (depends on the target's
//! columns). `AND` is `Rows` when either side is; `OR` is `Rows` only when every branch is
//! `Rows` or constant-false (`true OR id = 1` filters nothing); `NOT` keeps the class.
//! Comparisons of two syntactically identical operands (`id = id`,
//! `col IS NOT DISTINCT FROM col`) are constant. A statement passes only when its predicate is
//! `Rows`.
//!
//! Column references: without FROM/USING, an unqualified column is the target's. With
//! FROM/USING (or in MERGE) only columns qualified with the target's alias (or its name when it
//! has none) count, because without the catalog we cannot tell whose an unqualified column is.
//! Inside subqueries only qualified references to the target count (correlation).

use sqlparser::ast::{BinaryOperator, Expr, Query, UnaryOperator, Value};

/// What a predicate depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dep {
    /// Constant: `Some(v)` when its value is known.
    Const(Option<bool>),
    /// Depends on something other than the target's rows.
    Other,
    /// Depends on the target's rows.
    Rows,
}

/// The statement's target as it can be named in its predicate.
pub struct Target {
    /// The folded name a qualified column uses for the target: its alias, or its table name.
    pub qualifier: String,
    /// The statement reads other relations (FROM/USING/MERGE source).
    pub has_other_relations: bool,
}

/// Result of judging a predicate.
pub struct WhereVerdict {
    pub filters: bool,
    /// The verdict looked at the value of a boolean literal (not cacheable by shape).
    pub literal_dependent: bool,
}

pub fn judge(predicate: Option<&Expr>, target: &Target) -> WhereVerdict {
    let mut j = Judge {
        target,
        literal_dependent: false,
    };
    let filters = match predicate {
        None => false,
        Some(p) => j.dep(p) == Dep::Rows,
    };
    WhereVerdict {
        filters,
        literal_dependent: j.literal_dependent,
    }
}

struct Judge<'t> {
    target: &'t Target,
    literal_dependent: bool,
}

fn combine(deps: impl IntoIterator<Item = Dep>) -> Dep {
    let mut out = Dep::Const(None);
    for d in deps {
        out = match (out, d) {
            (Dep::Rows, _) | (_, Dep::Rows) => Dep::Rows,
            (Dep::Other, _) | (_, Dep::Other) => Dep::Other,
            _ => Dep::Const(None),
        };
    }
    out
}

impl Judge<'_> {
    fn column(&self, parts: &[sqlparser::ast::Ident]) -> Dep {
        match parts {
            [_single] if !self.target.has_other_relations => Dep::Rows,
            [_single] => Dep::Other,
            [.., qualifier, _column] => {
                if crate::ident::fold_ident(qualifier) == self.target.qualifier {
                    Dep::Rows
                } else {
                    Dep::Other
                }
            }
            [] => Dep::Other,
        }
    }

    /// A subquery depends on the target when it mentions `target.column` anywhere.
    fn subquery(&self, q: &Query) -> Dep {
        if mentions_qualifier(q, &self.target.qualifier) {
            Dep::Rows
        } else {
            Dep::Other
        }
    }

    fn dep(&mut self, e: &Expr) -> Dep {
        match e {
            Expr::Value(v) => match &v.value {
                Value::Boolean(b) => {
                    self.literal_dependent = true;
                    Dep::Const(Some(*b))
                }
                _ => Dep::Const(None),
            },
            Expr::Identifier(ident) => self.column(std::slice::from_ref(ident)),
            Expr::CompoundIdentifier(parts) => self.column(parts),
            Expr::Nested(inner) => self.dep(inner),
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => match self.dep(expr) {
                Dep::Const(v) => Dep::Const(v.map(|b| !b)),
                other => other,
            },
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                let (l, r) = (self.dep(left), self.dep(right));
                match (l, r) {
                    (Dep::Rows, _) | (_, Dep::Rows) => Dep::Rows,
                    (Dep::Const(Some(false)), _) | (_, Dep::Const(Some(false))) => {
                        Dep::Const(Some(false))
                    }
                    (Dep::Other, _) | (_, Dep::Other) => Dep::Other,
                    (Dep::Const(a), Dep::Const(b)) => Dep::Const(match (a, b) {
                        (Some(a), Some(b)) => Some(a && b),
                        _ => None,
                    }),
                }
            }
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Or,
                right,
            } => {
                let (l, r) = (self.dep(left), self.dep(right));
                match (l, r) {
                    (Dep::Const(Some(true)), _) | (_, Dep::Const(Some(true))) => {
                        Dep::Const(Some(true))
                    }
                    (Dep::Rows, Dep::Rows)
                    | (Dep::Rows, Dep::Const(Some(false)))
                    | (Dep::Const(Some(false)), Dep::Rows) => Dep::Rows,
                    (Dep::Const(Some(false)), Dep::Const(Some(false))) => Dep::Const(Some(false)),
                    (Dep::Const(_), Dep::Const(_)) => Dep::Const(None),
                    // A branch that does not look at the target's rows lets every row through.
                    _ => Dep::Other,
                }
            }
            Expr::BinaryOp { left, right, .. }
            | Expr::IsDistinctFrom(left, right)
            | Expr::IsNotDistinctFrom(left, right)
            | Expr::AnyOp { left, right, .. }
            | Expr::AllOp { left, right, .. } => {
                if strip(left) == strip(right) {
                    return Dep::Const(None);
                }
                let deps = [self.dep(left), self.dep(right)];
                combine(deps)
            }
            Expr::Like { expr, pattern, .. }
            | Expr::ILike { expr, pattern, .. }
            | Expr::SimilarTo { expr, pattern, .. } => {
                if strip(expr) == strip(pattern) {
                    return Dep::Const(None);
                }
                let deps = [self.dep(expr), self.dep(pattern)];
                combine(deps)
            }
            Expr::IsNull(inner)
            | Expr::IsNotNull(inner)
            | Expr::IsTrue(inner)
            | Expr::IsNotTrue(inner)
            | Expr::IsFalse(inner)
            | Expr::IsNotFalse(inner)
            | Expr::IsUnknown(inner)
            | Expr::IsNotUnknown(inner)
            | Expr::Cast { expr: inner, .. }
            | Expr::Collate { expr: inner, .. }
            | Expr::UnaryOp { expr: inner, .. } => {
                let d = self.dep(inner);
                match d {
                    Dep::Const(_) => Dep::Const(None),
                    other => other,
                }
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                if strip(expr) == strip(low) && strip(expr) == strip(high) {
                    return Dep::Const(None);
                }
                let deps = [self.dep(expr), self.dep(low), self.dep(high)];
                combine(deps)
            }
            Expr::InList { expr, list, .. } => {
                let mut deps = vec![self.dep(expr)];
                for item in list {
                    deps.push(self.dep(item));
                }
                combine(deps)
            }
            Expr::InSubquery { expr, subquery, .. } => {
                let deps = [self.dep(expr), self.subquery(subquery)];
                combine(deps)
            }
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => {
                match self.subquery(subquery) {
                    Dep::Rows => Dep::Rows,
                    _ => Dep::Const(None),
                }
            }
            Expr::Function(_) | Expr::Case { .. } | Expr::Tuple(_) | Expr::Array(_) => {
                // Anything inside that names the target's columns makes it row-dependent.
                let mut inner = Vec::new();
                collect_columns(e, &mut inner);
                let mut deps: Vec<Dep> = inner.iter().map(|parts| self.column(parts)).collect();
                if deps.is_empty() {
                    deps.push(Dep::Other);
                }
                combine(deps)
            }
            // Anything else: treat as not filtering (fail closed for require_where).
            _ => Dep::Other,
        }
    }
}

/// Strips redundant parentheses for syntactic comparison.
fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => strip(inner),
        other => other,
    }
}

/// Column references directly in an expression (not inside subqueries); forms not listed
/// contribute nothing, which can only make a predicate look less filtering (fail closed).
fn collect_columns(e: &Expr, out: &mut Vec<Vec<sqlparser::ast::Ident>>) {
    match e {
        Expr::Identifier(i) => out.push(vec![i.clone()]),
        Expr::CompoundIdentifier(parts) => out.push(parts.clone()),
        Expr::Function(f) => {
            if let sqlparser::ast::FunctionArguments::List(list) = &f.args {
                for arg in &list.args {
                    let a = match arg {
                        sqlparser::ast::FunctionArg::Named { arg, .. }
                        | sqlparser::ast::FunctionArg::ExprNamed { arg, .. }
                        | sqlparser::ast::FunctionArg::Unnamed(arg) => arg,
                    };
                    if let sqlparser::ast::FunctionArgExpr::Expr(e) = a {
                        collect_columns(e, out);
                    }
                }
            }
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            if let Some(o) = operand {
                collect_columns(o, out);
            }
            for c in conditions {
                collect_columns(&c.condition, out);
                collect_columns(&c.result, out);
            }
            if let Some(e) = else_result {
                collect_columns(e, out);
            }
        }
        Expr::Tuple(items) => items.iter().for_each(|i| collect_columns(i, out)),
        Expr::Array(a) => a.elem.iter().for_each(|i| collect_columns(i, out)),
        Expr::Nested(i) | Expr::Cast { expr: i, .. } | Expr::UnaryOp { expr: i, .. } => {
            collect_columns(i, out)
        }
        Expr::BinaryOp { left, right, .. } => {
            collect_columns(left, out);
            collect_columns(right, out);
        }
        _ => {}
    }
}

/// Whether `q` contains a column qualified with `qualifier` (a correlated reference to the
/// target). sqlparser's expression visitor is enough here: a reference it misses only makes the
/// subquery look constant, which refuses the statement (fail closed).
fn mentions_qualifier(q: &Query, qualifier: &str) -> bool {
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions(q, |e: &Expr| {
        if let Expr::CompoundIdentifier(parts) = e {
            if parts.len() >= 2 && crate::ident::fold_ident(&parts[parts.len() - 2]) == qualifier {
                found = true;
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}
