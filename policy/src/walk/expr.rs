//! The expression half of the walk: every `Expr` variant, function calls and their
//! arguments, window specs, subscripts and operators.

use sqlparser::ast::{
    AccessExpr, Assignment, Expr, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, JsonPathElem, OrderByExpr, SelectItem, Subscript, WindowFrameBound,
    WindowSpec, WindowType,
};

use crate::ident::fold_object_name;

use super::{Facts, FuncCall};

impl<'a> Facts<'a> {
    pub(super) fn function_call<I>(&mut self, name: &sqlparser::ast::ObjectName, args: I)
    where
        I: Iterator<Item = &'a FunctionArg>,
    {
        for arg in args {
            let arg_expr = match arg {
                FunctionArg::Named { arg, .. } => arg,
                FunctionArg::ExprNamed { name, arg, .. } => {
                    self.expr(name);
                    arg
                }
                FunctionArg::Unnamed(arg) => arg,
            };
            match arg_expr {
                FunctionArgExpr::Expr(e) => self.expr(e),
                FunctionArgExpr::QualifiedWildcard(_) | FunctionArgExpr::Wildcard => {}
                FunctionArgExpr::WildcardWithOptions(_) => self.unsupported("wildcard options"),
            }
        }
        self.functions.push(FuncCall {
            name: fold_object_name(name).unwrap_or_default(),
        });
    }

    pub(super) fn function(&mut self, f: &'a sqlparser::ast::Function) {
        match &f.parameters {
            FunctionArguments::None => {}
            FunctionArguments::Subquery(_) | FunctionArguments::List(_) => {
                self.unsupported("parametric function")
            }
        }
        let start = self.functions.len();
        match &f.args {
            FunctionArguments::None => self.function_call(&f.name, std::iter::empty()),
            FunctionArguments::Subquery(q) => {
                self.query(q);
                self.function_call(&f.name, std::iter::empty());
            }
            FunctionArguments::List(list) => {
                self.function_call(&f.name, list.args.iter());
                for clause in &list.clauses {
                    match clause {
                        FunctionArgumentClause::IgnoreOrRespectNulls(_) => {}
                        FunctionArgumentClause::OrderBy(exprs) => self.order_by_exprs(exprs),
                        FunctionArgumentClause::Limit(e) => self.expr(e),
                        FunctionArgumentClause::Having(bound) => self.expr(&bound.1),
                        FunctionArgumentClause::Where(e) => self.expr(e),
                        FunctionArgumentClause::OnOverflow(_)
                        | FunctionArgumentClause::Separator(_)
                        | FunctionArgumentClause::JsonNullClause(_)
                        | FunctionArgumentClause::JsonReturningClause(_) => {}
                    }
                }
            }
        }
        let _ = start;
        self.order_by_exprs(&f.within_group);
        if let Some(filter) = &f.filter {
            self.expr(filter);
        }
        match &f.over {
            None | Some(WindowType::NamedWindow(_)) => {}
            Some(WindowType::WindowSpec(spec)) => self.window_spec(spec),
        }
    }

    pub(super) fn window_spec(&mut self, spec: &'a WindowSpec) {
        self.exprs(&spec.partition_by);
        self.order_by_exprs(&spec.order_by);
        if let Some(frame) = &spec.window_frame {
            for bound in std::iter::once(&frame.start_bound).chain(frame.end_bound.iter()) {
                match bound {
                    WindowFrameBound::CurrentRow => {}
                    WindowFrameBound::Preceding(e) | WindowFrameBound::Following(e) => {
                        if let Some(e) = e {
                            self.expr(e);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn order_by_exprs(&mut self, exprs: &'a [OrderByExpr]) {
        for o in exprs {
            self.expr(&o.expr);
            if o.with_fill.is_some() {
                self.unsupported("WITH FILL");
            }
        }
    }

    pub fn exprs(&mut self, exprs: &'a [Expr]) {
        for e in exprs {
            self.expr(e);
        }
    }

    pub(super) fn opt_expr(&mut self, e: &'a Option<Box<Expr>>) {
        if let Some(e) = e {
            self.expr(e);
        }
    }

    /// Walks one expression; every variant is listed.
    pub fn expr(&mut self, e: &'a Expr) {
        match e {
            Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Value(_)
            | Expr::TypedString(_) => {}
            Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => {}
            Expr::CompoundFieldAccess { root, access_chain } => {
                self.expr(root);
                for access in access_chain {
                    match access {
                        AccessExpr::Dot(e) => self.expr(e),
                        AccessExpr::Subscript(s) => self.subscript(s),
                    }
                }
            }
            Expr::JsonAccess { value, path } => {
                self.expr(value);
                for elem in &path.path {
                    match elem {
                        JsonPathElem::Dot { .. } => {}
                        JsonPathElem::Bracket { key } | JsonPathElem::ColonBracket { key } => {
                            self.expr(key)
                        }
                    }
                }
            }
            Expr::IsFalse(e)
            | Expr::IsNotFalse(e)
            | Expr::IsTrue(e)
            | Expr::IsNotTrue(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::IsUnknown(e)
            | Expr::IsNotUnknown(e)
            | Expr::Nested(e) => self.expr(e),
            Expr::IsJson { expr, .. } | Expr::IsNormalized { expr, .. } => self.expr(expr),
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                self.expr(a);
                self.expr(b);
            }
            Expr::InList { expr, list, .. } => {
                self.expr(expr);
                self.exprs(list);
            }
            Expr::InSubquery { expr, subquery, .. } => {
                self.expr(expr);
                self.query(subquery);
            }
            Expr::InUnnest { .. } => self.unsupported("IN UNNEST"),
            Expr::Between {
                expr, low, high, ..
            } => {
                self.expr(expr);
                self.expr(low);
                self.expr(high);
            }
            Expr::BinaryOp { left, op, right } => {
                self.operator(op);
                self.expr(left);
                self.expr(right);
            }
            Expr::Like {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::SimilarTo {
                expr,
                pattern,
                escape_char,
                ..
            } => {
                self.expr(expr);
                self.expr(pattern);
                self.opt_expr(escape_char);
            }
            Expr::RLike { .. } => self.unsupported("RLIKE"),
            Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | Expr::AllOp {
                left,
                compare_op,
                right,
            } => {
                self.operator(compare_op);
                self.expr(left);
                self.expr(right);
            }
            Expr::UnaryOp { expr, .. } => self.expr(expr),
            Expr::Convert { .. } => self.unsupported("CONVERT"),
            Expr::Cast { expr, .. } => self.expr(expr),
            Expr::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                self.expr(timestamp);
                self.expr(time_zone);
            }
            Expr::Extract { expr, .. } | Expr::Ceil { expr, .. } | Expr::Floor { expr, .. } => {
                self.expr(expr)
            }
            Expr::Position { expr, r#in } => {
                self.expr(expr);
                self.expr(r#in);
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                self.expr(expr);
                self.opt_expr(substring_from);
                self.opt_expr(substring_for);
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                self.expr(expr);
                self.opt_expr(trim_what);
                if let Some(chars) = trim_characters {
                    self.exprs(chars);
                }
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                self.expr(expr);
                self.expr(overlay_what);
                self.expr(overlay_from);
                self.opt_expr(overlay_for);
            }
            Expr::Collate { expr, .. } => self.expr(expr),
            Expr::Prefixed { .. } => self.unsupported("prefixed expression"),
            Expr::Function(f) => self.function(f),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                self.opt_expr(operand);
                for when in conditions {
                    self.expr(&when.condition);
                    self.expr(&when.result);
                }
                self.opt_expr(else_result);
            }
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => self.query(subquery),
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                for set in sets {
                    self.exprs(set);
                }
            }
            Expr::Tuple(exprs) => self.exprs(exprs),
            Expr::Array(array) => self.exprs(&array.elem),
            Expr::Interval(interval) => self.expr(&interval.value),
            Expr::Named { .. } => self.unsupported("named expression"),
            Expr::Struct { .. } => self.unsupported("STRUCT"),
            Expr::Dictionary(_) | Expr::Map(_) => self.unsupported("map literal"),
            Expr::MatchAgainst { .. } => self.unsupported("MATCH AGAINST"),
            Expr::OuterJoin(_) => self.unsupported("(+) outer join"),
            Expr::Prior(_) => self.unsupported("PRIOR"),
            Expr::Lambda(_) => self.unsupported("lambda"),
            Expr::MemberOf(_) => self.unsupported("MEMBER OF"),
        }
    }

    pub(super) fn subscript(&mut self, s: &'a Subscript) {
        match s {
            Subscript::Index { index } => self.expr(index),
            Subscript::Slice {
                lower_bound,
                upper_bound,
                stride,
            } => {
                for e in [lower_bound, upper_bound, stride].into_iter().flatten() {
                    self.expr(e);
                }
            }
        }
    }

    /// `OPERATOR(schema.op)` outside pg_catalog is a user-defined operator: not analyzed.
    pub(super) fn operator(&mut self, op: &sqlparser::ast::BinaryOperator) {
        if let sqlparser::ast::BinaryOperator::PGCustomBinaryOperator(parts) = op {
            let schema_ok = match parts.len() {
                1 => true,
                2 => parts[0].eq_ignore_ascii_case("pg_catalog"),
                _ => false,
            };
            if !schema_ok {
                self.unsupported("operator outside pg_catalog");
            }
        }
    }

    pub(super) fn assignments(&mut self, assignments: &'a [Assignment]) {
        for a in assignments {
            self.expr(&a.value);
        }
    }

    pub(super) fn returning(&mut self, returning: &'a Option<Vec<SelectItem>>) {
        if let Some(items) = returning {
            for item in items {
                self.select_item(item);
            }
        }
    }
}
