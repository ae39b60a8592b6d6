//! How a refused message reaches the client: in its place in line. With something owed on
//! the server or a transaction open, PostgreSQL's order of replies is kept by sending the
//! server a statement its raw parser rejects (it runs nothing) and answering its error with
//! pgward's; otherwise the refusal is answered at once.

use super::prepared::Space;
use super::*;
use crate::protocol::frontend;

impl Session {
    /// Whether a reply must go through the server to keep its place in line.
    fn server_in_line(&self) -> bool {
        self.server.is_some()
            && (self.sync.pending > 0 || self.sync.unsynced || self.sync.tx_status != b'I')
    }

    /// Refuse a simple-protocol message (Query, FunctionCall): error then ReadyForQuery, and
    /// the open transaction, if any, aborted upstream as PostgreSQL would.
    pub(super) async fn refuse_simple(&mut self, err: PgError, decision: Option<Arc<Decision>>) {
        if let Some(d) = decision {
            self.audit_denied(&d);
        }
        if self.ending.is_some() {
            return; // the session ends with its own error
        }
        if self.server_in_line() {
            if let Some(s) = self.server.as_mut() {
                let mut out = BytesMut::new();
                frontend::query(DENIED_MARKER, &mut out);
                s.server.conn.queue(&out);
                s.server.statements.unnamed = None;
                self.replies
                    .push(Sent::Query, Handling::Replace(Box::new(err)));
                self.sync.syncs_sent += 1;
                self.sync.pending += 1;
                return;
            }
        }
        let mut out = BytesMut::new();
        backend::error_response(&err, &mut out);
        backend::ready_for_query(self.sync.tx_status, &mut out);
        self.client.queue(&out);
        self.give_back_if_idle();
    }

    /// Refuse an extended-protocol message: error now (or in its place in line), then skip to
    /// Sync like PostgreSQL.
    pub(super) async fn refuse_extended(&mut self, err: PgError, decision: Option<Arc<Decision>>) {
        if let Some(d) = decision {
            self.audit_denied(&d);
        }
        if self.ending.is_some() {
            return; // the session ends with its own error
        }
        self.skipping = true;
        if self.server_in_line() {
            if let Some(s) = self.server.as_mut() {
                let mut out = BytesMut::new();
                frontend::parse_unnamed(DENIED_MARKER, &mut out);
                s.server.conn.queue(&out);
                s.server.statements.unnamed = None;
                // The server drops its unnamed statement before parsing, as for the refused one.
                let change = self.prepared.close(Space::Statement, "");
                self.replies
                    .push(Sent::Parse(change), Handling::Replace(Box::new(err)));
                self.sync.sent_in_batch();
                return;
            }
        }
        let mut out = BytesMut::new();
        backend::error_response(&err, &mut out);
        self.client.queue(&out);
    }
}
