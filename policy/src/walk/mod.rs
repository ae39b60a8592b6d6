//! An exhaustive walk over sqlparser's query and expression trees, collecting what a statement
//! does besides reading: the functions it calls (anywhere: select list, WHERE, FROM, ORDER BY,
//! VALUES, defaults, function arguments, window specs...), row locks, DML nested in CTEs or
//! subqueries, `SELECT INTO`, and constructs PostgreSQL does not have.
//!
//! Every `match` on `Expr`, `SetExpr`, `TableFactor` and `JoinOperator` lists the variants
//! explicitly, so a new variant in a sqlparser upgrade fails to compile here instead of being
//! skipped. (sqlparser's own `Visitor` does not see every node; see ARCHITECTURE.md.)

use sqlparser::ast::{
    Distinct, GroupByExpr, GroupByWithModifier, JoinConstraint, JoinOperator, LimitClause,
    MergeAction, MergeInsertKind, NamedWindowExpr, OnConflictAction, OnInsert, OrderByKind, Query,
    Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor,
    TableWithJoins,
};

mod expr;

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

    pub fn table_with_joins(&mut self, twj: &'a TableWithJoins) {
        self.table_factor(&twj.relation);
        for join in &twj.joins {
            self.table_factor(&join.relation);
            let constraint = match &join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c) => c,
                JoinOperator::Semi(_)
                | JoinOperator::LeftSemi(_)
                | JoinOperator::RightSemi(_)
                | JoinOperator::Anti(_)
                | JoinOperator::LeftAnti(_)
                | JoinOperator::RightAnti(_)
                | JoinOperator::CrossApply
                | JoinOperator::OuterApply
                | JoinOperator::AsOf { .. }
                | JoinOperator::StraightJoin(_)
                | JoinOperator::ArrayJoin
                | JoinOperator::LeftArrayJoin
                | JoinOperator::InnerArrayJoin => {
                    self.unsupported("join kind");
                    continue;
                }
            };
            match constraint {
                JoinConstraint::On(e) => self.expr(e),
                JoinConstraint::Using(_) | JoinConstraint::Natural | JoinConstraint::None => {}
            }
        }
    }

    pub fn table_factor(&mut self, tf: &'a TableFactor) {
        match tf {
            TableFactor::Table {
                name,
                args,
                with_hints,
                version,
                partitions,
                json_path,
                sample,
                index_hints,
                ..
            } => {
                if let Some(args) = args {
                    // `FROM f(args)`: a table function call.
                    self.function_call(name, args.args.iter());
                    if args.settings.is_some() {
                        self.unsupported("SETTINGS");
                    }
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || !index_hints.is_empty()
                {
                    self.unsupported("table hints");
                }
                if sample.is_some() {
                    // TABLESAMPLE method(args): the method is a function; not analyzed.
                    self.unsupported("TABLESAMPLE");
                }
            }
            TableFactor::Derived {
                subquery, sample, ..
            } => {
                self.query(subquery);
                if sample.is_some() {
                    self.unsupported("TABLESAMPLE");
                }
            }
            TableFactor::TableFunction { expr, .. } => self.expr(expr),
            TableFactor::Function { name, args, .. } => self.function_call(name, args.iter()),
            TableFactor::UNNEST {
                array_exprs,
                with_offset,
                ..
            } => {
                self.functions.push(FuncCall {
                    name: vec!["unnest".into()],
                });
                self.exprs(array_exprs);
                if *with_offset {
                    self.unsupported("UNNEST WITH OFFSET");
                }
            }
            TableFactor::JsonTable { json_expr, .. } => {
                self.functions.push(FuncCall {
                    name: vec!["json_table".into()],
                });
                self.expr(json_expr);
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.table_with_joins(table_with_joins),
            TableFactor::XmlTable {
                row_expression,
                passing,
                ..
            } => {
                self.functions.push(FuncCall {
                    name: vec!["xmltable".into()],
                });
                self.expr(row_expression);
                for arg in &passing.arguments {
                    self.expr(&arg.expr);
                }
            }
            TableFactor::OpenJsonTable { .. } => self.unsupported("OPENJSON"),
            TableFactor::Pivot { .. }
            | TableFactor::Unpivot { .. }
            | TableFactor::UnpivotExpr { .. } => self.unsupported("PIVOT"),
            TableFactor::MatchRecognize { .. } => self.unsupported("MATCH_RECOGNIZE"),
            TableFactor::SemanticView { .. } => self.unsupported("SEMANTIC_VIEW"),
        }
    }

    /// Walks the expressions of a DML statement (not its WHERE verdict: see `where_clause`).
    pub fn dml(&mut self, stmt: &'a Statement) {
        match stmt {
            Statement::Insert(insert) => {
                if let Some(source) = &insert.source {
                    self.query(source);
                }
                self.assignments(&insert.assignments);
                match &insert.on {
                    None => {}
                    Some(OnInsert::OnConflict(oc)) => match &oc.action {
                        OnConflictAction::DoNothing => {}
                        OnConflictAction::DoUpdate(du) => {
                            self.assignments(&du.assignments);
                            if let Some(sel) = &du.selection {
                                self.expr(sel);
                            }
                        }
                    },
                    Some(OnInsert::DuplicateKeyUpdate(_)) => self.unsupported("ON DUPLICATE KEY"),
                    // `OnInsert` is non-exhaustive: anything new is not analyzed.
                    Some(_) => self.unsupported("ON clause"),
                }
                self.returning(&insert.returning);
                if insert.output.is_some()
                    || insert.partitioned.is_some()
                    || insert.format_clause.is_some()
                {
                    self.unsupported("INSERT extensions");
                }
            }
            Statement::Update(update) => {
                self.table_with_joins(&update.table);
                self.assignments(&update.assignments);
                match &update.from {
                    None => {}
                    Some(sqlparser::ast::UpdateTableFromKind::AfterSet(from))
                    | Some(sqlparser::ast::UpdateTableFromKind::BeforeSet(from)) => {
                        for twj in from {
                            self.table_with_joins(twj);
                        }
                    }
                }
                if let Some(sel) = &update.selection {
                    self.expr(sel);
                }
                self.returning(&update.returning);
                if update.output.is_some() || !update.order_by.is_empty() || update.limit.is_some()
                {
                    self.unsupported("UPDATE extensions");
                }
            }
            Statement::Delete(delete) => {
                match &delete.from {
                    sqlparser::ast::FromTable::WithFromKeyword(t)
                    | sqlparser::ast::FromTable::WithoutKeyword(t) => {
                        for twj in t {
                            self.table_with_joins(twj);
                        }
                    }
                }
                if let Some(using) = &delete.using {
                    for twj in using {
                        self.table_with_joins(twj);
                    }
                }
                if let Some(sel) = &delete.selection {
                    self.expr(sel);
                }
                self.returning(&delete.returning);
                if delete.output.is_some()
                    || !delete.order_by.is_empty()
                    || delete.limit.is_some()
                    || !delete.tables.is_empty()
                {
                    self.unsupported("DELETE extensions");
                }
            }
            Statement::Merge(merge) => {
                self.table_factor(&merge.table);
                self.table_factor(&merge.source);
                self.expr(&merge.on);
                for clause in &merge.clauses {
                    if let Some(p) = &clause.predicate {
                        self.expr(p);
                    }
                    match &clause.action {
                        MergeAction::Insert(ins) => match &ins.kind {
                            MergeInsertKind::Values(values) => {
                                for row in &values.rows {
                                    self.exprs(row);
                                }
                            }
                            MergeInsertKind::Row => {}
                            MergeInsertKind::Wildcard => self.unsupported("INSERT *"),
                        },
                        MergeAction::Update(upd) => {
                            match &upd.kind {
                                sqlparser::ast::MergeUpdateKind::Set(assignments) => {
                                    self.assignments(assignments)
                                }
                                sqlparser::ast::MergeUpdateKind::Wildcard => {
                                    self.unsupported("UPDATE SET *")
                                }
                            }
                            if upd.update_predicate.is_some() || upd.delete_predicate.is_some() {
                                self.unsupported("MERGE predicates");
                            }
                        }
                        MergeAction::Delete { .. } | MergeAction::DoNothing { .. } => {}
                    }
                }
                if merge.output.is_some() {
                    self.unsupported("MERGE OUTPUT");
                }
            }
            _ => self.unsupported("nested statement"),
        }
    }
}
