//! Errors PostgreSQL's own parser reports, as PostgreSQL reports them: a syntax error answers
//! 42601 with the server's message and cursor position; a tree too deep to analyze answers
//! 54001 (`statement too complex`). Neither is a guardrail, so neither is audited as a denial.

use std::ffi::{c_char, c_int, CStr, CString};

use crate::denial::{Denial, SQLSTATE_SYNTAX_ERROR, SQLSTATE_TOO_COMPLEX};

/// Statement-size bound used when the config does not set one (1 MiB).
pub const DEFAULT_MAX_STATEMENT_BYTES: usize = 1 << 20;

#[repr(C)]
struct PgQueryError {
    message: *mut c_char,
    funcname: *mut c_char,
    filename: *mut c_char,
    lineno: c_int,
    cursorpos: c_int,
    context: *mut c_char,
}

#[repr(C)]
struct PgQueryParseResult {
    parse_tree: *mut c_char,
    stderr_buffer: *mut c_char,
    error: *mut PgQueryError,
}

extern "C" {
    // libpg_query's JSON parse: the only entry point that keeps the error's cursor position
    // (the pg_query crate drops it). Linked through the pg_query crate's static library.
    fn pg_query_parse_opts(input: *const c_char, parser_options: c_int) -> PgQueryParseResult;
    fn pg_query_free_parse_result(result: PgQueryParseResult);
}

/// PostgreSQL's error for `sql` (message, 1-based character position), or `None` if it parses.
fn parser_error(sql: &str, options: c_int) -> Option<(String, Option<u32>)> {
    let input = CString::new(sql).ok()?;
    // SAFETY: `input` is a valid NUL-terminated string that outlives the call; the result is
    // read before it is freed exactly once with libpg_query's own free function.
    unsafe {
        let result = pg_query_parse_opts(input.as_ptr(), options);
        let out = if result.error.is_null() {
            None
        } else {
            let e = &*result.error;
            let message = if e.message.is_null() {
                "syntax error".to_string()
            } else {
                CStr::from_ptr(e.message).to_string_lossy().into_owned()
            };
            let position = u32::try_from(e.cursorpos).ok().filter(|p| *p > 0);
            Some((message, position))
        };
        pg_query_free_parse_result(result);
        out
    }
}

fn too_complex(what: &str) -> Denial {
    Denial {
        rule: "statement_too_complex",
        message: "statement too complex".into(),
        detail: format!("rule: statement_too_complex; {what}"),
        hint: "split the statement, or use fewer nested or chained terms".into(),
        sqlstate: SQLSTATE_TOO_COMPLEX,
        position: None,
        audited: false,
    }
}

/// Keeps a parser's error message short and free of literal values: a quoted token after
/// "at or near" longer than a keyword, or one that starts like a constant, is elided.
pub fn sanitize_error(msg: &str) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start + 1]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else {
            rest = after;
            break;
        };
        let token = &after[..end];
        let literal_like = token.starts_with(['\'', '$', 'E', 'e', 'U', 'u', 'B', 'b', 'X', 'x'])
            && token.contains(['\'', '$'])
            || token.chars().next().is_some_and(|c| c.is_ascii_digit())
            || token.len() > 32;
        out.push_str(if literal_like { "<literal>" } else { token });
        out.push('"');
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    // sqlparser's messages end with "at Line: x, Column: y": keep them, they are positions.
    if out.len() > 200 {
        let mut cut = 200;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Text with a backslash that PostgreSQL's scanner cannot read with the session's
/// `standard_conforming_strings` (see `string_syntax.rs`): refused as PostgreSQL's syntax
/// error in that mode where it has one (`scanner_message` otherwise).
pub fn unreadable(sql: &str, standard_conforming_strings: bool, scanner_message: &str) -> Denial {
    let options = match standard_conforming_strings {
        true => 0,
        false => pg_query::ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS.bits(),
    };
    let (message, position) = parser_error(sql, options).unwrap_or_else(|| {
        (
            scanner_message
                .trim_start_matches("Error scanning: ")
                .into(),
            None,
        )
    });
    syntax_error(message, position)
}

/// PostgreSQL's 42601 (not a guardrail: not audited as a denial).
fn syntax_error(message: String, position: Option<u32>) -> Denial {
    Denial {
        rule: "syntax_error",
        message,
        detail: String::new(),
        hint: String::new(),
        sqlstate: SQLSTATE_SYNTAX_ERROR,
        position,
        audited: false,
    }
}

/// A statement over the size bound.
pub fn too_large(len: usize, max: usize) -> Denial {
    too_complex(&format!("{len} bytes, over the bound of {max}"))
}

/// A statement nested deeper than the analysis bound.
pub fn too_deep() -> Denial {
    too_complex("nested deeper than pgward analyzes")
}

/// The answer for text `pg_query::parse` refused with `err`.
pub fn parse_failure(sql: &str, err: &pg_query::Error) -> Denial {
    match err {
        pg_query::Error::Decode(_) => return too_deep(),
        pg_query::Error::Parse(_) => {}
        // Text PostgreSQL's parser was never given (a NUL byte): the server refuses it too.
        other => {
            return crate::denial::deny_with_detail(
                "unanalyzable",
                "could not analyze statement",
                format!("postgres parser: {}", sanitize_error(&other.to_string())),
                "send valid SQL text",
            )
        }
    }
    match parser_error(sql, 0) {
        Some((message, _))
            if message.contains("stack depth limit exceeded")
                || message.contains("memory exhausted") =>
        {
            too_deep()
        }
        Some((message, position)) => syntax_error(message, position),
        // The protobuf entry point failed but the JSON one did not: not a syntax error.
        None => too_complex("PostgreSQL's parse tree could not be read"),
    }
}

/// The decision for a text [`crate::mode_independent_strings`] found
/// [`crate::StringSyntax::Unreadable`]: PostgreSQL's syntax error for it under the session's
/// `standard_conforming_strings`.
pub fn unreadable_text(
    sql: &str,
    standard_conforming_strings: bool,
    scanner_message: &str,
) -> crate::Decision {
    let norm = crate::normalize::normalize(sql);
    crate::Decision {
        verdict: crate::Verdict::Deny(unreadable(
            sql,
            standard_conforming_strings,
            scanner_message,
        )),
        fingerprint: crate::normalize::fingerprint(&norm.text),
        normalized: std::sync::Arc::from(norm.text.as_str()),
        statements: vec![],
        mask: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_is_postgres_own_syntax_error() {
        let sql = "SELEC 1";
        let err = pg_query::parse(sql, 0).expect_err("a syntax error");
        let d = parse_failure(sql, &err);
        assert_eq!(d.sqlstate, "42601");
        assert_eq!(d.message, "syntax error at or near \"SELEC\"");
        assert_eq!(d.position, Some(1));
        assert!(!d.audited);
        let sql = "SELECT 1 FROM WHERE";
        let err = pg_query::parse(sql, 0).expect_err("a syntax error");
        assert_eq!(parse_failure(sql, &err).position, Some(15));
    }
}
