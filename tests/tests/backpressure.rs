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

/// A Query announced at 64 MiB with its first `sent` MiB sent: the client's side of a large
/// message still arriving.
async fn start_large_query(c: &mut RawConn, sent_mib: usize) -> std::io::Result<()> {
    let announced: u32 = (64 << 20) + 4;
    let mut head = vec![b'Q'];
    head.extend_from_slice(&announced.to_be_bytes());
    c.send(&head).await?;
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..sent_mib {
        c.send(&chunk).await?;
    }
    Ok(())
}

/// Clients that announce large messages and send them slowly share one memory budget
/// (`listen.large_message_memory_mib`, past 1 MiB each): the client whose message would
/// pass it ends with 53200, and once the others leave their memory is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_still_arriving_share_one_memory_budget() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .set("listen", "large_message_memory_mib", 8i64)
        .start();
    let login = || async {
        match RawConn::startup(proxy.addr(), ALICE.0, ALICE.1, APP_DB, &[]).await {
            Ok(c) => c,
            Err(e) => panic!("login: {e:?}"),
        }
    };
    // 5 MiB charged for the first (6 MiB held, 1 MiB free).
    let mut first = login().await;
    start_large_query(&mut first, 6)
        .await
        .expect("first client's bytes");
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Another 5 MiB would pass 8 MiB: refused, the connection ends.
    let mut second = login().await;
    let _ = start_large_query(&mut second, 6).await;
    match second.read_msg(10).await {
        raw::ReadResult::Msg(m) => {
            assert_eq!(m.tag, b'E', "{m:?}");
            assert_eq!(m.code().as_deref(), Some("53200"), "{:?}", m.message());
        }
        other => panic!("the client over the budget got {other:?}"),
    }
    assert!(matches!(second.read_msg(5).await, raw::ReadResult::Closed));
    // The first is still waiting for the rest of its message, untouched.
    assert!(matches!(first.read_msg(1).await, raw::ReadResult::TimedOut));
    // Once it leaves, its memory is given back: another client may hold as much.
    drop(first);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut third = login().await;
    start_large_query(&mut third, 6)
        .await
        .expect("third client's bytes");
    assert!(matches!(third.read_msg(2).await, raw::ReadResult::TimedOut));
    let other = connect(&proxy, DAVE.0, APP_DB).await;
    assert_usable(&other, "transaction").await;
}

/// The named statements clients keep share one budget too (`listen.kept_statement_memory_mib`,
/// past 1 MiB each): a Parse that would pass it is refused with 53200 and the client goes on;
/// once a client leaves, what it kept is free for the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_statements_share_one_memory_budget() {
    for mode in ["transaction", "session"] {
        kept_statements_share_one_memory_budget_in(mode).await;
    }
}

async fn kept_statements_share_one_memory_budget_in(mode: &str) {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode(mode)
        .set("listen", "kept_statement_memory_mib", 2i64)
        .start();
    // Each statement is counted as three copies of its text (~600 KiB here).
    let sql = format!("SELECT 1 /* {} */", "x".repeat(200 << 10));
    let keep_until_refused = |client: tokio_postgres::Client| {
        let sql = sql.clone();
        async move {
            let mut kept = Vec::new();
            loop {
                match client.prepare(&sql).await {
                    Ok(s) => kept.push(s),
                    Err(e) => {
                        assert_eq!(sqlstate(&e), "53200", "{}", describe(&e));
                        return (client, kept);
                    }
                }
                assert!(kept.len() < 64, "never refused");
            }
        }
    };
    let (first, kept) = keep_until_refused(connect(&proxy, DAVE.0, APP_DB).await).await;
    assert!(
        kept.len() >= 2,
        "{mode}: {} kept before the budget",
        kept.len()
    );
    assert_usable(&first, "the refused client").await;
    // Another client has its free allowance and no more while the first holds the budget.
    let (second, fit) = keep_until_refused(connect(&proxy, DAVE.0, APP_DB).await).await;
    assert!(
        fit.len() < kept.len(),
        "{mode}: {} vs {}",
        fit.len(),
        kept.len()
    );
    drop((kept, first));
    tokio::time::sleep(Duration::from_secs(1)).await;
    second
        .prepare(&sql)
        .await
        .expect("what the first client kept is free again");
}
