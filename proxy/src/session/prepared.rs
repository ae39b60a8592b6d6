//! Statements and portals exactly as the server has them (or will, once it has read what was
//! sent): each carries the decision of the one Parse that created it.
//!
//! Messages are judged when they arrive, before the server has answered the ones in front of
//! them, so this table is a projection: a Parse or Bind is entered when sent, confirmed by its
//! ParseComplete/BindComplete, and removed again when it fails or the server skips it after an
//! error. A name whose creation is still unconfirmed from an earlier batch is *unsettled*: a
//! message that uses it must wait for the server (see `Session::settle`), because the earlier
//! batch may yet fail and leave another statement (or none) under that name.
//!
//! PostgreSQL keeps an existing named statement when it is parsed again (42P05) and replaces
//! the unnamed one; SQL `DEALLOCATE`/`DISCARD` remove names pgward cannot see, so running one
//! forgets every named statement (a later Bind is refused instead of guessed).

use crate::fast_hash::{clear_if_any, HashMap};
use std::sync::Arc;

use pgward_policy::Decision;

use super::replay::Replay;

/// The key PostgreSQL files a statement or portal name under: its first 63 bytes
/// (NAMEDATALEN - 1; the hash tables compare no further), cut on a byte, so names that share
/// those bytes are one object there and here. A cut inside a character keeps the cut bytes,
/// hex-escaped, so names PostgreSQL tells apart stay apart.
pub fn name_key(name: &str) -> std::borrow::Cow<'_, str> {
    const KEEP: usize = 63;
    if name.len() <= KEEP {
        return std::borrow::Cow::Borrowed(name);
    }
    if name.is_char_boundary(KEEP) {
        return std::borrow::Cow::Borrowed(&name[..KEEP]);
    }
    let mut valid = KEEP;
    while !name.is_char_boundary(valid) {
        valid -= 1;
    }
    let mut key = name[..valid].to_string();
    key.push('\u{fffe}');
    for b in &name.as_bytes()[valid..KEEP] {
        key.push_str(&format!("{b:02x}"));
    }
    std::borrow::Cow::Owned(key)
}

/// Statement or portal namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    Statement,
    Portal,
}

#[derive(Clone, Debug)]
pub struct Entry {
    decision: Arc<Decision>,
    /// Transaction mode: how to prepare it again on another server.
    replay: Option<Arc<Replay>>,
    /// A cursor declared WITH HOLD: it outlives its transaction.
    hold: bool,
    /// Which send created it (to tell it from a later one under the same name).
    id: u64,
    /// The server acknowledged it (ParseComplete / BindComplete).
    confirmed: bool,
    /// The batch (sync point number) it was sent in.
    batch: u64,
    /// A portal: what its decision was judged from (`portals.rs`).
    origin: Option<portals::PortalOrigin>,
    /// A SQL cursor's portal (its decision is its DECLARE string's).
    cursor: bool,
}

/// What one Parse/Bind/Close did to the table, undone when the server fails or skips it.
#[derive(Clone, Debug)]
pub enum Change {
    /// Nothing (a named Parse of a live name: the server answers 42P05).
    None,
    /// Created `name` with this id.
    Created { space: Space, name: String, id: u64 },
    /// Closed `name`; on a skip the entry comes back, unless something later touched it.
    Closed {
        space: Space,
        name: String,
        seq: u64,
        /// What it took away, restored if the server skips it (boxed: a Close is rare, and
        /// every reply entry carries a `Change`).
        prev: Option<Box<Entry>>,
    },
}

#[derive(Default)]
pub struct Prepared {
    statements: HashMap<String, Entry>,
    portals: HashMap<String, Entry>,
    /// Closes not yet answered, by name: a skipped one restores what it removed only if no
    /// later message touched the name.
    closing: HashMap<(Space, String), Vec<u64>>,
    /// Creations removed by a Close before the server answered them: how they ended, so a
    /// skipped Close restores only what the server really has.
    closed_fates: HashMap<u64, Fate>,
    next_id: u64,
    /// Names the client gave SQL `PREPARE`, with what each was judged from and under:
    /// in transaction mode SQL `EXECUTE` and `DEALLOCATE` reach only these and its own
    /// protocol statements, never a statement another client left on the shared server.
    sql_names: HashMap<String, names::SqlPrepared>,
    /// Numbers each text entered there (what a DEALLOCATE removes once it succeeded).
    sql_seq: u64,
    /// Each named statement's text and what it was judged under (`names::JudgedUnder`), to
    /// judge it again when that changed (kept apart from the entries so that a Close the
    /// server skips restores an entry that still has its text).
    origins: HashMap<String, (Arc<str>, names::JudgedUnder)>,
    /// Bytes the named statements hold, and their charge to the process-wide budget.
    kept: kept::Kept,
    /// The policy snapshot every open portal was judged under (0: not one), `portals.rs`.
    portals_at: u64,
    /// Cursors a DECLARE made while a Close of their name was pending (`portals.rs`).
    redeclared: HashMap<String, Entry>,
    /// Portals a Bind of their name took the place of, by the Bind's id, until it is answered.
    displaced: HashMap<u64, Entry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Pending,
    Confirmed,
    Failed,
}

/// A lookup's answer.
#[derive(Debug)]
pub enum Lookup {
    Found(Arc<Decision>),
    Missing,
    /// Created in an earlier batch and not yet confirmed: wait for the server.
    Unsettled,
}

impl Prepared {
    fn map(&mut self, space: Space) -> &mut HashMap<String, Entry> {
        match space {
            Space::Statement => &mut self.statements,
            Space::Portal => &mut self.portals,
        }
    }

    fn map_ref(&self, space: Space) -> &HashMap<String, Entry> {
        match space {
            Space::Statement => &self.statements,
            Space::Portal => &self.portals,
        }
    }

    /// The decision under a name, as the server will see it when it reaches a message of batch
    /// `batch`.
    pub fn lookup(&self, space: Space, name: &str, batch: u64) -> Lookup {
        let name = &*name_key(name);
        match self.map_ref(space).get(name) {
            None => Lookup::Missing,
            Some(e) if !e.confirmed && e.batch < batch => Lookup::Unsettled,
            Some(e) => Lookup::Found(e.decision.clone()),
        }
    }

    /// Whether a Parse/Bind of `name` sent now has a known outcome.
    pub fn settled(&self, space: Space, name: &str, batch: u64) -> bool {
        let name = &*name_key(name);
        !matches!(self.map_ref(space).get(name), Some(e) if !e.confirmed && e.batch < batch)
    }

    /// A Parse (statement) or Bind (portal) sent in batch `batch`.
    pub fn create(
        &mut self,
        space: Space,
        name: &str,
        decision: Arc<Decision>,
        batch: u64,
    ) -> Change {
        self.create_replayable(space, name, decision, batch, None)
    }

    /// A Parse whose statement follows the client to other servers (transaction mode).
    pub fn create_replayable(
        &mut self,
        space: Space,
        name: &str,
        decision: Arc<Decision>,
        batch: u64,
        replay: Option<Arc<Replay>>,
    ) -> Change {
        self.enter(space, name, decision, batch, replay, None)
    }

    /// A Parse or Bind sent: entered with how to prepare it again and what it was judged from.
    fn enter(
        &mut self,
        space: Space,
        name: &str,
        decision: Arc<Decision>,
        batch: u64,
        replay: Option<Arc<Replay>>,
        origin: Option<portals::PortalOrigin>,
    ) -> Change {
        let name = &*name_key(name);
        let displaced = self.displace(space, name);
        if !name.is_empty() && self.map_ref(space).contains_key(name) {
            // The server refuses it and keeps the one it has.
            return Change::None;
        }
        self.next_id += 1;
        let id = self.next_id;
        self.displaced.extend(displaced.map(|old| (id, old)));
        self.closing.remove(&(space, name.to_string()));
        self.map(space).insert(
            name.to_string(),
            Entry {
                decision,
                replay,
                hold: false,
                id,
                confirmed: false,
                batch,
                origin,
                cursor: false,
            },
        );
        Change::Created {
            space,
            name: name.to_string(),
            id,
        }
    }

    /// A Close sent (Close of an absent name is no error).
    pub fn close(&mut self, space: Space, name: &str) -> Change {
        let name = &*name_key(name);
        let prev = self.map(space).remove(name).map(Box::new);
        if let Some(e) = prev.as_deref().filter(|e| !e.confirmed) {
            self.closed_fates.insert(e.id, Fate::Pending);
        }
        self.next_id += 1;
        let seq = self.next_id;
        self.closing
            .entry((space, name.to_string()))
            .or_default()
            .push(seq);
        Change::Closed {
            space,
            name: name.to_string(),
            seq,
            prev,
        }
    }

    /// The server acknowledged the change.
    pub fn confirm(&mut self, change: &Change) {
        match change {
            Change::Created { space, name, id } => match self.map(*space).get_mut(name) {
                Some(e) if e.id == *id => {
                    e.confirmed = true;
                    self.displaced.remove(id);
                }
                _ => {
                    if let Some(f) = self.closed_fates.get_mut(id) {
                        *f = Fate::Confirmed;
                    }
                }
            },
            Change::Closed {
                space,
                name,
                seq,
                prev,
            } => {
                self.forget_close(*space, name, *seq);
                self.redeclared.remove(name);
                if let Some(e) = prev.as_deref() {
                    self.closed_fates.remove(&e.id);
                    self.released(*space, name, &e.decision, e.replay.as_deref());
                }
            }
            Change::None => {}
        }
    }

    /// The close's answer came: it decides nothing now. True: the last to touch the name (a
    /// later Close the server skipped too was undone first, and is no longer pending).
    fn forget_close(&mut self, space: Space, name: &str, seq: u64) -> bool {
        let key = (space, name.to_string());
        let Some(seqs) = self.closing.get_mut(&key) else {
            return false;
        };
        let last = seqs.last() == Some(&seq);
        seqs.retain(|s| *s != seq);
        if seqs.is_empty() {
            self.closing.remove(&key);
        }
        last
    }

    /// The server failed the message, or skipped it after an earlier error: a creation leaves
    /// nothing; a skipped Close leaves the entry where it was.
    pub fn undo(&mut self, change: Change, skipped: bool) {
        match change {
            Change::None => {}
            Change::Created { space, name, id } => {
                let map = self.map(space);
                if map.get(&name).is_some_and(|e| e.id == id) {
                    if let Some(e) = map.remove(&name) {
                        self.released(space, &name, &e.decision, e.replay.as_deref());
                    }
                    self.displaced_back(&name, id);
                } else if let Some(f) = self.closed_fates.get_mut(&id) {
                    *f = Fate::Failed;
                }
            }
            Change::Closed {
                space,
                name,
                seq,
                prev,
            } => {
                let last = self.forget_close(space, &name, seq);
                let Some(mut entry) = self.restored(space, &name, prev) else {
                    return;
                };
                let fate = self.closed_fates.remove(&entry.id);
                if !(skipped && last && fate != Some(Fate::Failed)) {
                    return self.released(space, &name, &entry.decision, entry.replay.as_deref());
                }
                entry.confirmed |= fate == Some(Fate::Confirmed);
                self.portals_at = 0;
                self.map(space).entry(name).or_insert(entry);
            }
        }
    }

    /// How to prepare the statement under `name` on another server, when it can be.
    pub fn replay(&self, name: &str) -> Option<Arc<Replay>> {
        let name = &*name_key(name);
        self.statements.get(name).and_then(|e| e.replay.clone())
    }

    /// The statement under `name` is to be prepared again as `replay` from now on.
    pub fn set_replay(&mut self, name: &str, replay: Arc<Replay>) {
        let name = &*name_key(name);
        if let Some(e) = self.statements.get_mut(name) {
            e.replay = Some(replay);
        }
    }

    /// Whether a statement exists under the name (sent, not failed).
    pub fn has_statement(&self, name: &str) -> bool {
        let name = &*name_key(name);
        self.statements.contains_key(name)
    }

    /// SQL DEALLOCATE/DISCARD ran: named statements can no longer be known.
    pub fn forget_named(&mut self) {
        self.statements.retain(|name, _| name.is_empty());
        self.origins.retain(|name, _| name.is_empty());
        self.closing
            .retain(|(space, name), _| *space == Space::Portal || name.is_empty());
        self.released_all();
    }

    /// The client leaves this server (or the server is gone): portals end; what it prepared
    /// goes along only where it can be prepared again (transaction mode's replay).
    pub fn clear(&mut self) {
        // Every transaction in transaction mode: empty tables are left alone.
        self.statements
            .retain(|_, e| e.confirmed && e.replay.is_some());
        clear_if_any(&mut self.portals);
        clear_if_any(&mut self.closing);
        clear_if_any(&mut self.closed_fates);
        clear_if_any(&mut self.redeclared);
        clear_if_any(&mut self.displaced);
        let live = &self.statements;
        self.origins.retain(|name, _| live.contains_key(name));
        self.released_all();
    }

    /// Entries held (bounded by what the client creates; for the fuzz checks).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn len(&self) -> usize {
        self.statements.len() + self.portals.len()
    }
}

#[path = "prepared_kept.rs"]
pub(super) mod kept;
#[path = "prepared_names.rs"]
pub(super) mod names;
#[path = "prepared_portals.rs"]
pub(super) mod portals;

#[cfg(test)]
#[path = "prepared_sql_tests.rs"]
mod sql_tests;
#[cfg(test)]
#[path = "prepared_tests.rs"]
mod tests;
