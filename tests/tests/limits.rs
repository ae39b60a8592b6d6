//! Limits end to end: statement_timeout (cannot be raised), max_result_rows (results and paged
//! portals), max_affected_rows (the write is rolled back) and idle_in_transaction_timeout.

use std::time::{Duration, Instant};

use pgward_e2e::proxy::{ALICE, BOB, DAVE};
use pgward_e2e::raw::{self, RawConn, ReadResult};
use pgward_e2e::upstream;
use pgward_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_is_enforced_and_cannot_be_raised() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .role("engineer", "statement_timeout", "1s")
        .start();
    let c = connect(&proxy, ALICE.0, upstream::APP_DB).await;
    let t = Instant::now();
    let e = deadline(
        10,
        "a slow read past the role's timeout",
        c.simple_query("SELECT count(*) FROM users a, users b, users c, users d"),
    )
    .await
    .unwrap_err();
    let d = e
        .as_db_error()
        .unwrap_or_else(|| panic!("{}", describe(&e)));
    assert_eq!(d.code().code(), "57014", "{}", describe(&e));
    assert!(
        d.message()
            .starts_with("canceling statement due to statement timeout"),
        "{}",
        d.message()
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    assert_usable(&c, "after statement timeout").await;
    // The client cannot raise it or switch it off.
    for sql in [
        "SET statement_timeout = '10s'",
        "SET statement_timeout = 0",
        "SET statement_timeout = '0.4'",
        "SET LOCAL statement_timeout = '1h'",
    ] {
        expect_denied(c.simple_query(sql).await, sql);
        assert_usable(&c, sql).await;
    }
    // RESET returns to the value pinned on the role's upstream connections.
    c.simple_query("RESET statement_timeout")
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(simple_value(&c, "SHOW statement_timeout").await, "1s");
    // Lowering it is fine.
    c.simple_query("SET statement_timeout = '500ms'")
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_result_rows_stops_the_result() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .role("engineer", "max_result_rows", 50)
        .start();
    let c = connect(&proxy, ALICE.0, upstream::APP_DB).await;
    assert_eq!(
        simple_rows(&c, "SELECT id FROM users ORDER BY id LIMIT 50")
            .await
            .unwrap()
            .len(),
        50
    );
    let e = c.simple_query("SELECT id FROM users").await.unwrap_err();
    let d = e
        .as_db_error()
        .unwrap_or_else(|| panic!("{}", describe(&e)));
    assert_eq!(d.code().code(), "54000", "{}", describe(&e));
    assert!(
        d.message()
            .starts_with("pgward: result exceeds max_result_rows"),
        "{}",
        d.message()
    );
    assert_usable(&c, "after max_result_rows").await;
    let e = c
        .query_typed("SELECT id FROM documents", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "54000", "{}", describe(&e));
    assert_usable(&c, "after max_result_rows (extended)").await;

    // Paging a portal 20 rows at a time: the page that crosses the limit fails, and the
    // portal cannot be read on past it.
    let mut c = connect(&proxy, ALICE.0, upstream::APP_DB).await;
    let tx = c.transaction().await.unwrap();
    let stmt = tx
        .prepare("SELECT id FROM users ORDER BY id")
        .await
        .unwrap();
    let portal = tx.bind(&stmt, &[]).await.unwrap();
    let mut seen = 0;
    let mut failed = None;
    for _ in 0..10 {
        match tx.query_portal(&portal, 20).await {
            Ok(rows) if rows.is_empty() => break,
            Ok(rows) => seen += rows.len(),
            Err(e) => {
                failed = Some(sqlstate(&e));
                break;
            }
        }
    }
    assert!(seen <= 50, "read {seen} rows past max_result_rows = 50");
    assert!(
        failed.is_some(),
        "paging past the limit did not fail (read {seen})"
    );
    match tx.query_portal(&portal, 20).await {
        Ok(rows) => panic!("read {} more rows from the cut portal", rows.len()),
        Err(e) => assert_eq!(sqlstate(&e), "34000", "{}", describe(&e)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_affected_rows_rolls_the_write_back() {
    let up = upstream::shared();
    let db = up.fresh_db("affected");
    let proxy = ProxyBuilder::new(up.port())
        .role("oncall", "max_affected_rows", 100)
        .start();
    let c = connect(&proxy, BOB.0, &db).await;
    let e = c
        .simple_query("UPDATE documents SET status = 'bulk' WHERE id <= 300")
        .await
        .unwrap_err();
    let d = e
        .as_db_error()
        .unwrap_or_else(|| panic!("{}", describe(&e)));
    assert_eq!(d.code().code(), "54000", "{}", describe(&e));
    assert!(d.message().starts_with("pgward: "), "{}", d.message());
    assert_eq!(
        up.sql(&db, "SELECT count(*) FROM documents WHERE status = 'bulk'"),
        "0"
    );
    assert_usable(&c, "after max_affected_rows").await;
    let msgs = c
        .simple_query("UPDATE documents SET status = 'small' WHERE id <= 50")
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let n = msgs.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
        _ => None,
    });
    assert_eq!(n, Some(50));
    assert_eq!(
        up.sql(&db, "SELECT count(*) FROM documents WHERE status = 'small'"),
        "50"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_timeout_ends_the_transaction() {
    let up = upstream::shared();
    let db = up.fresh_db("idle_tx");
    let proxy = ProxyBuilder::new(up.port())
        .role("engineer", "idle_in_transaction_timeout", "1s")
        .pool_size(1)
        .start();
    let mut c = RawConn::startup(proxy.addr(), ALICE.0, &proxy.password(ALICE.0), &db, &[])
        .await
        .unwrap();
    assert!(raw::first_error(&c.simple_query("BEGIN").await).is_none());
    assert!(raw::first_error(&c.simple_query("SELECT count(*) FROM users").await).is_none());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The upstream transaction is gone (rolled back, server back in the pool).
    assert_eq!(
        up.sql("postgres", &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND state LIKE 'idle in transaction%'")),
        "0"
    );
    // The client learns with 25P03: spontaneously, or at its next statement.
    let mut codes = Vec::new();
    if let ReadResult::Msg(m) = c.read_msg(1).await {
        codes.extend(m.code());
    }
    if codes.is_empty() && c.send(&raw::query_frame("SELECT 1")).await.is_ok() {
        if let ReadResult::Msg(m) = c.read_msg(10).await {
            codes.extend(m.code());
        }
    }
    assert_eq!(
        codes.first().map(String::as_str),
        Some("25P03"),
        "{codes:?}"
    );
    // Another client gets the (single) server connection.
    let other = connect(&proxy, DAVE.0, &db).await;
    assert_usable(&other, "after idle-in-transaction timeout").await;
}
