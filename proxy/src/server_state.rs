//! What pgward knows a pooled server connection holds on behalf of its clients, so that
//! transaction pooling can move a client between servers unnoticed: the named statements
//! pgward prepared there (shared by every client of the pool that parses the same text,
//! under the first client's name where it is free on that server, least recently used out,
//! closed once no live client uses them), who parsed the unnamed statement, and the session-level
//! settings in force (`server_settings.rs`).

use crate::fast_hash::{FastState, HashMap};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use lru::LruCache;

pub use crate::server_settings::{literal, plain_setting_name, AppliedSettings};

/// A statement's identity on the server: a keyed 128-bit hash of its text, parameter types
/// and the search_path it was parsed under. The key is random per process, so no client can
/// aim a text at another's statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatementKey(u128);

/// Bumped when the schema may have changed under the statements servers keep (DDL through
/// pgward, or a server saying a cached plan's result type changed): statements parsed from
/// then on get new server names, so a client that prepares again gets a fresh plan instead of
/// the stale shared one.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Statements parsed from now on are prepared afresh on every server.
pub fn new_statement_epoch() {
    EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// The statement epoch now (keys made now carry it).
pub fn statement_epoch() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}

/// Statements placed on any server so far: each placement's own number, so that a reply to
/// an earlier placement of the same key is not taken for the current one.
static PLACEMENTS: AtomicU64 = AtomicU64::new(0);

impl StatementKey {
    /// `parse_rest` is a Parse message's body after the statement name (text, parameter
    /// types): two statements that agree there and on the search_path (in one schema epoch)
    /// are the same.
    pub fn of(parse_rest: &[u8], search_path: &str) -> StatementKey {
        static KEYS: OnceLock<(RandomState, RandomState)> = OnceLock::new();
        let (a, b) = KEYS.get_or_init(|| (RandomState::new(), RandomState::new()));
        let epoch = EPOCH.load(Ordering::Relaxed);
        let half = |s: &RandomState| {
            let mut h = s.build_hasher();
            parse_rest.hash(&mut h);
            search_path.hash(&mut h);
            epoch.hash(&mut h);
            h.finish()
        };
        StatementKey((u128::from(half(a)) << 64) | u128::from(half(b)))
    }

    /// The name it has on the server.
    pub fn server_name(&self) -> String {
        format!("pgward_{:032x}", self.0)
    }
}

/// Sessions that ended, ever: a server whose statements were last swept at another count may
/// hold statements no live client owns.
static SESSIONS_ENDED: AtomicU64 = AtomicU64::new(0);

/// A client session's claim on the server statements it uses; when the session ends, the
/// statements only it used are closed on each server at that server's next checkout, so a
/// server shows (in `pg_prepared_statements`) what its live clients prepared, as PostgreSQL
/// would.
pub struct StatementOwner(Arc<()>);

impl Default for StatementOwner {
    fn default() -> Self {
        StatementOwner(Arc::new(()))
    }
}

impl Drop for StatementOwner {
    fn drop(&mut self) {
        SESSIONS_ENDED.fetch_add(1, Ordering::Relaxed);
    }
}

/// One statement pgward prepared on a server.
struct Kept {
    /// Its name there: the client's own where that was free, else derived from the key.
    name: Arc<str>,
    /// The sessions that used it on this server, by address (dead ones swept).
    owners: HashMap<usize, Weak<()>>,
    /// Its result shape here, once a Describe showed it (`session/replay_shape.rs`).
    shape: Option<Arc<[u8]>>,
    /// Which placement this is ([`PLACEMENTS`]).
    placement: u64,
}

impl Kept {
    fn claim(&mut self, owner: &StatementOwner) {
        // An address tells live owners apart; a dead owner's address may be reused.
        let at = Arc::as_ptr(&owner.0) as usize;
        let w = self.owners.entry(at).or_default();
        if w.strong_count() == 0 {
            *w = Arc::downgrade(&owner.0);
        }
    }
}

/// Longest client name used as is on a server (SQL names past it are truncated).
const MAX_PLAIN_NAME: usize = 63;

/// The named statements pgward prepared on one server connection, most recently used last.
pub struct ServerStatements {
    lru: LruCache<StatementKey, Kept, FastState>,
    /// Server name -> statement.
    names: HashMap<Arc<str>, StatementKey>,
    /// The unnamed statement the server holds: (session id, that session's parse number).
    pub unnamed: Option<(u64, u64)>,
    /// [`SESSIONS_ENDED`] when the statements were last swept.
    swept_at: u64,
}

impl Default for ServerStatements {
    fn default() -> Self {
        ServerStatements {
            lru: LruCache::unbounded_with_hasher(FastState::default()),
            names: HashMap::default(),
            unnamed: None,
            swept_at: SESSIONS_ENDED.load(Ordering::Relaxed),
        }
    }
}

/// Where a statement lives on a server, and what must be closed there first.
#[derive(Debug, Default)]
pub struct Placement {
    pub name: Arc<str>,
    pub close: Vec<Arc<str>>,
}

impl ServerStatements {
    /// The statement's name on this server, if it has it (marked used by `owner`).
    pub fn lookup(&mut self, key: StatementKey, owner: &StatementOwner) -> Option<Arc<str>> {
        let kept = self.lru.get_mut(&key)?;
        kept.claim(owner);
        Some(kept.name.clone())
    }

    /// Is the statement here under exactly `name`? (Not marked used.)
    pub fn is_under(&self, key: StatementKey, name: &str) -> bool {
        self.lru.peek(&key).is_some_and(|k| &*k.name == name)
    }

    /// Its result shape on this server, when a Describe showed it.
    pub fn shape(&self, key: StatementKey) -> Option<Arc<[u8]>> {
        self.lru.peek(&key)?.shape.clone()
    }

    /// Which placement of the statement this server has now.
    pub fn placement(&self, key: StatementKey) -> Option<u64> {
        Some(self.lru.peek(&key)?.placement)
    }

    /// A Describe of placement `placement` here showed `shape` (ignored when the statement
    /// was placed again meanwhile).
    pub fn set_shape(&mut self, key: StatementKey, placement: u64, shape: Arc<[u8]>) {
        if let Some(kept) = self.lru.peek_mut(&key) {
            if kept.placement == placement {
                kept.shape = Some(shape);
            }
        }
    }

    /// The statement is being prepared under the client's name `wanted` where this server
    /// has no statement of that name, else under its key's name; what to close first to stay
    /// within `limit`.
    pub fn place(
        &mut self,
        key: StatementKey,
        wanted: &str,
        limit: usize,
        owner: &StatementOwner,
    ) -> Placement {
        let own_name = !wanted.is_empty()
            && wanted.len() <= MAX_PLAIN_NAME
            && !self.names.contains_key(wanted)
            && !wanted.starts_with("pgward_");
        let name: Arc<str> = if own_name {
            Arc::from(wanted)
        } else {
            Arc::from(key.server_name())
        };
        let mut close = Vec::new();
        if let Some(old) = self.remove(key) {
            close.push(old);
        }
        close.extend(self.make_room(limit));
        self.insert(key, name.clone(), owner);
        Placement { name, close }
    }

    /// The statement under exactly `name` (SQL `EXECUTE name` must find it there): what to
    /// close first, the statement under another name and another statement under this one;
    /// `None` when it is there already.
    pub fn place_exactly(
        &mut self,
        key: StatementKey,
        name: &str,
        limit: usize,
        owner: &StatementOwner,
    ) -> Option<Placement> {
        if let Some(kept) = self.lru.get_mut(&key) {
            if &*kept.name == name {
                kept.claim(owner);
                return None;
            }
        }
        let mut close = Vec::new();
        close.extend(self.remove(key));
        close.extend(self.free_name(name));
        close.extend(self.make_room(limit));
        let name: Arc<str> = Arc::from(name);
        self.insert(key, name.clone(), owner);
        Some(Placement { name, close })
    }

    /// Forget the statement pgward keeps under `name` (a client's SQL PREPARE of that name
    /// is about to run): the name to close, if one was kept.
    pub fn free_name(&mut self, name: &str) -> Option<Arc<str>> {
        let key = self.names.get(name).copied()?;
        self.remove(key)
    }

    fn make_room(&mut self, limit: usize) -> Vec<Arc<str>> {
        let mut evicted = Vec::new();
        while self.lru.len() >= limit.max(1) {
            match self.lru.pop_lru() {
                Some((_, kept)) => {
                    self.names.remove(&kept.name);
                    evicted.push(kept.name);
                }
                None => break,
            }
        }
        evicted
    }

    fn insert(&mut self, key: StatementKey, name: Arc<str>, owner: &StatementOwner) {
        let mut kept = Kept {
            name: name.clone(),
            owners: HashMap::default(),
            shape: None,
            placement: PLACEMENTS.fetch_add(1, Ordering::Relaxed) + 1,
        };
        kept.claim(owner);
        self.names.insert(name, key);
        self.lru.put(key, kept);
    }

    /// Its Parse failed or was skipped, or it is being closed: the server does not have it.
    /// Returns the name it had.
    pub fn remove(&mut self, key: StatementKey) -> Option<Arc<str>> {
        let kept = self.lru.pop(&key)?;
        self.names.remove(&kept.name);
        Some(kept.name)
    }

    /// `owner` is done with the statement here (its SQL DEALLOCATE): when no other live
    /// session uses it, it is forgotten and its name returned, to be closed on the server.
    pub fn release(&mut self, key: StatementKey, owner: &StatementOwner) -> Option<Arc<str>> {
        let kept = self.lru.peek_mut(&key)?;
        kept.owners.remove(&(Arc::as_ptr(&owner.0) as usize));
        kept.owners.retain(|_, w| w.strong_count() > 0);
        if kept.owners.is_empty() {
            self.remove(key)
        } else {
            None
        }
    }

    /// The statements no live session uses any more, forgotten here and returned to be
    /// closed on the server; cheap when no session ended since the last sweep.
    pub fn sweep(&mut self) -> Vec<Arc<str>> {
        let ended = SESSIONS_ENDED.load(Ordering::Relaxed);
        if ended == self.swept_at {
            return Vec::new();
        }
        self.swept_at = ended;
        let mut dead = Vec::new();
        for (key, kept) in self.lru.iter_mut() {
            kept.owners.retain(|_, w| w.strong_count() > 0);
            if kept.owners.is_empty() {
                dead.push(*key);
            }
        }
        dead.into_iter().filter_map(|k| self.remove(k)).collect()
    }

    /// DEALLOCATE ALL / DISCARD ALL ran: the server has none.
    pub fn clear(&mut self) {
        self.lru.clear();
        self.names.clear();
        self.unnamed = None;
    }

    pub fn len(&self) -> usize {
        self.lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lru.is_empty()
    }
}

#[cfg(test)]
#[path = "server_state_tests.rs"]
mod tests;
