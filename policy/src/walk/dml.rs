//! The DML half of the walk: the expressions of INSERT (source, ON CONFLICT), UPDATE, DELETE
//! and MERGE (actions), wherever such a statement is nested.

use sqlparser::ast::{MergeAction, MergeInsertKind, OnConflictAction, OnInsert, Statement};

use super::Facts;

impl<'a> Facts<'a> {
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
