//! What SQL `PREPARE`, `DEALLOCATE` and `DISCARD ALL` do to the record of SQL-prepared names
//! (`prepared_names.rs`), applied as the server answers them: a PREPARE's text is a candidate
//! from when it is sent (it may be run before its answer is read) and is dropped again when
//! its sync point is answered without its CommandComplete (it failed or was skipped: the
//! server holds nothing of it); a DEALLOCATE or DISCARD ALL forgets texts only once its
//! CommandComplete says it succeeded (one that failed leaves the server's statements, which
//! must still be judged again). Statements of a sync point complete in order and none after
//! one that fails, so the CommandCompletes of a sync point answer its first effects.

use super::*;

/// One PREPARE, DEALLOCATE or DISCARD ALL sent and not yet answered.
pub(super) struct SqlEffect {
    sync_point: u64,
    /// The command tag its success is answered with.
    tag: &'static [u8],
    /// The name (`None`: DEALLOCATE ALL, DISCARD ALL).
    name: Option<String>,
    /// A PREPARE: its text's number; a removal: the texts entered up to it
    /// (`Prepared::sql_seq`).
    seq: u64,
}

impl Session {
    /// A PREPARE (its new text `seq`) or a DEALLOCATE / DISCARD ALL (`tag`) sent.
    pub(super) fn sql_effect_sent(&mut self, tag: &'static [u8], name: Option<&str>, seq: u64) {
        self.sql_effects_expire();
        self.sql_effects.push_back(SqlEffect {
            sync_point: self.sync.syncs_sent + 1,
            tag,
            name: name.map(str::to_string),
            seq,
        });
    }

    /// Effects of sync points answered without their CommandComplete: they did not happen
    /// (a PREPARE's text is no candidate any more).
    pub(super) fn sql_effects_expire(&mut self) {
        let done = self.sync.syncs_done;
        while self
            .sql_effects
            .front()
            .is_some_and(|e| e.sync_point <= done)
        {
            let Some(e) = self.sql_effects.pop_front() else {
                break;
            };
            if e.tag == b"PREPARE" {
                if let Some(name) = &e.name {
                    self.prepared.sql_prepare_failed(name, e.seq);
                }
            }
        }
    }

    /// A CommandComplete read from the server: the next effect of its sync point happened
    /// when its tag is that effect's (exactly: `DEALLOCATE` and `DEALLOCATE ALL` are two).
    pub(super) fn sql_effect_done(&mut self, tag: &[u8]) {
        if self.sql_effects.is_empty() {
            return;
        }
        self.sql_effects_expire();
        let current = self.sync.syncs_done + 1;
        let tag = tag.split(|b| *b == 0).next().unwrap_or_default();
        let front = self.sql_effects.front();
        if front.is_none_or(|e| e.sync_point != current || tag != e.tag) {
            return;
        }
        if let Some(e) = self.sql_effects.pop_front() {
            if e.tag != b"PREPARE" {
                self.prepared.sql_names_removed(e.name.as_deref(), e.seq);
            }
        }
    }

    /// Syncs the server ignored (a COPY FROM STDIN started): the sync points sent after them
    /// are numbered down, in the row counter and in the effects owed.
    pub(super) fn sync_points_voided(&mut self, n: u64) {
        let sent = self.sync.syncs_sent;
        self.row_counter.sync_points_voided(sent, n);
        for e in &mut self.sql_effects {
            if e.sync_point > sent + n {
                e.sync_point -= n;
            }
        }
    }
}
