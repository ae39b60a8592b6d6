//! An exhaustive walk over sqlparser's query and expression trees, collecting what a statement
//! does besides reading: the functions it calls (anywhere: select list, WHERE, FROM, ORDER BY,
//! VALUES, defaults, function arguments, window specs...), row locks, DML nested in CTEs or
//! subqueries, `SELECT INTO`, and constructs PostgreSQL does not have.
//!
//! Every `match` on `Expr`, `SetExpr`, `TableFactor` and `JoinOperator` lists the variants
//! explicitly, so a new variant in a sqlparser upgrade fails to compile here instead of being
//! skipped. (sqlparser's own `Visitor` does not see every node; see ARCHITECTURE.md.)

use sqlparser::ast::{
    Distinct, GroupByExpr, GroupByWithModifier, LimitClause, NamedWindowExpr, OrderByKind, Query,
    Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement,
};

mod dml;
mod expr;
mod from;

/// One function call found in a statement.
#[derive(Debug)]
pub struct FuncCall {
    /// Folded name parts (`["pg_catalog", "nextval"]` or `["nextval"]`); empty when the name
    /// could not be folded (treated as unknown).
    pub name: Vec<String>,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Facts<'a> {
    pub functions: Vec<FuncCall>,
    /// `FOR UPDATE` / `FOR SHARE` (any strength) anywhere.
    pub row_locks: bool,
    /// INSERT/UPDATE/DELETE/MERGE nested in a CTE or a set expression (any depth).
    pub nested_writes: Vec<&'a Statement>,
    /// `SELECT ... INTO new_table`.
    pub select_into: bool,
    /// Constructs PostgreSQL does not have or that we do not analyze (fail closed).
    pub unsupported: Vec<&'static str>,
}

impl<'a> Facts<'a> {
    fn unsupported(&mut self, what: &'static str) {
        self.unsupported.push(what);
    }

    /// Walks a full query (CTEs, body, ORDER BY, LIMIT, locks).
    pub fn query(&mut self, q: &'a Query) {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.query(&cte.query);
            }
        }
        self.set_expr(&q.body);
        if let Some(order_by) = &q.order_by {
            match &order_by.kind {
                OrderByKind::Expressions(exprs) => self.order_by_exprs(exprs),
                OrderByKind::All(_) => self.unsupported("ORDER BY ALL"),
            }
            if order_by.interpolate.is_some() {
                self.unsupported("INTERPOLATE");
            }
        }
        if let Some(limit) = &q.limit_clause {
            match limit {
                LimitClause::LimitOffset {
                    limit,
                    offset,
                    limit_by,
                } => {
                    if let Some(l) = limit {
                        self.expr(l);
                    }
                    if let Some(o) = offset {
                        self.expr(&o.value);
                    }
                    if !limit_by.is_empty() {
                        self.unsupported("LIMIT BY");
                    }
                }
                LimitClause::OffsetCommaLimit { .. } => self.unsupported("LIMIT a, b"),
            }
        }
        if let Some(fetch) = &q.fetch {
            if let Some(quantity) = &fetch.quantity {
                self.expr(quantity);
            }
        }
        if !q.locks.is_empty() {
            self.row_locks = true;
        }
        if q.for_clause.is_some() {
            self.unsupported("FOR XML/JSON/BROWSE");
        }
        if q.settings.is_some() {
            self.unsupported("SETTINGS");
        }
        if q.format_clause.is_some() {
            self.unsupported("FORMAT");
        }
        if !q.pipe_operators.is_empty() {
            self.unsupported("pipe operators");
        }
    }

    pub fn set_expr(&mut self, s: &'a SetExpr) {
        match s {
            SetExpr::Select(select) => self.select(select),
            SetExpr::Query(q) => self.query(q),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left);
                self.set_expr(right);
            }
            SetExpr::Values(values) => {
                for row in &values.rows {
                    self.exprs(row);
                }
            }
            SetExpr::Insert(stmt)
            | SetExpr::Update(stmt)
            | SetExpr::Delete(stmt)
            | SetExpr::Merge(stmt) => {
                self.nested_writes.push(stmt);
                self.dml(stmt);
            }
            // `TABLE t`: a plain read of t.
            SetExpr::Table(_) => {}
        }
    }

    fn select(&mut self, s: &'a Select) {
        if !s.optimizer_hints.is_empty() {
            self.unsupported("optimizer hints");
        }
        match &s.distinct {
            Some(Distinct::On(exprs)) => self.exprs(exprs),
            Some(Distinct::All) | Some(Distinct::Distinct) | None => {}
        }
        if s.select_modifiers.is_some() {
            self.unsupported("SELECT modifiers");
        }
        if s.top.is_some() {
            self.unsupported("TOP");
        }
        for item in &s.projection {
            self.select_item(item);
        }
        if s.exclude.is_some() {
            self.unsupported("EXCLUDE");
        }
        if s.into.is_some() {
            self.select_into = true;
        }
        for twj in &s.from {
            self.table_with_joins(twj);
        }
        if !s.lateral_views.is_empty() {
            self.unsupported("LATERAL VIEW");
        }
        if s.prewhere.is_some() {
            self.unsupported("PREWHERE");
        }
        if let Some(selection) = &s.selection {
            self.expr(selection);
        }
        if !s.connect_by.is_empty() {
            self.unsupported("CONNECT BY");
        }
        match &s.group_by {
            GroupByExpr::All(_) => self.unsupported("GROUP BY ALL"),
            GroupByExpr::Expressions(exprs, modifiers) => {
                self.exprs(exprs);
                for m in modifiers {
                    match m {
                        GroupByWithModifier::GroupingSets(e) => self.expr(e),
                        GroupByWithModifier::Rollup
                        | GroupByWithModifier::Cube
                        | GroupByWithModifier::Totals => self.unsupported("GROUP BY WITH"),
                    }
                }
            }
        }
        if !s.cluster_by.is_empty() || !s.distribute_by.is_empty() || !s.sort_by.is_empty() {
            self.unsupported("CLUSTER/DISTRIBUTE/SORT BY");
        }
        if let Some(having) = &s.having {
            self.expr(having);
        }
        for w in &s.named_window {
            match &w.1 {
                NamedWindowExpr::NamedWindow(_) => {}
                NamedWindowExpr::WindowSpec(spec) => self.window_spec(spec),
            }
        }
        if s.qualify.is_some() {
            self.unsupported("QUALIFY");
        }
        if s.value_table_mode.is_some() {
            self.unsupported("SELECT AS VALUE");
        }
    }

    fn select_item(&mut self, item: &'a SelectItem) {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => self.expr(e),
            SelectItem::ExprWithAliases { .. } => self.unsupported("multiple aliases"),
            SelectItem::QualifiedWildcard(kind, opts) => {
                match kind {
                    SelectItemQualifiedWildcardKind::ObjectName(_) => {}
                    SelectItemQualifiedWildcardKind::Expr(e) => self.expr(e),
                }
                self.wildcard_options(opts);
            }
            SelectItem::Wildcard(opts) => self.wildcard_options(opts),
        }
    }

    fn wildcard_options(&mut self, opts: &sqlparser::ast::WildcardAdditionalOptions) {
        if opts.opt_ilike.is_some()
            || opts.opt_exclude.is_some()
            || opts.opt_except.is_some()
            || opts.opt_replace.is_some()
            || opts.opt_rename.is_some()
        {
            self.unsupported("wildcard options");
        }
    }
}
