//! A statement PostgreSQL's grammar rejects is answered with PostgreSQL's own error (message,
//! position, HINT, DETAIL), in both pool modes and both protocols: each bad text is sent
//! straight to PostgreSQL and through pgward, and the errors must be the same field for
//! field. Nothing of a bad string runs (an INSERT before the bad statement inserts nothing),
//! syntax errors are not audited as denials, and the session goes on afterwards.

use std::net::SocketAddr;

use pgward_e2e::proxy::{ALICE, CAROL, DAVE};
use pgward_e2e::raw::{self, Msg, RawConn};
use pgward_e2e::upstream::{self, Upstream, OWNER_PASSWORD, OWNER_USER};
use pgward_e2e::wire::{self, bind, execute, parse, sync};
use pgward_e2e::*;

const MODES: [&str; 2] = ["transaction", "session"];

/// Texts PostgreSQL 15 and pg_query both reject; `{t}` is the probe table.
const BAD: &[&str] = &[
    // HINT: Use NONE to denote the missing argument of a unary operator.
    "drop operator === (int4);",
    "DROP OPERATOR @@ (text)",
    // DETAIL: One of TABLE or TABLES IN SCHEMA must be specified ...
    "CREATE PUBLICATION p FOR CURRENT_SCHEMA;",
    "SELEC 1",
    "select 1 frm {t}",
    "SELECT 'ééé' AS x FROM WHERE",
    "SELECT 'abc",
    "SELECT E'abc\\'",
    "SELECT $q$abc",
    "SELECT 1 /* open comment",
    "SELECT \"abc",
    "SELECT (1",
    "SELECT ( -- an open parenthesis, then a comment",
    "INSERT INTO {t} VALUES (1); SELEC 2",
    "INSERT INTO {t} VALUES (2); SELECT 'open",
    // PostgreSQL 15's grammar raises this with no position, 17's (pg_query's) with one.
    "SELECT n FROM {t} FETCH FIRST 1 ROW WITH TIES",
    "INSERT INTO {t} VALUES (4); SELECT 1 FETCH FIRST 2 ROWS WITH TIES",
    // A rule's action list takes `;` inside parentheses (`DO (SELECT 1; )`): no guard
    // may complete it into a statement that runs.
    "CREATE RULE r AS ON INSERT TO {t} DO (SELECT 1",
    "CREATE RULE r AS ON INSERT TO {t} DO INSTEAD (NOTIFY x; SELECT 1",
];

/// Texts PostgreSQL 15 runs but pg_query (PostgreSQL 17's grammar) rejects: pgward answers
/// with its own syntax error, and nothing runs. `system_user` became a reserved keyword in
/// PostgreSQL 16, so it is no longer an alias or a name.
/// Each with the token pg_query's error names (the server's would name the guard's `)`).
const OLDER_GRAMMAR_ONLY: &[(&str, &str)] = &[
    (
        "SELECT n FROM (SELECT 4 AS n) AS system_user",
        "system_user",
    ),
    (
        "INSERT INTO {t} VALUES (3); SELECT system_user.n FROM (SELECT 4 AS n) system_user",
        ".",
    ),
];

fn text(sql: &str, table: &str) -> String {
    sql.replace("{t}", table)
}

/// Every message but ParameterStatus and notices, as tag plus (for errors) the fields a
/// client shows: SQLSTATE, message, position, detail, hint.
fn shape(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .filter(|m| !matches!(m.tag, b'S' | b'N'))
        .map(|m| {
            if m.tag != b'E' {
                return (m.tag as char).to_string();
            }
            let f = m.fields();
            let get = |k| f.get(&k).cloned().unwrap_or_default();
            format!(
                "E C={} M={} P={} D={} H={}",
                get('C'),
                get('M'),
                get('P'),
                get('D'),
                get('H')
            )
        })
        .collect()
}

async fn simple(c: &mut RawConn, sql: &str) -> Vec<String> {
    shape(&c.simple_query(sql).await)
}

async fn extended(c: &mut RawConn, sql: &str) -> Vec<String> {
    let batch = [parse("", sql), bind("", "", &[]), execute("", 0), sync()];
    c.send(&wire::batch(&batch)).await.expect("sending a batch");
    shape(&c.until_ready(30).await)
}

async fn direct(up: &Upstream, db: &str) -> RawConn {
    let addr: SocketAddr = ([127, 0, 0, 1], up.port()).into();
    RawConn::startup(addr, OWNER_USER, OWNER_PASSWORD, db, &[])
        .await
        .unwrap_or_else(|e| panic!("direct startup refused: {:?}", e.message()))
}

async fn through(addr: SocketAddr, user: (&str, &str), db: &str) -> RawConn {
    RawConn::startup(addr, user.0, user.1, db, &[])
        .await
        .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()))
}

fn probe_rows(up: &Upstream, db: &str, table: &str) -> String {
    up.sql(db, &format!("SELECT count(*) FROM {table}"))
        .trim()
        .to_string()
}

async fn assert_usable(c: &mut RawConn, what: &str) {
    let msgs = c.simple_query("SELECT 41 + 1").await;
    assert!(
        raw::first_error(&msgs).is_none(),
        "{what}: the session is not usable afterwards: {:?}",
        shape(&msgs)
    );
    assert_eq!(
        raw::rows(&msgs),
        vec![vec![Some("42".to_string())]],
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syntax_errors_are_postgresqls_own_in_both_modes_and_protocols() {
    let up = upstream::shared();
    let db = up.fresh_db("syntax");
    let table = "syntax_probe";
    up.sql(
        &db,
        &format!("CREATE TABLE {table} (n int); ALTER TABLE {table} OWNER TO {OWNER_USER}"),
    );
    // PostgreSQL's answers, straight.
    let mut expected = Vec::new();
    let mut c = direct(up, &db).await;
    for bad in BAD {
        let sql = text(bad, table);
        let s = simple(&mut c, &sql).await;
        let e = extended(&mut c, &sql).await;
        assert!(
            s.iter().any(|m| m.starts_with("E C=42601")),
            "not a syntax error upstream: {sql}: {s:?}"
        );
        expected.push((sql, s, e));
    }
    assert_eq!(probe_rows(up, &db, table), "0", "a bad string ran upstream");
    for mode in MODES {
        // One server in transaction mode: a server not given back shows as a stuck client.
        let proxy = ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .set("pool", "size", 1)
            .start();
        for user in [CAROL, ALICE] {
            let mut c = through(proxy.addr(), user, &db).await;
            for (sql, want_simple, want_extended) in &expected {
                let what = format!("{mode}, {}: {sql:?}", user.0);
                let got = simple(&mut c, sql).await;
                assert_eq!(&got, want_simple, "{what}: simple protocol");
                let got = extended(&mut c, sql).await;
                assert_eq!(&got, want_extended, "{what}: extended protocol");
                assert_usable(&mut c, &what).await;
            }
            // Inside a transaction block: the error aborts it, as PostgreSQL's does.
            let msgs = shape(&c.simple_query("BEGIN").await);
            assert_eq!(msgs, ["C", "Z"], "{mode}: BEGIN");
            let got = simple(&mut c, "SELEC 1").await;
            assert_eq!(got.last().map(String::as_str), Some("Z"));
            let got = simple(&mut c, "SELECT 1").await;
            assert!(
                got[0].starts_with("E C=25P02"),
                "{mode}: the block is not aborted: {got:?}"
            );
            simple(&mut c, "ROLLBACK").await;
            assert_usable(&mut c, mode).await;
            if mode == "transaction" {
                let mut other = through(proxy.addr(), DAVE, &db).await;
                assert_usable(&mut other, "the one server was not given back").await;
            }
        }
        assert_eq!(
            probe_rows(up, &db, table),
            "0",
            "{mode}: a statement of a bad string ran"
        );
        let rules = up.sql(
            &db,
            &format!("SELECT count(*) FROM pg_rules WHERE tablename = '{table}'"),
        );
        assert_eq!(rules.trim(), "0", "{mode}: a rule was created");
        let denied: Vec<_> = proxy
            .audit_records()
            .into_iter()
            .filter(|r| r["decision"] == "denied")
            .collect();
        assert!(
            denied.is_empty(),
            "{mode}: syntax errors audited as denials: {denied:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_only_the_older_grammar_accepts_is_refused_and_runs_nothing() {
    let up = upstream::shared();
    let db = up.fresh_db("syntaxold");
    let table = "syntax_probe";
    up.sql(
        &db,
        &format!("CREATE TABLE {table} (n int); ALTER TABLE {table} OWNER TO {OWNER_USER}"),
    );
    let mut c = direct(up, &db).await;
    for (sql, _) in OLDER_GRAMMAR_ONLY {
        let sql = text(sql, table);
        let got = simple(&mut c, &sql).await;
        assert!(
            !got.iter().any(|m| m.starts_with('E')),
            "PostgreSQL 15 no longer accepts {sql:?}: {got:?}"
        );
    }
    up.sql(&db, &format!("TRUNCATE {table}"));
    for mode in MODES {
        let proxy = ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .set("pool", "size", 1)
            .start();
        let mut c = through(proxy.addr(), CAROL, &db).await;
        for (sql, token) in OLDER_GRAMMAR_ONLY {
            let sql = text(sql, table);
            let want = format!("E C=42601 M=syntax error at or near \"{token}\" P=");
            for (protocol, got) in [
                ("simple", simple(&mut c, &sql).await),
                ("extended", extended(&mut c, &sql).await),
            ] {
                let what = format!("{mode}, {protocol}: {sql:?}");
                assert_eq!(got.len(), 2, "{what}: {got:?}");
                assert!(
                    got[0].starts_with(&want),
                    "{what}: not pgward's syntax error: {got:?}"
                );
                assert!(!got[0].contains("M=pgward"), "{what}: {got:?}");
                assert_eq!(got[1], "Z", "{what}");
            }
            assert_usable(&mut c, mode).await;
        }
        assert_eq!(
            probe_rows(up, &db, table),
            "0",
            "{mode}: a statement pgward refused ran"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syntax_error_in_the_clients_own_encoding_is_postgresqls() {
    let up = upstream::shared();
    let db = up.fresh_db("syntaxenc");
    // 0xA4 is the euro sign in LATIN9: one character; positions count characters.
    let texts: [&[u8]; 3] = [
        b"SELECT '\xa4\xa4\xa4' AS x FROM WHERE",
        b"SELECT '\xa4",
        b"SELECT 1 AS \"\xa4\" FRM documents",
    ];
    let enc = [("client_encoding", "LATIN9")];
    let addr: SocketAddr = ([127, 0, 0, 1], up.port()).into();
    let mut c = RawConn::startup(addr, OWNER_USER, OWNER_PASSWORD, &db, &enc)
        .await
        .unwrap_or_else(|e| panic!("direct startup refused: {:?}", e.message()));
    let mut expected = Vec::new();
    for t in texts {
        let mut body = t.to_vec();
        body.push(0);
        c.send(&raw::frame(b'Q', &body)).await.expect("sending");
        expected.push(shape(&c.until_ready(30).await));
    }
    for mode in MODES {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let mut c = RawConn::startup(proxy.addr(), CAROL.0, CAROL.1, &db, &enc)
            .await
            .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()));
        for (t, want) in texts.iter().zip(&expected) {
            let mut body = t.to_vec();
            body.push(0);
            c.send(&raw::frame(b'Q', &body)).await.expect("sending");
            let got = shape(&c.until_ready(30).await);
            assert_eq!(&got, want, "{mode}: {t:?}");
            assert!(got[0].starts_with("E C=42601"), "{mode}: {got:?}");
        }
        assert_usable(&mut c, mode).await;
    }
}
