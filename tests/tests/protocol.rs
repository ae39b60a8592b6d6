//! The wire protocol through the proxy with tokio-postgres: simple and extended queries,
//! pipelining, COPY both ways, errors mid-session, cancel, authentication failures.

use std::time::{Duration, Instant};

use futures::future::join_all;
use futures::{SinkExt, TryStreamExt};
use pgward_e2e::proxy::{ALICE, BOB, CAROL};

/// A read that runs for minutes (300^4 rows) using only tables: cancellable, and allowed for the
/// read-only role whatever it thinks of pg_sleep.
const SLOW_READ: &str = "SELECT count(*) FROM users a, users b, users c, users d";
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::*;
use tokio_postgres::types::Type;
use tokio_postgres::NoTls;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_query_single_and_multi_statement() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, ALICE.0, APP_DB).await;

    assert_eq!(simple_value(&c, "SELECT count(*) FROM users").await, "300");
    assert_eq!(
        simple_value(&c, "SELECT email FROM users WHERE id = 7").await,
        "user7@example.com"
    );
    let rows = simple_rows(&c, "SELECT 1 AS a; SELECT 'two', NULL::text")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            vec![Some("1".to_string())],
            vec![Some("two".to_string()), None]
        ]
    );
    // Non-ASCII text survives both directions unchanged.
    assert_eq!(
        simple_value(&c, "SELECT 'Grüße, 東京 ✓'").await,
        "Grüße, 東京 ✓"
    );
    // An empty query string answers EmptyQueryResponse, not an error.
    simple_rows(&c, "").await.unwrap();
    // The upstream's settings reach the client.
    assert_eq!(simple_value(&c, "SHOW server_encoding").await, "UTF8");
    assert_eq!(
        simple_value(&c, "SELECT current_setting('application_name')").await,
        "pgward-e2e"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_query_unnamed_statements_in_transaction_mode() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .start();
    let c = connect(&proxy, ALICE.0, APP_DB).await;

    // query_typed: Parse (unnamed) / Bind / Describe / Execute / Sync in one round trip.
    let rows = deadline(
        20,
        "query_typed",
        c.query_typed(
            "SELECT id, email, status FROM users WHERE id = $1",
            &[(&42i32, Type::INT4)],
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 42);
    assert_eq!(rows[0].get::<_, String>(1), "user42@example.com");

    // Parameters of several types round-trip in binary.
    let bytes: &[u8] = b"\x00\x01\xffbinary";
    let rows = c
        .query_typed(
            "SELECT $1::text, $2::int8, $3::bool, $4::bytea, $5::float8, $6::text IS NULL",
            &[
                (&"tëxt", Type::TEXT),
                (&(i64::MAX - 1), Type::INT8),
                (&true, Type::BOOL),
                (&bytes, Type::BYTEA),
                (&1.5f64, Type::FLOAT8),
                (&None::<String>, Type::TEXT),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let r = &rows[0];
    assert_eq!(r.get::<_, String>(0), "tëxt");
    assert_eq!(r.get::<_, i64>(1), i64::MAX - 1);
    assert!(r.get::<_, bool>(2));
    assert_eq!(r.get::<_, Vec<u8>>(3), bytes);
    assert_eq!(r.get::<_, f64>(4), 1.5);
    assert!(r.get::<_, bool>(5));

    // Many unnamed-statement queries from many tasks over one connection.
    let futs = (1..=30).map(|i| {
        let c = &c;
        async move {
            let rows = c
                .query_typed("SELECT id FROM users WHERE id = $1", &[(&i, Type::INT4)])
                .await
                .unwrap_or_else(|e| panic!("{}", describe(&e)));
            assert_eq!(rows[0].get::<_, i32>(0), i);
        }
    });
    deadline(30, "30 pipelined query_typed", join_all(futs)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_query_named_statements_and_pipelining_in_session_mode() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).pool_mode("session").start();
    let mut c = connect(&proxy, ALICE.0, APP_DB).await;

    let stmt = deadline(
        20,
        "prepare",
        c.prepare("SELECT id, email FROM users WHERE id = $1"),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(stmt.params(), &[Type::INT4]);
    assert_eq!(stmt.columns().len(), 2);
    for i in [1i32, 150, 300] {
        let row = c.query_one(&stmt, &[&i]).await.unwrap();
        assert_eq!(row.get::<_, String>(1), format!("user{i}@example.com"));
    }
    // Pipelined: tokio-postgres sends these back to back without waiting.
    let futs: Vec<_> = (1..=50)
        .map(|i: i32| {
            let c = &c;
            let stmt = &stmt;
            async move { c.query_one(stmt, &[&i]).await.map(|r| r.get::<_, i32>(0)) }
        })
        .collect();
    let (a, b, many) = deadline(30, "pipelined queries", async {
        futures::join!(
            c.query_one("SELECT count(*) FROM documents", &[]),
            c.query_one("SELECT max(id) FROM invoices", &[]),
            join_all(futs)
        )
    })
    .await;
    let (a, b) = (a.map(|r| r.get::<_, i64>(0)), b.map(|r| r.get::<_, i32>(0)));
    assert_eq!(a.unwrap(), 600);
    assert_eq!(b.unwrap(), 400);
    for (i, r) in many.into_iter().enumerate() {
        assert_eq!(r.unwrap(), i as i32 + 1);
    }
    // Portals with a row limit (query_raw + small fetches go through Execute with max_rows
    // only in transactions; a cursor does the same server-side).
    let tx = c.build_transaction().read_only(true).start().await.unwrap();
    let portal = tx
        .bind("SELECT id FROM users ORDER BY id", &[])
        .await
        .unwrap();
    let first = tx.query_portal(&portal, 10).await.unwrap();
    let second = tx.query_portal(&portal, 10).await.unwrap();
    assert_eq!(first.len(), 10);
    assert_eq!(second[0].get::<_, i32>(0), 11);
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_and_copy_out() {
    let up = upstream::shared();
    let db = up.fresh_db("copy");
    let proxy = ProxyBuilder::new(up.port()).pool_mode("session").start();

    // COPY OUT as the read-only user.
    let ro = connect(&proxy, ALICE.0, &db).await;
    let stream = ro
        .copy_out("COPY (SELECT id, email FROM users ORDER BY id) TO STDOUT")
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let chunks: Vec<bytes::Bytes> = deadline(20, "copy out", stream.try_collect())
        .await
        .unwrap();
    let text = String::from_utf8(chunks.concat()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 300);
    assert_eq!(lines[0], "1\tuser1@example.com");
    assert_eq!(lines[299], "300\tuser300@example.com");

    // COPY IN as a read-write user without a row limit: 5000 rows in several chunks.
    let admin = connect(&proxy, CAROL.0, &db).await;
    let sink = admin
        .copy_in("COPY id_mappings (user_id) FROM STDIN")
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    futures::pin_mut!(sink);
    for chunk in 0..5 {
        let data: String = (0..1000)
            .map(|i| format!("{}\n", 500_000 + chunk * 1000 + i))
            .collect();
        sink.send(bytes::Bytes::from(data)).await.unwrap();
    }
    let n = deadline(20, "copy in finish", sink.finish()).await.unwrap();
    assert_eq!(n, 5000);
    assert_eq!(
        up.sql(
            &db,
            "SELECT count(*), min(user_id), max(user_id) FROM id_mappings WHERE user_id >= 500000"
        ),
        "5000|500000|504999"
    );

    // The on-call role (max_affected_rows = 1000): 600 rows go in, 1500 are rolled back (54000).
    let rw = connect(&proxy, BOB.0, &db).await;
    let sink = rw
        .copy_in("COPY id_mappings (user_id) FROM STDIN")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    let data: String = (0..600).map(|i| format!("{}\n", 700_000 + i)).collect();
    sink.send(bytes::Bytes::from(data)).await.unwrap();
    assert_eq!(
        deadline(20, "small copy in", sink.finish()).await.unwrap(),
        600
    );
    let sink = rw
        .copy_in("COPY id_mappings (user_id) FROM STDIN")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    let data: String = (0..1500).map(|i| format!("{}\n", 800_000 + i)).collect();
    sink.send(bytes::Bytes::from(data)).await.unwrap();
    let err = deadline(20, "large copy in", sink.finish())
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "54000", "{}", describe(&err));
    assert_usable(&rw, "after a rolled-back COPY").await;
    assert_eq!(
        up.sql(
            &db,
            "SELECT count(*) FROM id_mappings WHERE user_id >= 700000"
        ),
        "600"
    );

    // A COPY IN with bad data fails with 22P02 and the session goes on.
    let sink = rw
        .copy_in("COPY id_mappings (user_id) FROM STDIN")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"1\nnot-a-number\n"))
        .await
        .unwrap();
    let err = deadline(20, "bad copy in", sink.finish())
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22P02", "{}", describe(&err));
    assert_usable(&rw, "after a failed COPY").await;
    assert_eq!(
        up.sql(
            &db,
            "SELECT count(*) FROM id_mappings WHERE user_id >= 500000"
        ),
        "5600"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_mid_session_and_the_session_goes_on() {
    let up = upstream::shared();
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let c = connect(&proxy, ALICE.0, APP_DB).await;

        // Outside a transaction block.
        let e = c.simple_query("SELECT 1/0").await.unwrap_err();
        assert_eq!(sqlstate(&e), "22012", "{mode}: {}", describe(&e));
        assert_usable(&c, "after division by zero").await;
        let e = c
            .simple_query("SELECT * FROM no_such_table")
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&e), "42P01", "{mode}: {}", describe(&e));
        assert_usable(&c, "after undefined table").await;

        // Inside one: the transaction is aborted until ROLLBACK, then all is well.
        c.simple_query("BEGIN").await.unwrap();
        assert_eq!(simple_value(&c, "SELECT count(*) FROM users").await, "300");
        let e = c.simple_query("SELECT 1/0").await.unwrap_err();
        assert_eq!(sqlstate(&e), "22012");
        let e = c.simple_query("SELECT 1").await.unwrap_err();
        assert_eq!(sqlstate(&e), "25P02", "{mode}: {}", describe(&e));
        c.simple_query("ROLLBACK").await.unwrap();
        assert_usable(&c, "after ROLLBACK").await;

        // Extended protocol: an error in the middle of a pipeline fails only that query.
        let (a, b, d) = deadline(20, "pipeline with an error", async {
            futures::join!(
                c.query_typed("SELECT 1::int4", &[]),
                c.query_typed("SELECT 1/0", &[]),
                c.query_typed("SELECT 3::int4", &[])
            )
        })
        .await;
        assert_eq!(a.unwrap()[0].get::<_, i32>(0), 1);
        assert_eq!(sqlstate(&b.unwrap_err()), "22012");
        assert_eq!(d.unwrap()[0].get::<_, i32>(0), 3);
        // A syntax error at Parse.
        let e = c.query_typed("SELEKT 1", &[]).await.unwrap_err();
        assert!(
            ["42601", "42501"].contains(&sqlstate(&e).as_str()),
            "{mode}: {}",
            describe(&e)
        );
        assert_usable(&c, "after a Parse error").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_stops_only_the_target_query() {
    let up = upstream::shared();
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let victim = connect(&proxy, ALICE.0, APP_DB).await;
        let bystander = connect(&proxy, BOB.0, APP_DB).await;
        let token = victim.cancel_token();

        let slow = tokio::spawn(async move {
            let r = victim.simple_query(SLOW_READ).await;
            (r, victim)
        });
        let other = tokio::spawn(async move {
            let t = Instant::now();
            let r = bystander.simple_query("SELECT pg_sleep(2), 'done'").await;
            (r, t.elapsed())
        });
        // Let both queries reach the server.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let t = Instant::now();
        deadline(10, "cancel_query", token.cancel_query(NoTls))
            .await
            .unwrap_or_else(|e| panic!("{mode}: cancel request failed: {}", describe(&e)));
        let (r, victim) = deadline(5, "the cancelled query to end", slow)
            .await
            .unwrap();
        let waited = t.elapsed();
        let e = r.expect_err("the slow read should have been cancelled");
        assert_eq!(sqlstate(&e), "57014", "{mode}: {}", describe(&e));
        assert!(
            waited < Duration::from_secs(2),
            "{mode}: cancel took {waited:?}"
        );
        assert_usable(&victim, "after cancel").await;

        // The other client's query was not cancelled.
        let (r, took) = deadline(10, "the bystander's query", other).await.unwrap();
        let rows = r.unwrap_or_else(|e| panic!("{mode}: bystander was hit: {}", describe(&e)));
        assert!(
            rows.len() >= 2,
            "{mode}: bystander got {} messages",
            rows.len()
        );
        assert!(took >= Duration::from_secs(2));

        // Extended protocol too.
        let token = victim.cancel_token();
        let slow =
            tokio::spawn(async move { victim.query_typed(SLOW_READ, &[]).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(700)).await;
        token.cancel_query(NoTls).await.unwrap();
        let r = deadline(5, "cancelled extended query", slow).await.unwrap();
        assert_eq!(sqlstate(&r.unwrap_err()), "57014", "{mode}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_of_pg_sleep_30_returns_57014_quickly() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, BOB.0, APP_DB).await;
    let token = c.cancel_token();
    let slow =
        tokio::spawn(async move { (c.simple_query("SELECT pg_sleep(30)").await.map(|_| ()), c) });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let t = Instant::now();
    token
        .cancel_query(NoTls)
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let (r, c) = deadline(5, "cancelled pg_sleep(30)", slow).await.unwrap();
    assert_eq!(sqlstate(&r.unwrap_err()), "57014");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "cancel took {:?}",
        t.elapsed()
    );
    assert_usable(&c, "after cancelling pg_sleep").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_with_a_wrong_key_does_nothing() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, BOB.0, APP_DB).await;
    let slow = tokio::spawn(async move {
        c.simple_query("SELECT pg_sleep(1.5), 'done'")
            .await
            .map(|m| m.len())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A CancelRequest with a made-up key: pgward must not cancel anything.
    let mut s = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let mut pkt = Vec::new();
    pkt.extend_from_slice(&16u32.to_be_bytes());
    pkt.extend_from_slice(&80877102u32.to_be_bytes());
    pkt.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    pkt.extend_from_slice(&0x0bad_cafeu32.to_be_bytes());
    use tokio::io::AsyncWriteExt;
    s.write_all(&pkt).await.unwrap();
    drop(s);
    let r = deadline(10, "query after a bogus cancel", slow)
        .await
        .unwrap();
    r.unwrap_or_else(|e| panic!("a bogus cancel key cancelled a query: {}", describe(&e)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_user_get_the_same_28p01() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();

    let mut cfg = pg_config(&proxy, ALICE.0, APP_DB);
    cfg.password("not-alices-password");
    let e = connect_with(cfg)
        .await
        .expect_err("wrong password accepted");
    let d = e
        .as_db_error()
        .unwrap_or_else(|| panic!("no server error: {e:?}"));
    assert_eq!(d.code().code(), "28P01");
    assert_eq!(
        d.message(),
        "password authentication failed for user \"alice\""
    );

    let mut cfg = pg_config(&proxy, ALICE.0, APP_DB);
    cfg.user("nobody-here");
    let e = connect_with(cfg).await.expect_err("unknown user accepted");
    let d2 = e
        .as_db_error()
        .unwrap_or_else(|| panic!("no server error: {e:?}"));
    assert_eq!(d2.code().code(), "28P01");
    assert_eq!(
        d2.message(),
        "password authentication failed for user \"nobody-here\""
    );
    assert_eq!(
        d.detail(),
        d2.detail(),
        "unknown user must look like a wrong password"
    );
    assert_eq!(d.hint(), d2.hint());

    // The upstream login's own password is not a proxy user's password.
    let mut cfg = pg_config(&proxy, ALICE.0, APP_DB);
    cfg.user(upstream::RO_USER).password(upstream::RO_PASSWORD);
    let e = connect_with(cfg)
        .await
        .expect_err("upstream login accepted as a proxy user");
    assert_eq!(sqlstate(&e), "28P01");

    // Still serving the right password afterwards.
    let c = connect(&proxy, ALICE.0, APP_DB).await;
    assert_usable(&c, "after failed logins").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_role_runs_upstream_read_only() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, ALICE.0, APP_DB).await;
    assert_eq!(simple_value(&c, "SHOW transaction_read_only").await, "on");
    assert_eq!(
        simple_value(&c, "SELECT current_user").await,
        upstream::RO_USER
    );
    let w = connect(&proxy, BOB.0, APP_DB).await;
    assert_eq!(simple_value(&w, "SHOW transaction_read_only").await, "off");
    assert_eq!(
        simple_value(&w, "SELECT current_user").await,
        upstream::OWNER_USER
    );
}
