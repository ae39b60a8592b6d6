//! Errors and notices of statements that read PII: PostgreSQL puts values in messages
//! (`invalid input syntax for type integer: "<the e-mail>"`), details (`Key (email)=(...)`),
//! context lines and internal queries.
//!
//! The rule, for [`Scrub::Values`]: DETAIL, CONTEXT (where), internal query and its position
//! are dropped; in the message and hint every quoted string (`"..."`, `'...'`) and every hex
//! byte sequence (`0x...`) becomes `****`, and whatever follows the first `": "` (where
//! PostgreSQL puts the offending value) becomes `****`. SQLSTATE, severity, position,
//! schema/table/column/constraint names and the source location are kept. For
//! [`Scrub::All`] (code pgward cannot read: DO, CALL, user functions, whose RAISE may print
//! any value) the message is replaced whole and the hint dropped too.

use super::plan::Scrub;

const HIDDEN_MESSAGE: &str =
    "pgward: message hidden: the statement runs code that reads masked columns";

/// Scrubs the fields of an ErrorResponse or NoticeResponse body (the part after the type
/// byte and length: `code byte, C string` pairs ending with a 0). A malformed body is
/// replaced by one carrying only a hidden message.
pub fn scrub_error_fields(body: &[u8], level: Scrub) -> Vec<u8> {
    if level == Scrub::None {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    let mut wrote_message = false;
    loop {
        let Some(&code) = body.get(at) else {
            return fallback();
        };
        if code == 0 {
            break;
        }
        let rest = &body[at + 1..];
        let Some(end) = rest.iter().position(|&b| b == 0) else {
            return fallback();
        };
        let value = &rest[..end];
        at += end + 2;
        let kept: Option<Vec<u8>> = match (code, level) {
            (b'D' | b'W' | b'q' | b'p', _) => None,
            (b'H', Scrub::All) => None,
            (b'M', Scrub::All) => Some(HIDDEN_MESSAGE.as_bytes().to_vec()),
            (b'M' | b'H', _) => Some(scrub_message(value)),
            _ => Some(value.to_vec()),
        };
        if code == b'M' {
            wrote_message = true;
        }
        if let Some(v) = kept {
            out.push(code);
            out.extend_from_slice(&v);
            out.push(0);
        }
    }
    if !wrote_message {
        return fallback();
    }
    out.push(0);
    out
}

fn fallback() -> Vec<u8> {
    let mut out = Vec::new();
    for (code, v) in [(b'S', "ERROR"), (b'C', "XX000"), (b'M', HIDDEN_MESSAGE)] {
        out.push(code);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out.push(0);
    out
}

/// Quoted strings and hex bytes become `****`, numbers `#`; whatever follows the first `": "`
/// becomes `****` too.
///
/// A value may itself contain quotes, so a quoted region runs from the first quote of its kind
/// to the last one in the message: a value cannot close its quotes early and show the rest.
/// Numbers can be computed from a value (`index 11 out of valid range, 0..10` is a length):
/// every digit run goes, except inside a word such as `int4` or `utf8`.
pub fn scrub_message(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut i = 0;
    while i < message.len() {
        let b = message[i];
        if b == b'"' || b == b'\'' {
            let close = message
                .iter()
                .rposition(|&c| c == b)
                .filter(|&j| j > i)
                .unwrap_or(message.len());
            out.push(b);
            out.extend_from_slice(b"****");
            out.push(b);
            i = close + 1;
            continue;
        }
        if b == b'0'
            && message.get(i + 1) == Some(&b'x')
            && message.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            out.extend_from_slice(b"0x**");
            i += 2;
            while message.get(i).is_some_and(u8::is_ascii_hexdigit) {
                i += 1;
            }
            continue;
        }
        if b.is_ascii_digit() && !inside_word(&out) {
            out.push(b'#');
            while message.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            continue;
        }
        out.push(b);
        i += 1;
    }
    if let Some(colon) = out.windows(2).position(|w| w == b": ") {
        out.truncate(colon + 2);
        out.extend_from_slice(b"****");
    }
    out
}

/// Whether what was written so far ends in two word characters (`int` of `int4`), so a digit
/// that follows belongs to a name, not a number.
fn inside_word(written: &[u8]) -> bool {
    let word = |b: &u8| b.is_ascii_alphabetic() || *b == b'_';
    matches!(written, [.., a, b] if word(a) && word(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(fields: &[(u8, &str)]) -> Vec<u8> {
        let mut b = Vec::new();
        for (c, v) in fields {
            b.push(*c);
            b.extend_from_slice(v.as_bytes());
            b.push(0);
        }
        b.push(0);
        b
    }

    fn text(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    /// Each message scrubbed is the expected text.
    fn scrubbed_as(cases: &[(&[u8], &str)]) {
        for (message, expected) in cases {
            assert_eq!(text(scrub_message(message)), *expected);
        }
    }

    #[test]
    fn values_are_cut_out() {
        scrubbed_as(&[
            (
                b"invalid input syntax for type integer: \"zoe@example.com\"",
                "invalid input syntax for type integer: ****",
            ),
            (
                b"improper qualified name (too many dotted names): a.b.c.d",
                "improper qualified name (too many dotted names): ****",
            ),
            (
                b"relation \"zoe\" does not exist",
                "relation \"****\" does not exist",
            ),
            (
                b"invalid byte sequence 0xe2 0x82",
                "invalid byte sequence 0x** 0x**",
            ),
            (
                b"value \"a\"\"b\" is out of range",
                "value \"****\" is out of range",
            ),
        ]);
    }

    #[test]
    fn a_value_cannot_close_its_quotes_early() {
        let out = text(scrub_message(
            b"unrecognized configuration parameter \"zoe\" secret \"x\"",
        ));
        assert_eq!(out, "unrecognized configuration parameter \"****\"");
        let out = text(scrub_message(b"relation \"a'b\" is 'not' \"c"));
        assert!(!out.contains('b') && !out.contains("not"), "{out}");
    }

    #[test]
    fn numbers_go_but_names_with_digits_stay() {
        scrubbed_as(&[
            (
                b"index 11 out of valid range, 0..10",
                "index # out of valid range, #..#",
            ),
            (
                b"value too long for type character varying(12)",
                "value too long for type character varying(#)",
            ),
            (
                b"operator does not exist: int4 = text",
                "operator does not exist: ****",
            ),
            (
                b"invalid encoding utf8 for 1.5e7",
                "invalid encoding utf8 for #.#e#",
            ),
        ]);
    }

    #[test]
    fn detail_and_context_are_dropped() {
        let b = body(&[
            (b'S', "ERROR"),
            (b'C', "23505"),
            (
                b'M',
                "duplicate key value violates unique constraint \"users_email_key\"",
            ),
            (b'D', "Key (email)=(zoe@example.com) already exists."),
            (b'W', "SQL function f"),
            (b'n', "users_email_key"),
        ]);
        let out = text(scrub_error_fields(&b, Scrub::Values));
        assert!(!out.contains("zoe"), "{out}");
        assert!(out.contains("23505") && out.contains("users_email_key"));
        assert_eq!(scrub_error_fields(&b, Scrub::None), b);
        let all = text(scrub_error_fields(&b, Scrub::All));
        assert!(all.contains("message hidden") && !all.contains("duplicate"));
    }

    #[test]
    fn malformed_bodies_are_replaced() {
        let out = text(scrub_error_fields(b"Mzoe@example.com", Scrub::Values));
        assert!(!out.contains("zoe") && out.contains("hidden"));
    }
}
