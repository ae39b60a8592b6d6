//! Judging run-time settings (`SET`, `RESET`, `set_config`, startup parameters) against a role.
//!
//! Read-only roles may change only settings on an allowlist of harmless ones (identity is not
//! one of them, whatever `allow_set_role` says); settings that would loosen the session
//! (read-only mode, statement_timeout above the role's limit) or make our lexer read text
//! differently from the server's (client_encoding to SJIS and friends, backslash_quote on) are
//! refused. `standard_conforming_strings` is free: pgward sends no text whose reading depends
//! on it (`string_syntax.rs`). Read-write roles may change
//! any setting except the lexer pins and the ones a rule they lack names (identity without
//! `allow_set_role`, session_replication_role without `allow_ddl`).

use sqlparser::ast::{Expr, UnaryOperator, Value};

use crate::denial::deny;
use crate::duration::parse_pg_duration;
use crate::ident::parse_search_path;
use crate::types::{Access, Denial, RoleRules, SessionChange};

/// The new value of a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// One or more values, as text (identifiers folded, strings unquoted).
    Values(Vec<String>),
    /// `RESET`, `SET ... TO DEFAULT`: back to the server's default.
    Default,
}

/// Settings a read-only role may change freely.
const HARMLESS: &[&str] = &[
    "application_name",
    "search_path",
    "timezone",
    "datestyle",
    "intervalstyle",
    "extra_float_digits",
    "bytea_output",
    "client_min_messages",
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "work_mem",
    "maintenance_work_mem",
    "hash_mem_multiplier",
    "temp_buffers",
    "lock_timeout",
    "idle_session_timeout",
    "transaction_isolation",
    "default_transaction_isolation",
    "transaction_deferrable",
    "default_transaction_deferrable",
    "xmlbinary",
    "xmloption",
    "default_text_search_config",
    "array_nulls",
    "quote_all_identifiers",
    "escape_string_warning",
    "synchronize_seqscans",
    "row_security",
    "timezone_abbreviations",
    "gin_fuzzy_search_limit",
    "cursor_tuple_fraction",
    "constraint_exclusion",
    "from_collapse_limit",
    "join_collapse_limit",
    "geqo",
    "geqo_threshold",
    "geqo_effort",
    "geqo_pool_size",
    "geqo_generations",
    "geqo_selection_bias",
    "geqo_seed",
    "random_page_cost",
    "seq_page_cost",
    "cpu_tuple_cost",
    "cpu_index_tuple_cost",
    "cpu_operator_cost",
    "parallel_setup_cost",
    "parallel_tuple_cost",
    "min_parallel_table_scan_size",
    "min_parallel_index_scan_size",
    "effective_cache_size",
    "effective_io_concurrency",
    "max_parallel_workers_per_gather",
    "parallel_leader_participation",
    "plan_cache_mode",
    "jit",
    "jit_above_cost",
    "jit_inline_above_cost",
    "jit_optimize_above_cost",
    "recursive_worktable_factor",
    "default_statistics_target",
    "enable_async_append",
    "enable_bitmapscan",
    "enable_gathermerge",
    "enable_hashagg",
    "enable_hashjoin",
    "enable_incremental_sort",
    "enable_indexscan",
    "enable_indexonlyscan",
    "enable_material",
    "enable_memoize",
    "enable_mergejoin",
    "enable_nestloop",
    "enable_parallel_append",
    "enable_parallel_hash",
    "enable_partition_pruning",
    "enable_partitionwise_join",
    "enable_partitionwise_aggregate",
    "enable_presorted_aggregate",
    "enable_seqscan",
    "enable_sort",
    "enable_tidscan",
    "enable_group_by_reordering",
    "enable_self_join_elimination",
    "enable_distinct_reordering",
    "client_encoding",
    "statement_timeout",
    "default_transaction_read_only",
    "transaction_read_only",
    "standard_conforming_strings",
    "idle_in_transaction_session_timeout",
    "trace_notify",
    "debug_pretty_print",
    "lo_compat_privileges",
];

/// Encodings whose multi-byte characters may contain `\` or `'` bytes: sqlparser's lexer would
/// read text in them differently from the server's. Names cleaned as PostgreSQL cleans them.
const UNSAFE_ENCODINGS: &[&str] = &[
    "sjis",
    "shiftjis",
    "mskanji",
    "shiftjis2004",
    "big5",
    "gbk",
    "gb18030",
    "uhc",
    "johab",
    "win932",
    "windows932",
    "cp932",
    "win936",
    "windows936",
    "cp936",
    "win949",
    "windows949",
    "cp949",
    "win950",
    "windows950",
    "cp950",
];

/// `clean_encoding_name`: keep letters and digits, lower-cased.
fn clean_encoding(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

pub fn is_unsafe_encoding(name: &str) -> bool {
    UNSAFE_ENCODINGS.contains(&clean_encoding(name).as_str())
}

/// PostgreSQL's `parse_bool`: unique prefixes of true/false/yes/no, on/off, 1/0.
pub fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim().to_ascii_lowercase();
    if v.is_empty() {
        return None;
    }
    let prefix_of = |word: &str| word.starts_with(v.as_str());
    match v.as_str() {
        "1" | "on" => Some(true),
        "0" | "off" | "of" => {
            if v == "of" {
                None
            } else {
                Some(false)
            }
        }
        _ if prefix_of("true") || prefix_of("yes") => Some(true),
        _ if prefix_of("false") || prefix_of("no") => Some(false),
        _ => None,
    }
}

/// Text of one SET value expression; `None` when it is not a plain constant or name.
fn value_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::DollarQuotedString(sqlparser::ast::DollarQuotedString { value: s, .. })
            | Value::UnicodeStringLiteral(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        // A quoted identifier keeps its quotes so that list values (search_path) split and fold
        // exactly as PostgreSQL's `SplitIdentifierString` would.
        Expr::Identifier(ident) => Some(match ident.quote_style {
            Some(_) => format!("\"{}\"", ident.value.replace('"', "\"\"")),
            None => crate::ident::fold_ident(ident),
        }),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => value_text(expr).map(|t| format!("-{t}")),
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => value_text(expr),
        _ => None,
    }
}

/// The value of `SET name = exprs` (`DEFAULT` recognised); `None` when not analyzable.
pub fn setting_value(values: &[Expr]) -> Option<SettingValue> {
    if let [Expr::Identifier(ident)] = values {
        if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default") {
            return Some(SettingValue::Default);
        }
    }
    values
        .iter()
        .map(value_text)
        .collect::<Option<Vec<_>>>()
        .map(SettingValue::Values)
}

pub(crate) fn first(value: &SettingValue) -> Option<&str> {
    match value {
        SettingValue::Values(v) => v.first().map(String::as_str),
        SettingValue::Default => None,
    }
}

/// Settings a role changes only with the rule that names them (identity: `allow_set_role`;
/// `session_replication_role`: server administration, read-write with `allow_ddl`), and the
/// lexer pins every role keeps (they make our lexers read text as the server does).
fn pinned(name: &str, value: &SettingValue, role: &RoleRules) -> Option<Denial> {
    match name {
        "role" | "session_authorization" if role.allow_set_role => None,
        "role" | "session_authorization" => Some(deny(
            "session.role",
            format!("changing {name} is not allowed for this role"),
            "connect as a pgward user whose role has the access you need (or allow_set_role)",
        )),
        "session_replication_role" => crate::rules::server_admin(
            "session.replication_role",
            "change session_replication_role",
            "triggers and foreign keys stay enforced for roles without allow_ddl",
            role,
        ),
        "client_encoding" | "names" => match first(value) {
            Some(enc) if is_unsafe_encoding(enc) => Some(deny(
                "session.client_encoding",
                format!("client_encoding {enc} is not supported"),
                "use UTF8 (or another encoding whose bytes never look like quotes or backslashes)",
            )),
            _ => None,
        },
        "backslash_quote" => match first(value).map(str::to_ascii_lowercase).as_deref() {
            None | Some("off") | Some("false") | Some("no") | Some("0") | Some("safe_encoding") => {
                None
            }
            Some(_) => Some(deny(
                "session.backslash_quote",
                "backslash_quote may not be turned on",
                "write quotes inside strings as ''",
            )),
        },
        _ => None,
    }
}

/// Time settings that bound how long a statement or a transaction may hold the server.
pub const TIMEOUT_SETTINGS: &[&str] = &[
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
];

/// A timeout for a role with a limit: the value PostgreSQL would take (see
/// [`parse_pg_duration`]) must be above 0 (0 is no limit) and within the limit. `DEFAULT` /
/// `RESET` return to the value pinned on the role's upstream connections.
fn timeout(name: &str, value: &SettingValue, role: &RoleRules) -> Result<(), Denial> {
    let Some(limit) = role.statement_timeout_ms else {
        return Ok(());
    };
    let hint = format!("use a {name} between 1ms and {limit}ms (the role's limit)");
    let ms = match value {
        SettingValue::Default => return Ok(()),
        SettingValue::Values(v) if v.len() == 1 => parse_pg_duration(&v[0], 1.0),
        SettingValue::Values(_) => None,
    };
    match ms {
        Some(ms) if ms > 0 && ms as u64 <= limit => Ok(()),
        Some(0) => Err(deny(
            "session.statement_timeout",
            format!("{name} may not be turned off (the server reads this value as 0)"),
            hint,
        )),
        Some(_) => Err(deny(
            "session.statement_timeout",
            format!("{name} above the role's limit of {limit}ms"),
            hint,
        )),
        None => Err(deny(
            "session.statement_timeout",
            format!("{name} may only be set to a value within the role's limit"),
            hint,
        )),
    }
}

/// Judges setting `name` (folded, case-insensitive) to `value` for `role`. `startup`: the
/// value comes from the startup packet (a stricter list applies: see `startup`).
pub fn judge_setting(name: &str, value: &SettingValue, role: &RoleRules) -> Result<(), Denial> {
    let name = name.to_ascii_lowercase();
    let name = name.as_str();
    if let Some(d) = pinned(name, value, role) {
        return Err(d);
    }
    if TIMEOUT_SETTINGS.contains(&name) {
        return timeout(name, value, role);
    }
    if role.access == Access::ReadWrite {
        return Ok(());
    }
    match name {
        "default_transaction_read_only" | "transaction_read_only" => {
            match first(value).and_then(parse_bool) {
                Some(true) => Ok(()),
                _ => Err(deny(
                    "read_only.loosen",
                    format!("read-only role may not turn {name} off"),
                    crate::denial::HINT_READ_WRITE,
                )),
            }
        }
        _ if HARMLESS.contains(&name) => Ok(()),
        _ => Err(deny(
            "read_only.setting",
            format!("read-only role may not change {name}"),
            "only harmless session settings (application_name, search_path, timezone, statement_timeout, ...) may be changed",
        )),
    }
}

/// The session change a non-LOCAL `SET name = value` makes.
pub fn session_change(name: &str, value: &SettingValue) -> SessionChange {
    if name.eq_ignore_ascii_case("search_path") {
        match value {
            SettingValue::Default => SessionChange::SearchPathDefault,
            SettingValue::Values(v) => {
                SessionChange::SearchPath(v.iter().flat_map(|s| parse_search_path(s)).collect())
            }
        }
    } else {
        SessionChange::Other
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
