//! Reload, shutdown and scale-out, with the real binary: a reload changes a role's rules for
//! the next statement and resizes pools in place without dropping anyone, a broken config is
//! kept out; SIGTERM lets transactions finish within `listen.shutdown_grace`, then 57P01; two
//! instances share a port (`reuse_port`) and forward cancel requests to the key's owner.

use std::time::{Duration, Instant};

use pgward_e2e::ops::{admin_rows, num, text};
use pgward_e2e::proxy::{ALICE, BOB, DAVE};
use pgward_e2e::raw::{RawConn, ReadResult};
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::*;

const WAIT: Duration = Duration::from_secs(15);

async fn pool_row(
    admin: &tokio_postgres::Client,
) -> std::collections::BTreeMap<String, Option<String>> {
    let rows = admin_rows(admin, "SHOW POOLS").await.unwrap();
    rows.into_iter()
        .find(|r| text(r, "database") == APP_DB && text(r, "user") == "owner")
        .unwrap_or_else(|| panic!("no owner pool for {APP_DB}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_changes_a_roles_rules_for_its_next_statement() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, DAVE.0, APP_DB).await;
    let rows = simple_rows(&c, "SELECT generate_series(1, 5)")
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);

    let tighter = proxy.builder().role("engineer", "max_result_rows", 2);
    proxy.rewrite_config(&tighter);
    proxy.signal("HUP");
    tokio::task::block_in_place(|| proxy.wait_log(&["configuration reloaded"], WAIT));

    // Same connection, next statement: the new limit.
    let e = simple_rows(&c, "SELECT generate_series(1, 5)")
        .await
        .expect_err("the reloaded max_result_rows did not apply");
    assert_eq!(sqlstate(&e), "54000", "{}", describe(&e));
    assert_usable(&c, "after the reload").await;

    // A broken file changes nothing: the process, its clients and the old rules stay.
    std::fs::write(proxy.config_path(), "[pool]\nsize = 0\nbogus = [\n").unwrap();
    proxy.signal("HUP");
    tokio::task::block_in_place(|| proxy.wait_log(&["reload failed"], WAIT));
    let mut proxy = proxy;
    assert!(proxy.is_running());
    assert_usable(&c, "after a failed reload").await;
    let e = simple_rows(&c, "SELECT generate_series(1, 5)")
        .await
        .expect_err("limit lost");
    assert_eq!(sqlstate(&e), "54000");
    let fresh = connect(&proxy, DAVE.0, APP_DB).await;
    assert_usable(&fresh, "a new client after a failed reload").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_resizes_a_pool_in_place() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .pool_size(2)
        .checkout_timeout("60s")
        .set("admin", "users", vec![ALICE.0])
        .start();
    let admin = connect(&proxy, ALICE.0, "pgward").await;

    // Four clients open transactions on a pool of two: two hold servers, two wait.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(std::sync::Arc::new(connect(&proxy, BOB.0, APP_DB).await));
    }
    let mut begins = Vec::new();
    for c in &clients {
        let c = c.clone();
        begins.push(tokio::spawn(async move {
            c.simple_query("BEGIN").await.unwrap();
            c.simple_query("SELECT 1").await.unwrap();
        }));
    }
    let start = Instant::now();
    loop {
        let p = pool_row(&admin).await;
        if num(&p, "sv_active") == 2 && num(&p, "cl_waiting") == 2 {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "never saw 2 active and 2 waiting: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Grow to four through the console's RELOAD: the waiting clients get servers.
    proxy.rewrite_config(&proxy.builder().pool_size(4));
    admin_rows(&admin, "RELOAD").await.unwrap();
    for b in begins {
        deadline(10, "a waiting client after the pool grew", b)
            .await
            .unwrap();
    }
    let p = pool_row(&admin).await;
    assert_eq!(num(&p, "pool_size"), 4);
    assert_eq!(num(&p, "sv_active"), 4, "{p:?}");
    assert_eq!(num(&p, "cl_waiting"), 0, "{p:?}");

    // Shrink to one: servers beyond it close as they come back; nobody is dropped.
    proxy.rewrite_config(&proxy.builder().pool_size(1));
    admin_rows(&admin, "RELOAD").await.unwrap();
    for c in &clients {
        c.simple_query("COMMIT").await.unwrap();
    }
    let start = Instant::now();
    loop {
        let p = pool_row(&admin).await;
        if num(&p, "pool_size") == 1 && num(&p, "sv_active") + num(&p, "sv_idle") <= 1 {
            break;
        }
        assert!(start.elapsed() < WAIT, "pool did not shrink: {p:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for c in &clients {
        assert_usable(c, "after the pool shrank").await;
    }

    // A broken config through RELOAD: an error naming the problem, the old config stays.
    std::fs::write(proxy.config_path(), "[pool]\nsize = 0\n").unwrap();
    let e = admin
        .simple_query("RELOAD")
        .await
        .expect_err("broken config reloaded");
    assert_eq!(sqlstate(&e), "F0000");
    let d = e
        .as_db_error()
        .and_then(|d| d.detail())
        .unwrap_or_default()
        .to_string();
    assert!(d.contains("upstream") || d.contains("pool.size"), "{d}");
    assert_eq!(num(&pool_row(&admin).await, "pool_size"), 1);
}

async fn expect_57p01(c: &mut RawConn, secs: u64, what: &str) {
    match c.read_msg(secs).await {
        ReadResult::Msg(m) if m.tag == b'E' => {
            assert_eq!(
                m.code().as_deref(),
                Some("57P01"),
                "{what}: {:?}",
                m.message()
            )
        }
        other => panic!("{what}: expected 57P01, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_idle_clients_lets_transactions_finish_then_57p01() {
    let up = upstream::shared();
    let mut proxy = ProxyBuilder::new(up.port())
        .set("listen", "shutdown_grace", "3s")
        .start();
    let pw = proxy.password(BOB.0);
    let mut idle = RawConn::startup(proxy.addr(), BOB.0, &pw, APP_DB, &[])
        .await
        .unwrap();
    let mut finishing = RawConn::startup(proxy.addr(), BOB.0, &pw, APP_DB, &[])
        .await
        .unwrap();
    let mut lingering = RawConn::startup(proxy.addr(), BOB.0, &pw, APP_DB, &[])
        .await
        .unwrap();
    for c in [&mut finishing, &mut lingering] {
        c.simple_query("BEGIN").await;
        c.simple_query("SELECT 1").await;
    }
    assert_eq!(
        idle.simple_query("SELECT 1").await.last().map(|m| m.tag),
        Some(b'Z')
    );
    let stopped = Instant::now();
    proxy.signal("TERM");

    // The idle client is told at once.
    expect_57p01(&mut idle, 2, "idle client at SIGTERM").await;
    // A transaction in flight may go on and finish...
    let msgs = finishing.simple_query("SELECT 2").await;
    assert!(msgs.iter().all(|m| m.tag != b'E'), "{msgs:?}");
    let msgs = finishing.simple_query("COMMIT").await;
    assert!(msgs.iter().all(|m| m.tag != b'E'), "{msgs:?}");
    // ...and its client is let go after it.
    expect_57p01(&mut finishing, 2, "client after its COMMIT").await;
    // One that lingers past the grace period gets 57P01 then.
    expect_57p01(&mut lingering, 10, "client still in a transaction").await;
    let waited = stopped.elapsed();
    assert!(
        waited >= Duration::from_millis(2500),
        "grace cut short: {waited:?}"
    );
    let code = tokio::task::block_in_place(|| proxy.wait_exit(Duration::from_secs(15)));
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_a_port_and_forward_cancels() {
    let up = upstream::shared();
    let shared_port = pgward::local_pg::free_port().unwrap();
    let own = [
        pgward::local_pg::free_port().unwrap(),
        pgward::local_pg::free_port().unwrap(),
    ];
    let instance = |id: i64| {
        ProxyBuilder::new(up.port())
            .listen_port(shared_port)
            .set("peers", "self", id)
            .set("peers", "reuse_port", true)
            .set("peers.members", "1", format!("127.0.0.1:{}", own[0]))
            .set("peers.members", "2", format!("127.0.0.1:{}", own[1]))
            .start()
    };
    let first = instance(1);
    let second = instance(2);
    tokio::task::block_in_place(|| {
        first.wait_log(&["listening for peers"], WAIT);
        second.wait_log(&["listening for peers"], WAIT);
    });

    // The shared port: the kernel spreads clients over both processes.
    for _ in 0..24 {
        let c = connect(&first, DAVE.0, APP_DB).await;
        assert_eq!(simple_value(&c, "SELECT 1").await, "1");
    }
    for p in [&first, &second] {
        let n = p.stderr().matches("client connected").count();
        assert!(
            n > 0,
            "an instance got no client on the shared port:\n{}",
            p.stderr()
        );
    }

    // A client on the first instance; its cancel reaches the second one, which forwards it.
    let mut cfg = tokio_postgres::Config::new();
    cfg.host("127.0.0.1")
        .port(own[0])
        .user(DAVE.0)
        .password(first.password(DAVE.0))
        .dbname(APP_DB)
        .ssl_mode(tokio_postgres::config::SslMode::Disable);
    let c = connect_with(cfg).await.unwrap();
    let token = c.cancel_token();
    let started = Instant::now();
    let sleeper =
        tokio::spawn(async move { c.simple_query("SELECT pg_sleep(30)").await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to_second = tokio::net::TcpStream::connect(("127.0.0.1", own[1]))
        .await
        .unwrap();
    token
        .cancel_query_raw(to_second, tokio_postgres::NoTls)
        .await
        .unwrap();
    let r = deadline(15, "the cancelled sleep", sleeper).await.unwrap();
    let e = r.expect_err("pg_sleep(30) was not cancelled");
    assert_eq!(sqlstate(&e), "57014", "{}", describe(&e));
    assert!(started.elapsed() < Duration::from_secs(10));
    tokio::task::block_in_place(|| {
        second.wait_log(&["cancel request forwarded"], WAIT);
    });
}
