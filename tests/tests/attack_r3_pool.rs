//! Round-3 attack on transaction pooling's shared prepared statements: a client in
//! transaction mode must see what it would see connected straight to PostgreSQL 15. Each
//! scenario is run straight against PostgreSQL too where the answer is not obvious, and the
//! two answers compared. Most tests use a pool of ONE server, so every client surely shares
//! it.
//!
//! Problems found here and fixed: SQL that runs a prepared statement by name (EXECUTE,
//! EXPLAIN EXECUTE, CREATE TABLE AS EXECUTE) through the extended protocol or behind a
//! pipeline reached another client's statement, one another role had parsed among them;
//! SQL PREPARE through the extended protocol was blocked by another client's name;
//! array_nulls was not part of a shared statement's identity; a statement prepared again
//! under changed settings was filed under its Parse's and handed to other clients with those
//! settings, or under settings a SET earlier in the same pipeline had changed. The tests
//! marked `ignore`
//! are known limits, each with its reason.

use std::net::SocketAddr;

use pgward_e2e::proxy::CAROL;
use pgward_e2e::raw::{self, Msg, RawConn};
use pgward_e2e::upstream::{self, OWNER_PASSWORD, OWNER_USER};
use pgward_e2e::wire;
use pgward_e2e::*;

fn db_with(prefix: &str, setup: &str) -> String {
    upstream::shared().fresh_db_with(prefix, setup)
}

/// Transaction mode, one server, `[pool] max_prepared_statements = limit` (0: default).
fn pool_of_one(limit: i64) -> Proxy {
    let mut b = ProxyBuilder::new(upstream::shared().port())
        .pool_mode("transaction")
        .pool_size(1)
        .checkout_timeout("30s")
        .role("admin", "unmasked", true);
    if limit > 0 {
        b = b.set("pool", "max_prepared_statements", limit);
    }
    b.start()
}

/// A raw connection straight to PostgreSQL as the login carol's role uses.
async fn direct(db: &str) -> RawConn {
    let addr: SocketAddr = format!("127.0.0.1:{}", upstream::shared().port())
        .parse()
        .unwrap();
    match RawConn::startup(addr, OWNER_USER, OWNER_PASSWORD, db, &[]).await {
        Ok(c) => c,
        Err(e) => panic!("direct login: {:?}", e.fields()),
    }
}

async fn frames(c: &mut RawConn, fs: &[Vec<u8>]) -> Vec<Msg> {
    c.send(&wire::batch(fs)).await.unwrap();
    c.until_ready(30).await
}

/// What a list of replies shows: the first error's SQLSTATE and message, else the first
/// value.
fn outcome(msgs: &[Msg]) -> String {
    if let Some(e) = raw::first_error(msgs) {
        return format!(
            "ERROR {} {}",
            e.code().unwrap_or_default(),
            e.message().unwrap_or_default()
        );
    }
    match raw::rows(msgs).first().and_then(|r| r.first().cloned()) {
        Some(Some(v)) => v,
        Some(None) => "NULL".into(),
        None => "<no row>".into(),
    }
}

/// Bind and run statement `name`, Sync.
fn run_stmt(name: &str) -> Vec<Vec<u8>> {
    vec![
        wire::bind("", name, &[]),
        wire::execute("", 0),
        wire::sync(),
    ]
}

/// Parse `name` as `sql`, bind and run it, Sync.
fn parse_run(name: &str, sql: &str) -> Vec<Vec<u8>> {
    let mut v = vec![wire::parse(name, sql)];
    v.extend(run_stmt(name));
    v
}

/// The client's script: prepare and run `stmt` as s1, `set` by a simple Query, prepare
/// another statement (which pushes s1 off a server keeping one statement), run s1 again.
/// Returns (first run, run after the SET).
async fn prepare_set_run(c: &mut RawConn, stmt: &str, set: &str) -> (String, String) {
    let first = outcome(&frames(c, &parse_run("s1", stmt)).await);
    let msgs = c.simple_query(set).await;
    assert!(raw::first_error(&msgs).is_none(), "{set}: {msgs:?}");
    let msgs = frames(c, &[wire::parse("s2", "SELECT 2"), wire::sync()]).await;
    assert!(raw::first_error(&msgs).is_none(), "{msgs:?}");
    let again = outcome(&frames(c, &run_stmt("s1")).await);
    (first, again)
}

/// Settings PostgreSQL reads a literal with at Parse (the constant is folded into the
/// statement then, and a later SET does not change it), each with a statement whose value
/// shows which reading it got.
const PARSE_TIME_CASES: &[(&str, &str, &str)] = &[
    (
        "datestyle",
        "SET DateStyle = 'ISO, DMY'",
        "SELECT extract(month from '01/02/2020'::date)::int AS v",
    ),
    (
        "timezone",
        "SET TimeZone = 'Asia/Tokyo'",
        "SELECT extract(epoch from '2020-01-01 00:00'::timestamptz)::bigint AS v",
    ),
    (
        "intervalstyle",
        "SET IntervalStyle = 'sql_standard'",
        "SELECT extract(epoch from '-1 2:00:00'::interval)::int AS v",
    ),
    (
        "transform_null_equals",
        "SET transform_null_equals = on",
        "SELECT ((x = NULL) IS NULL)::text AS v FROM (VALUES (1)) w(x)",
    ),
    (
        "array_nulls",
        "SET array_nulls = off",
        "SELECT ((('{NULL}'::text[])[1]) IS NULL)::text AS v",
    ),
    (
        "standard_conforming_strings",
        "SET standard_conforming_strings = off",
        "SELECT U&'\\0041' AS v",
    ),
];

/// A client's statement prepared again (on a server that lacks it) after the client changed
/// a setting PostgreSQL reads literals with at Parse: straight against PostgreSQL the
/// statement keeps the value it was parsed with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit (stop 18): a statement prepared again on a server that lacks it is parsed under the client's current settings, not those of its Parse"]
async fn a_statement_prepared_again_keeps_the_settings_of_its_parse() {
    let db = db_with("r3replayset", "");
    let proxy = pool_of_one(1);
    let mut wrong = Vec::new();
    for (tag, set, stmt) in PARSE_TIME_CASES {
        let mut pg = direct(&db).await;
        let want = prepare_set_run(&mut pg, stmt, set).await;
        let mut a = proxy.raw_login(CAROL.0, &db).await;
        let got = prepare_set_run(&mut a, stmt, set).await;
        if got != want {
            wrong.push(format!(
                "{tag}: PostgreSQL (first, after SET) = {want:?}, pgward = {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The same, and then a second client with the default settings parses the same text: it
/// finds the first client's statement as that client had it prepared again (under its new
/// setting), and reads the literal the other client's way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_parse_does_not_get_a_statement_prepared_again_under_another_clients_settings() {
    let db = db_with("r3replaycross", "");
    let proxy = pool_of_one(1);
    let mut wrong = Vec::new();
    for (tag, set, stmt) in PARSE_TIME_CASES {
        let mut pg = direct(&db).await;
        let want = outcome(&frames(&mut pg, &parse_run("b1", stmt)).await);
        let mut a = proxy.raw_login(CAROL.0, &db).await;
        prepare_set_run(&mut a, stmt, set).await;
        let mut b = proxy.raw_login(CAROL.0, &db).await;
        let got = outcome(&frames(&mut b, &parse_run("b1", stmt)).await);
        if got != want {
            wrong.push(format!(
                "{tag}: PostgreSQL fresh parse = {want:?}, pgward = {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Two clients on one server, one with a setting PostgreSQL reads literals with at Parse
/// that is not part of the shared statement's identity: each must get its own reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_statement_is_not_reused_across_parse_time_settings() {
    let db = db_with("r3sharedset", "");
    let proxy = pool_of_one(0);
    let mut wrong = Vec::new();
    for (tag, set, stmt) in PARSE_TIME_CASES {
        let mut pg = direct(&db).await;
        let msgs = pg.simple_query(set).await;
        assert!(raw::first_error(&msgs).is_none(), "{set}: {msgs:?}");
        let want = outcome(&frames(&mut pg, &parse_run("s1", stmt)).await);
        let mut a = proxy.raw_login(CAROL.0, &db).await;
        let mut b = proxy.raw_login(CAROL.0, &db).await;
        outcome(&frames(&mut a, &parse_run("s1", stmt)).await);
        let msgs = b.simple_query(set).await;
        assert!(raw::first_error(&msgs).is_none(), "{set}: {msgs:?}");
        let got = outcome(&frames(&mut b, &parse_run("s1", stmt)).await);
        if got != want {
            wrong.push(format!("{tag}: PostgreSQL = {want:?}, pgward = {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A Parse of raw bytes (text in the client's encoding).
fn parse_bytes(name: &str, sql: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(name.as_bytes());
    b.push(0);
    b.extend_from_slice(sql);
    b.push(0);
    b.extend_from_slice(&0u16.to_be_bytes());
    raw::frame(b'P', &b)
}

/// A LATIN1 client parses a text with a LATIN1 byte, switches to UTF8, and runs its
/// statement on a server that lacks it: PostgreSQL converted the text at Parse, so it still
/// runs (and answers in UTF8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit (stop 18): a statement prepared again is parsed under the client's current client_encoding"]
async fn a_statement_prepared_again_keeps_the_client_encoding_of_its_parse() {
    let db = db_with("r3replayenc", "");
    let proxy = pool_of_one(1);
    let mut results = Vec::new();
    for via_proxy in [false, true] {
        let mut c = if via_proxy {
            proxy.raw_login(CAROL.0, &db).await
        } else {
            direct(&db).await
        };
        let msgs = c.simple_query("SET client_encoding = 'LATIN1'").await;
        assert!(raw::first_error(&msgs).is_none(), "{msgs:?}");
        let mut first = vec![parse_bytes("s1", b"SELECT 'caf\xe9'::text AS v")];
        first.extend(run_stmt("s1"));
        let one = outcome(&frames(&mut c, &first).await);
        let msgs = c.simple_query("SET client_encoding = 'UTF8'").await;
        assert!(raw::first_error(&msgs).is_none(), "{msgs:?}");
        frames(&mut c, &[wire::parse("s2", "SELECT 2"), wire::sync()]).await;
        let two = outcome(&frames(&mut c, &run_stmt("s1")).await);
        results.push((one, two));
    }
    assert_eq!(
        results[1], results[0],
        "pgward vs PostgreSQL (first, after switching to UTF8)"
    );
}

// ---------------------------------------------------------------------------------------
// Temporary tables and DDL the shared statement does not see.
// ---------------------------------------------------------------------------------------

/// Leave the one server with a temporary schema (as any earlier client that used a temp
/// table does; DISCARD ALL keeps the schema, dropping its tables).
async fn warm_temp_schema(proxy: &Proxy, db: &str) {
    let w = connect(proxy, CAROL.0, db).await;
    w.batch_execute("CREATE TEMP TABLE warm (x int)")
        .await
        .unwrap();
    drop(w);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}

/// A client creates a temporary table `t` inside a transaction block and prepares
/// `SELECT v FROM t` in the same block: straight against PostgreSQL it reads its own
/// temporary table (pg_temp is searched first). Another client of the server prepared the
/// same text earlier, reading the real table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temp_table_made_in_the_block_is_read_by_a_statement_prepared_after_it() {
    let db = db_with(
        "r3tempblock",
        "CREATE TABLE t (v text); INSERT INTO t VALUES ('public row');",
    );
    let proxy = pool_of_one(0);
    warm_temp_schema(&proxy, &db).await;
    let b = connect(&proxy, CAROL.0, &db).await;
    let bs = b.prepare("SELECT v FROM t").await.unwrap();
    let v: String = b.query_one(&bs, &[]).await.unwrap().get(0);
    assert_eq!(v, "public row");

    let a = connect(&proxy, CAROL.0, &db).await;
    a.batch_execute("BEGIN; CREATE TEMP TABLE t (v text); INSERT INTO t VALUES ('a temp row')")
        .await
        .unwrap();
    let st = a.prepare("SELECT v FROM t").await.unwrap();
    let v: String = a.query_one(&st, &[]).await.unwrap().get(0);
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        v, "a temp row",
        "a's statement read another table than its own temp table"
    );
    drop(b);
}

/// The same outside a block (the CREATE TEMP TABLE is a unit of its own): held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_a_temp_table_made_before_is_read_by_a_statement_prepared_after_it() {
    let db = db_with(
        "r3tempafter",
        "CREATE TABLE t (v text); INSERT INTO t VALUES ('public row');",
    );
    let proxy = pool_of_one(0);
    warm_temp_schema(&proxy, &db).await;
    let b = connect(&proxy, CAROL.0, &db).await;
    let bs = b.prepare("SELECT v FROM t").await.unwrap();
    let v: String = b.query_one(&bs, &[]).await.unwrap().get(0);
    assert_eq!(v, "public row");
    let a = connect(&proxy, CAROL.0, &db).await;
    a.batch_execute("CREATE TEMP TABLE t (v text); INSERT INTO t VALUES ('a temp row')")
        .await
        .unwrap();
    let st = a.prepare("SELECT v FROM t").await.unwrap();
    let v: String = a.query_one(&st, &[]).await.unwrap().get(0);
    assert_eq!(v, "a temp row");
    drop(b);
}

/// A temporary table made by user code (a function, no DDL of the client's own): the client
/// then prepares a text another client prepared before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temp_table_made_by_a_function_is_read_by_a_statement_prepared_after_it() {
    let db = db_with(
        "r3tempfn",
        "CREATE TABLE t (v text); INSERT INTO t VALUES ('public row');
         CREATE FUNCTION mk() RETURNS int LANGUAGE plpgsql AS $$
         BEGIN CREATE TEMP TABLE t (v text); INSERT INTO t VALUES ('a temp row'); RETURN 1; END $$;",
    );
    let proxy = pool_of_one(0);
    warm_temp_schema(&proxy, &db).await;
    let b = connect(&proxy, CAROL.0, &db).await;
    let bs = b.prepare("SELECT v FROM t").await.unwrap();
    let v: String = b.query_one(&bs, &[]).await.unwrap().get(0);
    assert_eq!(v, "public row");
    let a = connect(&proxy, CAROL.0, &db).await;
    let made = a.simple_query("SELECT mk()").await;
    assert!(made.is_ok(), "{:?}", made.err().map(|e| describe(&e)));
    let st = a.prepare("SELECT v FROM t").await.unwrap();
    let v: String = a.query_one(&st, &[]).await.unwrap().get(0);
    assert_eq!(
        v, "a temp row",
        "a's statement read another table than its own temp table"
    );
    drop(b);
}

/// DDL inside the client's block, then a fresh prepare of a text another client prepared
/// before: straight against PostgreSQL the Parse sees the block's own DDL (new shape).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_prepare_after_ddl_in_the_same_block_gets_the_new_shape() {
    let db = db_with(
        "r3ddlblock",
        "CREATE TABLE t2 (a int); INSERT INTO t2 VALUES (1);",
    );
    let proxy = pool_of_one(0);
    let b = connect(&proxy, CAROL.0, &db).await;
    let bs = b.prepare("SELECT * FROM t2").await.unwrap();
    b.query(&bs, &[]).await.unwrap();
    let a = connect(&proxy, CAROL.0, &db).await;
    a.batch_execute("BEGIN; ALTER TABLE t2 ADD COLUMN b int")
        .await
        .unwrap();
    let got = match a.prepare("SELECT * FROM t2").await {
        Ok(st) => match a.query(&st, &[]).await {
            Ok(rows) => format!("{} columns", rows[0].len()),
            Err(e) => format!("query: {}", describe(&e)),
        },
        Err(e) => format!("prepare: {}", describe(&e)),
    };
    let _ = a.batch_execute("ROLLBACK").await;
    assert_eq!(got, "2 columns");
    drop(b);
}

/// DDL straight on the database (not through pgward), then a client prepares (Parse +
/// Describe, as drivers do) a text another client prepared before: the new shape.
/// It passed before stop 31 only because it ran before the catalog snapshot was loaded (every
/// relation unknown, nothing shared); a session now waits for the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit (stop 31): with the catalog snapshot in force, a fresh prepare right after DDL made outside pgward reuses another client's kept statement and gets PostgreSQL's 0A000 once; the next prepare is a fresh one"]
async fn a_fresh_prepare_with_describe_after_outside_ddl_gets_the_new_shape() {
    let up = upstream::shared();
    let db = db_with(
        "r3ddlout",
        "CREATE TABLE t2 (a int); INSERT INTO t2 VALUES (1);",
    );
    let proxy = pool_of_one(0);
    let b = connect(&proxy, CAROL.0, &db).await;
    let bs = b.prepare("SELECT * FROM t2").await.unwrap();
    b.query(&bs, &[]).await.unwrap();
    up.sql(&db, "ALTER TABLE t2 ADD COLUMN b int");
    let a = connect(&proxy, CAROL.0, &db).await;
    let got = match a.prepare("SELECT * FROM t2").await {
        Ok(st) => match a.query(&st, &[]).await {
            Ok(rows) => format!("{} columns", rows[0].len()),
            Err(e) => format!("query: {}", describe(&e)),
        },
        Err(e) => format!("prepare: {}", describe(&e)),
    };
    assert_eq!(got, "2 columns");
    drop(b);
}

// ---------------------------------------------------------------------------------------
// SQL that runs a prepared statement by name, in forms other than a plain EXECUTE Query.
// ---------------------------------------------------------------------------------------

/// a holds protocol statement s1 (under that very name on the one server); b has its own s1.
async fn two_s1(proxy: &Proxy, db: &str) -> (RawConn, RawConn) {
    let mut a = proxy.raw_login(CAROL.0, db).await;
    let msgs = frames(&mut a, &parse_run("s1", "SELECT 'a-secret'::text AS v")).await;
    assert_eq!(outcome(&msgs), "a-secret");
    let mut b = proxy.raw_login(CAROL.0, db).await;
    let msgs = frames(&mut b, &parse_run("s1", "SELECT 'b-own'::text AS v")).await;
    assert_eq!(outcome(&msgs), "b-own");
    (a, b)
}

/// `CREATE TABLE AS EXECUTE s1` runs b's own s1 on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_as_execute_runs_the_clients_own_statement() {
    let db = db_with("r3ctasexec", "");
    let proxy = pool_of_one(0);
    let (_a, mut b) = two_s1(&proxy, &db).await;
    let msgs = b.simple_query("CREATE TABLE bx AS EXECUTE s1").await;
    assert!(raw::first_error(&msgs).is_none(), "{msgs:?}");
    let got = outcome(&b.simple_query("SELECT v FROM bx").await);
    assert_eq!(
        got, "b-own",
        "b's CREATE TABLE AS EXECUTE ran another client's statement"
    );
}

/// `EXPLAIN ANALYZE VERBOSE EXECUTE s1` explains (and runs) b's own s1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_analyze_execute_runs_the_clients_own_statement() {
    let db = db_with("r3explexec", "");
    let proxy = pool_of_one(0);
    let (_a, mut b) = two_s1(&proxy, &db).await;
    let msgs = b
        .simple_query("EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE s1")
        .await;
    let plan: Vec<String> = raw::rows(&msgs)
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect();
    let plan = plan.join("\n");
    assert!(raw::first_error(&msgs).is_none(), "{msgs:?}");
    assert!(
        plan.contains("b-own") && !plan.contains("a-secret"),
        "b's EXPLAIN EXECUTE showed: {plan}"
    );
}

/// `EXECUTE s1` parsed through the extended protocol runs b's own s1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_through_the_extended_protocol_runs_the_clients_own_statement() {
    let db = db_with("r3extexec", "");
    let proxy = pool_of_one(0);
    let (_a, mut b) = two_s1(&proxy, &db).await;
    let got = outcome(&frames(&mut b, &parse_run("", "EXECUTE s1")).await);
    assert_eq!(
        got, "b-own",
        "b's EXECUTE (extended) ran another client's statement"
    );
    let got = outcome(&frames(&mut b, &parse_run("e1", "EXECUTE s1")).await);
    assert_eq!(
        got, "b-own",
        "b's EXECUTE (named, extended) ran another client's statement"
    );
}

/// `EXECUTE s1` as a simple Query sent behind unsynced extended messages (replies owed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_behind_an_open_pipeline_runs_the_clients_own_statement() {
    let db = db_with("r3pipeexec", "");
    let proxy = pool_of_one(0);
    let (_a, mut b) = two_s1(&proxy, &db).await;
    b.send(&wire::batch(&[
        wire::parse("", "SELECT pg_sleep(0.2)"),
        wire::bind("", "", &[]),
        wire::execute("", 0),
        wire::sync(),
        raw::query_frame("EXECUTE s1"),
    ]))
    .await
    .unwrap();
    let msgs = wire::until_ready_n(&mut b, 2, 30).await;
    let vals: Vec<String> = raw::rows(&msgs)
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect();
    // Behind replies owed pgward cannot ask the server what the name holds: b's own
    // statement, or a refusal (0A000), never a's.
    let codes = wire::codes(&msgs);
    assert!(
        !vals.contains(&"a-secret".to_string())
            && (vals.contains(&"b-own".to_string()) || codes.iter().any(|c| c == "0A000")),
        "{vals:?} {codes:?}"
    );
}

/// SQL `PREPARE s1` through the extended protocol while another client's protocol statement
/// holds that name on the server: PostgreSQL (b's own session) has no s1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_prepare_through_the_extended_protocol_is_not_blocked_by_another_clients_name() {
    let db = db_with("r3extprep", "");
    let proxy = pool_of_one(0);
    let mut a = proxy.raw_login(CAROL.0, &db).await;
    let msgs = frames(&mut a, &parse_run("s1", "SELECT 'a-secret'::text AS v")).await;
    assert_eq!(outcome(&msgs), "a-secret");
    let mut b = proxy.raw_login(CAROL.0, &db).await;
    let msgs = frames(
        &mut b,
        &parse_run("", "PREPARE s1 AS SELECT 'b-own'::text AS v"),
    )
    .await;
    let prep = raw::first_error(&msgs).map(|e| format!("{:?}", e.fields()));
    let got = outcome(&b.simple_query("EXECUTE s1").await);
    assert_eq!((prep, got), (None, "b-own".to_string()));
}

/// The same with the PREPARE pipelined behind another simple Query in one write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_prepare_pipelined_is_not_blocked_by_another_clients_name() {
    let db = db_with("r3pipeprep", "");
    let proxy = pool_of_one(0);
    let mut a = proxy.raw_login(CAROL.0, &db).await;
    let msgs = frames(&mut a, &parse_run("s1", "SELECT 'a-secret'::text AS v")).await;
    assert_eq!(outcome(&msgs), "a-secret");
    let mut b = proxy.raw_login(CAROL.0, &db).await;
    b.send(&wire::batch(&[
        raw::query_frame("SELECT pg_sleep(0.2)"),
        raw::query_frame("PREPARE s1 AS SELECT 'b-own'::text AS v"),
        raw::query_frame("EXECUTE s1"),
    ]))
    .await
    .unwrap();
    let msgs = wire::until_ready_n(&mut b, 3, 30).await;
    let vals: Vec<String> = raw::rows(&msgs)
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect();
    // Pipelined, pgward cannot ask the server what the name holds: b's own statement, or
    // an error (the PREPARE meets a's name, the EXECUTE is refused), never a's statement.
    let codes = wire::codes(&msgs);
    assert!(
        !vals.contains(&"a-secret".to_string())
            && ((codes.is_empty() && vals.contains(&"b-own".to_string())) || !codes.is_empty()),
        "{vals:?} {:?}",
        msgs.iter().filter_map(|m| m.message()).collect::<Vec<_>>()
    );
}

/// b's `DEALLOCATE s1` through the extended protocol lets go of b's own s1: a's statement of
/// that name (another session on PostgreSQL) still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deallocate_through_the_extended_protocol_leaves_another_clients_statement() {
    let db = db_with("r3extdealloc", "");
    let proxy = pool_of_one(0);
    let (mut a, mut b) = two_s1(&proxy, &db).await;
    let msgs = frames(&mut b, &parse_run("", "DEALLOCATE s1")).await;
    assert!(raw::first_error(&msgs).is_none(), "{msgs:?}");
    let got = outcome(&frames(&mut a, &run_stmt("s1")).await);
    assert_eq!(got, "a-secret", "b's DEALLOCATE took a's statement away");
}

/// Roles on one login share the pool: oncall (require_where) runs, by an `EXECUTE` parsed
/// through the extended protocol, the statement admin prepared under the same name — a
/// DELETE without WHERE that oncall may not run, never judged for oncall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_roles_unjudged_write_does_not_run_through_an_extended_execute() {
    let up = upstream::shared();
    let db = db_with(
        "r3roleexec",
        "CREATE TABLE victims (id int); INSERT INTO victims SELECT generate_series(1, 5);",
    );
    for max_affected in [1000i64, 0] {
        let proxy = ProxyBuilder::new(up.port())
            .pool_mode("transaction")
            .pool_size(1)
            .checkout_timeout("30s")
            .role("oncall", "max_affected_rows", max_affected)
            .start();
        let mut carol = proxy.raw_login(CAROL.0, &db).await;
        let msgs = frames(
            &mut carol,
            &[wire::parse("s1", "DELETE FROM victims"), wire::sync()],
        )
        .await;
        assert!(raw::first_error(&msgs).is_none(), "{msgs:?}");
        let mut bob = proxy.raw_login(pgward_e2e::proxy::BOB.0, &db).await;
        // Directly, oncall may not.
        let direct_try = outcome(&bob.simple_query("DELETE FROM victims").await);
        assert!(direct_try.starts_with("ERROR"), "{direct_try}");
        let msgs = frames(&mut bob, &[wire::parse("s1", "SELECT 1"), wire::sync()]).await;
        assert!(raw::first_error(&msgs).is_none(), "{msgs:?}");
        let ran = outcome(&frames(&mut bob, &parse_run("", "EXECUTE s1")).await);
        let left = up.sql(&db, "SELECT count(*) FROM victims");
        assert_eq!(
            left.trim(),
            "5",
            "max_affected_rows={max_affected}: bob's EXECUTE s1 answered {ran:?} and deleted rows"
        );
    }
}

/// A SET earlier in the same pipeline (no Sync between) changes how the server parses the
/// client's next statement; the statement's shared identity must follow what the server
/// read, or a second client with the default setting gets the first one's reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_earlier_in_the_pipeline_is_part_of_the_statements_identity() {
    let db = db_with("r3pipeset", "");
    let stmt = "SELECT extract(month from '01/02/2020'::date)::int AS v";
    let proxy = pool_of_one(0);
    let mut wrong = Vec::new();
    let forms: [(&str, Vec<Vec<u8>>); 2] = [
        (
            "extended SET",
            vec![
                wire::parse("", "SET DateStyle = 'ISO, DMY'"),
                wire::bind("", "", &[]),
                wire::execute("", 0),
            ],
        ),
        (
            "simple SET in the same write",
            vec![raw::query_frame("SET DateStyle = 'ISO, DMY'")],
        ),
    ];
    for (form, set) in forms {
        let mut a = proxy.raw_login(CAROL.0, &db).await;
        let mut script = set.clone();
        script.extend(parse_run("s1", stmt));
        a.send(&wire::batch(&script)).await.unwrap();
        let n = if form.starts_with("simple") { 2 } else { 1 };
        let msgs = wire::until_ready_n(&mut a, n, 30).await;
        let vals: Vec<String> = raw::rows(&msgs)
            .into_iter()
            .filter_map(|r| r[0].clone())
            .collect();
        assert_eq!(vals, vec!["2".to_string()], "{form}: a's own reading");
        let mut b = proxy.raw_login(CAROL.0, &db).await;
        let got = outcome(&frames(&mut b, &parse_run("b1", stmt)).await);
        if got != "1" {
            wrong.push(format!(
                "{form}: b's fresh parse (DateStyle MDY) = {got}, PostgreSQL 1"
            ));
        }
        drop(a);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Two clients prepare one text with different declared parameter types: each gets its own
/// (int4 addition vs text concatenation's type resolution).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_one_text_two_parameter_types() {
    let db = db_with("r3paramtypes", "");
    let proxy = pool_of_one(0);
    let sql = "SELECT pg_typeof($1)::text AS v";
    let mut a = proxy.raw_login(CAROL.0, &db).await;
    let mut msgs_a = vec![wire::parse_with_params("s1", sql, 1)];
    msgs_a.extend(vec![
        wire::bind("", "s1", &[Some("1")]),
        wire::execute("", 0),
        wire::sync(),
    ]);
    assert_eq!(outcome(&frames(&mut a, &msgs_a).await), "integer");
    let mut b = proxy.raw_login(CAROL.0, &db).await;
    let mut typed = Vec::new();
    typed.extend_from_slice(b"s1\0");
    typed.extend_from_slice(sql.as_bytes());
    typed.push(0);
    typed.extend_from_slice(&1u16.to_be_bytes());
    typed.extend_from_slice(&25u32.to_be_bytes());
    let got = outcome(
        &frames(
            &mut b,
            &[
                raw::frame(b'P', &typed),
                wire::bind("", "s1", &[Some("1")]),
                wire::execute("", 0),
                wire::sync(),
            ],
        )
        .await,
    );
    assert_eq!(got, "text");
    assert_eq!(outcome(&frames(&mut a, &msgs_a[1..]).await), "integer");
}

/// A statement whose result the client learnt only from a portal Describe (or never
/// described), then DDL outside pgward changes its shape, and the statement is prepared again
/// on a server that lacks it: straight against PostgreSQL the session's own statement fails
/// with 0A000 at Bind (its result type is fixed at Parse).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit (stop 18): the shape a client was told is recorded from statement Describes only"]
async fn a_statement_described_only_by_portal_keeps_its_fixed_result_type() {
    let up = upstream::shared();
    let db = db_with(
        "r3portaldesc",
        "CREATE TABLE t3 (a int); INSERT INTO t3 VALUES (1);",
    );
    let proxy = pool_of_one(1);
    let script = |first: bool| {
        let mut v = Vec::new();
        if first {
            v.push(wire::parse("s1", "SELECT * FROM t3"));
        }
        v.extend([
            wire::bind("", "s1", &[]),
            wire::describe(b'P', ""),
            wire::execute("", 0),
            wire::sync(),
        ]);
        v
    };
    let mut pg = direct(&db).await;
    let mut a = proxy.raw_login(CAROL.0, &db).await;
    for c in [&mut pg, &mut a] {
        let msgs = frames(c, &script(true)).await;
        assert_eq!(outcome(&msgs), "1");
    }
    up.sql(&db, "ALTER TABLE t3 ADD COLUMN b int");
    let mut answers = Vec::new();
    for c in [&mut pg, &mut a] {
        frames(c, &[wire::parse("s2", "SELECT 2"), wire::sync()]).await;
        let msgs = frames(c, &script(false)).await;
        answers.push(match raw::first_error(&msgs) {
            Some(e) => format!("ERROR {}", e.code().unwrap_or_default()),
            None => format!("{} columns", raw::rows(&msgs)[0].len()),
        });
    }
    assert_eq!(answers[1], answers[0], "pgward vs PostgreSQL");
}

/// A batch that fails before pgward's in-line claim of a name skips the claim's Closes too:
/// pgward's table of the server's statements then lags behind the server (it forgot a's
/// s1 there). b's next `EXECUTE s1` must still run b's own statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_skipped_in_a_failed_batch_leaves_no_other_statement_under_the_name() {
    let db = db_with("r3skipclaim", "");
    let proxy = pool_of_one(0);
    let (_a, mut b) = two_s1(&proxy, &db).await;
    let msgs = frames(
        &mut b,
        &[
            wire::parse("", "SELECT 1/0"),
            wire::bind("", "", &[]),
            wire::execute("", 0),
            wire::parse("e", "EXECUTE s1"),
            wire::sync(),
        ],
    )
    .await;
    assert!(raw::first_error(&msgs).is_some(), "{msgs:?}");
    for round in ["simple", "extended"] {
        let got = match round {
            "simple" => outcome(&b.simple_query("EXECUTE s1").await),
            _ => outcome(&frames(&mut b, &parse_run("", "EXECUTE s1")).await),
        };
        assert!(
            got == "b-own" || got.starts_with("ERROR 26000"),
            "{round}: b's EXECUTE s1 gave {got}"
        );
    }
}

/// A Query pipelined behind another still runs the client's own statement when the server
/// has it under its name already (nothing to claim, nothing closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_execute_of_a_statement_already_in_place_runs_it() {
    let db = db_with("r3pipeown", "");
    let proxy = pool_of_one(0);
    let mut b = proxy.raw_login(CAROL.0, &db).await;
    let msgs = frames(&mut b, &parse_run("s1", "SELECT 'b-own'::text AS v")).await;
    assert_eq!(outcome(&msgs), "b-own");
    b.send(&wire::batch(&[
        raw::query_frame("SELECT pg_sleep(0.1)"),
        raw::query_frame("EXECUTE s1"),
    ]))
    .await
    .unwrap();
    let msgs = wire::until_ready_n(&mut b, 2, 30).await;
    let vals: Vec<String> = raw::rows(&msgs)
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect();
    assert!(
        vals.contains(&"b-own".to_string()),
        "{vals:?} {:?}",
        wire::codes(&msgs)
    );
}

/// An `EXECUTE s1` pipelined behind a batch that will fail: pgward cannot know what the
/// server will hold under s1 when it runs, so it is refused; the next one, sent once the
/// results are in, runs b's own statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execute_behind_a_failing_batch_never_runs_another_clients_statement() {
    let db = db_with("r3behindfail", "");
    let proxy = pool_of_one(0);
    let (_a, mut b) = two_s1(&proxy, &db).await;
    b.send(&wire::batch(&[
        wire::parse("x", "SELECT pg_sleep(0.3), 1/0"),
        wire::bind("", "x", &[]),
        wire::execute("", 0),
        wire::parse("", "EXECUTE s1"),
        wire::bind("", "", &[]),
        wire::execute("", 0),
        wire::sync(),
        raw::query_frame("EXECUTE s1"),
    ]))
    .await
    .unwrap();
    let msgs = wire::until_ready_n(&mut b, 2, 30).await;
    let vals: Vec<String> = raw::rows(&msgs)
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect();
    assert!(!vals.contains(&"a-secret".to_string()), "{vals:?}");
    let got = outcome(&b.simple_query("EXECUTE s1").await);
    assert_eq!(got, "b-own");
}

/// A failed block ended and a statement run by name in one string: pgward cannot settle
/// the name inside the failed block, so the string is refused (25P02), and never runs
/// another client's statement under b's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execute_after_a_rollback_in_the_same_string_never_runs_another_clients_statement() {
    let db = db_with("r3rollexec", "");
    let proxy = pool_of_one(0);
    let (_a, mut b) = two_s1(&proxy, &db).await;
    b.simple_query("BEGIN").await;
    let failed = b.simple_query("SELECT 1/0").await;
    assert!(raw::first_error(&failed).is_some());
    let got = outcome(&b.simple_query("ROLLBACK; EXECUTE s1").await);
    assert!(got == "b-own" || got.starts_with("ERROR 25P02"), "{got}");
    b.simple_query("ROLLBACK").await;
    assert_eq!(outcome(&b.simple_query("EXECUTE s1").await), "b-own");
}
