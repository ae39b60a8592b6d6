//! The text of a Query or Parse as pgward judges and sends it: the client's, read in its
//! encoding, with every plain string that holds a backslash rewritten into the `E'...'` string
//! of the value the session's `standard_conforming_strings` gives it
//! (`pgward_policy::mode_independent_strings`). The server may read the text under another
//! setting than the one pgward knows (a SET earlier in the pipeline, user code); rewritten, it
//! reads the same under either, so what runs is what was judged.

use std::borrow::Cow;

use pgward_policy::StringSyntax;

use super::*;
use crate::protocol::Frame;

/// What a Query's or Parse's text becomes.
pub(super) enum Text<'a> {
    /// The text to judge, and when it differs from the client's, the bytes to send for it (in
    /// the client's encoding).
    Judge(Cow<'a, str>, Option<Vec<u8>>),
    /// A text with a backslash PostgreSQL's scanner cannot read in the session's mode: it is
    /// refused as PostgreSQL's syntax error (asked of the server behind the guard that keeps
    /// any reading of it from running, `server_syntax.rs`), never judged another way.
    Unreadable(Cow<'a, str>, Arc<Decision>),
}

impl Session {
    /// The session's `standard_conforming_strings` as the server last reported it (or as the
    /// client asked at startup); on unless said otherwise.
    pub(super) fn standard_conforming_strings(&self) -> bool {
        self.desired
            .iter()
            .find(|(k, _)| k == "standard_conforming_strings")
            .is_none_or(|(_, v)| pgward_policy::parse_bool(v) != Some(false))
    }

    /// The statement text to judge and send (see [`Text`]).
    pub(super) fn statement_text<'a>(&mut self, bytes: &'a [u8]) -> Result<Text<'a>, PgError> {
        let text = self.client_text(bytes)?;
        // Most texts hold no backslash: nothing to read twice.
        if !text.contains('\\') {
            return Ok(Text::Judge(text, None));
        }
        // A text past the size bound is refused unread by the judge: not scanned here either.
        if text.len() > self.shared.snapshot().engine.max_statement_bytes() {
            return Ok(Text::Judge(text, None));
        }
        let standard = self.standard_conforming_strings();
        let rewritten = match pgward_policy::mode_independent_strings(&text, standard) {
            StringSyntax::Unchanged => return Ok(Text::Judge(text, None)),
            StringSyntax::Rewritten(rewritten, escapes) => {
                self.warn_of_escapes(&escapes);
                rewritten
            }
            StringSyntax::Unreadable(message) => {
                let decision = pgward_policy::unreadable_text(&text, standard, &message);
                return Ok(Text::Unreadable(text, Arc::new(decision)));
            }
        };
        let sent = self.client_bytes_of(bytes, &text, &rewritten)?;
        Ok(Text::Judge(Cow::Owned(rewritten), Some(sent)))
    }

    /// PostgreSQL warns of each plain string read with escapes (`escape_string_warning`, on
    /// unless the client turned it off) when it parses the text; the server gets `E'...'`
    /// strings and would not, so pgward does, in the same place of the reply: only when
    /// nothing is owed ahead of this statement (a warning for a statement later in a
    /// pipeline would overtake the replies before it, and is left out).
    fn warn_of_escapes(&mut self, escapes: &[pgward_policy::Escape]) {
        let setting = |name: &str| {
            self.desired
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        let warns = setting("escape_string_warning")
            .is_none_or(|v| pgward_policy::parse_bool(&v) != Some(false))
            && setting("client_min_messages")
                .is_none_or(|v| !matches!(v.as_str(), "error" | "fatal" | "panic"));
        if escapes.is_empty() || !warns || self.replies.owes() || self.sync.pending > 0 {
            return;
        }
        let mut out = BytesMut::new();
        for e in escapes {
            let (message, hint) = e.kind.message_and_hint();
            let warning = PgError::error(sqlstate::NONSTANDARD_USE_OF_ESCAPE_CHARACTER, message)
                .with_hint(hint)
                .with_position(u32::try_from(e.position).ok());
            backend::notice_response(&warning, &mut out);
        }
        self.client.queue(&out);
    }

    /// The bytes to send for a rewritten text: itself in UTF-8 (or ASCII), else the client's
    /// bytes with the same ASCII inserted (`client_text::with_ascii_inserted`).
    fn client_bytes_of(
        &self,
        original: &[u8],
        text: &str,
        rewritten: &str,
    ) -> Result<Vec<u8>, PgError> {
        if rewritten.is_ascii() || self.client_is_utf8() {
            return Ok(rewritten.as_bytes().to_vec());
        }
        crate::client_text::with_ascii_inserted(text, original, rewritten).ok_or_else(|| {
            PgError::error(
                sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                "pgward: could not write the statement back in the client's encoding",
            )
        })
    }
}

/// A Query message carrying `sql` (in the client's encoding).
pub(super) fn query_frame(sql: &[u8]) -> Frame {
    let mut body = Vec::with_capacity(sql.len() + 1);
    body.extend_from_slice(sql);
    body.push(0);
    let mut out = BytesMut::new();
    crate::protocol::backend::raw_message(b'Q', &body, &mut out);
    Frame::from_raw(out.freeze())
}

/// The Parse message `body` with its text replaced by `sql` (name and parameter types kept).
/// `name` and `old_sql` are the slices `decode::parse_bytes` returned from `body`.
pub(super) fn parse_frame(body: &[u8], name: &str, old_sql: &[u8], sql: &[u8]) -> Frame {
    let types = body
        .get(name.len() + 1 + old_sql.len() + 1..)
        .unwrap_or(&[]);
    let mut msg = Vec::with_capacity(name.len() + sql.len() + types.len() + 2);
    msg.extend_from_slice(name.as_bytes());
    msg.push(0);
    msg.extend_from_slice(sql);
    msg.push(0);
    msg.extend_from_slice(types);
    let mut out = BytesMut::new();
    crate::protocol::backend::raw_message(b'P', &msg, &mut out);
    Frame::from_raw(out.freeze())
}
