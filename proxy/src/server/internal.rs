//! pgward's own round trips on an idle server connection: its statements (simple or
//! extended protocol, so the client's unnamed statement is left alone), settings read back,
//! statements closed. Notices are dropped, notifications held for the client, errors returned.

use std::sync::Arc;

use bytes::BytesMut;

use super::{ServerConnection, ServerError};
use crate::protocol::decode::Cursor;
use crate::protocol::{decode, frontend};

impl ServerConnection {
    /// Run pgward's own statement(s) with the simple protocol and wait for ReadyForQuery.
    /// The server must be idle. Notices are dropped; an error is returned.
    pub async fn run_internal(&mut self, sql: &str) -> Result<u8, ServerError> {
        // A simple Query drops the unnamed statement.
        self.statements.unnamed = None;
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out);
        self.run_prepared_messages(&out).await
    }

    /// Like [`Self::run_internal`] for one statement, through the extended protocol under
    /// its own name, so that the client's unnamed statement is left alone.
    pub async fn run_internal_extended(&mut self, sql: &str) -> Result<u8, ServerError> {
        let mut out = BytesMut::new();
        frontend::internal_extended(sql, &mut out);
        self.run_prepared_messages(&out).await
    }

    /// Close named statements (protocol Close: no error for one the server lacks) and wait
    /// for ReadyForQuery. The server must be idle.
    pub async fn close_statements(&mut self, names: &[Arc<str>]) -> Result<u8, ServerError> {
        let mut out = BytesMut::new();
        for name in names {
            close_statement_message(name, &mut out);
        }
        self.run_extended_messages(out).await
    }

    /// Run pgward's own extended-protocol messages (Parse, Close) with a Sync of their own
    /// and wait for ReadyForQuery. The server must be idle.
    pub async fn run_extended_messages(&mut self, mut out: BytesMut) -> Result<u8, ServerError> {
        frontend::sync(&mut out);
        self.run_prepared_messages(&out).await
    }

    /// [`ServerConnection::run_extended_messages`], returning the RowDescription or NoData
    /// bodies its Describes got (tag, body), in order.
    pub async fn run_extended_described(
        &mut self,
        mut out: BytesMut,
    ) -> Result<Vec<(u8, Vec<u8>)>, ServerError> {
        frontend::sync(&mut out);
        let mut described = Vec::new();
        self.run_messages(&out, &mut |tag, body| {
            if matches!(tag, b'T' | b'n') {
                described.push((tag, body.to_vec()));
            }
        })
        .await?;
        Ok(described)
    }

    /// The server's current value of a setting (`SHOW`), read without touching the
    /// client's unnamed statement.
    pub async fn show(&mut self, setting: &str) -> Result<String, ServerError> {
        let mut out = BytesMut::new();
        frontend::internal_extended(&format!("SHOW {setting}"), &mut out);
        let mut value = None;
        self.run_messages(&out, &mut |tag, body| {
            if tag == b'D' {
                value = first_column_text(body);
            }
        })
        .await?;
        value.ok_or_else(|| ServerError::Protocol(format!("SHOW {setting} returned no row")))
    }

    /// The rows of pgward's own query (text columns), read without touching the client's
    /// unnamed statement.
    pub async fn query_rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ServerError> {
        let mut out = BytesMut::new();
        frontend::internal_extended(sql, &mut out);
        let mut rows = Vec::new();
        self.run_messages(&out, &mut |tag, body| {
            if tag == b'D' {
                rows.push(row_texts(body));
            }
        })
        .await?;
        Ok(rows)
    }

    async fn run_prepared_messages(&mut self, out: &[u8]) -> Result<u8, ServerError> {
        self.run_messages(out, &mut |_, _| {}).await
    }

    /// Send pgward's own messages and read up to ReadyForQuery, handing each other frame to
    /// `on_frame`.
    async fn run_messages(
        &mut self,
        out: &[u8],
        on_frame: &mut (dyn FnMut(u8, &[u8]) + Send),
    ) -> Result<u8, ServerError> {
        self.conn.send(out).await?;
        let mut failure = None;
        loop {
            let frame = self
                .conn
                .read_frame()
                .await?
                .ok_or_else(|| ServerError::Lost("closed".into()))?;
            match frame.tag() {
                b'S' => self.note_parameter(frame.body()),
                b'A' => self.held_notifications.push(frame.into_raw()),
                b'E' => {
                    failure = Some(ServerError::Query {
                        code: decode::error_field(frame.body(), b'C').unwrap_or_default(),
                        message: decode::error_field(frame.body(), b'M').unwrap_or_default(),
                    })
                }
                b'Z' => {
                    let status = frame.body().first().copied().unwrap_or(b'E');
                    self.status = status;
                    return match failure {
                        Some(e) => Err(e),
                        None => Ok(status),
                    };
                }
                tag => on_frame(tag, frame.body()),
            }
        }
    }
}

/// The first column of a DataRow as text (`None` for NULL or a malformed row).
/// Every column of a DataRow as text (`None` for NULL or bytes that are not UTF-8).
fn row_texts(body: &[u8]) -> Vec<Option<String>> {
    let mut c = Cursor::new(body);
    let n = c.i16().unwrap_or(0);
    let mut out = Vec::new();
    for _ in 0..n {
        let Ok(len) = c.i32() else { break };
        let Ok(len) = usize::try_from(len) else {
            out.push(None);
            continue;
        };
        let Ok(bytes) = c.take(len) else { break };
        out.push(std::str::from_utf8(bytes).ok().map(str::to_string));
    }
    out
}

fn first_column_text(body: &[u8]) -> Option<String> {
    let mut c = Cursor::new(body);
    if c.i16().ok()? < 1 {
        return None;
    }
    let len = c.i32().ok()?;
    let bytes = c.take(usize::try_from(len).ok()?).ok()?;
    std::str::from_utf8(bytes).ok().map(str::to_string)
}

/// A protocol Close of the named statement `name`.
pub fn close_statement_message(name: &str, out: &mut BytesMut) {
    let mut body = Vec::with_capacity(name.len() + 2);
    body.push(b'S');
    body.extend_from_slice(name.as_bytes());
    body.push(0);
    crate::protocol::backend::raw_message(b'C', &body, out);
}
