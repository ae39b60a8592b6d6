//! Identifier folding as PostgreSQL does it, so names compare the way the server resolves them.
//!
//! Unquoted identifiers are lower-cased (ASCII only, as PostgreSQL does for multi-byte server
//! encodings) and every identifier is truncated to 63 bytes (NAMEDATALEN - 1) on a character
//! boundary. Quoted identifiers keep their case; `""` inside quotes is one `"`.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

/// Longest identifier PostgreSQL keeps, in bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// Truncates to 63 bytes without splitting a character, as `pg_mbcliplen` does.
fn truncate(mut s: String) -> String {
    if s.len() > MAX_IDENTIFIER_BYTES {
        let mut cut = MAX_IDENTIFIER_BYTES;
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Folds one identifier as written in SQL: `"Quoted"` keeps its case (with `""` unescaped),
/// `U&"d\0061t\+000061"` has its Unicode escapes decoded, anything else is lower-cased.
/// The result is truncated to 63 bytes.
pub fn fold_identifier(raw: &str) -> String {
    let raw = raw.trim();
    if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        return truncate(raw[1..raw.len() - 1].replace("\"\"", "\""));
    }
    let bytes = raw.as_bytes();
    if bytes.len() >= 4
        && (bytes[0] == b'U' || bytes[0] == b'u')
        && bytes[1] == b'&'
        && bytes[2] == b'"'
        && raw.ends_with('"')
    {
        let inner = raw[3..raw.len() - 1].replace("\"\"", "\"");
        if let Some(decoded) = decode_unicode_escapes(&inner, '\\') {
            return truncate(decoded);
        }
    }
    truncate(raw.to_ascii_lowercase())
}

/// Decodes `\XXXX` and `\+XXXXXX` escapes (and `\\`) of a `U&"..."` identifier; `None` when an
/// escape is malformed (PostgreSQL refuses those too).
pub fn decode_unicode_escapes(s: &str, escape: char) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != escape {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&escape) {
            chars.next();
            out.push(escape);
            continue;
        }
        let digits = if chars.peek() == Some(&'+') {
            chars.next();
            6
        } else {
            4
        };
        let mut code = 0u32;
        for _ in 0..digits {
            let d = chars.next()?.to_digit(16)?;
            code = code * 16 + d;
        }
        out.push(char::from_u32(code)?);
    }
    Some(out)
}

/// Folds a parsed identifier: quoted ones keep their case, others are lower-cased.
pub fn fold_ident(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => truncate(ident.value.clone()),
        None => truncate(ident.value.to_ascii_lowercase()),
    }
}

/// The folded parts of a qualified name; `None` when a part is not a plain identifier.
pub fn fold_object_name(name: &ObjectName) -> Option<Vec<String>> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Some(fold_ident(ident)),
            ObjectNamePart::Function(_) => None,
        })
        .collect()
}

/// Splits a `search_path` value as PostgreSQL's `SplitIdentifierString` does: comma-separated,
/// each element quoted (case kept, `""` = `"`) or unquoted (trimmed and lower-cased); `"$user"`
/// comes back as `$user`. Empty elements are dropped.
pub fn parse_search_path(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut element = String::new();
        if first == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        element.push('"');
                    } else {
                        break;
                    }
                } else {
                    element.push(c);
                }
            }
            while chars.peek().is_some_and(|c| *c != ',') {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                element.push(c);
                chars.next();
            }
            element = element.trim().to_ascii_lowercase();
        }
        if !element.is_empty() {
            out.push(truncate(element));
        }
        if chars.next().is_none() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_like_postgres() {
        assert_eq!(fold_identifier("Users"), "users");
        assert_eq!(fold_identifier("\"Users\""), "Users");
        assert_eq!(fold_identifier("\"a\"\"b\""), "a\"b");
        assert_eq!(fold_identifier("U&\"d\\0061t\\+000061\""), "data");
        assert_eq!(fold_identifier(&"x".repeat(70)).len(), 63);
        assert_eq!(fold_identifier(&"é".repeat(40)).len(), 62);
    }

    #[test]
    fn search_path() {
        assert_eq!(
            parse_search_path("\"$user\", Public,\"My Schema\""),
            vec!["$user", "public", "My Schema"]
        );
        assert_eq!(parse_search_path(""), Vec::<String>::new());
        assert_eq!(parse_search_path("a,,b"), vec!["a", "b"]);
    }
}
