//! A client that pipelines without reading its answers: pgward's memory stays bounded (it
//! stops taking the client's messages past a bound of owed answers, as PostgreSQL stops
//! reading a client it cannot write to), and other clients are still served.

use std::time::Duration;

use pgward_e2e::proxy::{ALICE, DAVE};
use pgward_e2e::raw::{self, RawConn};
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::*;

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Send `frame` over and over, up to `limit` bytes or until the writes block for 2 s.
async fn pump(c: &mut RawConn, frame: &[u8], limit: usize) -> usize {
    let chunk = frame.repeat(4000);
    let mut sent = 0;
    while sent < limit {
        match tokio::time::timeout(Duration::from_secs(2), c.send(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            _ => break,
        }
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_costs_bounded_memory() {
    let up = upstream::shared();
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let Some(pid) = proxy.pid() else {
            panic!("no pgward process");
        };
        let conn = RawConn::connect_small_window(proxy.addr()).await;
        let mut c = match RawConn::startup_on(conn, ALICE.0, ALICE.1, APP_DB, &[]).await {
            Ok(c) => c,
            Err(e) => panic!("login: {e:?}"),
        };
        let before = rss_kib(pid);
        // Empty queries: six bytes each, each answered; before the bound, each one held
        // hundreds of bytes in pgward until answered and read.
        let sent = pump(&mut c, &raw::query_frame(""), 12 << 20).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let grown = rss_kib(pid).saturating_sub(before);
        assert!(
            grown < 96 * 1024,
            "{mode}: pgward grew {grown} KiB while a client sent {sent} bytes it never read"
        );
        let other = connect(&proxy, DAVE.0, APP_DB).await;
        assert_usable(&other, mode).await;
        drop(c);
    }
}
