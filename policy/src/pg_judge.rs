//! Decisions from PostgreSQL's facts ([`PgFacts`]): the checks every statement passes whatever
//! sqlparser read ([`check`]); the whole judgement of a statement from PostgreSQL's reading
//! alone is [`crate::pg_alone`].

use serde_json::Value;

use crate::catalog::Volatility;
use crate::context::{Ctx, Judged};
use crate::denial::{deny, HINT_READ_WRITE};
use crate::filter;
use crate::functions::FunctionVerdict;
use crate::pg_facts::{const_text, PgFacts};
use crate::pg_fields::{i64_field, str_field};
use crate::reach::{self, Reached};
use crate::settings::{judge_setting, session_change, SettingValue};
use crate::types::{Access, SessionChange, StatementKind as K};

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
                    let filters = if *kind == "InsertStmt" {
                        filter::upsert_filters(node, ctx.catalog, ctx.search_path)
                    } else {
                        let target = filter::target_of(kind, node, ctx.catalog, ctx.search_path);
                        target.is_none_or(|(target, pred)| {
                            filter::filters(pred.as_ref(), &target, ctx.catalog, ctx.search_path)
                        })
                    };
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
/// amounts to when its arguments are literals. Arguments pgward cannot read are refused only
/// where the role has a guardrail that depends on a setting PostgreSQL does not report in
/// ParameterStatus (see docs/guardrails.md, "set_config with arguments pgward cannot read").
fn judge_set_config(args: &[Option<String>], ctx: &Ctx<'_>, j: &mut Judged) {
    match args {
        [Some(name), Some(value), Some(is_local)] => {
            let value = SettingValue::Values(vec![value.clone()]);
            match judge_setting(name, &value, ctx.role)
                .and_then(|()| crate::planner_lock::planner_lock(name, &value, ctx.masked))
            {
                Ok(()) => {
                    if crate::settings::parse_bool(is_local) != Some(true) {
                        j.info.session_change = Some(session_change(name, &value));
                    } else if name.eq_ignore_ascii_case("search_path") {
                        j.info.session_change = Some(SessionChange::SearchPathUnknown);
                    }
                }
                Err(d) => j.deny(d),
            }
        }
        // A literal value that would break a lexer pin, whatever the name turns out to be:
        // refused before it runs rather than seen afterwards in ParameterStatus.
        [None, Some(value), _] if breaks_lexer_pin(value) => j.deny(deny(
            "session.set_config",
            "set_config() of a setting pgward cannot name, to a value that would change how SQL text is read",
            "name the setting with a literal",
        )),
        _ if !depends_on_unreported_settings(ctx) => {
            j.info.session_change = Some(unread_change(args.first()));
        }
        // A known name with a value we cannot read: refused only where the role's rules care
        // about that setting.
        [Some(name), _, _] if !guarded_setting(name, ctx) => {
            j.info.session_change = Some(unread_change(args.first()));
        }
        _ => j.deny(deny(
            "session.set_config",
            "set_config() of this setting is allowed only with literal arguments",
            "use SET name = value",
        )),
    }
}

/// An encoding whose bytes can look like quotes: the value would make the server read later
/// text differently from pgward's lexers. (`standard_conforming_strings` cannot: pgward sends
/// no text whose reading depends on it.)
fn breaks_lexer_pin(value: &str) -> bool {
    crate::settings::is_unsafe_encoding(value)
}

/// The role has a guardrail whose enforcement depends on a setting PostgreSQL does not report
/// in ParameterStatus, so that pgward must know every value set: read-only
/// (`transaction_read_only`, `search_path`), `require_where` and masking (`search_path`), a
/// statement_timeout limit (the timeouts), no `allow_set_role` (`role`), no `allow_ddl`
/// (`session_replication_role`). The lexer pin a role without any of these keeps is reported
/// (`client_encoding`) and watched by the proxy.
/// The change a `set_config` pgward cannot read makes: to the search_path, unless its name
/// is a literal naming another setting.
fn unread_change(name: Option<&Option<String>>) -> SessionChange {
    match name {
        Some(Some(n)) if !n.eq_ignore_ascii_case("search_path") => SessionChange::Other,
        _ => SessionChange::SearchPathUnknown,
    }
}

fn depends_on_unreported_settings(ctx: &Ctx<'_>) -> bool {
    let role = ctx.role;
    role.access == Access::ReadOnly
        || role.require_where
        || ctx.masked
        || role.statement_timeout_ms.is_some()
        || !role.allow_set_role
        || !role.allow_ddl
}

/// Settings whose value a guardrail of the role, or a pin, must see.
fn guarded_setting(name: &str, ctx: &Ctx<'_>) -> bool {
    let name = name.to_ascii_lowercase();
    let role = ctx.role;
    match name.as_str() {
        _ if role.access == Access::ReadOnly => true,
        n if crate::settings::TIMEOUT_SETTINGS.contains(&n) => role.statement_timeout_ms.is_some(),
        "role" | "session_authorization" => !role.allow_set_role,
        "session_replication_role" => !role.allow_ddl,
        "search_path" => role.require_where || ctx.masked,
        // The lexer pins: a restricted role's later text must be read as the server reads it
        // (ParameterStatus reports a change only at the next Sync, after a pipeline has run).
        "backslash_quote" | "client_encoding" => true,
        _ => false,
    }
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
