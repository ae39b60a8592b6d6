//! The text of a Query or Parse as pgward judges and sends it: the client's, read in its
//! encoding, with every plain string that holds a backslash rewritten into the `E'...'` string
//! of the value the session's `standard_conforming_strings` gives it
//! (`pgward_policy::mode_independent_strings`). The server may read the text under another
//! setting than the one pgward knows (a SET earlier in the pipeline, user code); rewritten, it
//! reads the same under either, so what runs is what was judged.

use std::borrow::Cow;

use super::*;
use crate::protocol::{frontend, Frame};

impl Session {
    /// The session's `standard_conforming_strings` as the server last reported it (or as the
    /// client asked at startup); on unless said otherwise.
    pub(super) fn standard_conforming_strings(&self) -> bool {
        self.desired
            .iter()
            .find(|(k, _)| k == "standard_conforming_strings")
            .is_none_or(|(_, v)| pgward_policy::parse_bool(v) != Some(false))
    }

    /// The statement text to judge and send, and whether it differs from the client's.
    pub(super) fn statement_text<'a>(
        &self,
        bytes: &'a [u8],
    ) -> Result<(Cow<'a, str>, bool), PgError> {
        let text = self.client_text(bytes)?;
        let Some(rewritten) =
            pgward_policy::mode_independent_strings(&text, self.standard_conforming_strings())
        else {
            return Ok((text, false));
        };
        // The rewritten text is sent as UTF-8: only where the client's encoding reads it so.
        if !(rewritten.is_ascii() || self.client_is_utf8()) {
            return Err(PgError::error(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "pgward: a plain string with a backslash in text that is not ASCII needs client_encoding UTF8",
            )
            .with_hint("write the string as E'...'"));
        }
        Ok((Cow::Owned(rewritten), true))
    }
}

/// A Query message carrying `sql`.
pub(super) fn query_frame(sql: &str) -> Frame {
    let mut out = BytesMut::new();
    frontend::query(sql, &mut out);
    Frame::from_raw(out.freeze())
}

/// The Parse message `body` with its text replaced by `sql` (name and parameter types kept).
/// `name` and `old_sql` are the slices `decode::parse_bytes` returned from `body`.
pub(super) fn parse_frame(body: &[u8], name: &str, old_sql: &[u8], sql: &str) -> Frame {
    let types = body
        .get(name.len() + 1 + old_sql.len() + 1..)
        .unwrap_or(&[]);
    let mut msg = Vec::with_capacity(name.len() + sql.len() + types.len() + 2);
    msg.extend_from_slice(name.as_bytes());
    msg.push(0);
    msg.extend_from_slice(sql.as_bytes());
    msg.push(0);
    msg.extend_from_slice(types);
    let mut out = BytesMut::new();
    crate::protocol::backend::raw_message(b'P', &msg, &mut out);
    Frame::from_raw(out.freeze())
}
