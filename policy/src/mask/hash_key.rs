//! The key of the `hash` strategy.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key of the `hash` strategy, with the HMAC state after the key already computed (a
/// clone per value instead of hashing the key each time). Debug never prints the key.
/// Shared (`Arc`): every bound result holds one without copying the key.
#[derive(Clone, Default)]
pub struct HashKey(Arc<PreparedKey>);

#[derive(Default)]
struct PreparedKey {
    key: Vec<u8>,
    mac: Option<Hmac<Sha256>>,
}

impl HashKey {
    pub fn new(key: &[u8]) -> HashKey {
        HashKey(Arc::new(PreparedKey {
            key: key.to_vec(),
            // HMAC takes keys of any length, so this is always `Some`.
            mac: Hmac::<Sha256>::new_from_slice(key).ok(),
        }))
    }

    pub fn is_empty(&self) -> bool {
        self.0.key.is_empty()
    }

    /// HMAC-SHA-256 of `value` under the key.
    pub fn digest(&self, value: &[u8]) -> Option<[u8; 32]> {
        let mut mac = self.0.mac.clone()?;
        mac.update(value);
        Some(mac.finalize().into_bytes().into())
    }
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HashKey({} bytes)", self.0.key.len())
    }
}

impl PartialEq for HashKey {
    fn eq(&self, other: &HashKey) -> bool {
        self.0.key == other.0.key
    }
}

impl Eq for HashKey {}
