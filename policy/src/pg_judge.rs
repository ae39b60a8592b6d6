//! Decisions from PostgreSQL's facts ([`PgFacts`]): the checks every statement passes whatever
//! sqlparser read ([`check`]), and the whole judgement of a statement sqlparser cannot parse
//! or whose pg reading alone decides ([`judge_alone`]).

use serde_json::Value;

use crate::catalog::Volatility;
use crate::context::{Ctx, Judged};
use crate::denial::{deny, HINT_READ_WRITE};
use crate::filter;
use crate::functions::FunctionVerdict;
use crate::pg_facts::{const_text, PgFacts};
use crate::reach::{self, Reached};
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

/// What PostgreSQL will run, judged for the role: nested writes, `SELECT INTO`, row locks,
/// every function call and every `set_config`. Applied to every statement, after any other
/// judgement of it.
pub fn check(facts: &PgFacts, ctx: &Ctx<'_>, j: &mut Judged) {
    if !facts.nested_writes.is_empty() || facts.select_into {
        j.info.writes = true;
    }
    for args in &facts.set_config_calls {
        j.cacheable = false;
        match (args.as_slice(), pg_settings_names(&facts.top)) {
            // `SELECT set_config(name, 'v', false) FROM pg_settings WHERE name IN (...)`
            // (pg_dump): one set_config per listed name.
            ([None, value, local], Some(names)) => {
                for name in names {
                    judge_set_config(&[Some(name), value.clone(), local.clone()], ctx, j);
                }
            }
            _ => judge_set_config(args, ctx, j),
        }
    }
    match ctx.role.access {
        Access::ReadOnly => {
            if let Some(what) = facts.nested_writes.first() {
                j.deny(deny(
                    "read_only.write",
                    format!("read-only role may not run {what}"),
                    HINT_READ_WRITE,
                ));
            }
            if facts.select_into {
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
            for (i, name) in facts.functions.iter().enumerate() {
                // set_config is judged above as the SET it amounts to.
                let set_config = name.last().map(String::as_str) == Some("set_config")
                    && (name.len() == 1 || name[0] == "pg_catalog");
                if !set_config {
                    judge_function(name, facts.syntax_calls.contains(&i), ctx, j);
                }
            }
            for r in reach::reached(facts, ctx.catalog, ctx.search_path) {
                match r {
                    Reached::Function(name, via) => {
                        let mut inner = Judged::new(K::Select);
                        judge_function(&name, false, ctx, &mut inner);
                        if let Err(mut d) = inner.verdict {
                            d.message = format!("{} (reached through {via})", d.message);
                            j.deny(d);
                        }
                    }
                    Reached::Unresolved(what) => j.deny(deny(
                        "read_only.unknown_function",
                        format!("the statement reaches {what}, which pgward cannot judge"),
                        "use built-in operators and types, or a read-write role",
                    )),
                }
            }
        }
        Access::ReadWrite => {
            if ctx.role.require_where {
                for (kind, node) in &facts.writes {
                    // The verdict may look at boolean constants (`false OR id = 1`) or at a
                    // pattern's text (`LIKE '%'`), which normalization replaces.
                    if filter::depends_on_literals(node) {
                        j.cacheable = false;
                    }
                    let filters = filter::Target::of(kind, node).is_none_or(|(target, pred)| {
                        filter::filters(pred.as_ref(), &target, ctx.catalog, ctx.search_path)
                    });
                    if !filters {
                        let label = kind.trim_end_matches("Stmt").to_ascii_uppercase();
                        j.deny(deny(
                            "require_where",
                            format!("{label} without a WHERE that filters rows of its target"),
                            "compare a column of the target with a value (id = 42); a predicate true for every row does not count",
                        ));
                    }
                }
            }
            if facts.select_into && !ctx.role.allow_ddl {
                j.deny(crate::dml::ddl_denial("SELECT INTO"));
            }
            if ctx.role.max_affected_rows > 0 && !facts.nested_writes.is_empty() {
                j.deny(deny(
                    "max_affected_rows",
                    "a write nested in another statement does not report its row count",
                    "run the write as its own statement",
                ));
            }
        }
    }
}

/// A pg_catalog function not on either list is a reader when the catalog says every overload
/// is immutable or stable (pg_stat_get_* and friends); without a catalog, the pg_stat_get_*
/// family is known to read statistics only.
fn pg_catalog_reader(name: &[String], ctx: &Ctx<'_>) -> bool {
    let base = match name {
        [n] if !ctx.search_path.iter().any(|s| s == "pg_catalog") => n,
        [s, n] if s == "pg_catalog" => n,
        _ => return false,
    };
    match ctx.catalog {
        Some(c) => {
            let overloads = c.functions_named("pg_catalog", base);
            !overloads.is_empty()
                && overloads
                    .iter()
                    .all(|f| f.volatility != Volatility::Volatile && !f.security_definer)
        }
        None => base.starts_with("pg_stat_get_"),
    }
}

fn judge_function(name: &[String], from_syntax: bool, ctx: &Ctx<'_>, j: &mut Judged) {
    match ctx.functions.judge(name, ctx.search_path) {
        FunctionVerdict::Unknown(_) if pg_catalog_reader(name, ctx) => {}
        FunctionVerdict::Safe => {}
        FunctionVerdict::SideEffect(n) => j.deny(deny(
            "read_only.function",
            format!("read-only role may not call {n}: it has side effects"),
            HINT_READ_WRITE,
        )),
        // Functions the grammar itself calls (EXTRACT, TRIM, OVERLAPS, AT TIME ZONE, ...) are
        // fixed pg_catalog readers.
        FunctionVerdict::Unknown(_) if from_syntax => {}
        FunctionVerdict::Unknown(n) => j.deny(deny(
            "read_only.unknown_function",
            format!("function {n} is not known to be read-only"),
            "ask an administrator to list it under [functions] safe, or use a read-write role",
        )),
    }
}

/// `set_config(name, value, is_local)` as PostgreSQL reads the call: judged like the SET it
/// amounts to; refused when its name or value is not a literal (we cannot know what it sets).
fn judge_set_config(args: &[Option<String>], ctx: &Ctx<'_>, j: &mut Judged) {
    match args {
        [Some(name), Some(value), Some(is_local)] => {
            let value = SettingValue::Values(vec![value.clone()]);
            match judge_setting(name, &value, ctx.role) {
                Ok(()) => {
                    if crate::settings::parse_bool(is_local) != Some(true) {
                        j.info.session_change = Some(session_change(name, &value));
                    }
                }
                Err(d) => j.deny(d),
            }
        }
        // A known name with a value we cannot read: refused only where the role's rules or a
        // pin care about that setting.
        [Some(name), _, _] if !guarded_setting(name, ctx) => {
            j.info.session_change = Some(SessionChange::Other);
        }
        _ => j.deny(deny(
            "session.set_config",
            "set_config() of this setting is allowed only with literal arguments",
            "use SET name = value",
        )),
    }
}

/// Settings whose value a guardrail of the role, or a pin every role keeps, must see.
fn guarded_setting(name: &str, ctx: &Ctx<'_>) -> bool {
    let name = name.to_ascii_lowercase();
    ctx.role.access == Access::ReadOnly
        || (ctx.role.statement_timeout_ms.is_some()
            && crate::settings::TIMEOUT_SETTINGS.contains(&name.as_str()))
        || matches!(
            name.as_str(),
            "standard_conforming_strings"
                | "backslash_quote"
                | "client_encoding"
                | "role"
                | "session_authorization"
                | "session_replication_role"
                | "search_path"
                | "default_transaction_read_only"
                | "transaction_read_only"
        )
}

/// The setting names a `SELECT ... FROM pg_settings WHERE name = 'x'` (or `name IN (...)`,
/// possibly among other conjuncts) ranges over; `None` for any other shape.
fn pg_settings_names(top: &Value) -> Option<Vec<String>> {
    let from = top.get("from_clause")?.as_array()?;
    let [rel] = from.as_slice() else { return None };
    let rel = rel.get("node")?.get("RangeVar")?;
    if str_field(rel, "relname") != "pg_settings"
        || !matches!(str_field(rel, "schemaname"), "" | "pg_catalog")
    {
        return None;
    }
    names_in(top.get("where_clause")?)
}

fn is_name_column(v: &Value) -> bool {
    let Some(cr) = v.get("node").and_then(|n| n.get("ColumnRef")) else {
        return false;
    };
    let parts: Vec<&str> = match cr.get("fields") {
        Some(Value::Array(f)) => f
            .iter()
            .filter_map(|p| p.get("node")?.get("String")?.get("sval")?.as_str())
            .collect(),
        _ => vec![],
    };
    matches!(parts.as_slice(), ["name"] | ["pg_settings", "name"])
}

/// Literal names a predicate restricts `name` to.
fn names_in(pred: &Value) -> Option<Vec<String>> {
    let node = pred.get("node")?;
    if let Some(b) = node.get("BoolExpr") {
        // AND: the first conjunct that restricts the names.
        if b.get("boolop").and_then(Value::as_i64) != Some(1) {
            return None;
        }
        return b.get("args")?.as_array()?.iter().find_map(names_in);
    }
    let e = node.get("AExpr")?;
    if !is_name_column(e.get("lexpr")?) {
        return None;
    }
    let op = e
        .get("name")?
        .as_array()?
        .first()?
        .get("node")?
        .get("String")?
        .get("sval")?;
    if op.as_str() != Some("=") {
        return None;
    }
    let r = e.get("rexpr")?;
    match i64_field(e, "kind") {
        // AEXPR_OP: name = 'x'
        Some(1) => const_text(r).map(|n| vec![n]),
        // AEXPR_IN: name IN ('a', 'b')
        Some(7) => r
            .get("node")?
            .get("List")?
            .get("items")?
            .as_array()?
            .iter()
            .map(const_text)
            .collect(),
        _ => None,
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

fn i64_field(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn bool_field(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
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
    let server_side = !str_field(top, "filename").is_empty() || bool_field(top, "is_program");
    if server_side {
        return ddl(
            if from { K::CopyFrom } else { K::CopyTo },
            "COPY to or from a server file or program",
            ctx,
            from,
        );
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
        // VAR_RESET_ALL: back to the session defaults, which hold the pins.
        6 => {
            j.info.session_change = Some(SessionChange::Other);
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
    match judge_setting(&name, &value, ctx.role) {
        Ok(()) => {
            if !local {
                j.info.session_change = Some(session_change_pg(&name, &value));
            }
        }
        Err(d) => j.deny(d),
    }
    j
}
