//! What pgward knows a pooled server connection holds on behalf of its clients, so that
//! transaction pooling can move a client between servers unnoticed: the named statements
//! pgward prepared there (under names derived from their text, shared by every client of the
//! pool, least recently used out), who parsed the unnamed statement, and the session-level
//! settings in force.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use lru::LruCache;

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

/// The named statements pgward prepared on one server connection, most recently used last.
pub struct ServerStatements {
    lru: LruCache<StatementKey, ()>,
    /// The unnamed statement the server holds: (session id, that session's parse number).
    pub unnamed: Option<(u64, u64)>,
}

impl Default for ServerStatements {
    fn default() -> Self {
        ServerStatements {
            lru: LruCache::unbounded(),
            unnamed: None,
        }
    }
}

impl ServerStatements {
    /// Whether the server has it (and mark it used).
    pub fn touch(&mut self, key: StatementKey) -> bool {
        self.lru.get(&key).is_some()
    }

    /// The statement is being prepared; returns the ones to close first to stay within
    /// `limit`.
    pub fn insert(&mut self, key: StatementKey, limit: usize) -> Vec<StatementKey> {
        let mut evicted = Vec::new();
        while self.lru.len() >= limit.max(1) {
            match self.lru.pop_lru() {
                Some((k, ())) => evicted.push(k),
                None => break,
            }
        }
        self.lru.put(key, ());
        evicted
    }

    /// Its Parse failed or was skipped: the server does not have it.
    pub fn remove(&mut self, key: StatementKey) {
        self.lru.pop(&key);
    }

    /// DEALLOCATE ALL / DISCARD ALL ran: the server has none.
    pub fn clear(&mut self) {
        self.lru.clear();
        self.unnamed = None;
    }

    pub fn len(&self) -> usize {
        self.lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lru.is_empty()
    }
}

/// Session-level settings pgward knows a server has (name lower-cased -> value as
/// `current_setting` shows it), beyond what it had at connection time.
#[derive(Clone, Debug, Default)]
pub struct AppliedSettings {
    pub values: BTreeMap<String, String>,
    /// What the server reported when it connected (lower-cased names).
    pub initial: BTreeMap<String, String>,
}

/// Setting names pgward writes into SQL: only plain names.
pub fn plain_setting_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// A string literal (standard_conforming_strings is pinned on).
pub fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

impl AppliedSettings {
    /// The SQL that brings the server to exactly `desired` (lower-cased name, value), or
    /// `None` when it is there already. Names that are not plain are skipped.
    pub fn sync_sql(&self, desired: &[(String, String)]) -> Option<String> {
        let mut sql = String::new();
        for (name, value) in desired {
            if !plain_setting_name(name) {
                continue;
            }
            let current = self
                .values
                .get(name)
                .or_else(|| self.initial.get(name))
                .map(String::as_str);
            if current == Some(value.as_str()) {
                continue;
            }
            // set_config parses the value as the configuration file would, which list
            // settings such as search_path need.
            sql.push_str(&format!(
                "SELECT pg_catalog.set_config({}, {}, false);",
                literal(name),
                literal(value)
            ));
        }
        for name in self.values.keys() {
            if plain_setting_name(name) && !desired.iter().any(|(n, _)| n == name) {
                sql.push_str(&format!("RESET {name};"));
            }
        }
        (!sql.is_empty()).then_some(sql)
    }

    /// The sync ran: the server now has `desired`.
    pub fn synced(&mut self, desired: &[(String, String)]) {
        self.values = desired
            .iter()
            .filter(|(n, _)| plain_setting_name(n))
            .filter(|(n, v)| self.values.contains_key(n) || self.initial.get(n) != Some(v))
            .cloned()
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_differ_by_text_types_and_path() {
        let a = StatementKey::of(b"select $1\0\0\x01\0\0\0\x17", "public");
        assert_eq!(
            a,
            StatementKey::of(b"select $1\0\0\x01\0\0\0\x17", "public")
        );
        assert_ne!(
            a,
            StatementKey::of(b"select $1\0\0\x01\0\0\0\x19", "public")
        );
        assert_ne!(a, StatementKey::of(b"select $1\0\0\x01\0\0\0\x17", "app"));
        assert!(a.server_name().starts_with("pgward_"));
    }

    #[test]
    fn a_new_epoch_gives_new_names() {
        let before = StatementKey::of(b"select 1\0\0\0", "");
        new_statement_epoch();
        assert_ne!(before, StatementKey::of(b"select 1\0\0\0", ""));
    }

    #[test]
    fn least_recently_used_goes_first() {
        let mut s = ServerStatements::default();
        let k: Vec<_> = (0..3)
            .map(|i| StatementKey::of(format!("q{i}").as_bytes(), ""))
            .collect();
        assert!(s.insert(k[0], 2).is_empty());
        assert!(s.insert(k[1], 2).is_empty());
        assert!(s.touch(k[0]));
        assert_eq!(s.insert(k[2], 2), vec![k[1]]);
        assert!(s.touch(k[0]) && s.touch(k[2]) && !s.touch(k[1]));
        s.remove(k[0]);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn settings_sync_sets_what_differs_and_resets_what_the_client_lacks() {
        let mut a = AppliedSettings::default();
        a.initial.insert("timezone".into(), "UTC".into());
        assert_eq!(a.sync_sql(&desired(&[("timezone", "UTC")])), None);
        let want = desired(&[("work_mem", "8MB"), ("timezone", "UTC")]);
        let sql = a.sync_sql(&want).unwrap_or_default();
        assert!(sql.contains("'work_mem', '8MB'") && !sql.contains("timezone"));
        a.synced(&want);
        assert_eq!(a.sync_sql(&want), None);
        let sql = a.sync_sql(&desired(&[])).unwrap_or_default();
        assert_eq!(sql, "RESET work_mem;");
        // Quotes stay inside the literal; odd names never reach SQL.
        let sql = a
            .sync_sql(&desired(&[("application_name", "o'x"), ("bad;name", "1")]))
            .unwrap_or_default();
        assert!(sql.contains("'o''x'") && !sql.contains("bad"));
    }
}
