//! What a statement does to the state that lives on its server connection, read from
//! PostgreSQL's tree: the name it acts on (cursor, prepared statement, channel), whether it may
//! leave state that cannot follow the client to another server, and whether it changes the
//! session's settings. The proxy uses these facts to keep transaction pooling invisible.

use serde_json::Value;

use crate::pg_facts::PgFacts;
use crate::types::SessionState;

/// `CURSOR_OPT_HOLD` in PostgreSQL's `parsenodes.h`.
const CURSOR_OPT_HOLD: i64 = 0x0020;
/// `DiscardMode` in pg_query's protobuf.
const DISCARD_ALL: i64 = 1;
const DISCARD_TEMP: i64 = 4;
/// `VariableSetKind` in pg_query's protobuf.
const VAR_SET_MULTI: i64 = 4;
// The rest of pg_query's VariableSetKind (protobuf numbering).
const VAR_SET_VALUE: i64 = 1;
const VAR_SET_DEFAULT: i64 = 2;
const VAR_SET_CURRENT: i64 = 3;
const VAR_RESET: i64 = 5;
const VAR_RESET_ALL: i64 = 6;

/// Functions that take advisory locks held until the session ends (the `_xact_` ones end
/// with the transaction and are harmless).
const SESSION_LOCKS: &[&str] = &[
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
];

/// Functions that answer from the session's own sequence state (the values its `nextval`
/// calls got), which stays on the server connection that ran them.
const SEQUENCE_STATE_READERS: &[&str] = &["currval", "lastval"];

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn int(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A RangeVar of a temporary relation: `TEMP`, or created in `pg_temp` by name.
fn temporary(range_var: Option<&Value>) -> bool {
    let Some(r) = range_var else { return false };
    r.get("relpersistence").and_then(Value::as_str) == Some("t")
        || r.get("schemaname")
            .and_then(Value::as_str)
            .is_some_and(is_temp_schema)
}

/// `pg_temp` (or a backend's own `pg_temp_N`), as PostgreSQL folds it.
fn is_temp_schema(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "pg_temp" || lower.starts_with("pg_temp_")
}

/// Any name in the statement that puts an object in the temporary schema (a type, domain,
/// function or table created as `pg_temp.name`).
fn names_temp_schema(v: &Value) -> bool {
    match v {
        Value::String(s) => is_temp_schema(s),
        Value::Array(a) => a.iter().any(names_temp_schema),
        Value::Object(o) => o.values().any(names_temp_schema),
        _ => false,
    }
}

/// Statements that read or write rows (no object of theirs outlives them).
fn is_dml(kind: &str) -> bool {
    matches!(
        kind,
        "SelectStmt" | "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt"
    )
}

/// A called function that may be user code: qualified with a schema other than
/// `pg_catalog`, or a name no built-in list has.
pub(crate) fn may_be_user_code(name: &[String]) -> bool {
    match name {
        [only] => !crate::functions::is_listed_builtin(only),
        [schema, last] => schema != "pg_catalog" || !crate::functions::is_listed_builtin(last),
        _ => true,
    }
}

/// Statements that run no function, default or trigger of their own (a SELECT's function
/// calls are checked apart; FETCH and EXECUTE run a query judged elsewhere, so they are not
/// here).
fn runs_no_code(kind: &str) -> bool {
    matches!(
        kind,
        "SelectStmt"
            | "VariableShowStmt"
            | "VariableSetStmt"
            | "TransactionStmt"
            | "ListenStmt"
            | "UnlistenStmt"
            | "NotifyStmt"
            | "PrepareStmt"
            | "DeallocateStmt"
            | "DeclareCursorStmt"
            | "ClosePortalStmt"
            | "DiscardStmt"
    )
}

/// The session-state facts of one statement.
pub fn of(facts: &PgFacts) -> SessionState {
    let top = &facts.top;
    let mut s = SessionState::default();
    match facts.kind.as_str() {
        "DeclareCursorStmt" => {
            s.name = text(top, "portalname");
            s.hold = int(top, "options") & CURSOR_OPT_HOLD != 0;
            s.may_pin = s.hold;
        }
        "FetchStmt" | "ClosePortalStmt" => s.name = text(top, "portalname"),
        "PrepareStmt" => {
            s.name = text(top, "name");
            s.may_pin = true;
        }
        // The prepared statement it runs was judged at its PREPARE (or Parse); what that
        // statement does to the session, pgward cannot tell from here.
        "ExecuteStmt" => {
            s.name = text(top, "name");
            s.user_code = true;
        }
        "DeallocateStmt" => {
            s.name = text(top, "name").filter(|_| !flag(top, "isall"));
            s.drops_statements = s.name.is_none();
        }
        "ListenStmt" => {
            s.name = text(top, "conditionname");
            s.may_pin = true;
        }
        "UnlistenStmt" => s.name = text(top, "conditionname"),
        "DiscardStmt" => {
            let target = int(top, "target");
            // DISCARD PLANS drops cached plans only: prepared statements stay.
            s.drops_statements = target == DISCARD_ALL;
            s.settings = target == DISCARD_ALL;
            if target == DISCARD_ALL {
                s.resets.push("*".into());
            }
            s.releases = matches!(target, DISCARD_ALL | DISCARD_TEMP);
        }
        "VariableSetStmt" => {
            let name = text(top, "name").unwrap_or_default();
            let multi = int(top, "kind") == VAR_SET_MULTI;
            // SET TRANSACTION lasts one transaction; SET SESSION CHARACTERISTICS does not.
            s.settings = !flag(top, "is_local")
                && (!multi || name.eq_ignore_ascii_case("session characteristics"));
            // The identity is no setting pg_settings shows: it cannot follow the client.
            s.may_pin = s.settings && is_identity(&name);
            if s.settings && name.contains('.') {
                s.custom_settings.push(name.to_ascii_lowercase());
            }
            match int(top, "kind") {
                VAR_SET_DEFAULT | VAR_RESET => s.resets.push(name.to_ascii_lowercase()),
                VAR_RESET_ALL => s.resets.push("*".into()),
                VAR_SET_VALUE | VAR_SET_CURRENT => s.sets.push(name.to_ascii_lowercase()),
                _ => {}
            }
        }
        // Databases that must have no other session for the statement to run: pgward's own
        // idle connections to them are closed first.
        "CreatedbStmt" => s
            .databases
            .push(template_of(top).unwrap_or_else(|| "template1".into())),
        "DropdbStmt" => s.databases.extend(text(top, "dbname")),
        "CreateStmt" => s.may_pin = temporary(top.get("relation")),
        "CreateTableAsStmt" => {
            s.may_pin = temporary(top.get("into").and_then(|i| i.get("rel")));
        }
        "ViewStmt" => s.may_pin = temporary(top.get("view")),
        "CreateSeqStmt" => s.may_pin = temporary(top.get("sequence")),
        // User code may create temporary objects, take session locks or LISTEN.
        "DoStmt" | "CallStmt" => {
            s.may_pin = true;
            s.user_code = true;
        }
        // EXPLAIN ANALYZE runs what it explains: a CREATE TABLE AS or SELECT INTO among it.
        "ExplainStmt" => {
            s.check_after = mentions(top, "CreateTableAsStmt") || mentions(top, "into_clause")
        }
        _ => {}
    }
    s.signals = facts
        .signal_calls
        .iter()
        .map(|pid| pid.as_deref().and_then(|p| p.trim().parse().ok()))
        .collect();
    s.statement_used = match facts.kind.as_str() {
        "ExecuteStmt" | "DeallocateStmt" => s.name.clone(),
        "ExplainStmt" | "CreateTableAsStmt" => executed_name(top),
        _ => None,
    };
    if s.statement_used.is_some() {
        s.user_code = true;
    }
    // An object created without TEMP lands in the temporary schema when the search_path
    // starts with pg_temp; only the server knows: it is asked once the unit is done.
    if creates_objects(&facts.kind) || facts.select_into {
        s.check_after = true;
    }
    // DDL naming the temporary schema (`CREATE TYPE pg_temp.t`, `CREATE FUNCTION pg_temp.f`).
    if !s.may_pin && !is_dml(&facts.kind) && names_temp_schema(top) {
        s.may_pin = true;
    }
    // User code may SET at session level (a PL/pgSQL function's `SET`, not `SET LOCAL`):
    // such a statement is one whose settings are read back.
    if matches!(facts.kind.as_str(), "DoStmt" | "CallStmt" | "ExecuteStmt")
        || facts.functions.iter().any(|n| may_be_user_code(n))
    {
        s.settings = true;
        s.user_code = true;
    }
    s.may_set_sequences = !runs_no_code(&facts.kind)
        || !facts.functions.is_empty()
        || !facts.nested_writes.is_empty()
        || facts.select_into;
    for name in &facts.functions {
        let Some(last) = name.last() else { continue };
        let in_catalog = name.len() == 1 || name[0] == "pg_catalog";
        if in_catalog && SESSION_LOCKS.contains(&last.as_str()) {
            s.may_pin = true;
        }
        if in_catalog && SEQUENCE_STATE_READERS.contains(&last.as_str()) {
            s.reads_sequences = true;
        }
        // The random seed is session state DISCARD ALL keeps: the server is reseeded before
        // another client has it.
        if in_catalog && last == "setseed" {
            s.user_code = true;
        }
    }
    // set_config(name, value, false) changes the session like SET does.
    for args in &facts.set_config_calls {
        if let Some(Some(name)) = args.first() {
            s.sets.push(name.to_ascii_lowercase());
        }
        let session = match args.get(2) {
            Some(Some(local)) => crate::settings::parse_bool(local) != Some(true),
            _ => true,
        };
        if session {
            s.settings = true;
            match args.first() {
                Some(Some(name)) if is_identity(name) => s.may_pin = true,
                Some(Some(name)) if name.contains('.') => {
                    s.custom_settings.push(name.to_ascii_lowercase())
                }
                Some(Some(_)) => {}
                // A name only the server knows: it may be the identity or a custom setting.
                _ => s.opaque_settings = true,
            }
        }
    }
    s
}

/// Statements that create a schema object (table, view, sequence, type, function, ...).
fn creates_objects(kind: &str) -> bool {
    kind.starts_with("Create") && kind != "CreatedbStmt" && kind != "CreateRoleStmt"
        || matches!(kind, "ViewStmt" | "DefineStmt" | "CompositeTypeStmt")
}

/// The name of the prepared statement an `ExecuteStmt` inside `v` runs.
fn executed_name(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => o
            .get("ExecuteStmt")
            .and_then(|e| text(e, "name"))
            .or_else(|| o.values().find_map(executed_name)),
        Value::Array(a) => a.iter().find_map(executed_name),
        _ => None,
    }
}

/// Whether a node of type `node_type` (or a field named so) occurs anywhere in `v`.
fn mentions(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(o) => o.iter().any(|(k, v)| k == key || mentions(v, key)),
        Value::Array(a) => a.iter().any(|v| mentions(v, key)),
        _ => false,
    }
}

/// The TEMPLATE option of CREATE DATABASE.
fn template_of(top: &Value) -> Option<String> {
    top.get("options")?.as_array()?.iter().find_map(|o| {
        let d = o.get("node").unwrap_or(o).get("DefElem")?;
        if d.get("defname")?.as_str()? != "template" {
            return None;
        }
        first_string(d.get("arg")?)
    })
}

/// The first string value (`sval`) in a node.
fn first_string(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => o
            .get("sval")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| o.values().find_map(first_string)),
        Value::Array(a) => a.iter().find_map(first_string),
        _ => None,
    }
}

/// `role` and `session_authorization` (`SET ROLE`, `SET SESSION AUTHORIZATION`).
fn is_identity(name: &str) -> bool {
    name.eq_ignore_ascii_case("role") || name.eq_ignore_ascii_case("session_authorization")
}

#[cfg(test)]
#[path = "state_facts_tests.rs"]
mod tests;
