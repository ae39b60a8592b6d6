//! The cached timestamp and the hex writer against what core::fmt and humantime write.

use super::*;
use std::time::Duration;

#[test]
fn stamps_read_as_humantime_writes_them() {
    let mut cache = StampCache::default();
    let base = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    for step_ms in [
        0u64, 1, 9, 10, 99, 100, 999, 1000, 1001, 59_999, 86_400_000, 3,
    ] {
        let at = base + Duration::from_millis(step_ms) + Duration::from_nanos(999_999);
        let mut out = Vec::new();
        cache.write(at, &mut out).expect("writes");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            humantime::format_rfc3339_millis(at).to_string(),
            "{step_ms}"
        );
    }
}

#[test]
fn fingerprints_are_sixteen_hex_digits() {
    for v in [0u64, 1, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef] {
        let mut out = Vec::new();
        write_hex16(v, &mut out).expect("writes");
        assert_eq!(String::from_utf8(out).expect("utf8"), format!("{v:016x}"));
    }
}
