//! Sequence state under transaction pooling. `currval` and `lastval` answer from what
//! `nextval` left on the server connection: another client's unit may have changed it since,
//! or this client's latest `nextval` may have run on another server, and either way the value
//! read would be wrong. Each server records whose units may have set it (one session's, or
//! several: [`MIXED`]); a statement reading it, before anything in its unit may have set it,
//! on a server whose state is not this client's, runs after `DISCARD SEQUENCES`: the client
//! then gets PostgreSQL's own "not yet defined in this session" error, not a wrong value.
//! `nextval` itself, often hidden in a column default, costs nothing; only the rare reader
//! pays a round trip, and only on a server another unit used.

use super::*;

/// `ServerConnection::sequence_user` of a server whose sequence state more than one session
/// may have set: nobody's own.
pub(super) const MIXED: u64 = u64::MAX;

impl Session {
    /// Is the attached server's sequence state this client's own (or empty)?
    fn sequences_are_mine(&self) -> bool {
        self.server.as_ref().is_some_and(|s| {
            s.server.sequence_user == 0
                || (s.server.sequence_user == self.id
                    && self.sequences.server_pid == s.server.cancel.pid
                    && !self.sequences.spread)
        })
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
                // What this client set elsewhere is stale there, and nothing of it is here.
                self.sequences.spread = false;
                self.sequences.server_pid = s.server.cancel.pid;
                Ok(())
            }
            Err(e) => Err(PgError::error(
                sqlstate::CONNECTION_FAILURE,
                format!("pgward: could not clear another session's sequence state: {e}"),
            )),
        }
    }

    /// A unit ended on the attached server (or the client left it): if it may have set
    /// sequence state, what the server holds is this client's when it was before, and
    /// nobody's own when another client's was there too.
    pub(super) fn settle_sequence_state(&mut self, unit_set_sequences: bool) {
        if unit_set_sequences {
            let trusted = self.sequences.trusted;
            if let Some(s) = self.server.as_mut() {
                let pid = s.server.cancel.pid;
                if !trusted {
                    s.server.sequence_user = MIXED;
                } else {
                    // Set on two servers since the last clearing: neither holds all of it
                    // (a unit that may have set it here need not have set every sequence).
                    if self.sequences.server_pid != 0 && self.sequences.server_pid != pid {
                        self.sequences.spread = true;
                    }
                    s.server.sequence_user = self.id;
                    self.sequences.server_pid = pid;
                }
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
    /// Units that may have set it ran on more than one server: no server holds all of it.
    pub spread: bool,
}
