//! Comparisons that hold for every text whatever the row: a text bound no string falls below
//! (`v >= ''`, `v <> ''` of a value never empty is the type's business, but `>= ''` holds for
//! all), patterns that are not written out (`v LIKE '%' || ''`: pgward cannot read them, so
//! they do not count), and regular expressions that match the empty string (`v ~ '()'`).

use serde_json::Value;

use super::tree::*;

/// `x >= ''` (or `'' <= x`, and `NOT (x < '')`): every text is at least the empty one.
pub(super) fn empty_text_bound(f: &Value, negated: bool) -> bool {
    if f.get("kind").and_then(Value::as_i64) != Some(1) {
        return false;
    }
    let Some(op) = operator(f) else {
        return false;
    };
    let empty = |side: Option<&Value>| {
        side.and_then(crate::pg_facts::const_text)
            .is_some_and(|t| t.is_empty())
    };
    let op = if empty(f.get("rexpr")) {
        op
    } else if empty(f.get("lexpr")) {
        commuted(&op).to_string()
    } else {
        return false;
    };
    matches!((op.as_str(), negated), (">=", false) | ("<", true))
}

/// A pattern operator (LIKE, ILIKE, SIMILAR TO, `~`, `^@`) whose pattern is neither written
/// out nor a parameter.
pub(super) fn computed_pattern(f: &Value) -> bool {
    let pattern_op = match f.get("kind").and_then(Value::as_i64) {
        Some(8..=10) => true,
        Some(1) => matches!(
            operator(f).as_deref(),
            Some("~" | "~*" | "!~" | "!~*" | "~~" | "~~*" | "!~~" | "!~~*" | "^@")
        ),
        _ => false,
    };
    pattern_op && !f.get("rexpr").is_some_and(written_out)
}

/// A constant or a parameter (possibly cast, possibly in `like_escape`/`similar_to_escape`).
fn written_out(v: &Value) -> bool {
    match node(v) {
        Some(("AConst" | "ParamRef", _)) => true,
        // `'%' || $1 || '%'`: the search idiom (as a parameter alone, it may be anything).
        Some(("AExpr", f)) if operator(f).as_deref() == Some("||") => {
            let sides = [f.get("lexpr"), f.get("rexpr")];
            sides.iter().all(|s| s.is_some_and(written_out))
                && sides.iter().flatten().any(|s| has_param(s))
        }
        Some(("TypeCast", f)) => f.get("arg").is_some_and(written_out),
        Some(("FuncCall", f)) => {
            let escape = matches!(function_name(f), Some("like_escape" | "similar_to_escape"));
            escape && matches!(f.get("args"), Some(Value::Array(a)) if a.iter().all(written_out))
        }
        _ => false,
    }
}

/// Whether a regular expression may match every text: it matches the empty string, read
/// with Rust's `regex`; a pattern that reader refuses (PostgreSQL's own escapes, `***:`) is
/// not proven to filter either.
pub(super) fn regex_matches_empty(pattern: &str) -> bool {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 16)
        .build()
        .map_or(true, |r| r.is_match(""))
}

/// A LIKE pattern of wildcards only (`%`, `%_`): every text at least as long as its `_`s.
pub(super) fn like_wildcards_only(pattern: &str) -> bool {
    pattern.contains('%') && pattern.chars().all(|c| c == '%' || c == '_')
}
