//! Unit tests of `settings.rs`.

use super::*;

#[test]
fn bools() {
    assert_eq!(parse_bool("ON"), Some(true));
    assert_eq!(parse_bool("of"), None);
    assert_eq!(parse_bool("f"), Some(false));
    assert_eq!(parse_bool("ye"), Some(true));
    assert_eq!(parse_bool("maybe"), None);
}

#[test]
fn encodings() {
    assert!(is_unsafe_encoding("Shift_JIS"));
    assert!(is_unsafe_encoding("sjis"));
    assert!(is_unsafe_encoding("GB18030"));
    assert!(!is_unsafe_encoding("UTF8"));
    assert!(!is_unsafe_encoding("SQL_ASCII"));
}
