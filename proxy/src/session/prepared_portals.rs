//! What each portal's decision was judged from. A portal's plan is fixed when it is bound
//! (protocol Bind) or declared (SQL `DECLARE`), but it runs at every Execute or `FETCH` after
//! that: one made before the rules changed (a reload, a catalog snapshot read) is judged
//! again before it runs, from the same text under the search_path it was made under, so a
//! role demoted meanwhile cannot run a write it bound earlier and a cursor's rows are masked
//! as the rules say now.

use std::sync::Arc;

use pgward_policy::Decision;

use super::{name_key, Prepared, Space};

/// The text a portal's decision was made from (`None`: not known, never expected), under
/// which policy snapshot and search_path.
#[derive(Clone, Debug)]
pub struct PortalOrigin {
    pub text: Option<Arc<str>>,
    pub snapshot: u64,
    pub path: Arc<[String]>,
}

/// What a SQL `DECLARE` sent will have made once its CommandComplete says it ran: the
/// cursor's portal entry, put in place then (a name left behind by a cursor the server
/// dropped, rolled back, must not keep what the old cursor was judged from), unless the
/// name was closed or bound again since the DECLARE was sent (`entered`: the id of the
/// entry the name held just after it).
#[derive(Debug)]
pub struct DeclaredCursor {
    pub decision: Arc<Decision>,
    pub hold: bool,
    pub origin: PortalOrigin,
    pub entered: u64,
}

/// Whether a portal must be judged again before it runs.
#[derive(Debug)]
pub enum PortalJudged {
    /// Judged under the rules in force (or no such portal: the server answers for it).
    Current,
    /// Judged under other rules: again, from this text under this path.
    Stale(Arc<str>, Arc<[String]>),
    /// Nothing to judge it from: refused rather than run under old rules.
    Unknown,
}

impl Prepared {
    /// Bind of statement `stmt` to portal `portal` sent in batch `batch` with the statement's
    /// decision, under search_path `path` (not `path_known`: changed unseen earlier in the
    /// batch, so no text to judge the portal again from): the portal keeps the statement's
    /// text and the snapshot that decision was made under.
    pub fn bind(
        &mut self,
        portal: &str,
        stmt: &str,
        decision: Arc<Decision>,
        batch: u64,
        path: &Arc<[String]>,
        path_known: bool,
    ) -> super::Change {
        // Every statement a Bind reaches has its text (`Session::resolve` refuses others).
        let origin = self
            .origins
            .get(&*name_key(stmt))
            .map(|(text, judged)| PortalOrigin {
                text: path_known.then(|| text.clone()),
                snapshot: judged.snapshot,
                path: path.clone(),
            });
        let snapshot = origin.as_ref().map(|o| o.snapshot);
        let change = self.enter(super::Space::Portal, portal, decision, batch, None, origin);
        if let super::Change::Created { .. } = &change {
            self.portal_made(snapshot);
        }
        change
    }

    /// A portal was entered, judged under `snapshot`: whether all are judged under one.
    fn portal_made(&mut self, snapshot: Option<u64>) {
        self.portals_at = match snapshot {
            Some(s) if self.portals.len() == 1 || self.portals_at == s => s,
            _ => 0,
        };
    }

    /// A cursor SQL `DECLARE` opened (a portal under its name, judged with the DECLARE's
    /// decision). Kept only if the name is free, as PostgreSQL keeps an existing cursor.
    pub fn declare_cursor(
        &mut self,
        name: &str,
        decision: Arc<Decision>,
        hold: bool,
        batch: u64,
        origin: Option<PortalOrigin>,
    ) -> u64 {
        let name = &*name_key(name);
        if let Some(e) = self.portals.get(name) {
            return e.id;
        }
        self.next_id += 1;
        let id = self.next_id;
        let snapshot = origin.as_ref().map(|o| o.snapshot);
        self.portals.insert(
            name.to_string(),
            super::Entry {
                decision,
                replay: None,
                hold,
                id,
                confirmed: true,
                batch,
                origin,
                cursor: true,
            },
        );
        self.portal_made(snapshot);
        id
    }

    /// A DECLARE ran: its cursor is the portal under `name` now, whatever was there.
    pub fn cursor_declared(&mut self, name: &str, made: DeclaredCursor) {
        let key = name_key(name);
        let Some(entry) = self.portals.get_mut(&*key) else {
            // Closed since the DECLARE was sent: were that Close skipped, this cursor is what
            // the name holds (not what the Close took away).
            if self.closing.contains_key(&(Space::Portal, key.to_string())) {
                self.next_id += 1;
                let entry = super::Entry {
                    decision: made.decision,
                    replay: None,
                    hold: made.hold,
                    id: self.next_id,
                    confirmed: true,
                    batch: 0,
                    origin: Some(made.origin),
                    cursor: true,
                };
                self.redeclared.insert(key.into_owned(), entry);
            }
            return;
        };
        if entry.id != made.entered {
            return;
        }
        let snapshot = made.origin.snapshot;
        entry.decision = made.decision;
        entry.hold = made.hold;
        entry.origin = Some(made.origin);
        entry.cursor = true;
        entry.confirmed = true;
        self.portal_made(Some(snapshot));
    }

    /// What a skipped Close of `name` puts back: the cursor a DECLARE made after the Close
    /// was sent, else what the Close took away.
    pub(super) fn restored(
        &mut self,
        space: Space,
        name: &str,
        prev: Option<Box<super::Entry>>,
    ) -> Option<super::Entry> {
        let redeclared = match space {
            Space::Portal => self.redeclared.remove(name),
            Space::Statement => None,
        };
        redeclared.or(prev.map(|b| *b))
    }

    /// A Bind of portal `name` (not the unnamed one) is sent while pgward holds an entry under
    /// it: the Bind takes its place, as it does on the server where the old portal is gone (a
    /// WITH HOLD cursor rolled back); were it still there, PostgreSQL refuses the Bind
    /// (42P03) and the old entry comes back (`displaced_back`).
    pub(super) fn displace(&mut self, space: Space, name: &str) -> Option<super::Entry> {
        match space {
            Space::Portal if !name.is_empty() => self.portals.remove(name),
            _ => None,
        }
    }

    /// The Bind with id `id` failed: the portal it took the place of is back.
    pub(super) fn displaced_back(&mut self, name: &str, id: u64) {
        if let Some(old) = self.displaced.remove(&id) {
            self.portals_at = 0;
            self.portals.entry(name.to_string()).or_insert(old);
        }
    }

    /// Portals end with their transaction, except cursors declared WITH HOLD.
    pub fn clear_portals(&mut self) {
        self.portals.retain(|_, e| e.hold);
        self.redeclared.clear();
        if !self.portals.is_empty() {
            self.portals_at = 0;
        }
        let portals = &self.portals;
        self.closing
            .retain(|(space, name), _| *space == Space::Statement || portals.contains_key(name));
    }

    /// Whether portal `name` is a SQL cursor's.
    pub fn is_cursor(&self, name: &str) -> bool {
        self.portals.get(&*name_key(name)).is_some_and(|e| e.cursor)
    }

    /// Whether portal `name` was judged under another policy snapshot than `snapshot`.
    pub fn portal_judged(&self, name: &str, snapshot: u64) -> PortalJudged {
        // Every open portal judged under the snapshot in force (the usual case): no lookup.
        if self.portals_at == snapshot && snapshot != 0 {
            return PortalJudged::Current;
        }
        let Some(entry) = self.portals.get(&*name_key(name)) else {
            return PortalJudged::Current;
        };
        match &entry.origin {
            Some(o) if o.snapshot == snapshot => PortalJudged::Current,
            Some(PortalOrigin {
                text: Some(text),
                path,
                ..
            }) => PortalJudged::Stale(text.clone(), path.clone()),
            _ => PortalJudged::Unknown,
        }
    }

    /// What portal `name` was judged from (its text, snapshot and search_path).
    pub fn portal_origin(&self, name: &str) -> Option<&PortalOrigin> {
        self.portals.get(&*name_key(name))?.origin.as_ref()
    }

    /// Portal `name` judged again, and allowed, under `snapshot`.
    pub fn portal_rejudged(&mut self, name: &str, decision: Arc<Decision>, snapshot: u64) {
        if let Some(e) = self.portals.get_mut(&*name_key(name)) {
            e.decision = decision;
            if let Some(o) = e.origin.as_mut() {
                o.snapshot = snapshot;
            }
        }
        self.portals_at = 0;
    }
}
