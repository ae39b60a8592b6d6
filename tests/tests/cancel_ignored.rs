//! A backend that ignores pgward's statement-timeout cancel (a function that catches
//! `query_canceled`) is ended, not just cut off: closing its socket leaves it running with
//! its transaction and locks until it next writes to the client, so pgward terminates it
//! (red-team round two: the backend ran on for 24 s of its 90). A client that does not read
//! its rows is the other way a backend goes deaf to the cancel.

use std::time::{Duration, Instant};

use pgward_e2e::proxy::{ProxyBuilder, ALICE};
use pgward_e2e::raw::{self, RawConn};
use pgward_e2e::upstream::{self, RO_USER};
use pgward_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_ignores_the_cancel_is_terminated() {
    let up = upstream::shared();
    let db = up.fresh_db("cancelignored");
    up.sql(
        &db,
        "CREATE FUNCTION public.stubborn() RETURNS int LANGUAGE plpgsql AS $$ \
         BEGIN FOR i IN 1..120 LOOP \
           BEGIN PERFORM pg_catalog.pg_sleep(0.25); EXCEPTION WHEN query_canceled THEN NULL; END; \
         END LOOP; RETURN 1; END $$",
    );
    let proxy = ProxyBuilder::new(up.port())
        .set("roles.engineer", "statement_timeout", "1s")
        .set("functions", "safe", vec!["public.stubborn"])
        .start();
    let c = connect(&proxy, ALICE.0, &db).await;
    let started = Instant::now();
    let got = simple_rows(&c, "SELECT public.stubborn()").await;
    assert!(got.is_err(), "the statement finished: {got:?}");
    // The backend that ran it is gone soon after (it would have run 30 s).
    let running = || {
        up.sql(
            &db,
            "SELECT count(*) FROM pg_catalog.pg_stat_activity \
             WHERE query LIKE '%stubborn()%' AND pid <> pg_catalog.pg_backend_pid()",
        )
        .trim()
        .to_string()
    };
    while running() != "0" {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the backend still runs after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A client that does not read its rows holds the backend in its write to pgward, where
/// PostgreSQL acts on no cancel: the statement clock still ends it (red team of stop 34: a
/// 10-row result of 20 MB rows held a read-only role's statement and its lock for 10 min
/// under a 3 s statement_timeout; pgward flushed a row past 64 KiB with no deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_a_large_row_does_not_outlive_the_statement_timeout() {
    let up = upstream::shared();
    let db = up.fresh_db("unreadrows");
    up.sql(
        &db,
        &format!(
            "CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 10) g; \
             GRANT SELECT ON big TO {RO_USER}"
        ),
    );
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .set("roles.engineer", "statement_timeout", "1s")
            .start();
        let conn = RawConn::connect_small_window(proxy.addr()).await;
        let mut c = match RawConn::startup_on(conn, ALICE.0, ALICE.1, &db, &[]).await {
            Ok(c) => c,
            Err(e) => panic!("login: {e:?}"),
        };
        let tag = format!("unread_{mode}");
        let sql = format!("SELECT id, repeat('x', 20000000) AS {tag} FROM big ORDER BY id");
        c.send(&raw::query_frame(&sql)).await.expect("query sent");
        let started = Instant::now();
        let running = || {
            up.sql(
                &db,
                &format!(
                    "SELECT count(*) FROM pg_catalog.pg_stat_activity \
                     WHERE query LIKE '%{tag}%' AND state = 'active' \
                     AND pid <> pg_catalog.pg_backend_pid()"
                ),
            )
            .trim()
            .to_string()
        };
        // It starts (and blocks writing its first row), then ends within the clocks.
        while running() != "1" {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{mode}: never started"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        while running() != "0" {
            assert!(
                started.elapsed() < Duration::from_secs(12),
                "{mode}: the statement still runs after {:?}\n{}",
                started.elapsed(),
                proxy.stderr()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        drop(c);
    }
}
