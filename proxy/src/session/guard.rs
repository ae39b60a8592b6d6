//! `max_affected_rows` enforced as results stream: the write runs inside a transaction or
//! savepoint pgward opens, rolled back with 54000 when a CommandComplete reports more rows
//! (`max_result_rows` is `row_limit_step.rs`).
//!
//! The write guard brackets the client's unit of work (one Query, or one extended batch up to
//! Sync) with pgward's own statements, whose answers the client never sees; the unit's
//! ReadyForQuery is held back and replaced by the one that follows pgward's COMMIT/RELEASE or
//! ROLLBACK. While a guard is open no further client message is read, so nothing can slip in
//! between the write and its verdict.

use super::prepared::Space;
use super::*;
use crate::protocol::frontend;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GuardKind {
    /// Outside a transaction block: pgward's BEGIN, then COMMIT or ROLLBACK.
    Transaction,
    /// Inside the client's block: nothing to open; a tripped write aborts the block, so it
    /// can never commit (as PostgreSQL does after any error).
    InTransaction,
}

pub(super) struct WriteGuard {
    kind: GuardKind,
    /// The sync point (ReadyForQuery) that ends the client's guarded unit.
    unit_seq: u64,
    tripped: bool,
    limit: u64,
}

/// What opening the guard came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GuardOpened {
    /// The write may go (guarded, or in an aborted block where it fails on its own).
    Open,
    /// The client's open batch had failed: the write is skipped, as the rest of the batch up
    /// to its Sync, with no answer.
    BatchFailed,
}

/// Per-session row limits, refreshed from the policy snapshot at each decision.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Limits {
    pub max_result_rows: u64,
    pub max_affected_rows: u64,
    pub idle_in_transaction_timeout: Option<Duration>,
    pub statement_timeout: Option<Duration>,
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
            && decision.statements.iter().any(|s| s.writes)
    }

    /// Writes whose row count no CommandComplete reports (writable CTEs, EXPLAIN ANALYZE,
    /// procedures, code blocks, SQL EXECUTE), refused where `max_affected_rows` applies, and
    /// transaction control inside a guarded batch (it would end the guard's transaction).
    pub(super) fn unguardable(&self, decision: &Decision) -> Option<PgError> {
        let state = guard_rules::GuardState {
            max_affected_rows: self.limits.max_affected_rows,
            guard_open: self.guard.is_some(),
        };
        // FETCH/MOVE of a bound write portal runs that write, counted as `FETCH n`.
        let facts = decision.statements.iter().map(|s| {
            let runs_write_portal = s.kind == pgward_policy::StatementKind::Fetch
                && (s.state.name.as_deref()).is_some_and(|n| self.prepared.portal_writes(n));
            (s.kind, s.writes, s.code_may_write || runs_write_portal)
        });
        guard_rules::refusal(facts, state).map(guard_rules::Refusal::to_pg)
    }

    /// Bring the server's answers up to date, then open the guard for the client message
    /// being handled. Inside an open extended batch the batch stays open: its answers so far
    /// are asked for with a Flush, and pgward's BEGIN runs inside it, so the batch's earlier
    /// statements and the write share one transaction, as they would without pgward (a Sync
    /// there would commit them apart, and end the server's skipping of a failed batch).
    pub(super) async fn open_guard(&mut self) -> Result<GuardOpened, PgError> {
        let in_batch = self.sync.unsynced;
        if in_batch {
            self.serve_until(|s| !s.replies.owes() || s.replies.skipping_to_sync(), true)
                .await?;
            if self.replies.skipping_to_sync() {
                // A message of the client's batch failed: PostgreSQL skips the rest of the
                // batch to its Sync, this message included, and so does pgward.
                self.skipping = true;
                return Ok(GuardOpened::BatchFailed);
            }
        } else {
            // The relay serves the server's answers until nothing is owed (or the server is
            // lost, and another is checked out below).
            self.serve_until(|s| s.sync.pending == 0, false).await?;
        }
        self.attach().await?;
        let mut kind = match self.sync.tx_status {
            b'I' => GuardKind::Transaction,
            b'T' => GuardKind::InTransaction,
            // An aborted block runs nothing: the write will fail on its own.
            _ => return Ok(GuardOpened::Open),
        };
        if kind == GuardKind::Transaction {
            let begun = match in_batch {
                true => match self.begin_in_batch().await? {
                    Some(client_block) => {
                        // The batch had opened the client's own block (a BEGIN earlier in
                        // it): pgward's BEGIN did nothing, and the guard works inside it.
                        if client_block {
                            kind = GuardKind::InTransaction;
                        }
                        true
                    }
                    // pgward's BEGIN failed (its error was the client's): the server skips
                    // the rest of the batch to its Sync, this message included.
                    None if self.replies.skipping_to_sync() => {
                        self.skipping = true;
                        return Ok(GuardOpened::BatchFailed);
                    }
                    None => false,
                },
                false => match self.server.as_mut() {
                    Some(s) => matches!(s.server.run_internal_extended("BEGIN").await, Ok(b'T')),
                    None => false,
                },
            };
            if !begun {
                return Err(PgError::error(
                    sqlstate::CONNECTION_FAILURE,
                    "pgward: could not open the transaction that guards max_affected_rows",
                ));
            }
        }
        self.guard = Some(WriteGuard {
            kind,
            unit_seq: self.sync.syncs_sent,
            tripped: false,
            limit: self.limits.max_affected_rows,
        });
        Ok(GuardOpened::Open)
    }

    /// BEGIN inside the client's open batch (its implicit transaction becomes the guard's),
    /// answered before the write is sent. `None` when it did not run; `Some(true)` when the
    /// batch had already opened a block of the client's (PostgreSQL warns, 25001).
    async fn begin_in_batch(&mut self) -> Result<Option<bool>, PgError> {
        let Some(s) = self.server.as_mut() else {
            return Ok(None);
        };
        let mut out = BytesMut::new();
        frontend::internal_extended_in_batch("BEGIN", &mut out);
        s.server.conn.queue(&out);
        // Its error, if it fails, is the client's: the batch failed there.
        self.push_internal_statement(Handling::Quiet);
        self.sync.sent_in_batch();
        self.guard_begin = Some(false);
        let answered = self
            .serve_until(|s| !s.replies.owes() || s.replies.skipping_to_sync(), true)
            .await;
        let client_block = self.guard_begin.take() == Some(true);
        Ok((answered? && !self.replies.skipping_to_sync()).then_some(client_block))
    }

    /// The guard's closing statement (`frontend::internal_extended`): Parse, Bind, Execute,
    /// two Closes, each owed a reply the client does not see (`quiet`: but its error, which
    /// is the client's; otherwise not even that), and a Sync whose ReadyForQuery is the
    /// client's and ends the guard.
    fn push_closing_statement(&mut self, quiet: bool) {
        let hidden = if quiet {
            Handling::Quiet
        } else {
            Handling::Swallow
        };
        self.push_internal_statement(hidden);
        self.replies.push(Sent::Sync, Handling::ClosesGuard);
    }

    /// `frontend::internal_extended_in_batch`'s messages (Parse, Bind, Execute, two Closes)
    /// entered in the queue, each answered as `hidden` says.
    fn push_internal_statement(&mut self, hidden: Handling) {
        use super::prepared::Change;
        for sent in [
            Sent::Parse(Change::None),
            Sent::Bind(Change::None),
            Sent::Execute {
                portal: frontend::INTERNAL_NAME.to_string(),
            },
            Sent::Close(Change::None),
            Sent::Close(Change::None),
        ] {
            self.replies.push(sent, hidden.clone());
        }
    }

    /// No client message is read while a guarded unit (its Query, or its batch up to Sync)
    /// waits for its verdict, nor, once the client's unit is sent, while the search_path it
    /// may have changed is to be read back: what the client pipelined after it is judged
    /// under the path the server really has (a SET rolled back, a set_config). A server
    /// skipping a failed batch waits for the client's Sync, so the client is read then.
    pub(super) fn guard_blocks_client(&self) -> bool {
        if self.copy_in || self.replies.skipping_to_sync() {
            return false;
        }
        let path_unknown = matches!(
            self.path_check,
            PathCheck::AfterUnit | PathCheck::UnknownInBatch
        ) && self.sync.pending > 0
            && !self.sync.unsynced;
        path_unknown
            || !self.script.is_empty()
            || self
                .guard
                .as_ref()
                .is_some_and(|g| self.sync.syncs_sent > g.unit_seq)
    }

    /// Queries skipped with a failed batch get no ReadyForQuery: the server skips on to the
    /// client's Sync. A guard whose unit was one of them ends at that Sync's instead.
    pub(super) fn skip_sync_points(&mut self, n: usize, batch_ends: bool) {
        let from = self.sync.syncs_done;
        self.sync.skipped(n, batch_ends);
        if let Some(g) = self.guard.as_mut() {
            if (from..self.sync.syncs_done).contains(&g.unit_seq) {
                g.unit_seq = self.sync.syncs_done;
            }
        }
    }

    /// The unit now answering failed for the client: a guarded write in it is rolled back.
    pub(super) fn trip_guard_of_answering_unit(&mut self) {
        let unit = self.sync.syncs_done;
        if let Some(g) = self.guard.as_mut().filter(|g| g.unit_seq == unit) {
            g.tripped = true;
        }
    }

    /// Whether the portal runs a write.
    pub(super) fn portal_writes(&self, portal: &str) -> bool {
        matches!(
            self.prepared.lookup(Space::Portal, portal, self.replies.batch()),
            super::prepared::Lookup::Found(d) if d.statements.iter().any(|s| s.writes)
        )
    }

    /// Look at a server frame for the guard (`suspended_write`: a PortalSuspended of a write
    /// portal). Returns true when the frame was consumed.
    pub(super) fn guard_on_frame(&mut self, tag: u8, body: &[u8], suspended_write: bool) -> bool {
        let current = self.sync.syncs_done;
        let Some(g) = self.guard.as_mut() else {
            return false;
        };
        // Past the unit, the closing statement's replies are the queue's to hide.
        if g.unit_seq != current {
            return false;
        }
        match tag {
            b's' if suspended_write && !g.tripped => {
                g.tripped = true;
                let err = PgError::error(
                    sqlstate::PROGRAM_LIMIT_EXCEEDED,
                    "pgward: max_affected_rows cannot count a write whose rows are paged by a row limit; it was rolled back",
                )
                .with_detail("rule: max_affected_rows")
                .with_hint("execute the write without a row limit (max_rows = 0), or without RETURNING");
                let mut out = BytesMut::new();
                backend::error_response(&err, &mut out);
                self.client.queue(&out);
                self.note_error_for_audit(Some(sqlstate::PROGRAM_LIMIT_EXCEEDED.into()));
                true
            }
            b'C' if !g.tripped && is_write_tag(body) => {
                let rows = crate::protocol::decode::command_rows(body).unwrap_or(0);
                if rows <= g.limit {
                    return false;
                }
                g.tripped = true;
                let err = PgError::error(
                    sqlstate::PROGRAM_LIMIT_EXCEEDED,
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
                self.note_error_for_audit(Some(sqlstate::PROGRAM_LIMIT_EXCEEDED.into()));
                self.script_failed = true;
                true
            }
            b'G' if g.tripped => {
                // A later COPY FROM STDIN in the unit: end it at once. An Execute's: the
                // client's Sync it made the server ignore is sent again, or the failed batch
                // would wait for one the client already sent.
                let by_execute = matches!(
                    self.replies.front().map(|e| &e.sent),
                    Some(Sent::Execute { .. })
                );
                let resend = std::mem::take(&mut self.sync.voided_at_copy) > 0 && by_execute;
                if let Some(s) = self.server.as_mut() {
                    let mut out = BytesMut::new();
                    backend::raw_message(b'f', b"pgward: rolled back\0", &mut out);
                    if resend {
                        frontend::sync(&mut out);
                    }
                    s.server.conn.queue(&out);
                }
                if resend {
                    self.replies.push(Sent::Sync, Handling::Forward);
                    self.sync.sent_sync_point();
                }
                true
            }
            b'Z' => {
                let (sql, marker) = match (g.kind, g.tripped) {
                    (GuardKind::InTransaction, false) => {
                        self.guard = None;
                        return false;
                    }
                    (GuardKind::InTransaction, true) => (DENIED_MARKER, true),
                    (GuardKind::Transaction, false) => ("COMMIT", false),
                    (GuardKind::Transaction, true) => ("ROLLBACK", false),
                };
                self.sync.syncs_sent += 1;
                // The unit's own ReadyForQuery is accounted for here, and not forwarded.
                self.sync.syncs_done += 1;
                if let Some(s) = self.server.as_mut() {
                    let mut out = BytesMut::new();
                    frontend::internal_extended(sql, &mut out);
                    s.server.conn.queue(&out);
                }
                // A COMMIT that fails (deferred constraint, serialization) is the client's
                // error; the marker's error is not.
                self.push_closing_statement(!marker);
                self.finish_audit_at_sync();
                true
            }
            b'S' | b'N' => false,
            _ => g.tripped,
        }
    }
}
