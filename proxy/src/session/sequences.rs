//! Sequence state under transaction pooling. `currval` and `lastval` answer from what
//! `nextval` left on the server connection: another client's unit may have changed it since,
//! or this client's latest `nextval` may have run on another server, and either way the value
//! read would be wrong. Each server records the session whose unit last may have set it; a
//! client's statement that reads it is sent to the server its own last such unit ran on when
//! that server is idle, and there, or on a server whose state is not the client's, before
//! anything in its unit may have set it, it runs after `DISCARD SEQUENCES`: the client gets
//! the value its last unit set, or PostgreSQL's own "not yet defined in this session" error,
//! not a value another client's unit or an older unit of its own set. `nextval` itself,
//! often hidden in a column default, costs nothing; only the rare reader pays a round trip,
//! and only on a server another unit used.

use super::*;

impl Session {
    /// Is the attached server's sequence state this client's own (or empty)?
    fn sequences_are_mine(&self) -> bool {
        self.server.as_ref().is_some_and(|s| {
            s.server.sequence_user == 0
                || (s.server.sequence_user == self.id
                    && self.sequences.server_pid == s.server.cancel.pid)
        })
    }

    /// Before a checkout for `decision`: a statement that reads sequence state asks for the
    /// server this client's last unit that may have set it ran on.
    pub(super) fn want_sequence_server(&mut self, decision: &Decision) {
        let reads = decision.statements.iter().any(|s| s.state.reads_sequences);
        self.sequences.wanted = (reads && self.server.is_none() && self.sequences.server_pid != 0)
            .then_some(self.sequences.server_pid);
    }

    /// A server was checked out.
    pub(super) fn take_sequence_state(&mut self) {
        self.sequences.trusted = self.sequences_are_mine();
    }

    /// Before a statement that reads sequence state is sent (parsed, bound or run): clear a
    /// state that is not this client's, unless this unit may have set it already
    /// (`INSERT ...; SELECT currval(...)` reads the unit's own value), replies are owed or a
    /// batch is open (no round trip fits: PostgreSQL may be skipping to Sync), or the block
    /// has failed (the statement runs nothing). An error is the statement's refusal: it
    /// must not read what is there.
    pub(super) async fn clear_foreign_sequences(
        &mut self,
        decision: &Decision,
    ) -> Result<(), PgError> {
        if self.sequences.trusted
            || self.unit.sets_sequences
            || self.replies.owes()
            || self.sync.pending > 0
            || self.sync.unsynced
            || self.sync.tx_status == b'E'
            || !decision.statements.iter().any(|s| s.state.reads_sequences)
        {
            return Ok(());
        }
        let Some(s) = self.server.as_mut() else {
            return Ok(());
        };
        // Extended protocol under pgward's own names: the client's unnamed statement and
        // portal survive.
        match s.server.run_internal_extended("DISCARD SEQUENCES").await {
            Ok(_) => {
                s.server.sequence_user = 0;
                self.sequences.trusted = true;
                Ok(())
            }
            Err(e) => Err(PgError::error(
                sqlstate::CONNECTION_FAILURE,
                format!("pgward: could not clear another session's sequence state: {e}"),
            )),
        }
    }

    /// A unit ended on the attached server: if it may have set sequence state, what that
    /// unit set is this client's latest, here (what it set on other servers is older).
    /// Another client's values for sequences the unit did not touch may remain: reading one
    /// of those is the one read this cannot tell from the client's own.
    pub(super) fn settle_sequence_state(&mut self, unit_set_sequences: bool) {
        if unit_set_sequences {
            if let Some(s) = self.server.as_mut() {
                s.server.sequence_user = self.id;
                self.sequences.server_pid = s.server.cancel.pid;
            }
        }
        self.sequences.trusted = self.sequences_are_mine();
    }
}

/// Where this session's sequence state lives.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SequenceState {
    /// The backend pid of the server its last unit that may have set it ran on (0: none).
    pub server_pid: i32,
    /// The attached server's sequence state is this session's (or empty).
    pub trusted: bool,
    /// The server a statement about to be checked out for wants (a reader's).
    pub wanted: Option<i32>,
}
