//! The decision cache: parse once per shape.
//!
//! Keyed on a SHA-256 digest of (normalized text + constant kinds, role rules, search_path),
//! so that a key cannot collide by accident or by design and no hasher needs a random seed.
//! Sharded `std::sync::Mutex`es keep contention low; each shard is cleared when full (a
//! bounded, allocation-free policy that is good enough for a per-shape cache).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::types::{Access, Decision, RoleRules};

const SHARDS: usize = 16;

/// Total entries the cache holds at most.
pub const DEFAULT_CAPACITY: usize = 10_000;

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

type Shard = HashMap<Key, Arc<Decision>, BuildHasherDefault<DigestHasher>>;

pub struct DecisionCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
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
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        DecisionCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
        }
    }

    fn shard(&self, key: &Key) -> &Mutex<Shard> {
        &self.shards[usize::from(key[31]) % SHARDS]
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Decision>> {
        // A poisoned shard only means another thread panicked mid-insert: the map is still
        // consistent (insert/clear are atomic with respect to our use), so keep using it.
        let shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        shard.get(key).cloned()
    }

    pub fn insert(&self, key: Key, decision: Arc<Decision>) {
        let mut shard = self.shard(&key).lock().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= self.per_shard {
            shard.clear();
        }
        shard.insert(key, decision);
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}
