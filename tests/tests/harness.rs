//! The harness checked against PostgreSQL itself (no proxy): the set-up is what the other tests
//! assume, the "nothing changed" snapshot really notices changes, and the raw client speaks
//! SCRAM. If these fail, the end-to-end results mean nothing.

use pgward_e2e::corpus;
use pgward_e2e::raw::{self, RawConn};
use pgward_e2e::snapshot::Snapshot;
use pgward_e2e::upstream::{self, APP_DB, OWNER_PASSWORD, OWNER_USER, RO_PASSWORD, RO_USER};

#[test]
fn upstream_has_logins_schema_and_rows() {
    let up = upstream::shared();
    assert_eq!(up.sql(APP_DB, "SELECT count(*) FROM users"), "300");
    assert_eq!(up.sql(APP_DB, "SELECT count(*) FROM documents"), "600");
    assert_eq!(up.sql(APP_DB, "SELECT count(*) FROM invoices"), "400");
    assert_eq!(up.sql(APP_DB, "SELECT count(*) FROM api_tokens"), "100");
    assert_eq!(up.sql(APP_DB, "SELECT count(*) FROM id_mappings"), "45");
    assert_eq!(
        up.sql(APP_DB, "SELECT email FROM users WHERE id = 7"),
        "user7@example.com"
    );
    assert_eq!(
        up.sql(
            APP_DB,
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'documents'"
        ),
        OWNER_USER
    );
    assert_eq!(
        up.sql(APP_DB, &format!("SELECT has_table_privilege('{RO_USER}', 'users', 'SELECT'), has_table_privilege('{RO_USER}', 'users', 'UPDATE')")),
        "t|f"
    );
    assert_eq!(
        up.sql(
            "postgres",
            &format!("SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = '{RO_USER}'")
        ),
        "SCRAM-SHA-256$"
    );
    // Host connections need SCRAM (the proxy's upstream auth path is exercised).
    assert!(up
        .sql(
            "postgres",
            "SELECT string_agg(auth_method, ',') FROM pg_hba_file_rules WHERE type = 'host'"
        )
        .contains("scram-sha-256"));
}

#[test]
fn snapshot_notices_every_kind_of_change() {
    let up = upstream::shared();
    let db = up.fresh_db("snapcheck");
    let base = Snapshot::take(up, &db);
    base.assert_unchanged(&Snapshot::take(up, &db), "no change");

    let changes = [
        ("UPDATE documents SET status = 'x' WHERE id = 1", "UPDATE documents SET status = (SELECT status FROM documents WHERE id = 2) WHERE id = 1"),
        ("SELECT nextval('documents_id_seq')", "SELECT setval('documents_id_seq', (SELECT max(id) FROM documents))"),
        ("CREATE TABLE extra (x int)", "DROP TABLE extra"),
        ("ALTER TABLE users ADD COLUMN note text", "ALTER TABLE users DROP COLUMN note"),
        ("GRANT UPDATE ON users TO app_ro", "REVOKE UPDATE ON users FROM app_ro"),
        ("ALTER ROLE app_ro SET statement_timeout = 0", "ALTER ROLE app_ro RESET statement_timeout"),
    ];
    for (change, undo) in changes {
        up.sql(&db, change);
        let after = Snapshot::take(up, &db);
        let r = std::panic::catch_unwind(|| base.assert_unchanged(&after, change));
        assert!(r.is_err(), "snapshot did not notice: {change}");
        up.sql(&db, undo);
    }
}

#[test]
fn corpora_load() {
    let ro = corpus::load("readonly.toml");
    assert!(ro.iter().filter(|c| c.is_allow()).count() >= 10);
    assert!(ro.iter().filter(|c| c.is_deny()).count() >= 30);
    let w = corpus::load("writes.toml");
    assert!(w.iter().any(|c| c.is_allow()) && w.iter().any(|c| c.is_deny()));
    for c in ro.iter().chain(&w) {
        assert!(c.is_allow() || c.is_deny(), "case without expect: {c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_client_speaks_scram_to_postgres() {
    let up = upstream::shared();
    let addr = ([127, 0, 0, 1], up.port()).into();
    let mut c = RawConn::startup(addr, RO_USER, RO_PASSWORD, APP_DB, &[])
        .await
        .unwrap();
    let msgs = c
        .simple_query("SELECT count(*) FROM users; SELECT 1/0")
        .await;
    assert_eq!(raw::rows(&msgs), vec![vec![Some("300".to_string())]]);
    assert_eq!(
        raw::first_error(&msgs).unwrap().code().as_deref(),
        Some("22012")
    );
    let err = RawConn::startup(addr, OWNER_USER, "wrong", APP_DB, &[])
        .await
        .err()
        .unwrap();
    assert_eq!(err.code().as_deref(), Some("28P01"));
    let _ = OWNER_PASSWORD;
}
