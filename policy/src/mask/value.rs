//! Masking one value, per the contract's "Masked values" table.
//!
//! Text-like types (text, varchar, char, name, citext and domains over them) have the same
//! bytes in text and binary result formats, so one function serves both; every other type
//! becomes NULL whatever the strategy (a masked integer has no safe non-NULL form).

use super::config::Strategy;
use super::hash_key::HashKey;

/// Built-in text-like type oids: text, varchar, bpchar, name.
pub const TEXT_LIKE_OIDS: [u32; 4] = [25, 1043, 1042, 19];

/// How a masked column is encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// Text-like type: bytes are the string in the client encoding, in both formats.
    Text,
    /// Text computed from masked values (PostgreSQL names no column it comes from): a NULL
    /// is masked like any value, since whether the computation gave NULL tells about its
    /// input (`nullif(substr(ssn, 1, 1), '1')`).
    ComputedText,
    /// Any other type: masked to NULL.
    Other,
}

const REDACTED: &[u8] = b"****";

/// The masked form of `value` (`None` = SQL NULL). `value` is the column's bytes as the server
/// sent them; `None` in means NULL stays NULL.
pub fn mask_value(
    value: Option<&[u8]>,
    strategy: Strategy,
    kind: ValueKind,
    hash_key: &HashKey,
) -> Option<Vec<u8>> {
    if kind == ValueKind::Other || strategy == Strategy::Null {
        return None;
    }
    let Some(value) = value else {
        return (kind == ValueKind::ComputedText).then(|| REDACTED.to_vec());
    };
    match strategy {
        Strategy::Null => None,
        Strategy::Redact => Some(REDACTED.to_vec()),
        Strategy::Partial => Some(partial(value)),
        Strategy::Hash => Some(hash(value, hash_key)),
    }
}

/// `z****@example.com` for an e-mail; `****` + the last 4 characters for other text of at
/// least 8 characters (shorter text would show most of itself), else `****`. Text that is not
/// UTF-8 (another client encoding) cannot be cut safely and is redacted.
fn partial(value: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(value) else {
        return REDACTED.to_vec();
    };
    let text = text.trim_end_matches(' ');
    if let Some(at) = text.rfind('@') {
        let (local, domain) = text.split_at(at);
        let mut out = String::with_capacity(text.len());
        if let Some(first) = local.chars().next() {
            out.push(first);
        }
        out.push_str("****");
        out.push_str(domain);
        return out.into_bytes();
    }
    let count = text.chars().count();
    if count < 8 {
        return REDACTED.to_vec();
    }
    let tail: String = text.chars().skip(count - 4).collect();
    format!("****{tail}").into_bytes()
}

/// `hash:` + the first 16 hex digits of HMAC-SHA-256(key, value).
fn hash(value: &[u8], key: &HashKey) -> Vec<u8> {
    let Some(digest) = key.digest(value) else {
        return REDACTED.to_vec();
    };
    let mut out = Vec::with_capacity(21);
    out.extend_from_slice(b"hash:");
    for b in digest.iter().take(8) {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 0xf) as usize]);
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &str, s: Strategy) -> Option<String> {
        mask_value(Some(v.as_bytes()), s, ValueKind::Text, &HashKey::new(b"k"))
            .map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn strategies_on_text() {
        assert_eq!(text("zoe@example.com", Strategy::Redact).unwrap(), "****");
        assert_eq!(
            text("zoe@example.com", Strategy::Partial).unwrap(),
            "z****@example.com"
        );
        assert_eq!(text("555-867-1120", Strategy::Partial).unwrap(), "****1120");
        assert_eq!(text("1120", Strategy::Partial).unwrap(), "****");
        assert_eq!(text("ÅÄÖåäöxyzw", Strategy::Partial).unwrap(), "****xyzw");
        assert_eq!(text("x", Strategy::Null), None);
        let h = text("zoe@example.com", Strategy::Hash).unwrap();
        assert!(h.starts_with("hash:") && h.len() == 21, "{h}");
        assert_eq!(Some(h.clone()), text("zoe@example.com", Strategy::Hash));
        assert_ne!(Some(h), text("zoe@example.org", Strategy::Hash));
    }

    #[test]
    fn hash_depends_on_the_key() {
        let a = mask_value(
            Some(b"v"),
            Strategy::Hash,
            ValueKind::Text,
            &HashKey::new(b"k1"),
        );
        let b = mask_value(
            Some(b"v"),
            Strategy::Hash,
            ValueKind::Text,
            &HashKey::new(b"k2"),
        );
        assert_ne!(a, b);
    }

    #[test]
    fn other_types_and_nulls_become_null() {
        for s in [
            Strategy::Redact,
            Strategy::Partial,
            Strategy::Hash,
            Strategy::Null,
        ] {
            assert_eq!(
                mask_value(
                    Some(&[0, 0, 0, 7]),
                    s,
                    ValueKind::Other,
                    &HashKey::new(b"k")
                ),
                None
            );
            assert_eq!(
                mask_value(None, s, ValueKind::Text, &HashKey::new(b"k")),
                None
            );
        }
    }

    #[test]
    fn invalid_utf8_is_redacted_by_partial() {
        assert_eq!(
            mask_value(
                Some(&[0xff, 0xfe, b'a', b'b', b'c', b'd', b'e', b'f']),
                Strategy::Partial,
                ValueKind::Text,
                &HashKey::new(b"")
            ),
            Some(b"****".to_vec())
        );
    }
}
