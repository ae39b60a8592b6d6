//! Hash maps on the per-message path, keyed by names a client chooses (statements, portals,
//! cursors): foldhash, several times cheaper than SipHash on short keys, seeded at random per
//! process and per map so that no client can choose names that collide.

pub type FastState = foldhash::fast::RandomState;
pub type HashMap<K, V> = std::collections::HashMap<K, V, FastState>;
pub type HashSet<T> = std::collections::HashSet<T, FastState>;

/// Empty `map`, leaving it alone when it is empty already (`clear` wipes the control bytes
/// of whatever capacity the table kept, empty or not).
pub fn clear_if_any<K, V>(map: &mut HashMap<K, V>) {
    if !map.is_empty() {
        map.clear();
    }
}
