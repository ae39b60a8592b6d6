//! Unit tests of `server_state.rs`.

use super::*;

fn desired(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn keys_differ_by_text_types_and_path() {
    let a = StatementKey::of(b"select $1\0\0\x01\0\0\0\x17", "public");
    assert_eq!(
        a,
        StatementKey::of(b"select $1\0\0\x01\0\0\0\x17", "public")
    );
    assert_ne!(
        a,
        StatementKey::of(b"select $1\0\0\x01\0\0\0\x19", "public")
    );
    assert_ne!(a, StatementKey::of(b"select $1\0\0\x01\0\0\0\x17", "app"));
    assert!(a.server_name().starts_with("pgward_"));
}

#[test]
fn a_new_epoch_gives_new_names() {
    let before = StatementKey::of(b"select 1\0\0\0", "");
    new_statement_epoch();
    assert_ne!(before, StatementKey::of(b"select 1\0\0\0", ""));
}

fn keys(n: usize) -> Vec<StatementKey> {
    (0..n)
        .map(|i| StatementKey::of(format!("q{i}").as_bytes(), ""))
        .collect()
}

#[test]
fn least_recently_used_goes_first() {
    let (mut s, me) = (ServerStatements::default(), StatementOwner::default());
    let k = keys(3);
    assert!(s.place(k[0], "a", 2, &me).close.is_empty());
    assert!(s.place(k[1], "b", 2, &me).close.is_empty());
    assert_eq!(s.lookup(k[0], &me).as_deref(), Some("a"));
    let p = s.place(k[2], "c", 2, &me);
    assert_eq!(p.close, vec![Arc::from("b")]);
    assert!(s.lookup(k[0], &me).is_some() && s.lookup(k[2], &me).is_some());
    assert!(s.lookup(k[1], &me).is_none());
    assert_eq!(s.remove(k[0]).as_deref(), Some("a"));
    assert_eq!(s.len(), 1);
}

#[test]
fn a_taken_name_gives_the_key_name_and_exact_placement_moves_it() {
    let (mut s, me) = (ServerStatements::default(), StatementOwner::default());
    let k = keys(2);
    assert_eq!(&*s.place(k[0], "s1", 10, &me).name, "s1");
    // Another text under the same client name: not on top of the first.
    let other = s.place(k[1], "s1", 10, &me);
    assert_eq!(*other.name, k[1].server_name());
    // Names that SQL would truncate, or that look like pgward's own, are not used.
    let long = "x".repeat(64);
    let k2 = keys(4);
    assert!(s.place(k2[2], &long, 10, &me).name.starts_with("pgward_"));
    assert!(s
        .place(k2[3], "pgward_1", 10, &me)
        .name
        .starts_with("pgward_"));
    // SQL EXECUTE s1 of the second text: the first gives way, the second is renamed.
    let p = s.place_exactly(k[1], "s1", 10, &me).unwrap_or_default();
    assert_eq!(&*p.name, "s1");
    assert_eq!(p.close.len(), 2);
    assert!(p.close.contains(&Arc::from("s1")));
    assert!(s.lookup(k[0], &me).is_none());
    assert_eq!(s.lookup(k[1], &me).as_deref(), Some("s1"));
    // Already in place: nothing to do.
    assert!(s.place_exactly(k[1], "s1", 10, &me).is_none());
    assert_eq!(s.free_name("s1").as_deref(), Some("s1"));
    assert!(s.free_name("s1").is_none());
}

#[test]
fn statements_of_ended_sessions_are_swept() {
    let mut s = ServerStatements::default();
    let (stays, leaves) = (StatementOwner::default(), StatementOwner::default());
    let k = keys(3);
    s.place(k[0], "mine", 10, &leaves);
    s.place(k[1], "shared", 10, &leaves);
    s.lookup(k[1], &stays);
    s.place(k[2], "theirs", 10, &stays);
    // Released by one owner: kept while another uses it.
    assert!(s.release(k[1], &leaves).is_none());
    assert_eq!(s.release(k[2], &stays).as_deref(), Some("theirs"));
    s.lookup(k[1], &leaves);
    drop(leaves);
    assert_eq!(s.sweep(), vec![Arc::from("mine")]);
    assert!(s.sweep().is_empty());
    assert_eq!(s.len(), 1);
    s.clear();
    assert!(s.is_empty());
}

#[test]
fn settings_sync_sets_what_differs_and_resets_what_the_client_lacks() {
    let mut a = AppliedSettings::default();
    a.initial.insert("timezone".into(), "UTC".into());
    assert_eq!(a.sync_sql(&desired(&[("timezone", "UTC")]), &[]), None);
    let want = desired(&[("work_mem", "8MB"), ("timezone", "UTC")]);
    let sql = a.sync_sql(&want, &[]).unwrap_or_default();
    assert!(sql.contains("'work_mem', '8MB'") && !sql.contains("timezone"));
    a.synced(&want, &[]);
    assert_eq!(a.sync_sql(&want, &[]), None);
    let sql = a.sync_sql(&desired(&[]), &[]).unwrap_or_default();
    assert_eq!(sql, "RESET work_mem;");
    // Quotes stay inside the literal; odd names never reach SQL.
    let sql = a
        .sync_sql(
            &desired(&[("application_name", "o'x"), ("bad;name", "1")]),
            &[],
        )
        .unwrap_or_default();
    assert!(sql.contains("'o''x'") && !sql.contains("bad"));
    // Custom names may hold `$` (as identifiers do); a client's is reset like any other.
    a.synced(&desired(&[("app.t$1", "7")]), &[]);
    assert_eq!(
        a.sync_sql(&desired(&[]), &[]).as_deref(),
        Some("RESET app.t$1;")
    );
}

#[test]
fn a_value_other_than_the_startup_one_is_set_even_where_the_server_has_it() {
    // pg_regress: started with intervalstyle postgres_verbose, then SET postgres, which the
    // pooled connection has from its own start.
    let mut a = AppliedSettings::default();
    a.initial.insert("intervalstyle".into(), "postgres".into());
    let startup = desired(&[("intervalstyle", "postgres_verbose")]);
    let want = desired(&[("intervalstyle", "postgres")]);
    let sql = a.sync_sql(&want, &startup).unwrap_or_default();
    assert!(sql.contains("'intervalstyle', 'postgres'"), "{sql}");
    a.synced(&want, &startup);
    assert_eq!(a.sync_sql(&want, &startup), None);
    // Without a different startup value the connection's own is enough.
    let b = AppliedSettings::new(a.initial.clone());
    assert_eq!(b.sync_sql(&want, &want), None);
}

#[test]
fn a_literal_reads_the_same_whatever_standard_conforming_strings() {
    assert_eq!(literal("o'x"), "'o''x'");
    // On, '\' would be a backslash; off, an escape: E'...' with it doubled is one backslash
    // either way.
    assert_eq!(literal("C:\\d'x"), "E'C:\\\\d''x'");
}
