//! The whole judgement of a statement from PostgreSQL's reading alone: what sqlparser cannot
//! parse, and the statement kinds whose PostgreSQL reading decides (LOCK, transaction
//! statements, SET TRANSACTION). Each refusal names the guardrail that makes it; the checks
//! every statement passes ([`crate::pg_judge::check`]) follow.

use serde_json::Value;

use crate::context::{Ctx, Judged};
use crate::denial::{deny, HINT_READ_WRITE};
use crate::pg_facts::{const_text, PgFacts};
use crate::pg_fields::{bool_field, i64_field, str_field};
use crate::pg_judge::check;
use crate::rules::{ddl, do_or_call};
use crate::settings::{judge_setting, session_change, SettingValue};
use crate::types::{Access, SessionChange, StatementKind as K};

/// Statement kinds PostgreSQL's reading decides even when sqlparser parses them (sqlparser's
/// view of them is narrower than the server's).
pub fn decides_alone(facts: &PgFacts) -> bool {
    match facts.kind.as_str() {
        "LockStmt" | "TransactionStmt" => true,
        // SET TRANSACTION / SET SESSION CHARACTERISTICS (VAR_SET_MULTI)
        "VariableSetStmt" => facts.top.get("kind").and_then(Value::as_i64) == Some(4),
        _ => false,
    }
}

/// A SET's session change: PostgreSQL already split and folded its values (each value of
/// `SET search_path` is one schema name, quoted or not).
fn session_change_pg(name: &str, value: &SettingValue) -> SessionChange {
    match value {
        SettingValue::Values(v) if name.eq_ignore_ascii_case("search_path") => {
            SessionChange::SearchPath(v.clone())
        }
        _ => session_change(name, value),
    }
}

/// `transaction_read_only = false` among a transaction's options (`READ WRITE`).
fn asks_read_write(options: Option<&Value>) -> bool {
    let Some(Value::Array(opts)) = options else {
        return false;
    };
    opts.iter().any(|o| {
        let d = o.get("node").and_then(|n| n.get("DefElem"));
        d.is_some_and(|d| {
            str_field(d, "defname") == "transaction_read_only"
                && d.get("arg").and_then(const_text).as_deref() == Some("0")
        })
    })
}

fn read_write_refused(ctx: &Ctx<'_>, j: &mut Judged) {
    if ctx.role.access == Access::ReadOnly {
        j.deny(deny(
            "read_only.loosen",
            "read-only role may not start a READ WRITE transaction",
            HINT_READ_WRITE,
        ));
    }
}

/// A statement judged from PostgreSQL's reading alone (sqlparser could not parse it, or the
/// statement kind is one pg decides): each refusal names the guardrail that makes it.
pub fn judge_alone(facts: &PgFacts, ctx: &Ctx<'_>) -> Judged {
    let top = &facts.top;
    let read_only = ctx.role.access == Access::ReadOnly;
    let mut j = match facts.kind.as_str() {
        "SelectStmt" => Judged::new(K::Select),
        "VariableShowStmt" => Judged::new(K::Show),
        "DeclareCursorStmt" => Judged::new(K::Declare),
        "FetchStmt" => Judged::new(K::Fetch),
        "ClosePortalStmt" => Judged::new(K::ClosePortal),
        "ExecuteStmt" => Judged::new(K::Execute),
        "ExplainStmt" => Judged::new(K::Explain),
        "PrepareStmt" | "DeallocateStmt" | "ListenStmt" | "UnlistenStmt" | "DiscardStmt" => {
            let kind = match facts.kind.as_str() {
                "PrepareStmt" => K::Prepare,
                "DeallocateStmt" => K::Deallocate,
                "ListenStmt" => K::Listen,
                "UnlistenStmt" => K::Unlisten,
                _ => K::Discard,
            };
            let mut j = Judged::new(kind);
            j.info.session_change = Some(SessionChange::Other);
            j
        }
        "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => write(facts, ctx),
        "CopyStmt" => copy(top, ctx),
        "TransactionStmt" => {
            let mut j = Judged::new(K::Transaction);
            // PREPARE TRANSACTION and its COMMIT/ROLLBACK PREPARED (kinds 8-10) outlive the
            // session: DDL-level.
            match i64_field(top, "kind") {
                Some(8..=10) => return ddl(K::Transaction, "two-phase commit", ctx, false),
                _ => {
                    if asks_read_write(top.get("options")) {
                        read_write_refused(ctx, &mut j);
                    }
                }
            }
            j
        }
        "VariableSetStmt" => set(top, ctx),
        "LockStmt" => {
            let mut j = Judged::new(K::Lock);
            // ACCESS SHARE (1) only reads: pg_dump takes it on every table it dumps.
            if read_only && i64_field(top, "mode") != Some(1) {
                j.deny(deny(
                    "read_only.write",
                    "read-only role may lock tables only IN ACCESS SHARE MODE",
                    HINT_READ_WRITE,
                ));
            }
            j
        }
        "NotifyStmt" => {
            let mut j = Judged::new(K::Notify);
            if read_only {
                j.deny(deny(
                    "read_only.write",
                    "read-only role may not run NOTIFY",
                    HINT_READ_WRITE,
                ));
            }
            j
        }
        "CallStmt" => do_or_call(K::Call, "CALL", ctx),
        "DoStmt" => do_or_call(K::Do, "DO", ctx),
        "VacuumStmt" | "CheckPointStmt" | "ReindexStmt" | "ClusterStmt" => {
            ddl(K::Maintenance, "maintenance", ctx, false)
        }
        "TruncateStmt" => ddl(K::Truncate, "TRUNCATE", ctx, true),
        "GrantStmt" | "GrantRoleStmt" => ddl(K::Grant, "GRANT/REVOKE", ctx, false),
        // Everything else PostgreSQL has is DDL of some kind (CREATE/ALTER/DROP/COMMENT/
        // SECURITY LABEL/ALTER SYSTEM/...): allowed with allow_ddl.
        other => {
            let what = other.trim_end_matches("Stmt");
            let mut j = ddl(K::Ddl, what, ctx, false);
            j.info.session_change = Some(SessionChange::Other);
            j
        }
    };
    check(facts, ctx, &mut j);
    j
}

fn write(facts: &PgFacts, ctx: &Ctx<'_>) -> Judged {
    let (kind, label) = match facts.kind.as_str() {
        "InsertStmt" => (K::Insert, "INSERT"),
        "UpdateStmt" => (K::Update, "UPDATE"),
        "DeleteStmt" => (K::Delete, "DELETE"),
        _ => (K::Merge, "MERGE"),
    };
    let mut j = Judged::new(kind).writes();
    if ctx.role.access == Access::ReadOnly {
        j.deny(deny(
            "read_only.write",
            format!("read-only role may not run {label}"),
            HINT_READ_WRITE,
        ));
    }
    // require_where: judged on PostgreSQL's tree in `check`.
    j
}

fn copy(top: &Value, ctx: &Ctx<'_>) -> Judged {
    let from = bool_field(top, "is_from");
    // The server's files and programs: server administration, as on sqlparser's side
    // (`classify.rs`).
    let server_side = !str_field(top, "filename").is_empty() || bool_field(top, "is_program");
    if let Some(d) = server_side
        .then(|| crate::rules::server_copy(ctx.role))
        .flatten()
    {
        let mut j = Judged::new(if from { K::CopyFrom } else { K::CopyTo });
        j.cacheable = false;
        j.deny(d);
        return j;
    }
    if !from {
        return Judged::new(K::CopyTo);
    }
    let mut j = Judged::new(K::CopyFrom).writes();
    if ctx.role.access == Access::ReadOnly {
        j.deny(deny(
            "read_only.write",
            "read-only role may not run COPY FROM",
            HINT_READ_WRITE,
        ));
    }
    j
}

fn set(top: &Value, ctx: &Ctx<'_>) -> Judged {
    let kind = i64_field(top, "kind").unwrap_or(0);
    let name = str_field(top, "name").to_ascii_lowercase();
    let local = bool_field(top, "is_local");
    let mut j = Judged::new(if kind >= 5 { K::Reset } else { K::Set });
    let value = match kind {
        // VAR_SET_VALUE
        1 => {
            let values: Option<Vec<String>> = match top.get("args") {
                Some(Value::Array(a)) => a.iter().map(const_text).collect(),
                _ => Some(vec![]),
            };
            match values {
                Some(v) => SettingValue::Values(v),
                None => {
                    j.cacheable = false;
                    j.deny(deny(
                        "session.setting",
                        format!("SET {name} with a value pgward cannot read"),
                        "use a literal value",
                    ));
                    return j;
                }
            }
        }
        // VAR_SET_DEFAULT, VAR_RESET
        2 | 5 => SettingValue::Default,
        // VAR_SET_MULTI: SET TRANSACTION / SESSION CHARACTERISTICS
        4 => {
            if asks_read_write(top.get("args")) {
                read_write_refused(ctx, &mut j);
            }
            if name == "session characteristics" {
                j.info.session_change = Some(SessionChange::Other);
            }
            return j;
        }
        // VAR_RESET_ALL: back to the session defaults, which hold the pins (the search_path
        // among them).
        6 => {
            j.info.session_change = Some(SessionChange::SearchPathDefault);
            return j;
        }
        // VAR_SET_CURRENT (SET x FROM CURRENT) keeps the value in force.
        _ => {
            if !local {
                j.info.session_change = Some(SessionChange::Other);
            }
            return j;
        }
    };
    j.cacheable = false;
    match judge_setting(&name, &value, ctx.role)
        .and_then(|()| crate::planner_lock::planner_lock(&name, &value, ctx.masked))
    {
        Ok(()) => {
            if !local {
                j.info.session_change = Some(session_change_pg(&name, &value));
            } else if name.eq_ignore_ascii_case("search_path") {
                j.info.session_change = Some(SessionChange::SearchPathUnknown);
            }
        }
        Err(d) => j.deny(d),
    }
    j
}
