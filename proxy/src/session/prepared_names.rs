//! Statement and portal names as PostgreSQL compares them, the names SQL `PREPARE` made,
//! and the text each named statement was judged from with what it was judged under (see
//! `Prepared::origins`).

use std::sync::Arc;

use pgward_policy::Decision;

use super::{name_key, Prepared};

/// What a statement was judged under: the session's search_path epoch (PostgreSQL analyses
/// a statement again when the search_path changed) and the policy snapshot (a reload, or a
/// catalog snapshot read since: a statement judged before pgward knew the catalog is judged
/// with it, its rules and masking as they are now).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JudgedUnder {
    pub path_epoch: u64,
    pub snapshot: u64,
}

/// A name SQL `PREPARE` made: the search_path and policy snapshot it was judged under, and
/// the PREPARE's own text to judge it again after a reload or a catalog read (`None` when
/// pgward cannot tell which text the server holds under the name: its EXECUTE is refused).
#[derive(Clone, Debug)]
pub struct SqlPrepared {
    path: Vec<String>,
    text: Option<Arc<str>>,
    snapshot: u64,
}

/// SQL-prepared names a session keeps track of at most (a PREPARE past it is refused).
pub const SQL_NAMES_KEPT: usize = 4096;

/// Bytes of SQL-prepared texts a session keeps at most (a PREPARE past it is refused).
pub const SQL_TEXT_BYTES: usize = 16 << 20;

/// Named statements one client may hold at once (drivers' caches keep a few hundred).
pub const KEPT_STATEMENTS: usize = 10_000;

/// Bytes one client's named statements may hold (texts, decisions, transaction mode's
/// copies), so that no client can fill pgward's memory with statements it never closes.
pub const KEPT_BYTES: usize = 256 << 20;

impl Prepared {
    /// Whether a named Parse of `name`, `text_len` bytes of SQL, fits the client's bounds.
    /// The byte count is kept as an estimate that only ever overstates (three copies of the
    /// text per statement); it is counted exactly again, from the entries, before refusing.
    pub fn room_for(&mut self, name: &str, text_len: usize) -> bool {
        let name = &*name_key(name);
        // The unnamed statement replaces itself; a live name is the server's 42P05.
        if name.is_empty() || self.statements.contains_key(name) {
            return true;
        }
        if self.statements.len() >= KEPT_STATEMENTS {
            return false;
        }
        let weight = text_len.saturating_mul(3);
        if self.kept_bytes.saturating_add(weight) > KEPT_BYTES {
            let origins = &self.origins;
            self.kept_bytes = self
                .statements
                .iter()
                .map(|(n, e)| {
                    e.decision.normalized.len()
                        + e.replay.as_ref().map_or(0, |r| r.rest.len())
                        + origins.get(n).map_or(0, |(text, _)| text.len())
                })
                .sum();
            if self.kept_bytes.saturating_add(weight) > KEPT_BYTES {
                return false;
            }
        }
        self.kept_bytes += weight;
        true
    }

    /// Whether SQL `PREPARE name` fits the client's bounds ([`SQL_NAMES_KEPT`] names,
    /// [`SQL_TEXT_BYTES`] of texts): a name already recorded always does.
    pub fn sql_prepare_fits(&self, name: &str) -> bool {
        let name = &*name_key(name);
        if self.sql_names.contains_key(name) {
            return true;
        }
        let bytes: usize = (self.sql_names.values())
            .map(|r| r.text.as_ref().map_or(0, |t| t.len()))
            .sum();
        self.sql_names.len() < SQL_NAMES_KEPT && bytes < SQL_TEXT_BYTES
    }

    /// SQL `PREPARE name` was sent (refused beforehand unless [`Prepared::sql_prepare_fits`]).
    /// Names of PREPAREs that failed stay until DEALLOCATE or DISCARD. A second PREPARE of a
    /// recorded name either fails on the server (42P05) or follows one that failed (in an
    /// aborted transaction): with another text, which one the server holds is unknown.
    pub fn sql_prepared(
        &mut self,
        name: &str,
        path: &[String],
        text: Option<Arc<str>>,
        snapshot: u64,
    ) {
        let name = &*name_key(name);
        if let Some(known) = self.sql_names.get_mut(name) {
            if known.text != text {
                known.text = None;
            }
            return;
        }
        let record = SqlPrepared {
            path: path.to_vec(),
            text,
            snapshot,
        };
        self.sql_names.insert(name.to_string(), record);
    }

    /// Whether SQL `PREPARE name` was judged under another search_path than `path`
    /// (PostgreSQL analyses it again under the current path when it runs).
    pub fn sql_prepared_stale(&self, name: &str, path: &[String]) -> bool {
        let name = &*name_key(name);
        self.sql_names.get(name).is_some_and(|p| p.path != path)
    }

    /// SQL `PREPARE name` must be judged again before it runs: it was judged under another
    /// policy snapshot than `snapshot` (a reload, a catalog read since). Its text, or
    /// `Some(None)` when which text the server holds is unknown (then always).
    pub fn sql_prepared_outdated(&self, name: &str, snapshot: u64) -> Option<Option<Arc<str>>> {
        let record = self.sql_names.get(&*name_key(name))?;
        match &record.text {
            None => Some(None),
            Some(text) => (record.snapshot != snapshot).then(|| Some(text.clone())),
        }
    }

    /// SQL `PREPARE name` judged again, and allowed, under `snapshot`.
    pub fn sql_prepared_rejudged(&mut self, name: &str, snapshot: u64) {
        if let Some(record) = self.sql_names.get_mut(&*name_key(name)) {
            record.snapshot = snapshot;
        }
    }

    /// The text of the protocol statement whose decision `decision` is (the one a portal was
    /// bound from) and what it was judged under; `None` when no statement holds it any more,
    /// or several with different texts do (decisions are shared between texts that differ
    /// only in their constants).
    pub fn text_of(&self, decision: &Arc<Decision>) -> Option<(Arc<str>, JudgedUnder)> {
        let mut found: Option<&(Arc<str>, JudgedUnder)> = None;
        for (name, entry) in &self.statements {
            if !Arc::ptr_eq(&entry.decision, decision) {
                continue;
            }
            let origin = self.origins.get(name)?;
            match found {
                Some(f) if f.0 != origin.0 => return None,
                _ => found = Some(origin),
            }
        }
        found.cloned()
    }

    /// Record the text of statement `name` and what it was judged under.
    pub fn judged_under(&mut self, name: &str, text: &str, epoch: JudgedUnder) {
        let name = &*name_key(name);
        if self.origins.len() > self.statements.len() + 64 {
            let live = &self.statements;
            self.origins.retain(|n, _| live.contains_key(n));
        }
        self.origins
            .insert(name.to_string(), (Arc::from(text), epoch));
    }

    /// The text of statement `name` when it was judged under another search_path epoch or
    /// policy snapshot than `epoch`.
    pub fn judged_stale(&self, name: &str, epoch: JudgedUnder) -> Option<Arc<str>> {
        let name = &*name_key(name);
        let (text, judged) = self.origins.get(name)?;
        (*judged != epoch && self.statements.contains_key(name)).then(|| text.clone())
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
