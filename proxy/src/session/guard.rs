//! Row limits enforced on results as they stream: `max_result_rows` (stop the result, cancel
//! upstream, 54000) and `max_affected_rows` (run the write inside a transaction or savepoint
//! pgward opens, and roll it back with 54000 when a CommandComplete reports more rows).
//!
//! The write guard brackets the client's unit of work (one Query, or one extended batch up to
//! Sync) with pgward's own statements, whose answers the client never sees; the unit's
//! ReadyForQuery is held back and replaced by the one that follows pgward's COMMIT/RELEASE or
//! ROLLBACK. While a guard is open no further client message is read, so nothing can slip in
//! between the write and its verdict.

use super::outbox::Event;
use super::prepared::Space;
use super::row_limit::{ResultOf, RowStep};
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
        self.push_internal_statement(Handling::Swallow);
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
    /// under the path the server really has (a SET rolled back, a set_config).
    pub(super) fn guard_blocks_client(&self) -> bool {
        if self.copy_in {
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
                // A later COPY FROM STDIN in the same string: end it at once.
                if let Some(s) = self.server.as_mut() {
                    let mut out = BytesMut::new();
                    backend::raw_message(b'f', b"pgward: rolled back\0", &mut out);
                    s.server.conn.queue(&out);
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

    /// `max_result_rows` (`row_limit.rs`): past the limit, cancel the statement upstream,
    /// drop the rest, and answer 54000 where the result ends. `answered` is the Execute this
    /// frame completed, if it completed one. Returns true when the frame was consumed.
    pub(super) fn count_result_row(
        &mut self,
        tag: u8,
        answered: Option<&replies::Expected>,
    ) -> bool {
        let limit = self.limits.max_result_rows;
        let completed;
        let of = match answered {
            Some(replies::Expected {
                cursor: Some(cursor),
                ..
            }) => {
                completed = cursor.to_string();
                ResultOf::Cursor(&completed)
            }
            Some(replies::Expected {
                sent: Sent::Execute { portal },
                ..
            }) => {
                completed = portal.clone();
                ResultOf::Portal(&completed)
            }
            Some(_) => ResultOf::Other,
            None => match self.replies.front() {
                Some(replies::Expected {
                    cursor: Some(cursor),
                    ..
                }) => ResultOf::Cursor(cursor),
                Some(replies::Expected {
                    sent: Sent::Execute { portal },
                    ..
                }) => ResultOf::Portal(portal),
                Some(replies::Expected {
                    sent: Sent::Query, ..
                }) => ResultOf::Query,
                _ => ResultOf::Other,
            },
        };
        let portal = match of {
            ResultOf::Portal(p) if tag != b'D' => Some(p.to_string()),
            _ => None,
        };
        match self.row_counter.on_frame(tag, of, limit) {
            RowStep::Forward => false,
            RowStep::Drop => true,
            RowStep::DropAndCancel => {
                if let Some(s) = self.server.as_ref() {
                    self.outbox
                        .push(Event::CancelUpstream(s.server.cancel.clone()));
                }
                true
            }
            RowStep::Cut => {
                // The unit failed for the client: a guarded write in it is rolled back (the
                // server went on, and its count may lie in what is not forwarded).
                let unit = self.sync.syncs_done;
                if let Some(g) = self.guard.as_mut().filter(|g| g.unit_seq == unit) {
                    g.tripped = true;
                }
                if let Some(p) = &portal {
                    // The portal is only suspended upstream: its next page must not be read.
                    let _ = self.prepared.close(Space::Portal, p);
                    // The client sees the batch fail here, as after any error; the server
                    // goes on, so what it answers until the Sync is not forwarded.
                    self.replies.swallow_rest_of_batch();
                    self.skipping = self.sync.unsynced;
                }
                let err = PgError::error(
                    sqlstate::PROGRAM_LIMIT_EXCEEDED,
                    format!("pgward: result exceeds max_result_rows ({limit})"),
                )
                .with_detail("rule: max_result_rows")
                .with_hint("add a LIMIT or a narrower WHERE clause");
                let mut out = BytesMut::new();
                backend::error_response(&err, &mut out);
                self.client.queue(&out);
                self.note_error_for_audit(Some(sqlstate::PROGRAM_LIMIT_EXCEEDED.into()));
                true
            }
        }
    }
}
