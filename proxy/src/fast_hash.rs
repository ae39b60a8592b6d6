//! Hash maps on the per-message path, keyed by names a client chooses (statements, portals,
//! cursors): foldhash, several times cheaper than SipHash on short keys, seeded at random per
//! process and per map so that no client can choose names that collide.

pub type FastState = foldhash::fast::RandomState;
pub type HashMap<K, V> = std::collections::HashMap<K, V, FastState>;
pub type HashSet<T> = std::collections::HashSet<T, FastState>;
