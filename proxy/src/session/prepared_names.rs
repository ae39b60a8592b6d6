//! Statement and portal names as PostgreSQL compares them, the names SQL `PREPARE` made,
//! and the text each named statement was judged from with what it was judged under (see
//! `Prepared::origins`).

use std::sync::Arc;

use pgward_policy::Decision;

use super::{name_key, Prepared, Space};

/// What a statement was judged under: the session's search_path epoch (PostgreSQL analyses
/// a statement again when the search_path changed) and the policy snapshot (a reload, or a
/// catalog snapshot read since: a statement judged before pgward knew the catalog is judged
/// with it, its rules and masking as they are now).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JudgedUnder {
    pub path_epoch: u64,
    pub snapshot: u64,
}

/// Whether a held statement must be judged again before it runs.
#[derive(Debug)]
pub enum Judged {
    Current,
    /// Judged under other rules or another search_path: again, from this text.
    Stale(Arc<str>),
    /// Its text is not known (never expected): refused rather than run unjudged.
    Unknown,
}

/// A name SQL `PREPARE` made: every text a PREPARE of it was sent with since a DEALLOCATE of
/// it last succeeded, less those that failed (the server holds one of them: a PREPARE whose
/// answer is still owed may have run), each to be judged again after a reload or a catalog
/// read. `snapshot`: the policy snapshot all of them were judged under (`None`: not one).
#[derive(Clone, Debug)]
pub struct SqlPrepared {
    texts: Vec<Candidate>,
    snapshot: Option<u64>,
}

#[derive(Clone, Debug)]
struct Candidate {
    /// The number it was entered under (`Prepared::sql_seq`).
    seq: u64,
    /// `None`: a text pgward could not tell apart.
    text: Option<Arc<str>>,
    /// The search_path it was judged under.
    path: Vec<String>,
}

/// Texts kept per SQL-prepared name; past it the name's text is unknown.
const TEXTS_PER_NAME: usize = 8;

/// SQL-prepared names a session keeps track of at most (a PREPARE past it is refused).
pub const SQL_NAMES_KEPT: usize = 4096;

/// Bytes of SQL-prepared texts a session keeps at most (a PREPARE past it is refused).
pub const SQL_TEXT_BYTES: usize = 16 << 20;

impl Prepared {
    /// The statement under `name` is gone: SQL `DEALLOCATE name` ran, or pgward refused a
    /// Parse of the name (a later Bind of it is refused here). Not a protocol Close: no reply
    /// settles it, so nothing is kept to restore.
    pub fn drop_statement(&mut self, name: &str) {
        let name = &*name_key(name);
        if let Some(e) = self.statements.remove(name) {
            self.released(Space::Statement, name, &e.decision, e.replay.as_deref());
        }
    }

    /// SQL `CLOSE name` / `CLOSE ALL`.
    pub fn close_cursor(&mut self, name: Option<&str>) {
        match name {
            Some(n) => {
                self.portals.remove(&*name_key(n));
            }
            None => self.portals.clear(),
        }
    }

    /// Whether SQL `PREPARE name` fits the client's bounds ([`SQL_NAMES_KEPT`] names,
    /// [`SQL_TEXT_BYTES`] of texts; a name already recorded takes no new name).
    pub fn sql_prepare_fits(&self, name: &str) -> bool {
        let known = self.sql_names.contains_key(&*name_key(name));
        (known || self.sql_names.len() < SQL_NAMES_KEPT) && self.sql_text_bytes() < SQL_TEXT_BYTES
    }

    /// Bytes of the texts SQL `PREPARE` names keep.
    pub(super) fn sql_text_bytes(&self) -> usize {
        (self.sql_names.values())
            .flat_map(|r| r.texts.iter().filter_map(|c| c.text.as_ref()))
            .map(|t| t.len())
            .sum()
    }

    /// SQL `PREPARE name` was sent with `text`, judged under `snapshot` and `path` (refused
    /// beforehand unless [`Prepared::sql_prepare_fits`]). Returns the number of the candidate
    /// it added, to drop if it fails; `None` when it added none (the text was one already).
    pub fn sql_prepared(
        &mut self,
        name: &str,
        path: &[String],
        text: Option<Arc<str>>,
        snapshot: Option<u64>,
    ) -> Option<u64> {
        let name = &*name_key(name);
        self.sql_seq += 1;
        let seq = self.sql_seq;
        let candidate = Candidate {
            seq,
            text,
            path: path.to_vec(),
        };
        let Some(known) = self.sql_names.get_mut(name) else {
            let record = SqlPrepared {
                texts: vec![candidate],
                snapshot,
            };
            self.sql_names.insert(name.to_string(), record);
            return Some(seq);
        };
        if known.snapshot != snapshot {
            known.snapshot = None;
        }
        let same =
            (known.texts.iter_mut()).find(|c| c.text == candidate.text && c.path == candidate.path);
        if let Some(same) = same {
            // Kept as late as its latest PREPARE (a DEALLOCATE sent before it leaves it).
            same.seq = seq;
            return None;
        }
        // Once a text is unknown the name stays unknown, as late as its latest PREPARE (a
        // path unknown too when they differ: stale under any search_path but an empty one).
        if let Some(unknown) = known.texts.iter_mut().find(|c| c.text.is_none()) {
            unknown.seq = seq;
            if unknown.path != candidate.path {
                unknown.path = Vec::new();
            }
            return None;
        }
        if known.texts.len() >= TEXTS_PER_NAME {
            known.texts = vec![Candidate {
                text: None,
                path: Vec::new(),
                ..candidate
            }];
            return None;
        }
        known.texts.push(candidate);
        Some(seq)
    }

    /// The PREPARE that entered candidate `seq` of `name` failed (or was skipped): the
    /// server holds nothing of it.
    pub fn sql_prepare_failed(&mut self, name: &str, seq: u64) {
        let name = &*name_key(name);
        let Some(record) = self.sql_names.get_mut(name) else {
            return;
        };
        record.texts.retain(|c| c.seq != seq);
        if record.texts.is_empty() {
            self.sql_names.remove(name);
        }
        self.released_all();
    }

    /// What a DEALLOCATE or DISCARD sent now would remove (texts entered up to here).
    pub fn sql_seq(&self) -> u64 {
        self.sql_seq
    }

    /// A DEALLOCATE of `name` (`None`: ALL, DISCARD ALL) sent when [`Prepared::sql_seq`] was
    /// `upto` succeeded: the texts entered before it are gone from the server.
    pub fn sql_names_removed(&mut self, name: Option<&str>, upto: u64) {
        let prune = |r: &mut SqlPrepared| {
            r.texts.retain(|c| c.seq > upto);
            !r.texts.is_empty()
        };
        match name {
            Some(n) => {
                let n = &*name_key(n);
                if self.sql_names.get_mut(n).is_some_and(|r| !prune(r)) {
                    self.sql_names.remove(n);
                }
            }
            None => self.sql_names.retain(|_, r| prune(r)),
        }
        self.released_all();
    }

    /// Whether a text SQL `PREPARE name` may hold was judged under another search_path than
    /// `path` (PostgreSQL analyses it again under the current path when it runs).
    pub fn sql_prepared_stale(&self, name: &str, path: &[String]) -> bool {
        let name = &*name_key(name);
        (self.sql_names.get(name)).is_some_and(|r| r.texts.iter().any(|c| c.path != path))
    }

    /// The texts of SQL `PREPARE name` to judge again before it runs: they were judged under
    /// another policy snapshot than `snapshot` (a reload, a catalog read since); `None` when
    /// they need not be (or the name is not one SQL prepared).
    pub fn sql_prepared_outdated(
        &self,
        name: &str,
        snapshot: u64,
    ) -> Option<Vec<Option<Arc<str>>>> {
        let record = self.sql_names.get(&*name_key(name))?;
        (record.snapshot != Some(snapshot))
            .then(|| record.texts.iter().map(|c| c.text.clone()).collect())
    }

    /// SQL `PREPARE name` judged again, and allowed, under `snapshot`.
    pub fn sql_prepared_rejudged(&mut self, name: &str, snapshot: u64) {
        if let Some(record) = self.sql_names.get_mut(&*name_key(name)) {
            record.snapshot = Some(snapshot);
        }
    }

    /// Record the text of statement `name` and what it was judged under (kept while the
    /// server may hold the statement: until its Close is answered, its Parse fails, or the
    /// client leaves the server; see `prepared_kept.rs`'s `released`).
    pub fn judged_under(&mut self, name: &str, text: &str, epoch: JudgedUnder) {
        let name = &*name_key(name);
        self.origins
            .insert(name.to_string(), (Arc::from(text), epoch));
    }

    /// Whether statement `name` was judged under another search_path epoch or policy
    /// snapshot than `epoch`, and the text to judge it from again.
    pub fn judged_stale(&self, name: &str, epoch: JudgedUnder) -> Judged {
        let name = &*name_key(name);
        if !self.statements.contains_key(name) {
            return Judged::Current;
        }
        match self.origins.get(name) {
            Some((_, judged)) if *judged == epoch => Judged::Current,
            Some((text, _)) => Judged::Stale(text.clone()),
            None => Judged::Unknown,
        }
    }

    /// Statement `name` judged again (under `epoch`).
    pub fn rejudged(&mut self, name: &str, decision: Arc<Decision>, epoch: JudgedUnder) {
        let name = &*name_key(name);
        if let Some(e) = self.statements.get_mut(name) {
            e.decision = decision;
        }
        if let Some(o) = self.origins.get_mut(name) {
            o.1 = epoch;
        }
    }

    /// Whether a portal under `name` (bound by the client, or a cursor) runs a write, or code
    /// that may write (a cursor over `cursor_to_xml` of another portal): SQL
    /// FETCH and MOVE run any portal by name, a bound `UPDATE ... RETURNING` whole at the
    /// first row.
    pub fn portal_writes(&self, name: &str) -> bool {
        let name = &*name_key(name);
        self.portals
            .get(name)
            .is_some_and(|e| (e.decision.statements.iter()).any(|s| s.writes || s.code_may_write))
    }

    /// Whether a portal (or cursor) of that name is open.
    pub fn has_portal(&self, name: &str) -> bool {
        self.portals.contains_key(&*name_key(name))
    }

    /// Whether `name` is a statement the client's SQL `PREPARE` made (and no protocol Parse
    /// of its own): it lives on the client's server under that name, not in replay.
    pub fn is_sql_prepared(&self, name: &str) -> bool {
        let name = &*name_key(name);
        self.sql_names.contains_key(name) && !self.statements.contains_key(name)
    }

    /// Whether the client made a statement under `name` (protocol Parse or SQL PREPARE).
    pub fn owns_statement(&self, name: &str) -> bool {
        let name = &*name_key(name);
        self.statements.contains_key(name) || self.sql_names.contains_key(name)
    }
}
