//! What the relay does when a session clock fires or its server goes: the statement
//! backstop, the idle-in-transaction limit (and the Flush pgward asks an unflushed batch's
//! answers with), a server lost mid-session.

use super::*;

impl Session {
    /// The role's statement_timeout is pinned on its upstream connections, so the server
    /// cancels on its own; this backstop cancels from pgward a moment later should the pin
    /// ever have been loosened.
    pub(super) fn statement_deadline(&mut self, now: Instant) -> Option<tokio::time::Instant> {
        self.timers
            .statement_deadline(now, self.replies.owes(), self.limits.statement_timeout)
            .map(tokio::time::Instant::from_std)
    }

    pub(super) fn statement_timeout_backstop(&mut self) -> Flow {
        self.timers.fire(self.now);
        tracing::warn!(
            session = self.id,
            "statement ran past the role's statement_timeout; cancelling"
        );
        if let Some(s) = self.server.as_ref() {
            self.outbox
                .push(outbox::Event::CancelUpstream(s.server.cancel.clone()));
        }
        Flow::Continue
    }

    pub(super) fn idle_in_transaction_deadline(&self) -> Option<tokio::time::Instant> {
        // In COPY FROM STDIN the server waits on the client, holding the COPY's transaction
        // and locks (PostgreSQL cancels no such wait): a client that sends no data is idle
        // in that transaction.
        let open = self.copy_in || self.sync.tx_status != b'I' || self.sync.unsynced;
        // An extended batch left with neither Sync nor Flush: PostgreSQL runs it but keeps
        // the answers (and the transaction, and its locks) until one comes, so what is owed
        // may be ready: the clock runs, and at the limit pgward asks with a Flush of its own.
        let owes = self.replies.owes() && !self.copy_in && !self.unflushed_batch();
        if self.flush_asked_at_limit && !owes && open {
            // Due now: the relay's own time of this wake-up (a clock read here would be
            // later than the one the relay checks it against, and never due).
            return Some(tokio::time::Instant::from_std(self.now));
        }

        self.timers
            .idle_deadline(owes, open, self.limits.idle_in_transaction_timeout)
            .map(tokio::time::Instant::from_std)
    }

    /// Answers owed to an extended batch the client sent with neither Sync nor Flush.
    pub(super) fn unflushed_batch(&self) -> bool {
        self.sync.flush_owed() && self.replies.owes() && !self.copy_in
    }

    /// The client sat in an open transaction too long: roll it back upstream, give the server
    /// back, and end the session as PostgreSQL does (25P03).
    pub(super) fn idle_in_transaction_expired(&mut self) -> Flow {
        if self.unflushed_batch() {
            // Bring the batch's answers (a Flush has no reply of its own): if the server is
            // idle in the batch's transaction, the limit has passed and fires at once; if it
            // is still working, the clock starts again when it is done.
            if let Some(s) = self.server.as_mut() {
                let mut out = BytesMut::new();
                backend::raw_message(b'H', &[], &mut out);
                s.server.conn.queue(&out);
            }
            self.sync.sent_flush();
            self.flush_asked_at_limit = true;
            return Flow::Continue;
        }
        if !self.sync.unsynced && !self.copy_in && self.server.is_some() {
            // Mid-batch or mid-COPY the server is not at rest: it is closed instead (see
            // `finish`).
            self.outbox.push(outbox::Event::RollbackIdle);
        }
        let mut out = BytesMut::new();
        backend::error_response(
            &PgError::fatal(
                sqlstate::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                "terminating connection due to idle-in-transaction timeout",
            ),
            &mut out,
        );
        self.client.queue(&out);
        // Its last words, for a client that still reads (one that does not is not waited on).
        self.outbox
            .push(outbox::Event::FlushClientWithin(Duration::from_secs(1)));
        Flow::Stop
    }

    /// The server connection died under us (its cancel target is let go by the relay; a
    /// cancel reaching the closed backend meanwhile finds nothing to cancel).
    pub(super) fn server_lost(&mut self, why: &str) -> Result<(), PgError> {
        tracing::warn!(session = self.id, reason = why, "upstream connection lost");
        self.outbox.push(outbox::Event::ClearCancelTarget);
        self.server = None;
        // What the unit may have set went with the server.
        self.unit.sets_sequences = false;
        let err = PgError::error(
            sqlstate::CONNECTION_FAILURE,
            format!("pgward: upstream connection lost: {why}"),
        );
        let open = self.sync.tx_status != b'I' || self.sync.unsynced || self.pinned.is_some();
        if open || self.mode == PoolMode::Session {
            // Its transaction (an open batch's implicit one too) or session state (what
            // pinned it) is gone with the server: end like PostgreSQL.
            let fatal = PgError {
                severity: "FATAL",
                ..err
            };
            self.ending = Some(Box::new(fatal.clone()));
            return Err(fatal);
        }
        let mut out = BytesMut::new();
        for _ in 0..self.sync.lost() {
            backend::error_response(&err, &mut out);
            backend::ready_for_query(b'I', &mut out);
        }
        self.guard = None;
        self.script.clear();
        self.copy_in = false;
        self.copy_from_started = false;
        // The server's cursors, held ones too, went with it.
        self.row_counter = Default::default();
        self.masking.clear();
        self.next_mask = None;
        self.replies.clear();
        self.prepared.clear();
        self.client.queue(&out);
        Ok(())
    }
}
