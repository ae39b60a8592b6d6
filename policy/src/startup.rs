//! Startup parameters: the startup packet's settings and its `options` string.
//!
//! A stricter list than SET's applies for every role: only harmless settings pass; the
//! session's read-only mode, role, statement_timeout above the role's limit, replication and
//! anything unknown are refused at startup.

use crate::denial::deny;
use crate::settings::{is_unsafe_encoding, judge_setting, SettingValue};
use crate::types::{Denial, RoleRules, StartupParamVerdict};

/// Startup parameters that pass as they are.
const PASS: &[&str] = &[
    "application_name",
    "fallback_application_name",
    "datestyle",
    "timezone",
    "intervalstyle",
    "extra_float_digits",
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "bytea_output",
    "geqo",
    "client_min_messages",
    "work_mem",
    "lock_timeout",
    "transaction_isolation",
    "default_transaction_isolation",
    "xmlbinary",
    "xmloption",
    "jit",
    "timezone_abbreviations",
    "enable_seqscan",
    "enable_indexscan",
    "enable_bitmapscan",
    "enable_hashjoin",
    "enable_mergejoin",
    "enable_nestloop",
    "random_page_cost",
    "effective_cache_size",
    "default_text_search_config",
    "array_nulls",
    "quote_all_identifiers",
    "escape_string_warning",
];

fn refuse(name: &str, why: &str) -> StartupParamVerdict {
    StartupParamVerdict::Refuse(deny(
        "startup.parameter",
        format!("startup parameter {name} {why}"),
        "remove it from the connection string; pgward sets the session up itself",
    ))
}

/// Judges one startup parameter (name as sent, value as sent); `masked`: the role's results
/// are masked (planner methods stay on and costs unweighed: `planner_lock.rs`).
pub fn check(name: &str, value: &str, role: &RoleRules, masked: bool) -> StartupParamVerdict {
    let lower = name.to_ascii_lowercase();
    let values = crate::settings::SettingValue::Values(vec![value.into()]);
    if let Err(d) = crate::planner_lock::planner_lock(&lower, &values, masked) {
        return StartupParamVerdict::Refuse(d);
    }
    match lower.as_str() {
        "user" | "database" => StartupParamVerdict::Pass,
        "options" => match parse_startup_options(value) {
            Err(d) => StartupParamVerdict::Refuse(d),
            Ok(pairs) => {
                let mut verdict = StartupParamVerdict::Pass;
                for (n, v) in pairs {
                    if matches!(n.as_str(), "user" | "database" | "options") {
                        return refuse(&n, "is not allowed in options");
                    }
                    match check(&n, &v, role, masked) {
                        StartupParamVerdict::Pass => {}
                        StartupParamVerdict::SessionFact => {
                            verdict = StartupParamVerdict::SessionFact
                        }
                        refused @ StartupParamVerdict::Refuse(_) => return refused,
                    }
                }
                verdict
            }
        },
        "search_path" => StartupParamVerdict::SessionFact,
        "client_encoding" => {
            if is_unsafe_encoding(value) {
                StartupParamVerdict::Refuse(deny(
                    "session.client_encoding",
                    format!("client_encoding {value} is not supported"),
                    "use UTF8 (or another encoding whose bytes never look like quotes or backslashes)",
                ))
            } else {
                StartupParamVerdict::Pass
            }
        }
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
            match judge_setting(name, &SettingValue::Values(vec![value.into()]), role) {
                Ok(()) => StartupParamVerdict::Pass,
                Err(d) => StartupParamVerdict::Refuse(d),
            }
        }
        // Free: pgward sends no text whose reading depends on it (`string_syntax.rs`).
        "standard_conforming_strings" => match crate::settings::parse_bool(value) {
            Some(_) => StartupParamVerdict::Pass,
            None => refuse(name, "must be on or off"),
        },
        "replication" => refuse(
            name,
            "is not allowed (replication connections are not proxied)",
        ),
        "default_transaction_read_only"
        | "transaction_read_only"
        | "role"
        | "session_authorization"
        | "session_replication_role"
        | "backslash_quote" => refuse(name, "may not be set by clients"),
        n if PASS.contains(&n) => StartupParamVerdict::Pass,
        _ => refuse(name, "is not known to be harmless"),
    }
}

/// Parses the startup `options` parameter as PostgreSQL does: whitespace-separated switches,
/// a backslash escaping the next character (so `\ ` is a space inside a value); accepted
/// switches are `-c name=value`, `-cname=value` and `--name=value` (dashes in the name become
/// underscores). Any other switch is refused.
pub fn parse_startup_options(options: &str) -> Result<Vec<(String, String)>, Denial> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                current.push(next);
            }
            in_word = true;
        } else if c.is_ascii_whitespace() {
            if in_word {
                words.push(std::mem::take(&mut current));
                in_word = false;
            }
        } else {
            current.push(c);
            in_word = true;
        }
    }
    if in_word {
        words.push(current);
    }

    let bad = |what: &str| {
        deny(
            "startup.options",
            format!("startup options: {what}"),
            "use -c name=value or --name=value in options",
        )
    };
    let split_pair = |s: &str| -> Result<(String, String), Denial> {
        let (n, v) = s
            .split_once('=')
            .ok_or_else(|| bad("a setting without a value"))?;
        if n.is_empty() {
            return Err(bad("a setting without a name"));
        }
        Ok((n.replace('-', "_").to_ascii_lowercase(), v.to_string()))
    };
    let mut out = Vec::new();
    let mut iter = words.into_iter();
    while let Some(w) = iter.next() {
        if w == "-c" {
            let pair = iter.next().ok_or_else(|| bad("-c without a setting"))?;
            out.push(split_pair(&pair)?);
        } else if let Some(rest) = w.strip_prefix("--") {
            out.push(split_pair(rest)?);
        } else if let Some(rest) = w.strip_prefix("-c") {
            out.push(split_pair(rest)?);
        } else {
            return Err(bad(
                "only -c name=value and --name=value switches are allowed",
            ));
        }
    }
    Ok(out)
}
