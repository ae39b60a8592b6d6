//! The top-level judgement of one parsed statement: what kind it is, what it changes, and
//! whether the role may run it. Statement kinds not listed are refused (fail closed).

use sqlparser::ast::{
    CopySource, CopyTarget, Reset, Set, Statement, TransactionAccessMode, TransactionMode,
};

use crate::context::{Ctx, Judged};
use crate::denial::{deny, HINT_READ_WRITE};
use crate::dml::{judge_dml, judge_facts, judge_query, note_session_change, unanalyzable};
use crate::family::{sql_family, Family};
use crate::ident::fold_object_name;
use crate::rules::{ddl, do_or_call, read_write_only};
use crate::settings::{judge_setting, session_change, setting_value, SettingValue};
use crate::types::{Access, SessionChange, StatementKind as K};
use crate::walk::Facts;

/// Judges one statement for the role in `ctx`.
pub fn judge(stmt: &Statement, ctx: &Ctx<'_>) -> Judged {
    match stmt {
        Statement::Query(q) => judge_query(q, ctx),
        Statement::Insert(_) => judge_dml(stmt, K::Insert, ctx),
        Statement::Update(_) => judge_dml(stmt, K::Update, ctx),
        Statement::Delete(_) => judge_dml(stmt, K::Delete, ctx),
        Statement::Merge(_) => judge_dml(stmt, K::Merge, ctx),
        Statement::Copy {
            source, to, target, ..
        } => copy(source, *to, target, ctx),
        Statement::Explain {
            statement, analyze, ..
        } => explain(statement, *analyze, ctx),
        Statement::Set(set) => judge_set(set, ctx),
        Statement::Reset(r) => reset(&r.reset, ctx),
        Statement::ShowVariable { .. } => Judged::new(K::Show),
        Statement::StartTransaction {
            modes, statements, ..
        } => {
            let mut j = transaction_modes(modes, ctx, Judged::new(K::Transaction));
            if !statements.is_empty() {
                j.deny(unanalyzable("BEGIN ... END block"));
            }
            j
        }
        Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => Judged::new(K::Transaction),
        Statement::Prepare { statement, .. } => {
            let inner = judge(statement, ctx);
            let mut j = Judged::new(K::Prepare);
            j.info.writes = inner.info.writes;
            j.cacheable = inner.cacheable;
            j.info.session_change = Some(SessionChange::Other);
            if let Err(mut d) = inner.verdict {
                d.message = format!("PREPARE refused: {}", d.message);
                j.deny(d);
            }
            j
        }
        // EXECUTE of a prepared statement: its body was judged at PREPARE time (a PREPARE of a
        // write is refused for read-only roles), and read-only roles run upstream with
        // default_transaction_read_only = on, the second lock. Only the arguments are judged.
        Statement::Execute {
            parameters,
            using,
            into,
            immediate,
            output,
            default,
            ..
        } => {
            let mut j = Judged::new(K::Execute);
            if *immediate || !into.is_empty() || !using.is_empty() || *output || *default {
                j.deny(unanalyzable("EXECUTE form"));
            }
            let mut facts = Facts::default();
            facts.exprs(parameters);
            judge_facts(&facts, ctx, &mut j);
            j
        }
        Statement::Deallocate { .. } => {
            let mut j = Judged::new(K::Deallocate);
            j.info.session_change = Some(SessionChange::Other);
            j
        }
        Statement::LISTEN { .. } => {
            let mut j = Judged::new(K::Listen);
            j.info.session_change = Some(SessionChange::Other);
            j
        }
        Statement::UNLISTEN { .. } => {
            let mut j = Judged::new(K::Unlisten);
            j.info.session_change = Some(SessionChange::Other);
            j
        }
        Statement::NOTIFY { .. } => read_write_only(K::Notify, "NOTIFY", ctx),
        Statement::Declare { stmts } => declare(stmts, ctx),
        Statement::Fetch { into, .. } => {
            let mut j = Judged::new(K::Fetch);
            if into.is_some() {
                j.deny(unanalyzable("FETCH INTO"));
            }
            j
        }
        Statement::Close { .. } => Judged::new(K::ClosePortal),
        Statement::Discard { .. } => {
            let mut j = Judged::new(K::Discard);
            j.info.session_change = Some(SessionChange::Other);
            j
        }
        Statement::Lock(_) | Statement::LockTables { .. } => read_write_only(K::Lock, "LOCK", ctx),
        Statement::Truncate(_) => ddl(K::Truncate, "TRUNCATE", ctx, true),
        Statement::Vacuum(_) | Statement::Analyze(_) => {
            ddl(K::Maintenance, "VACUUM/ANALYZE", ctx, false)
        }
        Statement::Grant(_)
        | Statement::Revoke(_)
        | Statement::CreateRole(_)
        | Statement::AlterRole { .. }
        | Statement::CreateUser(_)
        | Statement::AlterUser(_) => ddl(K::Grant, "GRANT/REVOKE/roles", ctx, false),
        Statement::CreateTable(ct) => {
            let mut j = ddl(K::Ddl, "CREATE TABLE", ctx, ct.query.is_some());
            if let Some(q) = &ct.query {
                let inner = judge_query(q, ctx);
                if ctx.role.access == Access::ReadWrite {
                    j.check(inner.verdict);
                }
            }
            if ct.temporary {
                j.info.session_change = Some(SessionChange::Other);
            }
            j
        }
        // The same list of DDL statements the two-parser check uses, kept in one place.
        s if sql_family(s) == Family::Ddl => ddl(K::Ddl, "CREATE/ALTER/DROP/COMMENT", ctx, false),
        Statement::Call(_) => do_or_call(K::Call, "CALL", ctx),
        // Everything else (other dialects' statements, and PostgreSQL statements we do not
        // analyze) is refused.
        _ => {
            let mut j = Judged::new(K::Other);
            j.deny(deny(
                "unanalyzable",
                "could not analyze statement",
                "statement kind not supported by pgward",
            ));
            j
        }
    }
}

/// Read-write roles may; read-only roles may not.
fn copy(source: &CopySource, to: bool, target: &CopyTarget, ctx: &Ctx<'_>) -> Judged {
    let kind = if to { K::CopyTo } else { K::CopyFrom };
    let mut j = match (source, to) {
        (CopySource::Query(q), true) => {
            let mut inner = judge_query(q, ctx);
            inner.info.kind = K::CopyTo;
            inner
        }
        (CopySource::Query(_), false) => {
            let mut j = Judged::new(kind);
            j.deny(unanalyzable("COPY (query) FROM"));
            j
        }
        (CopySource::Table { .. }, true) => Judged::new(kind),
        (CopySource::Table { .. }, false) => {
            let mut j = Judged::new(kind).writes();
            if ctx.role.access == Access::ReadOnly {
                j.deny(deny(
                    "read_only.write",
                    "read-only role may not run COPY FROM",
                    HINT_READ_WRITE,
                ));
            }
            j
        }
    };
    match target {
        CopyTarget::Stdin | CopyTarget::Stdout => {}
        CopyTarget::File { .. } | CopyTarget::Program { .. } => {
            j.cacheable = false;
            if let Some(d) = crate::rules::server_copy(ctx.role) {
                j.deny(d);
            }
        }
    }
    j
}

fn explain(statement: &Statement, analyze: bool, ctx: &Ctx<'_>) -> Judged {
    let inner = judge(statement, ctx);
    let mut j = Judged::new(K::Explain);
    j.cacheable = inner.cacheable;
    j.info.writes = inner.info.writes && analyze;
    if matches!(statement, Statement::Explain { .. }) {
        j.deny(unanalyzable("nested EXPLAIN"));
    }
    if let Err(mut d) = inner.verdict {
        d.message = format!("EXPLAIN refused: {}", d.message);
        j.deny(d);
    } else if ctx.role.access == Access::ReadOnly && inner.info.writes {
        j.deny(deny(
            "read_only.write",
            "read-only role may not EXPLAIN a write",
            HINT_READ_WRITE,
        ));
    }
    j
}

fn transaction_modes(modes: &[TransactionMode], ctx: &Ctx<'_>, mut j: Judged) -> Judged {
    let read_write = modes.iter().any(|m| {
        matches!(
            m,
            TransactionMode::AccessMode(TransactionAccessMode::ReadWrite)
        )
    });
    if read_write && ctx.role.access == Access::ReadOnly {
        j.deny(deny(
            "read_only.loosen",
            "read-only role may not start a READ WRITE transaction",
            HINT_READ_WRITE,
        ));
    }
    j
}

fn declare(stmts: &[sqlparser::ast::Declare], ctx: &Ctx<'_>) -> Judged {
    let mut j = Judged::new(K::Declare);
    for d in stmts {
        match &d.for_query {
            Some(q) => {
                let inner = judge_query(q, ctx);
                j.cacheable &= inner.cacheable;
                j.info.writes |= inner.info.writes;
                if let Err(d) = inner.verdict {
                    j.deny(d);
                }
            }
            None => j.deny(unanalyzable("DECLARE without a query")),
        }
        if d.hold == Some(true) {
            j.info.session_change = Some(SessionChange::Other);
        }
    }
    j
}

/// `SET name ...` with `scope` LOCAL or not.
fn set_named(name: &str, value: Option<SettingValue>, local: bool, ctx: &Ctx<'_>) -> Judged {
    let mut j = Judged::new(K::Set);
    j.cacheable = false;
    let Some(value) = value else {
        j.deny(unanalyzable("SET value"));
        return j;
    };
    j.check(
        judge_setting(name, &value, ctx.role)
            .and_then(|()| crate::planner_lock::planner_lock(name, &value, ctx.masked)),
    );
    if local {
        if name.eq_ignore_ascii_case("search_path") && ctx.role.access == Access::ReadOnly {
            j.deny(deny(
                "read_only.setting",
                "read-only role may not use SET LOCAL search_path",
                "use SET search_path (pgward follows the session's search_path)",
            ));
        } else if name.eq_ignore_ascii_case("search_path") {
            note_session_change(&mut j, SessionChange::SearchPathUnknown);
        }
    } else {
        note_session_change(&mut j, session_change(name, &value));
    }
    j
}

fn judge_set(set: &Set, ctx: &Ctx<'_>) -> Judged {
    match set {
        Set::SingleAssignment {
            scope,
            hivevar,
            variable,
            values,
        } => {
            if *hivevar {
                let mut j = Judged::new(K::Set);
                j.deny(unanalyzable("SET HIVEVAR"));
                return j;
            }
            let name = fold_object_name(variable)
                .map(|p| p.join("."))
                .unwrap_or_default();
            let local = matches!(scope, Some(sqlparser::ast::ContextModifier::Local));
            if matches!(scope, Some(sqlparser::ast::ContextModifier::Global)) {
                let mut j = Judged::new(K::Set);
                j.deny(unanalyzable("SET GLOBAL"));
                return j;
            }
            set_named(&name, setting_value(values), local, ctx)
        }
        Set::SetTimeZone { local, value } => set_named(
            "timezone",
            setting_value(std::slice::from_ref(value)),
            *local,
            ctx,
        ),
        Set::SetNames {
            charset_name,
            collation_name,
        } => {
            let mut j = set_named(
                "client_encoding",
                Some(SettingValue::Values(vec![charset_name.value.clone()])),
                false,
                ctx,
            );
            if collation_name.is_some() {
                j.deny(unanalyzable("SET NAMES ... COLLATE"));
            }
            j
        }
        Set::SetNamesDefault {} => {
            set_named("client_encoding", Some(SettingValue::Default), false, ctx)
        }
        Set::SetRole {
            context_modifier, ..
        } => {
            let local = matches!(
                context_modifier,
                Some(sqlparser::ast::ContextModifier::Local)
            );
            identity("role", local, ctx)
        }
        Set::SetSessionAuthorization(p) => {
            let local = matches!(p.scope, sqlparser::ast::ContextModifier::Local);
            identity("session_authorization", local, ctx)
        }
        Set::SetTransaction {
            modes,
            snapshot: _,
            session,
        } => {
            let mut j = transaction_modes(modes, ctx, Judged::new(K::Set));
            if *session {
                j.info.session_change = Some(SessionChange::Other);
            }
            j
        }
        Set::ParenthesizedAssignments { .. }
        | Set::MultipleAssignments { .. }
        | Set::SetSessionParam(_) => {
            let mut j = Judged::new(K::Set);
            j.deny(unanalyzable("SET form"));
            j
        }
    }
}

/// `SET [LOCAL] ROLE` / `SET SESSION AUTHORIZATION` (whose value the judgement does not need:
/// `allow_set_role` allows any, read-only roles none): judged as the setting it changes.
fn identity(name: &str, local: bool, ctx: &Ctx<'_>) -> Judged {
    set_named(
        name,
        Some(SettingValue::Values(vec![String::new()])),
        local,
        ctx,
    )
}

fn reset(r: &Reset, ctx: &Ctx<'_>) -> Judged {
    match r {
        // RESET ALL returns every setting to its session default: the pins pgward put in the
        // upstream connection's startup options (read-only mode, statement_timeout, lexer
        // settings) are those defaults, so nothing a role's rules name is loosened.
        Reset::ALL => {
            let mut j = Judged::new(K::Reset);
            j.info.session_change = Some(SessionChange::SearchPathDefault);
            j
        }
        Reset::SessionAuthorization => {
            let mut j = identity("session_authorization", false, ctx);
            j.info.kind = K::Reset;
            j
        }
        Reset::ConfigurationParameter(name) => {
            let name = fold_object_name(name)
                .map(|p| p.join("."))
                .unwrap_or_default();
            let mut j = set_named(&name, Some(SettingValue::Default), false, ctx);
            j.info.kind = K::Reset;
            j
        }
    }
}
