//! Transaction pooling keeps a client's server between its transactions while nobody else
//! needs one, and the pool calls it back at once when somebody does: a waiting client, PAUSE,
//! a database that must be free. What the held server does meanwhile (its backend ended by
//! an administrator) the client never notices, and SHOW STATS still counts every transaction.

use std::time::{Duration, Instant};

use pgward_e2e::ops::{admin_rows, num, text};
use pgward_e2e::proxy::{ALICE, CAROL};
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::*;

fn pool_of_one() -> Proxy {
    let up = upstream::shared();
    ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(1)
        .checkout_timeout("20s")
        .set("admin", "users", vec![ALICE.0])
        .start()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_client_gets_the_server_another_client_holds_between_transactions() {
    let proxy = pool_of_one();
    let a = connect(&proxy, CAROL.0, APP_DB).await;
    let b = connect(&proxy, CAROL.0, APP_DB).await;
    let a_pid = simple_value(&a, "SELECT pg_backend_pid()").await;
    // a is idle and holds the one server; b must get it now, not at a's next transaction.
    let started = Instant::now();
    let b_pid = deadline(
        10,
        "b's statement",
        simple_value(&b, "SELECT pg_backend_pid()"),
    )
    .await;
    assert_eq!(a_pid, b_pid, "a pool of one has one server");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "b waited {:?} for a held server",
        started.elapsed()
    );
    // And back: a's next transaction gets it from b the same way.
    assert_eq!(
        deadline(10, "a again", simple_value(&a, "SELECT 7")).await,
        "7"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_server_ended_upstream_goes_unnoticed() {
    let up = upstream::shared();
    let proxy = pool_of_one();
    let a = connect(&proxy, CAROL.0, APP_DB).await;
    let pid = simple_value(&a, "SELECT pg_backend_pid()").await;
    up.sql(APP_DB, &format!("SELECT pg_terminate_backend({pid})"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let next = simple_rows(&a, "SELECT pg_backend_pid()")
        .await
        .unwrap_or_else(|e| panic!("the client noticed its held server end: {}", describe(&e)));
    assert_ne!(next[0][0].as_deref(), Some(pid.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_calls_a_held_server_back() {
    let proxy = pool_of_one();
    let admin = connect(&proxy, ALICE.0, "pgward").await;
    let a = connect(&proxy, CAROL.0, APP_DB).await;
    assert_eq!(simple_value(&a, "SELECT 1").await, "1");
    let started = Instant::now();
    admin_rows(&admin, &format!("PAUSE {APP_DB}"))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "PAUSE waited {:?} for a server held between transactions",
        started.elapsed()
    );
    admin_rows(&admin, "RESUME").await.unwrap();
    assert_eq!(simple_value(&a, "SELECT 2").await, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_stats_counts_the_transactions_of_a_held_server() {
    let proxy = pool_of_one();
    let admin = connect(&proxy, ALICE.0, "pgward").await;
    let a = connect(&proxy, CAROL.0, APP_DB).await;
    let xacts = |rows: &pgward_e2e::ops::AdminRows| {
        rows.iter()
            .filter(|r| text(r, "database") == APP_DB)
            .map(|r| num(r, "total_xact_count"))
            .sum::<i64>()
    };
    let before = xacts(&admin_rows(&admin, "SHOW STATS").await.unwrap());
    for i in 0..5 {
        assert_eq!(
            simple_value(&a, &format!("SELECT {i}")).await,
            i.to_string()
        );
    }
    let after = xacts(&admin_rows(&admin, "SHOW STATS").await.unwrap());
    assert!(after - before >= 5, "{before} -> {after}");
    let clients = admin_rows(&admin, "SHOW CLIENTS").await.unwrap();
    let mine: Vec<_> = clients
        .iter()
        .filter(|r| text(r, "user") == CAROL.0)
        .collect();
    assert_eq!(mine.len(), 1, "{clients:#?}");
    assert_eq!(text(mine[0], "state"), "idle", "{clients:#?}");
}
