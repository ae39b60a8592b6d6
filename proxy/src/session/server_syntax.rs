//! Syntax errors in PostgreSQL's own words: a statement pgward's parser rejects is sent to
//! the server with a guard that can never make it valid, so the server's raw parser answers
//! it (message, position, HINT, DETAIL, its own grammar's verdict) and nothing of it runs
//! (PostgreSQL parses a whole string before it executes any statement of it).
//!
//! The guard `"\n;\n)\n\\"`: the newline ends a `--` comment; then a backslash, a character
//! no rule of PostgreSQL's grammar accepts anywhere, makes the whole string a syntax error;
//! inside an unterminated string, quoted identifier, comment or dollar quote the guard is
//! absorbed (it closes none of them) and the text stays unterminated. (`;` and `)` alone
//! are not enough: a rule's action list takes them, `CREATE RULE ... DO (SELECT 1` + `;)`
//! is a valid statement.) The server's first error is
//! the client's when its position lies inside the client's own text, or when it has none (a
//! grammar action's error on the client's statement); otherwise the server's grammar
//! accepted the text pgward cannot read, and the error is pgward's own.

use super::prepared::Space;
use super::*;
use crate::protocol::decode;
use crate::protocol::Frame;

/// What follows the client's text; see the module doc.
const GUARD: &[u8] = b"\n;\n)\n\\";

/// What the client gets for the server's error to a text sent with the guard.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SyntaxReply {
    /// The server's error, as it came.
    Forward,
    /// The server's error with the guard cut from its message (an unterminated string or
    /// comment quotes the rest of the text "at or near": the client's part only).
    Trimmed(Vec<u8>),
    /// The guard's error: pgward's own instead.
    Own(PgError),
}

/// The reply for the server's error `body` to a text of `text_chars` characters sent with
/// the guard.
pub(super) fn reply(body: &[u8], own: &PgError, text_chars: u32) -> SyntaxReply {
    let position = decode::error_field(body, b'P').and_then(|p| p.parse::<u32>().ok());
    match position {
        // 1-based, in characters, as PostgreSQL counts them.
        Some(p) if (1..=text_chars).contains(&p) => match trim_guard(body) {
            Some(trimmed) => SyntaxReply::Trimmed(trimmed),
            None => SyntaxReply::Forward,
        },
        // A grammar action's error (PostgreSQL 15's `WITH TIES cannot be specified without
        // ORDER BY clause`) carries no position: the guard's own errors always do, and the
        // raw parser stops at the first error, so it is the server's verdict on the
        // client's text.
        None => SyntaxReply::Forward,
        _ => SyntaxReply::Own(own.clone()),
    }
}

/// The error body with the guard cut from the end of its message's quoted rest of input,
/// when it ends so; `None` when it does not (or the body is not a list of fields).
fn trim_guard(body: &[u8]) -> Option<Vec<u8>> {
    let mut quoted_guard = GUARD.to_vec();
    quoted_guard.push(b'"');
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    let mut trimmed = false;
    while let Some((&kind, after)) = rest.split_first() {
        if kind == 0 {
            break;
        }
        let end = after.iter().position(|&b| b == 0)?;
        let mut value = &after[..end];
        if kind == b'M' && value.ends_with(&quoted_guard) {
            value = &value[..value.len() - quoted_guard.len()];
            trimmed = true;
        }
        out.push(kind);
        out.extend_from_slice(value);
        if kind == b'M' && trimmed {
            out.push(b'"');
        }
        out.push(0);
        rest = &after[end + 1..];
    }
    out.push(0);
    trimmed.then_some(out)
}

/// A `tag` message whose body is `head`, the client's text and the guard as a C string, then
/// `tail` (a Query: nothing around it; a Parse: the unnamed statement's name before it, no
/// parameter types after it).
fn guarded_message(tag: u8, head: &[u8], text: &[u8], tail: &[u8]) -> BytesMut {
    let mut body = Vec::with_capacity(head.len() + text.len() + GUARD.len() + 1 + tail.len());
    body.extend_from_slice(head);
    body.extend_from_slice(text);
    body.extend_from_slice(GUARD);
    body.push(0);
    body.extend_from_slice(tail);
    let mut out = BytesMut::new();
    backend::raw_message(tag, &body, &mut out);
    out
}

fn chars(sql: &str) -> u32 {
    u32::try_from(sql.chars().count()).unwrap_or(u32::MAX)
}

impl Session {
    /// A Query pgward refused: a syntax error goes to the server with the guard, any other
    /// refusal (or a syntax error with no server to be had) is answered as usual.
    pub(super) async fn refuse_denied_query(
        &mut self,
        frame: &Frame,
        sql: &str,
        decision: Arc<Decision>,
    ) {
        let Some(d) = decision.denial() else {
            return;
        };
        let own = denial_error(d);
        let text = decode::query_bytes(frame.body()).ok();
        if let (true, Some(text)) = (d.is_syntax_error(), text) {
            if self.attach().await.is_ok() {
                if let Some(s) = self.server.as_mut() {
                    s.server.conn.queue(&guarded_message(b'Q', b"", text, b""));
                    // A simple Query drops the unnamed statement.
                    s.server.statements.unnamed = None;
                    let handling = Handling::ServerSyntax {
                        own: Box::new(own),
                        text_chars: chars(sql),
                    };
                    self.replies.push(Sent::Query, handling);
                    self.sync.sent_sync_point();
                    return;
                }
            }
        }
        self.refuse_simple(own, Some(decision)).await;
    }

    /// A Parse pgward refused (the statement `name` never reaches the server): a syntax
    /// error goes to the server as the unnamed statement's text with the guard (nothing is
    /// left behind), then the batch skips to Sync as PostgreSQL's would.
    pub(super) async fn refuse_denied_parse(
        &mut self,
        frame: &Frame,
        sql: &str,
        decision: Arc<Decision>,
    ) {
        let Some(d) = decision.denial() else {
            return;
        };
        let own = denial_error(d);
        let text = decode::parse_bytes(frame.body()).ok().map(|(_, t)| t);
        if let (true, Some(text)) = (d.is_syntax_error(), text) {
            if self.attach().await.is_ok() {
                if let Some(s) = self.server.as_mut() {
                    let no_types = 0i16.to_be_bytes();
                    s.server
                        .conn
                        .queue(&guarded_message(b'P', b"\0", text, &no_types));
                    s.server.statements.unnamed = None;
                    // The server drops its unnamed statement before parsing.
                    let change = self.prepared.close(Space::Statement, "");
                    let handling = Handling::ServerSyntax {
                        own: Box::new(own),
                        text_chars: chars(sql),
                    };
                    self.replies.push(Sent::Parse(change), handling);
                    self.sync.sent_in_batch();
                    self.skipping = true;
                    return;
                }
            }
        }
        self.refuse_extended(own, Some(decision)).await;
    }
}

#[cfg(test)]
#[path = "server_syntax_tests.rs"]
mod tests;
