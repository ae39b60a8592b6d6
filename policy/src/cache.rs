//! The decision cache: parse once per shape.
//!
//! Keyed on a SHA-256 digest of (normalized text + constant kinds, role rules, search_path),
//! so that a key cannot collide by accident or by design and no hasher needs a random seed.
//! Sharded `std::sync::Mutex`es keep contention low; each shard is cleared when full (a
//! bounded, allocation-free policy that is good enough for a per-shape cache). Full means
//! too many entries or too many bytes: a decision holds its normalized text (and plans that
//! grow with it), so ten thousand distinct megabyte statements would otherwise stay in
//! memory; a decision too large for a shard's share is not kept at all.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::types::{Access, Decision, RoleRules};

const SHARDS: usize = 16;

/// Total entries the cache holds at most.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Total bytes of decisions (as [`weight`] counts them) the cache holds at most.
pub const BYTE_BUDGET: usize = 64 << 20;

/// A decision heavier than this share of its shard's bytes is judged anew each time (a
/// statement that size is rare and expensive to hold; parsing it again is cheap beside it).
const LARGEST_SHARE: usize = 16;

/// What a decision holds, roughly: its normalized text, its mask plans (which grow with the
/// text) and a fixed cost per statement.
pub fn weight(decision: &Decision) -> usize {
    let text = decision.normalized.len();
    let plans = if decision.mask.is_some() { text } else { 0 };
    text + plans + 256 * (decision.statements.len() + 1)
}

pub type Key = [u8; 32];

/// The key is already a cryptographic digest: use its first 8 bytes as the hash.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, Arc<Decision>, BuildHasherDefault<DigestHasher>>,
    bytes: usize,
}

pub struct DecisionCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    bytes_per_shard: usize,
}

/// Builds the key for `normalized_key` judged for `role` under `search_path`.
pub fn key(normalized_key: &[u8], role: &RoleRules, search_path: &[String]) -> Key {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(normalized_key);
    field(role.name.as_bytes());
    field(role.upstream_user.as_bytes());
    field(&[
        match role.access {
            Access::ReadOnly => 0,
            Access::ReadWrite => 1,
        },
        role.require_where as u8,
        role.allow_ddl as u8,
        role.unmasked as u8,
        role.allow_set_role as u8,
    ]);
    field(
        &role
            .statement_timeout_ms
            .map_or([0xff; 8], u64::to_be_bytes),
    );
    field(&(search_path.len() as u64).to_be_bytes());
    for s in search_path {
        field(s.as_bytes());
    }
    h.finalize().into()
}

impl DecisionCache {
    pub fn new(capacity: usize) -> Self {
        Self::with_budget(capacity, BYTE_BUDGET)
    }

    /// A cache of at most `capacity` entries and `bytes` of decisions.
    pub fn with_budget(capacity: usize, bytes: usize) -> Self {
        DecisionCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            bytes_per_shard: bytes.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &Key) -> &Mutex<Shard> {
        &self.shards[usize::from(key[31]) % SHARDS]
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Decision>> {
        // A poisoned shard only means another thread panicked mid-insert: the map is still
        // consistent (insert/clear are atomic with respect to our use), so keep using it.
        let shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        shard.map.get(key).cloned()
    }

    pub fn insert(&self, key: Key, decision: Arc<Decision>) {
        let weight = weight(&decision);
        if weight > self.bytes_per_shard / LARGEST_SHARE {
            return;
        }
        let mut shard = self.shard(&key).lock().unwrap_or_else(|e| e.into_inner());
        if shard.map.len() >= self.per_shard || shard.bytes + weight > self.bytes_per_shard {
            shard.map.clear();
            shard.bytes = 0;
        }
        if let Some(old) = shard.map.insert(key, decision) {
            shard.bytes = shard.bytes.saturating_sub(self::weight(&old));
        }
        shard.bytes += weight;
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).map.len())
            .sum()
    }

    /// Bytes of decisions held, as [`weight`] counts them.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).bytes)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Verdict;

    fn decision(text_bytes: usize) -> Arc<Decision> {
        Arc::new(Decision {
            verdict: Verdict::Allow,
            fingerprint: 0,
            normalized: "x".repeat(text_bytes).into(),
            statements: Vec::new(),
            mask: None,
        })
    }

    fn key_of(i: usize) -> Key {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&(i as u64).to_be_bytes());
        k[31] = i as u8;
        k
    }

    #[test]
    fn bytes_stay_within_the_budget_however_many_large_decisions_arrive() {
        let budget = 1 << 20;
        let cache = DecisionCache::with_budget(10_000, budget);
        for i in 0..2_000 {
            cache.insert(key_of(i), decision(3_000));
            assert!(cache.bytes() <= budget, "{} bytes after {i}", cache.bytes());
        }
        assert!(cache.len() > 16, "small decisions are still kept");
    }

    #[test]
    fn a_decision_too_large_for_its_share_is_not_kept() {
        let cache = DecisionCache::with_budget(10_000, 1 << 20);
        cache.insert(key_of(1), decision(10_000));
        assert!(cache.get(&key_of(1)).is_none());
        cache.insert(key_of(2), decision(100));
        assert!(cache.get(&key_of(2)).is_some());
    }

    #[test]
    fn replacing_an_entry_does_not_count_it_twice() {
        let cache = DecisionCache::with_budget(10_000, 1 << 20);
        cache.insert(key_of(1), decision(100));
        let once = cache.bytes();
        cache.insert(key_of(1), decision(100));
        assert_eq!(cache.bytes(), once);
    }
}
