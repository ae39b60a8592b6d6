//! The session parameters a client asked for, with a fingerprint of them, worked out again
//! after any change: a server brought to settings of one fingerprint and untouched since
//! needs no sync when a client with the same settings checks it out next (transaction
//! pooling checks out a server for every transaction, and clients of one application mostly
//! share their settings).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

/// (lower-cased name, value) pairs; read as a `Vec`, and any mutable access counts as a
/// change (the fingerprint is worked out anew), so no change can go unnoticed.
#[derive(Debug)]
pub(super) struct DesiredSettings {
    list: Vec<(String, String)>,
    /// Of the list as it is and the session's startup settings (which never change).
    fingerprint: OnceLock<u128>,
}

impl DesiredSettings {
    pub fn new(list: Vec<(String, String)>) -> DesiredSettings {
        DesiredSettings {
            list,
            fingerprint: OnceLock::new(),
        }
    }

    /// These settings with the session's `startup` ones (what a sync depends on), as a
    /// 128-bit keyed hash: two sessions with the same fingerprint have the same settings
    /// (the same standard as a kept statement's key, `server_state::StatementKey`).
    pub fn fingerprint(&self, startup: &[(String, String)]) -> u128 {
        *self.fingerprint.get_or_init(|| {
            static KEYS: OnceLock<(RandomState, RandomState)> = OnceLock::new();
            let (a, b) = KEYS.get_or_init(|| (RandomState::new(), RandomState::new()));
            let half = |s: &RandomState| {
                let mut h = s.build_hasher();
                self.list.hash(&mut h);
                startup.hash(&mut h);
                h.finish()
            };
            (u128::from(half(a)) << 64) | u128::from(half(b))
        })
    }
}

impl std::ops::Deref for DesiredSettings {
    type Target = Vec<(String, String)>;

    fn deref(&self) -> &Vec<(String, String)> {
        &self.list
    }
}

impl std::ops::DerefMut for DesiredSettings {
    fn deref_mut(&mut self) -> &mut Vec<(String, String)> {
        self.fingerprint = OnceLock::new();
        &mut self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_the_settings_not_the_list() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut a = DesiredSettings::new(vec![pair("work_mem", "4MB")]);
        let b = DesiredSettings::new(vec![pair("work_mem", "4MB")]);
        let startup = [pair("timezone", "UTC")];
        assert_eq!(a.fingerprint(&startup), b.fingerprint(&startup));
        // Another session's startup settings (a session's own never change).
        let c = DesiredSettings::new(vec![pair("work_mem", "4MB")]);
        assert_ne!(a.fingerprint(&startup), c.fingerprint(&[]));
        let before = a.fingerprint(&startup);
        a.push(pair("lock_timeout", "1s"));
        assert_ne!(a.fingerprint(&startup), before);
        a.retain(|(k, _)| k != "lock_timeout");
        assert_eq!(a.fingerprint(&startup), before);
        // Names and values are kept apart: ("ab", "c") is not ("a", "bc").
        let x = DesiredSettings::new(vec![pair("ab", "c")]);
        let y = DesiredSettings::new(vec![pair("a", "bc")]);
        assert_ne!(x.fingerprint(&[]), y.fingerprint(&[]));
    }
}
