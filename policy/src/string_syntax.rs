//! Statement text PostgreSQL reads the same whatever its `standard_conforming_strings`.
//!
//! With the setting off, a plain string (`'...'`, `N'...'`) takes backslash escapes as an
//! `E'...'` string does; with it on, a backslash in one is just a backslash. The setting can
//! change between pgward's judging a text and the server's reading it (a SET earlier in a
//! pipeline is reported only at the next Sync; user code can set it), so pgward never sends a
//! plain string holding a backslash: it rewrites each, as the session's setting reads it, into
//! the `E'...'` string of the same value, which both modes read alike. The judge reads the
//! rewritten text, and the server gets exactly that text.

use pg_query::protobuf::{ScanToken, Token};

extern "C" {
    /// `csrc/scanner_mode.c`: sets libpg_query's scanner mode on this thread, returns the
    /// previous one.
    fn pgward_set_standard_conforming_strings(on: bool) -> bool;
}

/// PostgreSQL's scanner over `sql` in the given mode (`None`: it cannot read the text).
fn scan(sql: &str, standard_conforming_strings: bool) -> Option<Vec<ScanToken>> {
    // SAFETY: the shim only swaps a thread-local bool of libpg_query's, on this thread, and
    // the scan below runs on this thread; the previous value is put back.
    let previous = unsafe { pgward_set_standard_conforming_strings(standard_conforming_strings) };
    let result = pg_query::scan(sql);
    // SAFETY: as above.
    unsafe { pgward_set_standard_conforming_strings(previous) };
    result.ok().map(|r| r.tokens)
}

/// `sql` with every plain string that holds a backslash written as the `E'...'` string of the
/// value it has under `standard_conforming_strings` (the session's setting); `None` when no
/// string needs it, or when the scanner cannot read the text in that mode (the server, in
/// that mode, cannot either: the text is judged as it is and fails there).
pub fn mode_independent_strings(sql: &str, standard_conforming_strings: bool) -> Option<String> {
    if !sql.contains('\\') {
        return None;
    }
    let tokens = scan(sql, standard_conforming_strings)?;
    let mut out = String::with_capacity(sql.len() + 16);
    let mut copied = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        if t.token != Token::Sconst as i32 {
            continue;
        }
        let start = usize::try_from(t.start).ok()?;
        let end = usize::try_from(t.end).ok()?;
        let text = sql.get(start..end)?;
        // E'...' strings read alike already; U&'...' is another token (an error with the
        // setting off, in the server as in the scanner).
        if !text.starts_with('\'') || !text.contains('\\') {
            continue;
        }
        // N'...' is the keyword NCHAR (its one letter) and then the string.
        let nchar =
            i > 0 && tokens[i - 1].token == Token::Nchar as i32 && tokens[i - 1].end == t.start;
        let from = if nchar { start.checked_sub(1)? } else { start };
        out.push_str(sql.get(copied..from)?);
        if nchar {
            out.push_str("NCHAR ");
        } else if sql[..from].bytes().next_back().is_some_and(ident_byte) {
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
        }
        copied = end;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(sql.get(copied..)?);
    Some(out)
}

/// A byte that may continue an identifier (or a number) in PostgreSQL's scanner.
fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

#[cfg(test)]
#[path = "string_syntax_tests.rs"]
mod tests;
