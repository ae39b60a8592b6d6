//! `standard_conforming_strings` is the client's to set (SET, `set_config`, a startup parameter
//! or `options`). pgward reads a plain string holding a backslash as the session's setting
//! reads it and sends it as the `E'...'` string of that value, so the server runs what was
//! judged whatever its own setting when the text arrives (a SET earlier in the same pipeline
//! is reported only afterwards). In transaction mode the setting follows the client.

use pgward_e2e::proxy::{BOB, CAROL};
use pgward_e2e::raw::{self, Msg, RawConn};
use pgward_e2e::upstream;
use pgward_e2e::*;

/// Each row's text values; an error fails the test.
fn values(msgs: &[Msg], what: &str) -> Vec<Vec<String>> {
    if let Some(e) = raw::first_error(msgs) {
        panic!("{what}: {:?} {:?}", e.code(), e.message());
    }
    raw::rows(msgs)
        .into_iter()
        .map(|r| r.into_iter().map(Option::unwrap_or_default).collect())
        .collect()
}

async fn one(c: &mut RawConn, sql: &str, what: &str) -> String {
    let rows = values(&c.simple_query(sql).await, what);
    rows.first()
        .and_then(|r| r.first())
        .cloned()
        .unwrap_or_else(|| panic!("{what}: no row"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backslashes_are_read_as_the_session_setting_says_and_the_setting_follows_the_client() {
    let up = upstream::shared();
    let db = up.fresh_db("scs");
    for mode in ["session", "transaction"] {
        // One server in transaction mode: both clients' units run on it.
        let proxy = ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .pool_size(if mode == "transaction" { 1 } else { 2 })
            .start();
        let mut c = proxy.raw_login(CAROL.0, &db).await;
        let what = format!("{mode}: on");
        assert_eq!(one(&mut c, r"SELECT 'a\b'", &what).await, r"a\b", "{what}");
        values(
            &c.simple_query("SET standard_conforming_strings = off")
                .await,
            mode,
        );
        let what = format!("{mode}: off");
        assert_eq!(
            values(
                &c.simple_query(r"SELECT 'a\'b', 'x\ty', N'n\\n'").await,
                &what
            ),
            vec![vec!["a'b".to_string(), "x\ty".into(), r"n\n".into()]],
            "{what}"
        );
        assert_eq!(
            one(&mut c, "SHOW standard_conforming_strings", &what).await,
            "off"
        );
        // Another client (the same server, in transaction mode) has its own setting.
        let mut other = proxy.raw_login(CAROL.0, &db).await;
        let what = format!("{mode}: another client");
        assert_eq!(
            one(&mut other, r"SELECT 'a\b'", &what).await,
            r"a\b",
            "{what}"
        );
        assert_eq!(
            one(&mut other, "SHOW standard_conforming_strings", &what).await,
            "on"
        );
        // The first client's setting came back with it.
        let what = format!("{mode}: off again");
        assert_eq!(one(&mut c, r"SELECT 'a\\b'", &what).await, r"a\b", "{what}");
        values(
            &c.simple_query("SELECT set_config('standard_conforming_strings', 'on', false)")
                .await,
            &what,
        );
        let what = format!("{mode}: on again");
        assert_eq!(
            one(&mut c, r"SELECT 'a\\b'", &what).await,
            r"a\\b",
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setting_from_the_startup_packet_and_the_extended_protocol() {
    let up = upstream::shared();
    let db = up.fresh_db("scs_start");
    for mode in ["session", "transaction"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        for extra in [
            ("standard_conforming_strings", "off"),
            ("options", "-c standard_conforming_strings=off"),
        ] {
            let what = format!("{mode}: {extra:?}");
            let mut c = RawConn::startup(proxy.addr(), CAROL.0, CAROL.1, &db, &[extra])
                .await
                .unwrap_or_else(|e| panic!("{what}: refused: {:?}", e.message()));
            assert_eq!(one(&mut c, r"SELECT 'a\'b'", &what).await, "a'b", "{what}");
            // Parse, Bind, Execute, Sync.
            let mut batch = raw::frame(b'P', b"\0SELECT 'c\\'d'\0\0\0");
            batch.extend(raw::frame(b'B', b"\0\0\0\0\0\0\0\0"));
            batch.extend(raw::frame(b'E', b"\0\0\0\0\0"));
            batch.extend(raw::frame(b'S', b""));
            c.send(&batch).await.expect("sending the batch");
            let msgs = c.until_ready(30).await;
            assert_eq!(
                values(&msgs, &what),
                vec![vec!["c'd".to_string()]],
                "{what}"
            );
        }
    }
}

/// Table `t` in `db` with three rows, for bob.
fn three_rows(up: &upstream::Upstream, db: &str) {
    up.sql(
        db,
        &format!(
            "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2), (3);
             GRANT ALL ON t TO {};",
            upstream::OWNER_USER
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_the_setting_earlier_in_a_pipeline_cannot_change_what_runs() {
    let up = upstream::shared();
    let db = up.fresh_db("scs_pipe");
    three_rows(up, &db);
    // One string, two readings. With the setting on: two SELECTs. With it off: a string,
    // then a DELETE without WHERE, which bob's role (require_where) is refused.
    let sql = r"SELECT 'x\' AS a; SELECT '; DELETE FROM t; --' AS b";
    for mode in ["session", "transaction"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let what = format!("{mode}: pipelined");
        let mut c = proxy.raw_login(BOB.0, &db).await;
        // pgward judges the second Query as it arrives, before the server has reported the
        // first one's change: it reads it with the setting on (two SELECTs), and the server,
        // whose setting is off by then, runs that reading. (Judged after the report, it would
        // be read with the setting off and refused; either way no DELETE runs.)
        let mut both = raw::query_frame("SET standard_conforming_strings = off");
        both.extend(raw::query_frame(sql));
        c.send(&both).await.expect("sending");
        values(&c.until_ready(30).await, &what);
        let second = c.until_ready(30).await;
        match raw::first_error(&second) {
            None => assert_eq!(
                values(&second, &what),
                vec![
                    vec![r"x\".to_string()],
                    vec!["; DELETE FROM t; --".to_string()]
                ],
                "{what}"
            ),
            Some(e) => assert_eq!(e.code().as_deref(), Some("42501"), "{what}: {e:?}"),
        }
        assert_eq!(one(&mut c, "SELECT count(*) FROM t", &what).await, "3");
        // Once the setting is known, the same text is read with it off: the DELETE is seen.
        let what = format!("{mode}: settled");
        let msgs = c.simple_query(sql).await;
        let err = raw::first_error(&msgs).unwrap_or_else(|| panic!("{what}: ran: {msgs:?}"));
        assert_eq!(err.code().as_deref(), Some("42501"), "{what}");
        assert_eq!(one(&mut c, "SELECT count(*) FROM t", &what).await, "3");
    }
}

/// With the setting off, a text pgward's scanner (PostgreSQL 18's) cannot read is refused,
/// not judged with the setting on and sent: the upstream (PostgreSQL 15 here) reads
/// `$4294967297` as `$1`, and with the setting off this text is a SELECT, a DELETE without
/// WHERE (which bob's role, require_where, is refused) and a PREPARE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_pgward_cannot_read_with_the_setting_off_is_refused() {
    let up = upstream::shared();
    let db = up.fresh_db("scs_unread");
    three_rows(up, &db);
    let sql = r"SELECT 'x\' , '; DELETE FROM t; PREPARE q(int) AS SELECT $4294967297 --'";
    for mode in ["session", "transaction"] {
        let what = format!("{mode}: unreadable");
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let extra = [("standard_conforming_strings", "off")];
        let mut c = RawConn::startup(proxy.addr(), BOB.0, BOB.1, &db, &extra)
            .await
            .unwrap_or_else(|e| panic!("{what}: refused: {:?}", e.message()));
        let msgs = c.simple_query(sql).await;
        let err = raw::first_error(&msgs).unwrap_or_else(|| panic!("{what}: ran: {msgs:?}"));
        assert_eq!(err.code().as_deref(), Some("42601"), "{what}: {err:?}");
        assert_eq!(one(&mut c, "SELECT count(*) FROM t", &what).await, "3");
        // What PostgreSQL refuses with the setting off is its own error, as the server gives it.
        let msgs = c.simple_query(r"SELECT U&'d\0061t', 'a\b'").await;
        let err = raw::first_error(&msgs).unwrap_or_else(|| panic!("{what}: ran: {msgs:?}"));
        assert_eq!(
            err.message().as_deref(),
            Some("unsafe use of string constant with Unicode escapes"),
            "{what}"
        );
        let detail = err.fields().get(&'D').cloned().unwrap_or_default();
        assert!(
            detail.contains("standard_conforming_strings"),
            "{what}: {detail}"
        );
    }
}

/// With the setting off PostgreSQL warns of each plain string it reads with escapes
/// (`escape_string_warning`); the server gets `E'...'` strings, so pgward gives the warning,
/// as PostgreSQL words and places it, and not once the client turned the warning off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_in_plain_strings_are_warned_of_as_postgresql_does() {
    let up = upstream::shared();
    let db = up.fresh_db("scs_warn");
    for mode in ["session", "transaction"] {
        let what = format!("{mode}: warnings");
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let mut c = proxy.raw_login(CAROL.0, &db).await;
        values(
            &c.simple_query("SET standard_conforming_strings = off")
                .await,
            &what,
        );
        let msgs = c
            .simple_query(r"select 'a\\b' as f1, 'x\'y' as f2, E'\t'")
            .await;
        let warnings: Vec<_> = msgs
            .iter()
            .filter(|m| m.tag == b'N')
            .map(|m| {
                let f = m.fields();
                let get = |k| f.get(&k).cloned().unwrap_or_default();
                (get('S'), get('C'), get('M'), get('P'))
            })
            .collect();
        assert_eq!(
            warnings,
            vec![
                (
                    "WARNING".to_string(),
                    "22P06".to_string(),
                    r"nonstandard use of \\ in a string literal".to_string(),
                    "8".to_string()
                ),
                (
                    "WARNING".into(),
                    "22P06".into(),
                    r"nonstandard use of \' in a string literal".into(),
                    "22".into()
                ),
            ],
            "{what}"
        );
        assert_eq!(
            values(&msgs, &what),
            vec![vec![r"a\b".to_string(), "x'y".into(), "\t".into()]]
        );
        values(
            &c.simple_query("SET escape_string_warning = off").await,
            &what,
        );
        let msgs = c.simple_query(r"select 'a\\b'").await;
        assert!(!msgs.iter().any(|m| m.tag == b'N'), "{what}: {msgs:?}");
    }
}
