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

#[test]
fn a_clock_outside_1970_to_9999_is_an_error_not_a_panic() {
    let mut cache = StampCache::default();
    for at in [
        UNIX_EPOCH - Duration::from_secs(1),
        UNIX_EPOCH + Duration::from_secs(253_402_300_800),
        UNIX_EPOCH + Duration::from_secs(400_000_000_000),
    ] {
        let mut out = Vec::new();
        assert!(cache.write(at, &mut out).is_err());
    }
    let last = UNIX_EPOCH + Duration::from_millis(253_402_300_799_999);
    let mut out = Vec::new();
    cache
        .write(last, &mut out)
        .expect("the last millisecond of 9999");
    assert_eq!(
        String::from_utf8(out).expect("utf8"),
        "9999-12-31T23:59:59.999Z"
    );
}
