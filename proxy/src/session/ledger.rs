//! Sync points, purely: what was sent that a ReadyForQuery will answer (a Query, a Sync),
//! whether an extended batch is open, and the transaction status the last ReadyForQuery
//! reported. The session and the model tests keep it through the same methods, and the one
//! rule for giving a server back (idle and clean) is [`Ledger::releasable`].

/// The session's sync-point counters and transaction status.
#[derive(Clone, Debug)]
pub struct Ledger {
    /// The status of the last ReadyForQuery the client was sent (or will be).
    pub tx_status: u8,
    /// Sync points sent to the server whose ReadyForQuery has not come back.
    pub pending: usize,
    /// Sync points sent so far (pgward's own included).
    pub syncs_sent: u64,
    /// Sync points answered (or skipped) so far.
    pub syncs_done: u64,
    /// Extended-protocol messages were forwarded since the last Sync.
    pub unsynced: bool,
    /// A Flush (the client's or pgward's) or a Sync went after the last of them: the server
    /// sends what it has.
    pub flushed: bool,
    /// The client's Syncs the COPY FROM STDIN that last started made the server ignore.
    pub voided_at_copy: usize,
}

impl Default for Ledger {
    fn default() -> Ledger {
        Ledger {
            tx_status: b'I',
            pending: 0,
            syncs_sent: 0,
            syncs_done: 0,
            voided_at_copy: 0,
            unsynced: false,
            flushed: true,
        }
    }
}

impl Ledger {
    /// A Sync (or a Query ending an open batch) went to the server.
    pub fn sent_sync_point(&mut self) {
        self.syncs_sent += 1;
        self.pending += 1;
        self.unsynced = false;
        self.flushed = true;
    }

    /// An extended-protocol message (Parse, Bind, Execute, ...) went to the server.
    pub fn sent_in_batch(&mut self) {
        self.unsynced = true;
        self.flushed = false;
    }

    /// A Flush went to the server.
    pub fn sent_flush(&mut self) {
        self.flushed = true;
    }

    /// A batch is open whose answers the server keeps until a Flush or Sync comes.
    pub fn flush_owed(&self) -> bool {
        self.unsynced && !self.flushed
    }

    /// A ReadyForQuery with this status came back.
    pub fn ready(&mut self, status: u8) {
        self.pending = self.pending.saturating_sub(1);
        self.syncs_done += 1;
        self.tx_status = status;
    }

    /// Syncs the server ignored because the COPY FROM STDIN ahead of them started: they
    /// were never sync points (an Execute's batch goes on to the Sync after the COPY; a
    /// simple Query's COPY is answered by its own ReadyForQuery).
    pub fn voided(&mut self, n: usize, batch_goes_on: bool) {
        self.pending = self.pending.saturating_sub(n);
        self.syncs_sent = self.syncs_sent.saturating_sub(n as u64);
        self.unsynced |= batch_goes_on;
    }

    /// Queries skipped with a failed batch: sync points that get no ReadyForQuery. The
    /// server skips on to the next Sync: one already sent (`sync_owed`) ends the batch;
    /// otherwise the batch stays open until the client sends one.
    pub fn skipped(&mut self, n: usize, sync_owed: bool) {
        self.pending = self.pending.saturating_sub(n);
        self.syncs_done += n as u64;
        if !sync_owed {
            self.unsynced = true;
        }
    }

    /// The server was lost: every sync point owed is answered by pgward (returns how many).
    pub fn lost(&mut self) -> usize {
        let owed = self.pending;
        self.pending = 0;
        self.syncs_done = self.syncs_sent;
        self.unsynced = false;
        owed
    }

    /// Every sync point answered and no batch open.
    pub fn at_rest(&self) -> bool {
        self.pending == 0 && !self.unsynced
    }

    /// The server may go back to the pool: idle ('I'), at rest, and nothing owed on the
    /// reply queue (`owes`).
    pub fn releasable(&self, owes: bool) -> bool {
        self.at_rest() && !owes && self.tx_status == b'I'
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_releasable_only_idle_at_rest_and_owed_nothing() {
        let mut l = Ledger::default();
        assert!(l.releasable(false));
        l.sent_in_batch();
        assert!(!l.releasable(false), "an open batch");
        l.sent_sync_point();
        assert!(!l.releasable(false), "a ReadyForQuery is owed");
        l.ready(b'T');
        assert!(l.at_rest());
        assert!(!l.releasable(false), "a transaction block is open");
        l.sent_sync_point();
        l.ready(b'I');
        assert!(l.releasable(false));
        assert!(!l.releasable(true), "the reply queue still owes something");
    }

    #[test]
    fn skipped_queries_leave_the_batch_open_only_without_a_sync() {
        // Parse (fails), Query, Sync: the Query is skipped, the Sync ends the batch.
        let mut l = Ledger::default();
        l.sent_in_batch();
        l.sent_sync_point();
        l.sent_sync_point();
        l.skipped(1, true);
        l.ready(b'I');
        assert!(l.releasable(false));
        // Parse (fails), Query, no Sync: the server skips until one comes.
        let mut l = Ledger::default();
        l.sent_in_batch();
        l.sent_sync_point();
        l.skipped(1, false);
        assert_eq!(l.pending, 0);
        assert!(!l.at_rest());
    }

    #[test]
    fn a_sync_ignored_by_a_starting_copy_was_never_a_sync_point() {
        let mut l = Ledger::default();
        l.sent_in_batch();
        l.sent_sync_point();
        let sent = l.syncs_sent;
        l.voided(1, true);
        assert_eq!((l.pending, l.syncs_sent), (0, sent - 1));
        assert!(
            !l.at_rest(),
            "the COPY's batch goes on to the Sync after it"
        );
    }

    #[test]
    fn a_lost_server_answers_everything_owed() {
        let mut l = Ledger::default();
        l.sent_sync_point();
        l.sent_sync_point();
        l.sent_in_batch();
        assert_eq!(l.lost(), 2);
        assert!(l.at_rest());
        assert_eq!(l.syncs_done, l.syncs_sent);
    }
}
