//! Unit tests of `session_state.rs`.

use super::*;

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn encodings_as_postgresql_names_them() {
    assert_eq!(canonical_encoding("utf-8"), Some("UTF8"));
    assert_eq!(canonical_encoding("Unicode"), Some("UTF8"));
    assert_eq!(canonical_encoding("eucjp"), Some("EUC_JP"));
    assert_eq!(canonical_encoding("latin-1"), Some("LATIN1"));
    assert_eq!(canonical_encoding("ISO-8859-15"), Some("LATIN9"));
    assert_eq!(canonical_encoding("klingon"), None);
}

#[test]
fn first_kind_with_state_pins() {
    let row = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
    assert_eq!(pin_reason(&row(&["0", "0", "0", "0", "0", "0"])), None);
    assert_eq!(
        pin_reason(&row(&["2", "0", "0", "0", "0"])),
        Some("temporary objects")
    );
    assert_eq!(pin_reason(&row(&["0", "1", "0", "0", "0"])), Some("LISTEN"));
    assert_eq!(
        pin_reason(&row(&["0", "0", "0", "0", "3"])),
        Some("session advisory lock")
    );
    assert_eq!(
        pin_reason(&row(&["0", "0", "0", "0", "0", "1"])),
        Some("SET ROLE or SESSION AUTHORIZATION")
    );
    assert_eq!(pin_reason(&[]), None);
    // The login is a literal; without one only the role is compared.
    let sql = state_sql(Some("o'wner"));
    assert!(
        sql.contains("session_user OPERATOR(pg_catalog.<>) 'o''wner')::int, "),
        "{sql}"
    );
    assert!(!state_sql(None).contains("session_user"));
}

#[test]
fn session_settings_override_startup_ones() {
    let merged = crate::session::read_back::merged_settings(
        &pairs(&[("TimeZone", "UTC"), ("application_name", "app")]),
        &pairs(&[("timezone", "Europe/Paris"), ("work_mem", "8MB")]),
    );
    assert_eq!(
        merged,
        pairs(&[
            ("timezone", "Europe/Paris"),
            ("application_name", "app"),
            ("work_mem", "8MB")
        ])
    );
}

#[test]
fn the_names_sql_prepare_made_are_read_from_the_last_column() {
    let mut r: Vec<Option<String>> = ["0", "0", "0", "2", "0", "0"]
        .iter()
        .map(|s| Some(s.to_string()))
        .collect();
    r.push(Some(r#"["p", "a \"q\""]"#.to_string()));
    let names: Vec<String> = sql_prepared_names(&r)
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, ["p", "a \"q\""]);
    assert_eq!(pin_reason(&r), Some("SQL prepared statement"));
    r[6] = None;
    assert!(sql_prepared_names(&r).is_empty());
}
