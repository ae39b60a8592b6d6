//! Judging queries and data-modifying statements: functions, row locks, writable CTEs,
//! `SELECT INTO`, require_where.

use sqlparser::ast::{Expr, Query, Statement, TableFactor};

use crate::context::{Ctx, Judged};
use crate::denial::{deny, HINT_READ_WRITE};
use crate::functions::FunctionVerdict;
use crate::ident::fold_object_name;
use crate::types::{Access, Denial, SessionChange, StatementKind};
use crate::walk::Facts;
use crate::where_clause::{self, Target};

pub fn unanalyzable(what: &str) -> Denial {
    crate::denial::deny_with_detail(
        "unanalyzable",
        "could not analyze statement",
        format!("unsupported construct: {what}"),
        "rewrite the statement in plain PostgreSQL SQL",
    )
}

pub fn write_label(stmt: &Statement) -> &'static str {
    match stmt {
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge(_) => "MERGE",
        _ => "a data-modifying statement",
    }
}

/// The kind of a query by its body (`WITH ... INSERT` is an INSERT).
pub fn query_kind(q: &Query) -> StatementKind {
    match q.body.as_ref() {
        sqlparser::ast::SetExpr::Insert(_) => StatementKind::Insert,
        sqlparser::ast::SetExpr::Update(_) => StatementKind::Update,
        sqlparser::ast::SetExpr::Delete(_) => StatementKind::Delete,
        sqlparser::ast::SetExpr::Merge(_) => StatementKind::Merge,
        _ => StatementKind::Select,
    }
}

/// Judges what a walk found, for the role in `ctx`.
pub fn judge_facts(facts: &Facts<'_>, ctx: &Ctx<'_>, j: &mut Judged) {
    if let Some(what) = facts.unsupported.first() {
        j.deny(unanalyzable(what));
    }
    if !facts.nested_writes.is_empty() {
        j.info.writes = true;
    }
    match ctx.role.access {
        Access::ReadOnly => {
            if let Some(stmt) = facts.nested_writes.first() {
                j.deny(deny(
                    "read_only.write",
                    format!("read-only role may not run {}", write_label(stmt)),
                    HINT_READ_WRITE,
                ));
            }
            if facts.select_into {
                j.info.writes = true;
                j.deny(deny(
                    "read_only.write",
                    "read-only role may not run SELECT INTO",
                    HINT_READ_WRITE,
                ));
            }
            if facts.row_locks {
                j.deny(deny(
                    "read_only.row_lock",
                    "read-only role may not lock rows (FOR UPDATE/SHARE)",
                    "drop the FOR UPDATE/FOR SHARE clause",
                ));
            }
            for call in &facts.functions {
                // set_config is judged on PostgreSQL's reading of the call (pg_judge).
                if is_set_config(&call.name) {
                    continue;
                }
                match ctx.functions.judge(&call.name, ctx.search_path) {
                    FunctionVerdict::Safe => {}
                    FunctionVerdict::SideEffect(name) => j.deny(deny(
                        "read_only.function",
                        format!("read-only role may not call {name}: it has side effects"),
                        HINT_READ_WRITE,
                    )),
                    FunctionVerdict::Unknown(name) => j.deny(deny(
                        "read_only.unknown_function",
                        format!("function {name} is not known to be read-only"),
                        "ask an administrator to list it under [functions] safe, or use a read-write role",
                    )),
                }
            }
        }
        Access::ReadWrite => {
            for stmt in &facts.nested_writes {
                judge_write_target(stmt, ctx, j);
            }
            if facts.select_into {
                j.info.writes = true;
                if !ctx.role.allow_ddl {
                    j.deny(ddl_denial("SELECT INTO"));
                }
            }
            for call in &facts.functions {
                if leaves_session_state(&call.name) {
                    note_session_change(j, SessionChange::Other);
                }
            }
        }
    }
}

/// Functions whose effect outlives the transaction on the server connection (session-level
/// advisory locks, dblink connections, sequence state for lastval/currval): a pooled server
/// that ran one must be reset before another client gets it.
fn leaves_session_state(name: &[String]) -> bool {
    let base = match name {
        [n] => n.as_str(),
        [s, n] if s == "pg_catalog" || s == "public" => n.as_str(),
        _ => return false,
    };
    matches!(
        base,
        "pg_advisory_lock"
            | "pg_advisory_lock_shared"
            | "pg_try_advisory_lock"
            | "pg_try_advisory_lock_shared"
            | "nextval"
            | "setval"
            | "dblink_connect"
            | "dblink_connect_u"
            | "dblink_open"
            | "lo_open"
    )
}

pub fn ddl_denial(what: &str) -> Denial {
    deny(
        "ddl",
        format!("role may not run DDL ({what})"),
        "ask for a role with allow_ddl = true",
    )
}

fn is_set_config(name: &[String]) -> bool {
    match name {
        [n] => n == "set_config",
        [s, n] => s == "pg_catalog" && n == "set_config",
        _ => false,
    }
}

/// The target's qualifier (alias, else table name) and whether it is a plain table.
fn target_of(tf: &TableFactor) -> Option<String> {
    match tf {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => match alias {
            Some(a) => Some(crate::ident::fold_ident(&a.name)),
            None => fold_object_name(name).and_then(|parts| parts.last().cloned()),
        },
        _ => None,
    }
}

/// require_where and the analyzability of one UPDATE/DELETE/MERGE/INSERT for a read-write role.
pub fn judge_write_target(stmt: &Statement, ctx: &Ctx<'_>, j: &mut Judged) {
    let label = write_label(stmt);
    let (target, predicate): (Option<Target>, Option<&Expr>) = match stmt {
        Statement::Insert(_) => return,
        Statement::Update(u) => {
            let has_other = u.from.is_some() || !u.table.joins.is_empty();
            (
                target_of(&u.table.relation).map(|q| Target {
                    qualifier: q,
                    has_other_relations: has_other,
                }),
                u.selection.as_ref(),
            )
        }
        Statement::Delete(d) => {
            let tables = match &d.from {
                sqlparser::ast::FromTable::WithFromKeyword(t)
                | sqlparser::ast::FromTable::WithoutKeyword(t) => t,
            };
            let target = match tables.as_slice() {
                [one] => {
                    let has_other = d.using.is_some() || !one.joins.is_empty();
                    target_of(&one.relation).map(|q| Target {
                        qualifier: q,
                        has_other_relations: has_other,
                    })
                }
                _ => None,
            };
            (target, d.selection.as_ref())
        }
        Statement::Merge(m) => {
            let modifies = m.clauses.iter().any(|c| {
                matches!(
                    c.action,
                    sqlparser::ast::MergeAction::Update(_)
                        | sqlparser::ast::MergeAction::Delete { .. }
                )
            });
            if !modifies {
                return;
            }
            (
                target_of(&m.table).map(|q| Target {
                    qualifier: q,
                    has_other_relations: true,
                }),
                Some(m.on.as_ref()),
            )
        }
        _ => {
            j.deny(unanalyzable("nested statement"));
            return;
        }
    };
    if !ctx.role.require_where {
        return;
    }
    let Some(target) = target else {
        j.deny(unanalyzable("write target"));
        return;
    };
    let verdict = where_clause::judge(predicate, &target);
    if verdict.literal_dependent {
        j.cacheable = false;
    }
    if !verdict.filters {
        let clause = if matches!(stmt, Statement::Merge(_)) {
            "an ON condition"
        } else {
            "a WHERE"
        };
        j.deny(deny(
            "require_where",
            format!("{label} without {clause} that filters rows"),
            "add a WHERE clause on the target's columns (qualify them with the target's alias when the statement has FROM or USING)",
        ));
    }
}

/// A SELECT (or `WITH ... DML`) statement.
pub fn judge_query(q: &Query, ctx: &Ctx<'_>) -> Judged {
    let mut j = Judged::new(query_kind(q));
    let mut facts = Facts::default();
    facts.query(q);
    judge_facts(&facts, ctx, &mut j);
    j
}

/// A top-level INSERT/UPDATE/DELETE/MERGE.
pub fn judge_dml(stmt: &Statement, kind: StatementKind, ctx: &Ctx<'_>) -> Judged {
    let mut j = Judged::new(kind).writes();
    let mut facts = Facts::default();
    facts.dml(stmt);
    match ctx.role.access {
        Access::ReadOnly => j.deny(deny(
            "read_only.write",
            format!("read-only role may not run {}", write_label(stmt)),
            HINT_READ_WRITE,
        )),
        Access::ReadWrite => judge_write_target(stmt, ctx, &mut j),
    }
    judge_facts(&facts, ctx, &mut j);
    j
}

/// The change a statement's own effect makes beyond its transaction, if `j` says none yet.
pub fn note_session_change(j: &mut Judged, change: SessionChange) {
    if j.info.session_change.is_none() {
        j.info.session_change = Some(change);
    }
}
