//! A Sync pipelined right behind a simple Query's COPY FROM STDIN: PostgreSQL ignores it once
//! the COPY runs (it reads the client's COPY data then), so it is owed no ReadyForQuery.
//! pgward used to keep it owed: its reply queue fell one answer behind, and a later result
//! was masked with an earlier statement's plan, sending an expression of a masked column in
//! clear. Both pool modes.

use pgward_e2e::proxy::CAROL;
use pgward_e2e::raw::{first_error, query_frame, rows, Msg, RawConn, ReadResult};
use pgward_e2e::upstream;
use pgward_e2e::wire::{sync, tags};
use pgward_e2e::*;

/// Messages up to and including the first of tag `until` (or what came within 30 s).
async fn read_to(c: &mut RawConn, until: u8) -> Vec<Msg> {
    let mut got = Vec::new();
    while let ReadResult::Msg(m) = c.read_msg(30).await {
        let done = m.tag == until;
        got.push(m);
        if done {
            break;
        }
    }
    got
}

async fn a_sync_behind_a_simple_copy_keeps_later_results_masked(mode: &str) {
    let up = upstream::shared();
    let db = up.fresh_db(&format!("copy_sync_{mode}"));
    up.sql(
        &db,
        "UPDATE users SET ssn = '000-77-1234' WHERE id = 1; \
         CREATE TABLE scratch (x text); GRANT ALL ON scratch TO PUBLIC",
    );
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode(mode)
        .masking_users("ssn")
        .start();
    let mut c = RawConn::startup(proxy.addr(), CAROL.0, CAROL.1, &db, &[])
        .await
        .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()));
    c.simple_query("SELECT 1").await;
    wait_for_catalog(&proxy).await;
    let mut out = query_frame("COPY scratch FROM STDIN");
    out.extend(sync());
    c.send(&out).await.expect("send");
    let started = read_to(&mut c, b'G').await;
    assert_eq!(tags(&started), "G", "{mode}: the COPY did not start");
    c.send(&[b'c', 0, 0, 0, 4]).await.expect("CopyDone");
    let copied = read_to(&mut c, b'Z').await;
    assert!(first_error(&copied).is_none(), "{mode}: {}", tags(&copied));
    let failed = c.simple_query("SELECT 'x'::int").await;
    assert_eq!(tags(&failed), "EZ", "{mode}");
    let got = c
        .simple_query("SELECT ssn || '' AS x FROM users WHERE id = 1")
        .await;
    assert!(first_error(&got).is_none(), "{mode}: {}", tags(&got));
    let values = rows(&got);
    assert_eq!(values.len(), 1, "{mode}: {}", tags(&got));
    let x = values[0][0].clone().unwrap_or_default();
    assert!(!x.contains("77-1234"), "{mode}: the ssn leaked: {values:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_behind_a_simple_copy_keeps_later_results_masked_transaction_mode() {
    a_sync_behind_a_simple_copy_keeps_later_results_masked("transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_behind_a_simple_copy_keeps_later_results_masked_session_mode() {
    a_sync_behind_a_simple_copy_keeps_later_results_masked("session").await;
}
