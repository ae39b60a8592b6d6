//! A backend that ignores pgward's statement-timeout cancel (a function that catches
//! `query_canceled`) is ended, not just cut off: closing its socket leaves it running with
//! its transaction and locks until it next writes to the client, so pgward terminates it
//! (red-team round two: the backend ran on for 24 s of its 90).

use std::time::{Duration, Instant};

use pgward_e2e::proxy::{ProxyBuilder, ALICE};
use pgward_e2e::upstream;
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
