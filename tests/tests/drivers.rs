//! Mainstream drivers at their default settings through pgward, with a pool smaller than the
//! clients in transaction mode: psycopg 3 (auto-prepare, prepare=True, pipeline, named cursor,
//! threads), asyncpg (create_pool, prepare()), node-postgres (named queries over pg.Pool), pgjdbc
//! (default prepareThreshold, prepareThreshold=1, executeBatch, autocommit off reusing
//! statements) and `pgbench -M prepared`. Each must finish without an error, and neither the
//! audit nor the server's log may hold a 26000 (prepared statement does not exist) or 34000
//! (portal does not exist).
//!
//! In transaction mode named statements follow the client to whatever server it gets
//! (`proxy/src/session/replay.rs`), and SQL cursors are portals pgward knows.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use pgward_e2e::drivers;
use pgward_e2e::proxy::{ALICE, BOB, CAROL};
use pgward_e2e::upstream::{self, APP_DB, OWNER_USER, RO_USER};
use pgward_e2e::*;

/// A proxy whose pool is smaller than the drivers' concurrency in transaction mode (2) and large
/// enough to hold each driver's connections in session mode (10).
fn proxy(mode: &str) -> Proxy {
    let up = upstream::shared();
    let size = if mode == "transaction" { 2 } else { 10 };
    ProxyBuilder::new(up.port())
        .pool_mode(mode)
        .pool_size(size)
        .checkout_timeout("30s")
        .start()
}

/// Run a driver check and assert it printed OK and the audit saw no 26000/34000.
fn assert_check(proxy: &Proxy, cmd: Command, what: &str) {
    let out = run_with_timeout(cmd, None, Duration::from_secs(300), what);
    assert!(
        out.status.success() && out.stdout.lines().any(|l| l == "OK"),
        "{what} failed:\nstdout:\n{}\nstderr:\n{}\npgward:\n{}",
        out.stdout,
        out.stderr,
        proxy.stderr()
    );
    let lost: Vec<_> = proxy
        .audit_records()
        .into_iter()
        .filter(|r| matches!(r["sqlstate"].as_str(), Some("26000" | "34000")))
        .collect();
    assert!(
        lost.is_empty(),
        "{what}: statements or portals lost: {lost:?}"
    );
    assert_server_missed_nothing(what);
}

/// The server never missed a statement or portal (no driver retried its way around a
/// 26000/34000). The upstream belongs to this test binary, where no test provokes those.
fn assert_server_missed_nothing(what: &str) {
    let log = upstream::shared().pg().log();
    let missing: Vec<&str> = log
        .lines()
        .filter(|l| {
            (l.contains("prepared statement \"") || l.contains("portal \""))
                && l.contains("does not exist")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: the server missed statements or portals: {missing:?}"
    );
}

fn endpoint(proxy: &Proxy, user: &str) -> [String; 5] {
    [
        "127.0.0.1".into(),
        proxy.port().to_string(),
        user.into(),
        proxy.password(user),
        APP_DB.into(),
    ]
}

fn psycopg(mode: &str) {
    let Some(py) = drivers::python() else { return };
    let proxy = proxy(mode);
    let mut cmd = Command::new(py);
    cmd.arg(drivers::script("psycopg_check.py"))
        .args(endpoint(&proxy, ALICE.0));
    assert_check(&proxy, cmd, &format!("psycopg ({mode} pooling)"));
}

fn asyncpg(mode: &str) {
    let Some(py) = drivers::python() else { return };
    let proxy = proxy(mode);
    let mut cmd = Command::new(py);
    cmd.arg(drivers::script("asyncpg_check.py"))
        .args(endpoint(&proxy, ALICE.0));
    assert_check(&proxy, cmd, &format!("asyncpg ({mode} pooling)"));
}

fn node_postgres(mode: &str) {
    let Some((node, modules)) = drivers::node() else {
        return;
    };
    let proxy = proxy(mode);
    let mut cmd = Command::new(node);
    cmd.env("NODE_PATH", modules)
        .arg(drivers::script("node_check.js"))
        .args(endpoint(&proxy, ALICE.0));
    assert_check(&proxy, cmd, &format!("node-postgres ({mode} pooling)"));
}

/// `tests/java/DriverCheck.java` through a fresh proxy as `user`, on `table` (`extra`: its
/// optional last argument).
fn run_driver_check(
    (java, javac, jar): (PathBuf, PathBuf, PathBuf),
    mode: &str,
    user: &str,
    table: &str,
    extra: Option<&str>,
) {
    let proxy = proxy(mode);
    let classes = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("java/DriverCheck.java");
    let mut cmd = Command::new(javac);
    cmd.arg("-d").arg(classes.path()).arg(&src);
    run_with_timeout(cmd, None, Duration::from_secs(120), "javac").assert_ok("javac DriverCheck");
    let url = format!("jdbc:postgresql://127.0.0.1:{}/{}", proxy.port(), APP_DB);
    let mut cmd = Command::new(java);
    cmd.arg("-cp")
        .arg(format!("{}:{}", jar.display(), classes.path().display()))
        .arg("DriverCheck")
        .arg(url)
        .arg(user)
        .arg(proxy.password(user))
        .arg(table)
        .args(extra);
    let what = format!("pgjdbc {} ({mode} pooling)", extra.unwrap_or(""));
    assert_check(&proxy, cmd, &what);
}

fn pgjdbc(mode: &str) {
    let Some(tools) = drivers::java() else {
        return;
    };
    let up = upstream::shared();
    let table = format!("driver_batch_{mode}");
    up.sql(
        APP_DB,
        &format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (n int); \
             ALTER TABLE {table} OWNER TO {OWNER_USER}"
        ),
    );
    run_driver_check(tools, mode, CAROL.0, &table, None);
    assert_eq!(
        up.sql(APP_DB, &format!("SELECT count(*) FROM {table}")),
        "150"
    );
}

/// pgjdbc with autocommit off as a role with `max_affected_rows` (bob): BEGIN and the write
/// come in one batch, the write guard opens inside it, and the block stays the client's (its
/// ROLLBACK takes the write back, its COMMIT keeps the second one).
fn pgjdbc_guarded(mode: &str) {
    let Some(tools) = drivers::java() else {
        return;
    };
    let up = upstream::shared();
    let table = format!("driver_guarded_{mode}");
    up.sql(
        APP_DB,
        &format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (n int); \
             INSERT INTO {table} SELECT generate_series(0, 9); \
             ALTER TABLE {table} OWNER TO {OWNER_USER}"
        ),
    );
    run_driver_check(tools, mode, BOB.0, &table, Some("guarded"));
    assert_eq!(
        up.sql(
            APP_DB,
            &format!("SELECT count(*) FROM {table} WHERE n >= 100")
        ),
        "3"
    );
}

fn pgbench_prepared(mode: &str) {
    let up = upstream::shared();
    let db = up.fresh_db("drivers_bench");
    let proxy = proxy(mode);
    let out = pgbench(
        &proxy,
        CAROL.0,
        &db,
        &["-i", "-s", "1", "-q"],
        Duration::from_secs(180),
    );
    out.assert_ok("pgbench -i through the proxy");
    up.sql(
        &db,
        &format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {RO_USER}"),
    );
    let args = ["-S", "-M", "prepared", "-c", "8", "-j", "2", "-t", "200"];
    let out = pgbench(&proxy, ALICE.0, &db, &args, Duration::from_secs(300));
    out.assert_ok("pgbench -M prepared");
    assert!(
        out.stdout.contains("number of failed transactions: 0 "),
        "{}",
        out.stdout
    );
    assert_server_missed_nothing(&format!("pgbench -M prepared ({mode} pooling)"));
}

#[test]
fn psycopg_session_mode() {
    psycopg("session");
}
#[test]
fn asyncpg_session_mode() {
    asyncpg("session");
}
#[test]
fn node_postgres_session_mode() {
    node_postgres("session");
}
#[test]
fn pgjdbc_session_mode() {
    pgjdbc("session");
}

#[test]
fn psycopg_transaction_mode() {
    psycopg("transaction");
}
#[test]
fn asyncpg_transaction_mode() {
    asyncpg("transaction");
}
#[test]
fn node_postgres_transaction_mode() {
    node_postgres("transaction");
}
#[test]
fn pgjdbc_guarded_write_session_mode() {
    pgjdbc_guarded("session");
}

#[test]
fn pgjdbc_guarded_write_transaction_mode() {
    pgjdbc_guarded("transaction");
}

#[test]
fn pgjdbc_transaction_mode() {
    pgjdbc("transaction");
}
#[test]
fn pgbench_prepared_session_mode() {
    pgbench_prepared("session");
}
#[test]
fn pgbench_prepared_transaction_mode_pool_of_two() {
    pgbench_prepared("transaction");
}
