//! Statement text PostgreSQL reads the same whatever its `standard_conforming_strings`.
//!
//! With the setting off, a plain string (`'...'`, `N'...'`) takes backslash escapes as an
//! `E'...'` string does; with it on, a backslash in one is just a backslash. The setting can
//! change between pgward's judging a text and the server's reading it (a SET earlier in a
//! pipeline is reported only at the next Sync; user code can set it), so pgward never sends a
//! plain string holding a backslash: it rewrites each, as the session's setting reads it, into
//! the `E'...'` string of the same value, which both modes read alike. The judge reads the
//! rewritten text, and the server gets exactly that text.

use pg_query::protobuf::Token;

use crate::raw_scan::RawToken;

extern "C" {
    /// `csrc/scanner_mode.c`: sets libpg_query's scanner mode on this thread, returns the
    /// previous one.
    fn pgward_set_standard_conforming_strings(on: bool) -> bool;
}

/// PostgreSQL's scanner over `sql` in the given mode, or its message.
fn scan(sql: &str, standard_conforming_strings: bool) -> Result<Vec<RawToken>, String> {
    // SAFETY: the shim only swaps a thread-local bool of libpg_query's, on this thread, and
    // the scan below runs on this thread; the previous value is put back.
    let previous = unsafe { pgward_set_standard_conforming_strings(standard_conforming_strings) };
    let result = crate::raw_scan::scan(sql);
    // SAFETY: as above.
    unsafe { pgward_set_standard_conforming_strings(previous) };
    result.map_err(|e| e.to_string())
}

/// What the rewrite made of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StringSyntax {
    /// No plain string holds a backslash: the text reads the same in both modes.
    Unchanged,
    /// Every plain string that held a backslash is now the `E'...'` string of its value; with
    /// the setting off, the escape each such string began with (PostgreSQL warns of them).
    Rewritten(String, Vec<Escape>),
    /// The text holds a backslash and cannot be read for certain in both modes (PostgreSQL's
    /// scanner refuses it in the session's mode, which a server of another version or
    /// encoding might not): it must not be sent. The scanner's message.
    Unreadable(String),
}

/// The first escape in a plain string read with `standard_conforming_strings` off: PostgreSQL
/// warns of it (`escape_string_warning`, SQLSTATE 22P06) at the string's opening quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escape {
    /// The opening quote, 1-based in characters (as PostgreSQL reports positions).
    pub position: usize,
    pub kind: EscapeKind,
}

/// Which warning PostgreSQL gives, by the character after the first backslash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapeKind {
    /// `\'`
    Quote,
    /// `\\`
    Backslash,
    /// Any other (`\n`, octal, hex, Unicode).
    Other,
}

impl EscapeKind {
    /// PostgreSQL's message and hint (scan.l).
    pub fn message_and_hint(self) -> (&'static str, &'static str) {
        match self {
            EscapeKind::Quote => (
                "nonstandard use of \\' in a string literal",
                "Use '' to write quotes in strings, or use the escape string syntax (E'...').",
            ),
            EscapeKind::Backslash => (
                "nonstandard use of \\\\ in a string literal",
                "Use the escape string syntax for backslashes, e.g., E'\\\\'.",
            ),
            EscapeKind::Other => (
                "nonstandard use of escape in a string literal",
                "Use the escape string syntax for escapes, e.g., E'\\r\\n'.",
            ),
        }
    }
}

/// `sql` with every plain string that holds a backslash written as the `E'...'` string of the
/// value it has under `standard_conforming_strings` (the session's setting).
///
/// With the setting on, a text the scanner refuses is [`StringSyntax::Unchanged`]: pgward's
/// parser refuses it too (its syntax error is the server's own, asked with a guard that keeps
/// any reading of the text from running). With it off, a text with a backslash that the
/// scanner refuses is [`StringSyntax::Unreadable`]: the judge reads with the setting on, and
/// another scanner (an older server's, another encoding's) might read it off and run it.
pub fn mode_independent_strings(sql: &str, standard_conforming_strings: bool) -> StringSyntax {
    if !sql.contains('\\') {
        return StringSyntax::Unchanged;
    }
    let tokens = match scan(sql, standard_conforming_strings) {
        Ok(tokens) => tokens,
        Err(_) if standard_conforming_strings => return StringSyntax::Unchanged,
        Err(message) => return StringSyntax::Unreadable(message),
    };
    match rewrite(sql, &tokens, standard_conforming_strings) {
        Err(message) => StringSyntax::Unreadable(message.into()),
        Ok(None) => StringSyntax::Unchanged,
        Ok(Some((rewritten, escapes))) => match (scan(&rewritten, true), scan(&rewritten, false)) {
            // Belt and braces: the rewritten text must read token for token alike...
            (Ok(on), Ok(off)) if on == off => StringSyntax::Rewritten(rewritten, escapes),
            // ...or, read with the setting on, be refused with it off (a U&'...' string), as
            // every server with it off refuses it.
            (Ok(_), Err(_)) if standard_conforming_strings => {
                StringSyntax::Rewritten(rewritten, escapes)
            }
            _ => StringSyntax::Unreadable(
                "the text does not read the same whatever standard_conforming_strings".into(),
            ),
        },
    }
}

/// The rewrite over the tokens of `sql` in the session's mode; `None` when nothing changes.
fn rewrite(
    sql: &str,
    tokens: &[RawToken],
    standard_conforming_strings: bool,
) -> Result<Option<(String, Vec<Escape>)>, &'static str> {
    const OFFSETS: &str = "the scanner's token offsets do not fit the text";
    let mut out = String::with_capacity(sql.len() + 16);
    let mut escapes = Vec::new();
    let mut copied = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        if t.token != Token::Sconst as i32 {
            continue;
        }
        let start = usize::try_from(t.start).map_err(|_| OFFSETS)?;
        let end = usize::try_from(t.end).map_err(|_| OFFSETS)?;
        let text = sql.get(start..end).ok_or(OFFSETS)?;
        // E'...' strings read alike already; U&'...' is another token (an error with the
        // setting off, in the server as in the scanner).
        if !text.starts_with('\'') || !text.contains('\\') {
            continue;
        }
        // N'...' is the keyword NCHAR (its one letter) and then the string; the keyword spelled
        // out (`NCHAR'...'`) is a name like any other before the E.
        let nchar = i > 0
            && tokens[i - 1].token == Token::Nchar as i32
            && tokens[i - 1].end == t.start
            && tokens[i - 1].end - tokens[i - 1].start == 1;
        let from = if nchar {
            start.checked_sub(1).ok_or(OFFSETS)?
        } else {
            start
        };
        out.push_str(sql.get(copied..from).ok_or(OFFSETS)?);
        if nchar {
            out.push_str("NCHAR ");
        } else if sql
            .as_bytes()
            .get(..from)
            .and_then(|b| b.last())
            .is_some_and(|b| ident_byte(*b))
        {
            // `type'...'`: the E must not join the type's name.
            out.push(' ');
        }
        out.push('E');
        if standard_conforming_strings {
            // Each backslash was itself: doubled, it stays itself in E'...'.
            out.push_str(&text.replace('\\', "\\\\"));
        } else {
            // The scanner read this string exactly as it reads E'...'.
            out.push_str(text);
            let after = text
                .split_once('\\')
                .and_then(|(_, rest)| rest.chars().next());
            escapes.push(Escape {
                position: sql.get(..start).ok_or(OFFSETS)?.chars().count() + 1,
                kind: match after {
                    Some('\'') => EscapeKind::Quote,
                    Some('\\') => EscapeKind::Backslash,
                    _ => EscapeKind::Other,
                },
            });
        }
        copied = end;
    }
    if copied == 0 {
        return Ok(None);
    }
    out.push_str(sql.get(copied..).ok_or(OFFSETS)?);
    Ok(Some((out, escapes)))
}

/// A byte that may continue an identifier (or a number) in PostgreSQL's scanner.
fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

#[cfg(test)]
#[path = "string_syntax_tests.rs"]
mod tests;
