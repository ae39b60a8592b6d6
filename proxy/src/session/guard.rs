//! Row limits enforced on results as they stream: `max_result_rows` (stop the result, cancel
//! upstream, 54000) and `max_affected_rows` (run the write inside a transaction or savepoint
//! pgward opens, and roll it back with 54000 when a CommandComplete reports more rows).
//!
//! The write guard brackets the client's unit of work (one Query, or one extended batch up to
//! Sync) with pgward's own statements, whose answers the client never sees; the unit's
//! ReadyForQuery is held back and replaced by the one that follows pgward's COMMIT/RELEASE or
//! ROLLBACK. While a guard is open no further client message is read, so nothing can slip in
//! between the write and its verdict.

use super::*;
use crate::protocol::frontend;

const SAVEPOINT: &str = "pgward_guard";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GuardKind {
    /// Outside a transaction block: BEGIN ... COMMIT/ROLLBACK.
    Transaction,
    /// Inside one: SAVEPOINT ... RELEASE / ROLLBACK TO.
    Savepoint,
}

pub(super) struct WriteGuard {
    kind: GuardKind,
    /// The sync point (ReadyForQuery) that ends the client's guarded unit.
    unit_seq: u64,
    /// The sync point of pgward's closing statement, once sent.
    closing_seq: Option<u64>,
    tripped: bool,
    limit: u64,
}

/// Per-session row limits, refreshed from the policy snapshot at each decision.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Limits {
    pub max_result_rows: u64,
    pub max_affected_rows: u64,
    pub idle_in_transaction_timeout: Option<Duration>,
}

/// Result-row counting for `max_result_rows`.
#[derive(Default)]
pub(super) struct RowCounter {
    rows: u64,
    cut: bool,
}

fn is_write_tag(body: &[u8]) -> bool {
    ["INSERT", "UPDATE", "DELETE", "MERGE", "COPY"]
        .iter()
        .any(|t| body.starts_with(t.as_bytes()))
}

impl Session {
    /// Whether a decision needs the write guard.
    pub(super) fn needs_guard(&self, decision: &Decision) -> bool {
        self.limits.max_affected_rows > 0
            && self.guard.is_none()
            && self.tx_status != b'E'
            && decision.statements.iter().any(|s| s.writes)
    }

    /// Open the guard before the client's Query is forwarded.
    pub(super) fn open_guard_simple(&mut self) {
        let (kind, sql) = self.guard_opening();
        if let Some(s) = self.server.as_mut() {
            let mut out = BytesMut::new();
            frontend::query(&sql, &mut out);
            s.server.conn.queue(&out);
        }
        self.internal_syncs.push_back(self.syncs_sent);
        self.syncs_sent += 1;
        self.pending += 1;
        self.guard = Some(WriteGuard {
            kind,
            unit_seq: self.syncs_sent,
            closing_seq: None,
            tripped: false,
            limit: self.limits.max_affected_rows,
        });
    }

    /// Open the guard inside an extended batch, before the write's Parse/Bind is forwarded:
    /// pgward's own Parse/Bind/Execute, whose three answers are swallowed.
    pub(super) fn open_guard_extended(&mut self) {
        let (kind, sql) = self.guard_opening();
        if let Some(s) = self.server.as_mut() {
            let mut out = BytesMut::new();
            frontend::parse_unnamed(&sql, &mut out);
            frontend::bind_unnamed(&mut out);
            frontend::execute_unnamed(&mut out);
            s.server.conn.queue(&out);
        }
        self.swallow += 3;
        self.guard = Some(WriteGuard {
            kind,
            unit_seq: self.syncs_sent,
            closing_seq: None,
            tripped: false,
            limit: self.limits.max_affected_rows,
        });
        self.unsynced = true;
    }

    fn guard_opening(&self) -> (GuardKind, String) {
        if self.tx_status == b'I' {
            (GuardKind::Transaction, "BEGIN".to_string())
        } else {
            (GuardKind::Savepoint, format!("SAVEPOINT {SAVEPOINT}"))
        }
    }

    /// No client message is read while a guarded unit (its Query, or its batch up to Sync)
    /// waits for its verdict.
    pub(super) fn guard_blocks_client(&self) -> bool {
        if self.copy_in {
            return false;
        }
        !self.script.is_empty()
            || self
                .guard
                .as_ref()
                .is_some_and(|g| self.syncs_sent > g.unit_seq)
    }

    /// Look at a server frame for the guard. Returns true when the frame was consumed.
    pub(super) async fn guard_on_frame(&mut self, tag: u8, body: &[u8]) -> bool {
        let current = self.syncs_done;
        let Some(g) = self.guard.as_mut() else {
            return false;
        };
        if g.closing_seq == Some(current) {
            // pgward's COMMIT/RELEASE/ROLLBACK: only its ReadyForQuery reaches the client.
            if tag == b'Z' {
                self.guard = None;
                return false;
            }
            return tag != b'S';
        }
        if g.unit_seq != current {
            return false;
        }
        match tag {
            b'C' if !g.tripped && is_write_tag(body) => {
                let rows = crate::protocol::decode::command_rows(body).unwrap_or(0);
                if rows > g.limit {
                    g.tripped = true;
                    let err = PgError::error(
                        "54000",
                        format!(
                            "pgward: the write affected {rows} rows, more than max_affected_rows ({}); it was rolled back",
                            g.limit
                        ),
                    )
                    .with_detail("rule: max_affected_rows")
                    .with_hint("narrow the WHERE clause, or split the change into smaller batches");
                    let mut out = BytesMut::new();
                    backend::error_response(&err, &mut out);
                    self.client.queue(&out);
                    self.note_error_for_audit(Some("54000".into()));
                    self.script_failed = true;
                    return true;
                }
                false
            }
            b'Z' => {
                // Hold the unit's ReadyForQuery; send pgward's verdict instead.
                let status = body.first().copied().unwrap_or(b'I');
                let sql = match (g.kind, g.tripped) {
                    (GuardKind::Transaction, false) => "COMMIT".to_string(),
                    (GuardKind::Transaction, true) => "ROLLBACK".to_string(),
                    (GuardKind::Savepoint, false) => format!("RELEASE SAVEPOINT {SAVEPOINT}"),
                    (GuardKind::Savepoint, true) => {
                        format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}; RELEASE SAVEPOINT {SAVEPOINT}")
                    }
                };
                // A unit that failed on its own inside a savepoint leaves the transaction
                // aborted; RELEASE would fail there, and the client must see 'E' anyway.
                let sql = if g.kind == GuardKind::Savepoint && status == b'E' && !g.tripped {
                    format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}")
                } else {
                    sql
                };
                g.closing_seq = Some(self.syncs_sent);
                self.syncs_sent += 1;
                self.pending += 1;
                if let Some(s) = self.server.as_mut() {
                    let mut out = BytesMut::new();
                    frontend::query(&sql, &mut out);
                    s.server.conn.queue(&out);
                    if let Err(e) = s.server.conn.flush().await {
                        tracing::warn!(error = %e, "write guard could not close");
                    }
                }
                // The unit's own ReadyForQuery is accounted for, but not forwarded.
                self.pending = self.pending.saturating_sub(1);
                self.syncs_done += 1;
                self.finish_audit_at_sync().await;
                true
            }
            _ => g.tripped && tag != b'S',
        }
    }

    /// `max_result_rows`: count DataRows of the current result; past the limit, cancel the
    /// query upstream and drop the rest. Returns true when the frame was consumed.
    pub(super) async fn count_result_row(&mut self, tag: u8) -> bool {
        let limit = self.limits.max_result_rows;
        match tag {
            b'T' => {
                self.row_counter = RowCounter::default();
                false
            }
            b'D' if limit > 0 => {
                self.row_counter.rows += 1;
                if self.row_counter.rows <= limit {
                    return false;
                }
                if !self.row_counter.cut {
                    self.row_counter.cut = true;
                    if let Some(s) = self.server.as_ref() {
                        crate::server::send_cancel(&s.server.cancel).await;
                    }
                }
                true
            }
            b'C' | b'E' | b's' if self.row_counter.cut => {
                self.row_counter = RowCounter::default();
                let err = PgError::error(
                    "54000",
                    format!("pgward: result exceeds max_result_rows ({limit})"),
                )
                .with_detail("rule: max_result_rows")
                .with_hint("add a LIMIT or a narrower WHERE clause");
                let mut out = BytesMut::new();
                backend::error_response(&err, &mut out);
                self.client.queue(&out);
                self.note_error_for_audit(Some("54000".into()));
                true
            }
            b'C' => {
                self.row_counter = RowCounter::default();
                false
            }
            _ => false,
        }
    }
}
