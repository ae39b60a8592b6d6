//! Transaction pooling that clients do not notice: what a client sets up follows it to
//! whatever server it gets (named statements, settings, startup parameters), what it leaves
//! on a server never reaches the next client, state that cannot follow pins it to its server,
//! and SQL cursors work. A second client holding a server in an open transaction forces the
//! first onto another one (the pool hands out the most recently released server first), and
//! `pg_backend_pid()` proves the move.

use std::time::Duration;

use pgward_e2e::proxy::{ALICE, CAROL, DAVE};
use pgward_e2e::upstream::{self, OWNER_USER};
use pgward_e2e::*;
use pgward_e2e::{raw, wire};
use tokio_postgres::Client;

/// A proxy in `mode` with a pool of two.
fn proxy_in(mode: &str) -> Proxy {
    ProxyBuilder::new(upstream::shared().port())
        .pool_mode(mode)
        .pool_size(2)
        .start()
}

async fn pid(c: &Client) -> String {
    simple_value(c, "SELECT pg_backend_pid()").await
}

/// Both servers of a pool of two, each held in an open transaction by one of `holders`
/// (the second waits until the pool has a server free, so whatever a client still does with
/// its server after answering is over). Returns their backend pids.
async fn hold_both(holders: [&Client; 2]) -> [String; 2] {
    let mut pids = [String::new(), String::new()];
    for (i, h) in holders.iter().enumerate() {
        h.simple_query("BEGIN").await.unwrap();
        pids[i] = pid(h).await;
    }
    pids
}

async fn release(holder: &Client) {
    holder.simple_query("COMMIT").await.unwrap();
}

/// Move `a` to the other server of a pool of two and keep it there: the holder that got
/// `a`'s last server keeps it in an open transaction (and is returned, to be released when
/// the caller is done); the other holder lets go.
async fn move_away<'c>(a: &Client, holders: [&'c Client; 2]) -> &'c Client {
    let before = pid(a).await;
    let pids = hold_both(holders).await;
    let keeper = if pids[0] == before { 0 } else { 1 };
    assert_eq!(
        pids[keeper], before,
        "a pool of two should hold {before}: {pids:?}"
    );
    release(holders[1 - keeper]).await;
    assert_ne!(
        pid(a).await,
        before,
        "the client should be on the other server"
    );
    holders[keeper]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_statements_follow_the_client_to_another_server() {
    let up = upstream::shared();
    let db = up.fresh_db("txps");
    let proxy = tx_proxy(2);
    let a = connect(&proxy, ALICE.0, &db).await;
    let h1 = connect(&proxy, DAVE.0, &db).await;
    let holder = connect(&proxy, DAVE.0, &db).await;
    let stmt = a.prepare("SELECT $1::int * 2").await.unwrap();
    let typed = a.prepare("SELECT $1::text || '!'").await.unwrap();
    let kept = move_away(&a, [&h1, &holder]).await;
    let row = a.query_one(&stmt, &[&21i32]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    let row = a.query_one(&typed, &[&"hi"]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "hi!");
    release(kept).await;
    // Closed by the client: gone for it (the server keeps its copy for others).
    drop(stmt);
    let again = a.prepare("SELECT $1::int * 2").await.unwrap();
    assert_eq!(
        a.query_one(&again, &[&2i32])
            .await
            .unwrap()
            .get::<_, i32>(0),
        4
    );
    // Another client with the same text reuses the server's copy.
    let d = holder.prepare("SELECT $1::int * 2").await.unwrap();
    assert_eq!(
        holder
            .query_one(&d, &[&5i32])
            .await
            .unwrap()
            .get::<_, i32>(0),
        10
    );
    // A duplicate name is refused as PostgreSQL refuses it, and the session goes on.
    let mut raw = proxy.raw_login(ALICE.0, &db).await;
    raw.send(&wire::batch(&[
        wire::parse("dup", "SELECT 1"),
        wire::sync(),
        wire::parse("dup", "SELECT 2"),
        wire::sync(),
    ]))
    .await
    .unwrap();
    let mut frames = raw.until_ready(30).await;
    frames.extend(raw.until_ready(30).await);
    assert_eq!(
        wire::codes(&frames),
        vec!["42P05".to_string()],
        "{frames:?}"
    );
    assert!(proxy
        .audit_records()
        .iter()
        .all(|r| r["sqlstate"].as_str() != Some("26000")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_follow_the_client_and_never_leak() {
    let up = upstream::shared();
    let db = up.fresh_db("txset");
    let proxy = tx_proxy(2);
    let a = connect(&proxy, CAROL.0, &db).await;
    let h1 = connect(&proxy, CAROL.0, &db).await;
    let h2 = connect(&proxy, CAROL.0, &db).await;
    let probe = "SELECT current_setting('work_mem'), current_setting('lock_timeout'), \
         current_setting('default_transaction_isolation'), current_setting('DateStyle'), \
         current_setting('statement_timeout'), current_setting('search_path')";
    let defaults = simple_rows(&h1, probe).await.unwrap();
    for sql in [
        "SET work_mem = '7MB'",
        "SET lock_timeout = '4s'",
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SELECT set_config('DateStyle', 'SQL, DMY', false)",
    ] {
        a.simple_query(sql).await.unwrap();
    }
    // SET LOCAL and a rolled-back SET last no longer than their transaction.
    a.simple_query("BEGIN; SET LOCAL statement_timeout = '5s'; COMMIT")
        .await
        .unwrap();
    a.simple_query("BEGIN; SET search_path = nowhere; ROLLBACK")
        .await
        .unwrap();
    let kept = move_away(&a, [&h1, &h2]).await;
    let seen = simple_rows(&a, probe).await.unwrap();
    let want: Vec<Option<String>> = ["7MB", "4s", "serializable", "SQL, DMY"]
        .iter()
        .map(|v| Some(v.to_string()))
        .chain(defaults[0][4..].iter().cloned())
        .collect();
    assert_eq!(seen[0], want, "settings did not follow the client (or SET LOCAL / a rolled-back SET outlived its transaction)");
    assert_eq!(
        simple_value(&a, "SHOW transaction_isolation").await,
        "serializable"
    );
    // The keeper now has the server `a` changed: it sees none of it.
    assert_eq!(
        simple_rows(kept, probe).await.unwrap(),
        defaults,
        "settings leaked"
    );
    release(kept).await;
    // RESET forgets; RESET ALL forgets the rest.
    a.simple_query("RESET work_mem").await.unwrap();
    let kept = move_away(&a, [&h1, &h2]).await;
    assert_eq!(
        simple_value(&a, "SHOW work_mem").await,
        defaults[0][0].clone().unwrap()
    );
    assert_eq!(simple_value(&a, "SHOW lock_timeout").await, "4s");
    release(kept).await;
    a.simple_query("RESET ALL").await.unwrap();
    let kept = move_away(&a, [&h1, &h2]).await;
    assert_eq!(simple_rows(&a, probe).await.unwrap(), defaults);
    release(kept).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_parameters_and_settings_do_not_reach_twenty_later_clients() {
    let up = upstream::shared();
    let db = up.fresh_db("txleak");
    let proxy = tx_proxy(2);
    let probe = "SELECT current_setting('statement_timeout'), current_setting('work_mem'), \
                 current_setting('application_name'), current_setting('TimeZone'), \
                 current_setting('search_path')";
    let baseline = simple_rows(&connect(&proxy, ALICE.0, &db).await, probe)
        .await
        .unwrap();
    {
        let mut config = pg_config(&proxy, ALICE.0, &db);
        config
            .options("-c statement_timeout=1500ms -c work_mem=5MB")
            .application_name("leaky-app");
        let first = connect_with(config).await.unwrap();
        let seen = simple_rows(&first, probe).await.unwrap();
        assert_eq!(
            seen[0][0].as_deref(),
            Some("1500ms"),
            "startup options not applied"
        );
        assert_eq!(seen[0][2].as_deref(), Some("leaky-app"));
        first
            .simple_query("SET TimeZone = 'Asia/Tokyo'")
            .await
            .unwrap();
        first
            .simple_query("SET search_path = pg_catalog, public")
            .await
            .unwrap();
        assert_eq!(simple_value(&first, "SHOW TimeZone").await, "Asia/Tokyo");
    }
    for i in 0..20 {
        let c = connect(&proxy, ALICE.0, &db).await;
        let seen = simple_rows(&c, probe).await.unwrap();
        assert_eq!(seen, baseline, "client {i} saw another client's settings");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_set_show_timeout_and_temp_table_copy() {
    let up = upstream::shared();
    let db = up.fresh_db("txpsql");
    let proxy = tx_proxy(2);
    let script = "\\set ON_ERROR_STOP 0\n\
        SET statement_timeout = '1s';\n\
        SHOW statement_timeout;\n\
        SELECT pg_sleep(3);\n\
        CREATE TEMP TABLE scratch (n int, t text);\n\
        \\copy scratch FROM stdin\n1\tone\n2\ttwo\n3\tthree\n\\.\n\
        SELECT 'rows=' || count(*) FROM scratch;\n";
    let started = std::time::Instant::now();
    let out = psql(&proxy, CAROL.0, &db, &["-At"], Some(script));
    let took = started.elapsed();
    assert!(
        out.stdout.lines().any(|l| l == "1s"),
        "SHOW after SET: {out:?}"
    );
    assert!(
        out.stderr
            .contains("canceling statement due to statement timeout"),
        "pg_sleep(3) was not cancelled by the session's 1s: {out:?}"
    );
    assert!(took < Duration::from_secs(20));
    assert!(
        out.stdout.lines().any(|l| l == "rows=3"),
        "temp table + \\copy: {out:?}"
    );
    assert!(proxy.stderr().contains("client pinned to its server"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_that_cannot_follow_pins_the_client_until_it_is_gone() {
    let up = upstream::shared();
    let db = up.fresh_db("txpin");
    up.sql(
        &db,
        &format!("CREATE TABLE pin_t (n int); ALTER TABLE pin_t OWNER TO {OWNER_USER}"),
    );
    let proxy = tx_proxy(2);
    let a = connect(&proxy, CAROL.0, &db).await;
    let b = connect(&proxy, CAROL.0, &db).await;
    let c = connect(&proxy, CAROL.0, &db).await;
    let cases: [(&str, &str, &str); 9] = [
        (
            "CREATE TEMP TABLE tmp_pin AS SELECT 1 AS n",
            "SELECT count(*) FROM tmp_pin",
            "DROP TABLE tmp_pin",
        ),
        (
            "LISTEN pin_channel",
            "SELECT count(*) FROM pg_listening_channels()",
            "UNLISTEN *",
        ),
        (
            "SELECT pg_advisory_lock(4242)::text",
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
            "SELECT pg_advisory_unlock(4242)::text",
        ),
        (
            "PREPARE sqlp AS SELECT 7",
            "EXECUTE sqlp",
            "DEALLOCATE sqlp",
        ),
        (
            "DECLARE held CURSOR WITH HOLD FOR SELECT generate_series(1, 10)",
            "FETCH 2 FROM held",
            "CLOSE held",
        ),
        (
            "CREATE TABLE pg_temp.named_temp (n int)",
            "SELECT count(*) FROM pg_temp.named_temp",
            "DROP TABLE pg_temp.named_temp",
        ),
        (
            "CREATE TYPE pg_temp.temp_pair AS (a int, b int)",
            "SELECT (1, 2)::pg_temp.temp_pair",
            "DROP TYPE pg_temp.temp_pair",
        ),
        (
            "CREATE TABLE IF NOT EXISTS pin_stats (a int, b int); CREATE STATISTICS pg_temp.temp_stats ON a, b FROM pin_stats",
            "SELECT count(*) FROM pg_statistic_ext WHERE stxname = 'temp_stats'",
            "DROP STATISTICS pg_temp.temp_stats",
        ),
        (
            "CREATE OPERATOR pg_temp.=== (FUNCTION = int4eq, LEFTARG = int4, RIGHTARG = int4)",
            "SELECT 1 OPERATOR(pg_temp.===) 1",
            "DROP OPERATOR pg_temp.=== (int4, int4)",
        ),
    ];
    for (make, use_it, undo) in cases {
        a.simple_query(make)
            .await
            .unwrap_or_else(|e| panic!("{make}: {}", describe(&e)));
        let pinned = pid(&a).await;
        // Another client cannot take the pinned server: it gets the other one.
        b.simple_query("BEGIN").await.unwrap();
        assert_ne!(
            pid(&b).await,
            pinned,
            "{make}: the pinned server went to another client"
        );
        assert_eq!(pid(&a).await, pinned, "{make}: the client lost its server");
        a.simple_query(use_it)
            .await
            .unwrap_or_else(|e| panic!("{use_it} after {make}: {}", describe(&e)));
        release(&b).await;
        a.simple_query(undo).await.unwrap();
        // Unpinned: its server goes back to the pool, and two clients hold both servers.
        let pids = hold_both([&b, &c]).await;
        assert!(
            pids.contains(&pinned),
            "{make}: still pinned after {undo}: {pids:?}"
        );
        release(&b).await;
        release(&c).await;
    }
    // A rolled-back temp table never pinned anything.
    a.simple_query("BEGIN; CREATE TEMP TABLE gone (n int); ROLLBACK")
        .await
        .unwrap();
    let last = pid(&a).await;
    let pids = hold_both([&b, &c]).await;
    assert!(
        pids.contains(&last),
        "pinned by a rolled-back temp table: {pids:?}"
    );
    release(&b).await;
    release(&c).await;
    let log = proxy.stderr();
    for reason in [
        "temporary objects",
        "LISTEN",
        "session advisory lock",
        "SQL prepared statement",
        "WITH HOLD cursor",
    ] {
        assert!(
            log.contains(reason),
            "pin reason {reason} not logged:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_session_state_refuse_refuses_before_anything_runs() {
    let up = upstream::shared();
    let db = up.fresh_db("txrefuse");
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(2)
        .set("pool", "on_session_state", "refuse")
        .start();
    let a = connect(&proxy, CAROL.0, &db).await;
    for sql in [
        "CREATE TEMP TABLE t (n int)",
        "LISTEN ch",
        "SELECT pg_advisory_lock(1)",
        "PREPARE p AS SELECT 1",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    ] {
        let e = a.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&e), "0A000", "{sql}: {}", describe(&e));
    }
    assert_eq!(
        simple_value(&a, "SELECT count(*) FROM pg_listening_channels()").await,
        "0"
    );
    // What stays within a transaction is fine.
    a.simple_query("BEGIN; DECLARE c CURSOR FOR SELECT 1; FETCH c; COMMIT")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_cursors_work_in_both_modes() {
    let up = upstream::shared();
    let db = up.fresh_db("txcur");
    for mode in ["transaction", "session"] {
        let proxy = proxy_in(mode);
        let a = connect(&proxy, ALICE.0, &db).await;
        a.simple_query("BEGIN").await.unwrap();
        a.simple_query("DECLARE c1 SCROLL CURSOR FOR SELECT g FROM generate_series(1, 10) g")
            .await
            .unwrap();
        let first = simple_rows(&a, "FETCH 2 FROM c1").await.unwrap();
        assert_eq!(first.len(), 2, "{mode}");
        a.simple_query("MOVE 3 IN c1").await.unwrap();
        assert_eq!(simple_value(&a, "FETCH NEXT FROM c1").await, "6", "{mode}");
        assert_eq!(
            simple_rows(&a, "FETCH ALL FROM c1").await.unwrap().len(),
            4,
            "{mode}"
        );
        a.simple_query("CLOSE c1").await.unwrap();
        let e = a
            .simple_query("FETCH 1 FROM c1")
            .await
            .expect_err("closed cursor");
        assert_eq!(sqlstate(&e), "34000", "{mode}");
        a.simple_query("ROLLBACK").await.unwrap();
        // The protocol's Execute of a portal SQL DECLARE opened, row by row.
        let mut raw = proxy.raw_login(ALICE.0, &db).await;
        raw.simple_query("BEGIN").await;
        raw.simple_query("DECLARE pc CURSOR FOR SELECT g FROM generate_series(1, 5) g")
            .await;
        raw.send(&wire::batch(&[
            wire::describe(b'P', "pc"),
            wire::execute("pc", 2),
            wire::sync(),
        ]))
        .await
        .unwrap();
        let frames = raw.until_ready(30).await;
        assert!(wire::codes(&frames).is_empty(), "{mode}: {frames:?}");
        assert!(
            frames.iter().any(|f| f.tag == b'T'),
            "{mode}: no RowDescription"
        );
        assert_eq!(
            frames.iter().filter(|f| f.tag == b'D').count(),
            2,
            "{mode}: {frames:?}"
        );
        assert!(
            frames.iter().any(|f| f.tag == b's'),
            "{mode}: no PortalSuspended"
        );
        raw.simple_query("COMMIT").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_identity_the_client_learns_is_consistent() {
    let up = upstream::shared();
    let db = up.fresh_db("txnotify");
    for mode in ["transaction", "session"] {
        let proxy = proxy_in(mode);
        let mut raw = proxy.raw_login(CAROL.0, &db).await;
        let known = raw.backend_pid.expect("BackendKeyData");
        // pgward's own key, never a pooled backend's pid: a pid the client keeps can never
        // name a backend that serves another client later.
        let msgs = raw.simple_query("SELECT pg_backend_pid()").await;
        assert_ne!(raw::rows(&msgs)[0][0], Some(known.to_string()), "{msgs:?}");
        raw.simple_query("LISTEN self_channel").await;
        let msgs = raw.simple_query("NOTIFY self_channel, 'hi'").await;
        let note = msgs
            .iter()
            .find(|m| m.tag == b'A')
            .unwrap_or_else(|| panic!("{mode}: no notification in {msgs:?}"));
        let sender = i32::from_be_bytes([note.body[0], note.body[1], note.body[2], note.body[3]]);
        assert_eq!(
            sender, known,
            "{mode}: the sender pid is not the client's own"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_after_unsynced_extended_messages_runs_or_is_skipped_like_postgresql() {
    let up = upstream::shared();
    let db = up.fresh_db("txqmid");
    for mode in ["transaction", "session"] {
        let proxy = proxy_in(mode);
        let mut raw = proxy.raw_login(ALICE.0, &db).await;
        // asyncpg's prepare(): Parse + Describe + Flush, then a simple Query, no Sync between.
        raw.send(&wire::batch(&[
            wire::parse("s1", "SELECT 1 AS one"),
            wire::describe(b'S', "s1"),
            wire::flush(),
            raw::query_frame("SELECT 2 AS two"),
        ]))
        .await
        .unwrap();
        let msgs = raw.until_ready(30).await;
        assert!(wire::codes(&msgs).is_empty(), "{mode}: {msgs:?}");
        assert_eq!(
            raw::rows(&msgs),
            vec![vec![Some("2".to_string())]],
            "{mode}"
        );
        // The statement parsed before the Query is still there.
        raw.send(&wire::batch(&[
            wire::bind("", "s1", &[]),
            wire::execute("", 0),
            wire::sync(),
        ]))
        .await
        .unwrap();
        let msgs = raw.until_ready(30).await;
        assert_eq!(
            raw::rows(&msgs),
            vec![vec![Some("1".to_string())]],
            "{mode}: {msgs:?}"
        );
        // A failed message before the Query: PostgreSQL skips the Query up to the Sync.
        raw.send(&wire::batch(&[
            wire::parse("", "SELECT * FROM no_such_table"),
            wire::flush(),
            raw::query_frame("SELECT 3"),
            wire::sync(),
        ]))
        .await
        .unwrap();
        let msgs = raw.until_ready(30).await;
        assert_eq!(
            wire::codes(&msgs),
            vec!["42P01".to_string()],
            "{mode}: {msgs:?}"
        );
        assert!(
            raw::rows(&msgs).is_empty(),
            "{mode}: the Query ran: {msgs:?}"
        );
        let msgs = raw.simple_query("SELECT 4").await;
        assert_eq!(
            raw::rows(&msgs),
            vec![vec![Some("4".to_string())]],
            "{mode}: {msgs:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_backend_reaches_the_client_as_postgresql_said_it() {
    let up = upstream::shared();
    let db = up.fresh_db("txfatal");
    for mode in ["session", "transaction"] {
        let proxy = proxy_in(mode);
        let mut raw = proxy.raw_login(ALICE.0, &db).await;
        // In transaction mode the client holds its server only inside a transaction.
        raw.simple_query("BEGIN").await;
        let msgs = raw.simple_query("SELECT pg_backend_pid()").await;
        let backend = raw::rows(&msgs)[0][0].clone().expect("pid");
        up.sql(
            "postgres",
            &format!("SELECT pg_terminate_backend({backend})"),
        );
        let mut seen = Vec::new();
        loop {
            match raw.read_msg(20).await {
                raw::ReadResult::Msg(m) => {
                    let fatal = m.tag == b'E';
                    seen.push(m);
                    if fatal {
                        break;
                    }
                }
                other => {
                    panic!("{mode}: expected the server's FATAL, got {other:?} after {seen:?}")
                }
            }
        }
        let err = seen.last().expect("an error");
        assert_eq!(err.code().as_deref(), Some("57P01"), "{mode}: {seen:?}");
        assert_eq!(err.fields().get(&'S').map(String::as_str), Some("FATAL"));
        // Then the connection closes, as PostgreSQL's would.
        assert!(
            !matches!(raw.read_msg(20).await, raw::ReadResult::Msg(_)),
            "{mode}: the session went on"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_returns_to_the_clients_startup_value() {
    let up = upstream::shared();
    let db = up.fresh_db("txreset");
    for mode in ["session", "transaction"] {
        let proxy = proxy_in(mode);
        let mut config = pg_config(&proxy, CAROL.0, &db);
        config.options("-c DateStyle=German -c work_mem=6MB");
        let c = connect_with(config).await.unwrap();
        let started = simple_value(&c, "SHOW DateStyle").await;
        assert!(started.starts_with("German"), "{mode}: {started}");
        c.simple_query("SET DateStyle = 'ISO, YMD'").await.unwrap();
        c.simple_query("SET work_mem = '9MB'").await.unwrap();
        c.simple_query("RESET DateStyle").await.unwrap();
        assert_eq!(simple_value(&c, "SHOW DateStyle").await, started, "{mode}");
        c.simple_query("RESET ALL").await.unwrap();
        assert_eq!(simple_value(&c, "SHOW work_mem").await, "6MB", "{mode}");
        assert_eq!(simple_value(&c, "SHOW DateStyle").await, started, "{mode}");
    }
}

/// pg_regress `interval`: a client that started with one IntervalStyle and SET the pooled
/// server's own default keeps it when it RESETs another setting on a server where its value
/// shows as that default (pgward's sync had nothing to set there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_of_one_setting_leaves_the_clients_others_alone() {
    let up = upstream::shared();
    let db = up.fresh_db("txresetone");
    let proxy = proxy_in("transaction");
    let mut config = pg_config(&proxy, CAROL.0, &db);
    config.options("-c IntervalStyle=postgres_verbose");
    let a = connect_with(config).await.unwrap();
    let holders = [
        connect(&proxy, CAROL.0, &db).await,
        connect(&proxy, CAROL.0, &db).await,
    ];
    a.simple_query("SET IntervalStyle = 'postgres'")
        .await
        .unwrap();
    let keeper = move_away(&a, [&holders[0], &holders[1]]).await;
    a.simple_query("SET enable_seqscan = off").await.unwrap();
    a.simple_query("RESET enable_seqscan").await.unwrap();
    assert_eq!(simple_value(&a, "SHOW IntervalStyle").await, "postgres");
    assert_eq!(simple_value(&a, "SHOW enable_seqscan").await, "on");
    a.simple_query("SET enable_seqscan TO DEFAULT")
        .await
        .unwrap();
    assert_eq!(simple_value(&a, "SHOW IntervalStyle").await, "postgres");
    // A RESET rolled back leaves the client's value.
    a.batch_execute("BEGIN; RESET IntervalStyle; ROLLBACK")
        .await
        .unwrap();
    assert_eq!(simple_value(&a, "SHOW IntervalStyle").await, "postgres");
    // RESET of this one, however it runs, returns it to the client's startup value.
    let resets = [
        "RESET IntervalStyle",
        "SELECT set_config('IntervalStyle', NULL, false)",
        "DO $$ BEGIN RESET IntervalStyle; END $$",
    ];
    for reset in resets {
        a.simple_query("SET IntervalStyle = 'postgres'")
            .await
            .unwrap();
        assert_eq!(simple_value(&a, "SHOW IntervalStyle").await, "postgres");
        a.simple_query(reset).await.unwrap();
        assert_eq!(
            simple_value(&a, "SHOW IntervalStyle").await,
            "postgres_verbose",
            "{reset}"
        );
    }
    release(keeper).await;
}

/// pgjdbc with autocommit off (DBeaver's manual commit) sends its BEGIN in the same batch
/// as the statement: an `EXECUTE` of the client's own SQL-prepared statement there runs on
/// the server its PREPARE pinned it to, as on PostgreSQL (it was refused with 0A000: the
/// name could not be checked behind BEGIN's owed replies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_clients_sql_execute_runs_behind_a_pipelined_begin() {
    let up = upstream::shared();
    let db = up.fresh_db("txpinexec");
    let proxy = proxy_in("transaction");
    let mut a = proxy.raw_login(CAROL.0, &db).await;
    let prepared = a.simple_query("PREPARE p AS SELECT 'mine'").await;
    assert!(raw::first_error(&prepared).is_none(), "{prepared:?}");
    for round in 0..2 {
        let msgs = begin_and_execute(&mut a, "p").await;
        assert_eq!(
            wire::codes(&msgs),
            Vec::<String>::new(),
            "{round}: {msgs:?}"
        );
        assert_eq!(
            raw::rows(&msgs),
            vec![vec![Some("mine".to_string())]],
            "{round}"
        );
        let done = a.simple_query("COMMIT").await;
        assert!(raw::first_error(&done).is_none(), "{round}: {done:?}");
    }
    // What the name holds may change within the batch: a protocol statement parsed and
    // closed under it stays on the server under that name. Never the closed one's row.
    a.simple_query("PREPARE q AS SELECT 'first'").await;
    a.simple_query("SELECT 1").await;
    a.send(&wire::batch(&[
        wire::parse("", "DEALLOCATE q"),
        wire::bind("", "", &[]),
        wire::execute("", 0),
        wire::parse("q", "SELECT 'closed'"),
        wire::close(b'S', "q"),
        wire::parse("q", "SELECT 'current'"),
        wire::parse("", "EXECUTE q"),
        wire::bind("", "", &[]),
        wire::execute("", 0),
        wire::sync(),
    ]))
    .await
    .unwrap();
    let msgs = wire::until_ready_n(&mut a, 1, 30).await;
    let rows = raw::rows(&msgs);
    assert!(
        rows == vec![vec![Some("current".to_string())]] || wire::codes(&msgs) == ["0A000"],
        "{rows:?} {msgs:?}"
    );
    a.send(&wire::batch(&[wire::close(b'S', "q"), wire::sync()]))
        .await
        .unwrap();
    wire::until_ready_n(&mut a, 1, 30).await;
    // After DEALLOCATE, PostgreSQL's own answer.
    a.simple_query("DEALLOCATE p").await;
    let msgs = begin_and_execute(&mut a, "p").await;
    assert_eq!(wire::codes(&msgs), ["26000"], "{msgs:?}");
}

/// BEGIN and `EXECUTE name` in one extended batch (as pgjdbc sends them with autocommit off).
async fn begin_and_execute(a: &mut raw::RawConn, name: &str) -> Vec<raw::Msg> {
    a.send(&wire::batch(&[
        wire::parse("", "BEGIN"),
        wire::bind("", "", &[]),
        wire::execute("", 0),
        wire::parse("", &format!("EXECUTE {name}")),
        wire::bind("", "", &[]),
        wire::execute("", 0),
        wire::sync(),
    ]))
    .await
    .unwrap();
    wire::until_ready_n(a, 1, 30).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_prepares_again_after_ddl_gets_a_fresh_statement() {
    let up = upstream::shared();
    let db = up.fresh_db("txepoch");
    let proxy = proxy_in("transaction");
    let admin = connect(&proxy, CAROL.0, &db).await;
    admin
        .batch_execute("CREATE TABLE evolving (a int); INSERT INTO evolving VALUES (1)")
        .await
        .unwrap();
    let a = connect(&proxy, CAROL.0, &db).await;
    let first = a.prepare("SELECT * FROM evolving").await.unwrap();
    assert_eq!(a.query(&first, &[]).await.unwrap()[0].len(), 1);
    admin
        .batch_execute("ALTER TABLE evolving ADD COLUMN b int")
        .await
        .unwrap();
    // PostgreSQL's answer to the old statement (as straight against it)...
    match a.query(&first, &[]).await {
        Err(e) => assert_eq!(sqlstate(&e), "0A000", "{}", describe(&e)),
        Ok(rows) => assert_eq!(rows[0].len(), 2),
    }
    // ...and preparing the same text again gives a statement with the new shape.
    let again = a.prepare("SELECT * FROM evolving").await.unwrap();
    let rows = a
        .query(&again, &[])
        .await
        .unwrap_or_else(|e| panic!("prepared again: {}", describe(&e)));
    assert_eq!(rows[0].len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_a_statement_still_waiting_for_a_server() {
    let up = upstream::shared();
    let db = up.fresh_db("txcancelwait");
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(1)
        .checkout_timeout("60s")
        .start();
    let holder = connect(&proxy, CAROL.0, &db).await;
    holder.simple_query("BEGIN").await.unwrap();
    pid(&holder).await;
    let a = std::sync::Arc::new(connect(&proxy, CAROL.0, &db).await);
    let token = a.cancel_token();
    let waiting = {
        let a = a.clone();
        tokio::spawn(async move { a.simple_query("SELECT 1").await })
    };
    // Cancel until the waiting statement hears it (the first may come before it waits).
    let started = std::time::Instant::now();
    while !waiting.is_finished() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the cancel never reached the wait"
        );
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let e = waiting.await.unwrap().expect_err("cancelled");
    assert_eq!(sqlstate(&e), "57014", "{}", describe(&e));
    release(&holder).await;
    // The session goes on.
    assert_eq!(simple_value(&a, "SELECT 2").await, "2");
}

/// The single value of `sql` run over a raw connection.
async fn raw_value(c: &mut raw::RawConn, sql: &str) -> Option<String> {
    let msgs = c.simple_query(sql).await;
    assert!(raw::first_error(&msgs).is_none(), "{sql}: {msgs:?}");
    raw::rows(&msgs).first().and_then(|r| r[0].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_statements_keep_the_clients_names_for_sql_and_go_with_the_client() {
    let up = upstream::shared();
    let db = up.fresh_db("txnames");
    let proxy = tx_proxy(2);
    let mut a = proxy.raw_login(ALICE.0, &db).await;
    a.send(&wire::batch(&[
        wire::parse("my stmt", "SELECT $1::int + 1"),
        wire::sync(),
    ]))
    .await
    .unwrap();
    a.until_ready(30).await;
    // As on PostgreSQL: SQL sees the protocol statement under the client's name.
    assert_eq!(
        raw_value(&mut a, r#"EXECUTE "my stmt"(41)"#)
            .await
            .as_deref(),
        Some("42")
    );
    let listed = "SELECT string_agg(name, ',' ORDER BY name) FROM pg_prepared_statements";
    assert_eq!(raw_value(&mut a, listed).await.as_deref(), Some("my stmt"));
    // DEALLOCATE by the only client that used it: gone from the server, as on PostgreSQL.
    a.send(&wire::batch(&[wire::parse("s2", "SELECT 2"), wire::sync()]))
        .await
        .unwrap();
    a.until_ready(30).await;
    assert_eq!(
        raw_value(&mut a, listed).await.as_deref(),
        Some("my stmt,s2")
    );
    let msgs = a.simple_query("DEALLOCATE s2").await;
    assert!(raw::first_error(&msgs).is_none(), "{msgs:?}");
    assert_eq!(raw_value(&mut a, listed).await.as_deref(), Some("my stmt"));
    // On the other server too: hold a's server, move it, and EXECUTE there.
    let h1 = connect(&proxy, DAVE.0, &db).await;
    let h2 = connect(&proxy, DAVE.0, &db).await;
    let before = raw_value(&mut a, "SELECT pg_backend_pid()").await;
    let pids = hold_both([&h1, &h2]).await;
    let keeper = if Some(&pids[0]) == before.as_ref() {
        0
    } else {
        1
    };
    release([&h1, &h2][1 - keeper]).await;
    assert_ne!(raw_value(&mut a, "SELECT pg_backend_pid()").await, before);
    assert_eq!(
        raw_value(&mut a, r#"EXECUTE "my stmt"(1)"#)
            .await
            .as_deref(),
        Some("2")
    );
    // Another client's SQL PREPARE of the same name is not hit by the kept statement.
    let mut b = proxy.raw_login(ALICE.0, &db).await;
    let msgs = b
        .simple_query(r#"PREPARE "my stmt" AS SELECT 'b'; EXECUTE "my stmt""#)
        .await;
    assert!(raw::first_error(&msgs).is_none(), "{msgs:?}");
    assert_eq!(raw::rows(&msgs), vec![vec![Some("b".to_string())]]);
    b.simple_query("DEALLOCATE ALL").await;
    release([&h1, &h2][keeper]).await;
    // Once a's session ends, no server keeps its statement.
    drop(a);
    drop(b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let [c1, c2] = [&h1, &h2];
    hold_both([c1, c2]).await;
    for c in [c1, c2] {
        let n = simple_value(c, "SELECT count(*) FROM pg_prepared_statements").await;
        assert_eq!(n, "0", "statements of ended sessions are closed");
    }
    release(c1).await;
    release(c2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_identity_pins_the_client_until_it_is_back() {
    let up = upstream::shared();
    let db = up.fresh_db("txrole");
    up.sql(
        &db,
        "DO $$ BEGIN CREATE ROLE tx_reporter NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT tx_reporter TO app_owner;",
    );
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(2)
        .checkout_timeout("30s")
        .role("admin", "allow_set_role", true)
        .start();
    // CAROL: role admin (allow_set_role); the holders share its pool.
    let c = connect(&proxy, CAROL.0, &db).await;
    let h1 = connect(&proxy, CAROL.0, &db).await;
    let h2 = connect(&proxy, CAROL.0, &db).await;
    c.simple_query("SET ROLE tx_reporter").await.unwrap();
    let mine = pid(&c).await;
    // The other server, held by h1: c keeps its own and its identity with it.
    h1.simple_query("BEGIN").await.unwrap();
    assert_ne!(pid(&h1).await, mine);
    assert_eq!(simple_value(&h1, "SELECT current_user").await, "app_owner");
    for _ in 0..3 {
        assert_eq!(simple_value(&c, "SELECT current_user").await, "tx_reporter");
        assert_eq!(pid(&c).await, mine);
    }
    // Back to the login's identity: the server is free again for h2.
    c.simple_query("RESET ROLE").await.unwrap();
    h2.simple_query("BEGIN").await.unwrap();
    assert_eq!(pid(&h2).await, mine);
    assert_eq!(simple_value(&h2, "SELECT current_user").await, "app_owner");
    release(&h2).await;
    release(&h1).await;
    // A client that leaves while another identity is in force leaves nothing behind.
    c.simple_query("SET SESSION AUTHORIZATION tx_reporter")
        .await
        .ok();
    c.simple_query("SET ROLE tx_reporter").await.unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for h in [&h1, &h2] {
        h.simple_query("BEGIN").await.unwrap();
        assert_eq!(simple_value(h, "SELECT current_user").await, "app_owner");
        assert_eq!(simple_value(h, "SELECT session_user").await, "app_owner");
    }
    release(&h1).await;
    release(&h2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_settings_follow_the_client_and_never_reach_another() {
    let up = upstream::shared();
    let db = up.fresh_db("txcustom");
    // One server: every client gets the one the others used. The admin role may run a
    // set_config pgward cannot read (no guardrail of its depends on one).
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(1)
        .checkout_timeout("30s")
        .role("admin", "allow_set_role", true)
        .role("admin", "unmasked", true)
        .start();
    let tenant = "SELECT coalesce(current_setting('app.tenant', true), '<none>')";
    let a = connect(&proxy, CAROL.0, &db).await;
    let b = connect(&proxy, CAROL.0, &db).await;
    a.simple_query("SET app.tenant = '42'").await.unwrap();
    let seen = simple_value(&b, tenant).await;
    assert!(
        seen == "<none>" || seen.is_empty(),
        "b saw a's tenant: {seen}"
    );
    assert_eq!(simple_value(&a, tenant).await, "42");
    a.simple_query("SELECT set_config('app.tenant', '43', false)")
        .await
        .unwrap();
    let seen = simple_value(&b, tenant).await;
    assert!(
        seen == "<none>" || seen.is_empty(),
        "b saw a's tenant: {seen}"
    );
    assert_eq!(simple_value(&a, tenant).await, "43");
    // A name only the server knows (a parameter): the server is reset before b has it.
    a.query("SELECT set_config($1, '7', false)", &[&"app.other"])
        .await
        .unwrap();
    let other = "SELECT coalesce(current_setting('app.other', true), '<none>')";
    let seen = simple_value(&b, other).await;
    assert!(
        seen == "<none>" || seen.is_empty(),
        "b saw a's setting: {seen}"
    );
    assert_eq!(simple_value(&a, tenant).await, "43");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_user_code_sets_follow_the_client_and_never_reach_another() {
    let up = upstream::shared();
    let db = up.fresh_db("txusercode");
    // One server: the next client gets exactly the server the first used.
    let proxy = tx_proxy(1);
    let a = connect(&proxy, CAROL.0, &db).await;
    let b = connect(&proxy, CAROL.0, &db).await;
    a.simple_query(
        "CREATE FUNCTION seqscan_off() RETURNS int LANGUAGE plpgsql AS \
         $$ BEGIN SET enable_seqscan = off; RETURN 1; END $$",
    )
    .await
    .unwrap();
    assert_eq!(simple_value(&a, "SELECT seqscan_off()").await, "1");
    assert_eq!(simple_value(&b, "SHOW enable_seqscan").await, "on");
    assert_eq!(simple_value(&a, "SHOW enable_seqscan").await, "off");
    a.simple_query("DO $$ BEGIN SET enable_bitmapscan = off; END $$")
        .await
        .unwrap();
    assert_eq!(simple_value(&b, "SHOW enable_bitmapscan").await, "on");
    assert_eq!(simple_value(&a, "SHOW enable_bitmapscan").await, "off");
}

/// The reported parameters after RESET ALL: the server's reset values are the pooled
/// connection's (application_name 'pgward', DateStyle 'ISO, MDY'). The client is never told
/// pgward's application_name; DateStyle is reported as the server runs it until the unit
/// ends, then as the client's startup value again, before its next result; SHOW agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_parameters_after_reset_all_are_the_clients_again() {
    let proxy = proxy_in("transaction");
    let mut c = raw::RawConn::startup(
        proxy.addr(),
        ALICE.0,
        ALICE.1,
        "postgres",
        &[("application_name", "reporter"), ("DateStyle", "German")],
    )
    .await
    .unwrap();
    let mut seen = c.simple_query("RESET ALL").await;
    let shown = c.simple_query("SHOW DateStyle").await;
    seen.extend(shown.iter().cloned());
    let reported: Vec<(String, String)> = seen
        .iter()
        .filter(|m| m.tag == b'S')
        .map(|m| {
            let mut parts = m.body.split(|b| *b == 0);
            let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            let value = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            (name, value)
        })
        .collect();
    assert!(
        !reported
            .iter()
            .any(|(n, v)| n == "application_name" && v == "pgward"),
        "{reported:?}"
    );
    let last_datestyle = reported.iter().rev().find(|(n, _)| n == "DateStyle");
    if let Some((_, v)) = last_datestyle {
        assert_eq!(v, "German, DMY", "{reported:?}");
    }
    assert_eq!(
        raw::rows(&shown),
        vec![vec![Some("German, DMY".to_string())]],
        "{reported:?}"
    );
}
