//! Pooling: many clients over few server connections, limits, checkout timeout, state hygiene.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use pgward_e2e::proxy::{ALICE, BOB, DAVE};
use pgward_e2e::upstream::{self, APP_DB, RO_USER};
use pgward_e2e::*;

trait OwnedError {
    /// (SQLSTATE, description, message)
    fn to_owned_error(&self) -> (String, String, String);
}

impl OwnedError for tokio_postgres::Error {
    fn to_owned_error(&self) -> (String, String, String) {
        (
            sqlstate(self),
            describe(self),
            self.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_default(),
        )
    }
}

/// Upstream backends of `login` connected to `db`.
fn backends(up: &Upstream, db: &str, login: &str) -> usize {
    up.sql(
        "postgres",
        &format!(
            // pgward's catalog reader is a connection of its own, not the pool's.
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND usename = '{login}' \
             AND application_name <> 'pgward-catalog'"
        ),
    )
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_clients_over_a_pool_of_five() {
    let up = upstream::shared();
    let db = up.fresh_db("pool300");
    let proxy = Arc::new(
        ProxyBuilder::new(up.port())
            .pool_mode("transaction")
            .pool_size(5)
            .checkout_timeout("60s")
            .start(),
    );
    let max_seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Watch the upstream while the clients run.
    let watcher = {
        let (max_seen, stop, db) = (max_seen.clone(), stop.clone(), db.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let n = backends(upstream::shared(), &db, RO_USER);
                max_seen.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let start = Instant::now();
    // All 300 are connected at the same time, then all query at once. Connects are paced (32 at
    // a time) only because the client side's SCRAM (PBKDF2) in a debug build is slow on 2 cores.
    let connect_gate = Arc::new(tokio::sync::Semaphore::new(32));
    let all_connected = Arc::new(tokio::sync::Barrier::new(300));
    let tasks = (0..300).map(|i: i32| {
        let proxy = proxy.clone();
        let db = db.clone();
        let gate = connect_gate.clone();
        let barrier = all_connected.clone();
        tokio::spawn(async move {
            let user = if i % 2 == 0 { ALICE.0 } else { DAVE.0 };
            let c = {
                let _permit = gate.acquire().await.unwrap();
                connect(&proxy, user, &db).await
            };
            barrier.wait().await;
            // A single statement, then a transaction block of three.
            let v = simple_value(
                &c,
                &format!("SELECT {i} + count(*) FROM users WHERE id <= 3"),
            )
            .await;
            assert_eq!(v, (i + 3).to_string());
            c.simple_query("BEGIN").await.unwrap();
            let v = simple_value(&c, &format!("SELECT {i} * 2")).await;
            assert_eq!(v, (i * 2).to_string());
            c.simple_query("COMMIT").await.unwrap();
            i
        })
    });
    let results = deadline(180, "300 clients", join_all(tasks)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    watcher.join().unwrap();
    let mut done: Vec<i32> = results
        .into_iter()
        .map(|r| r.expect("client task panicked"))
        .collect();
    done.sort();
    assert_eq!(done, (0..300).collect::<Vec<_>>());
    let max = max_seen.load(std::sync::atomic::Ordering::SeqCst);
    assert!(max <= 5, "pool of 5 used {max} upstream connections");
    eprintln!(
        "300 clients over a pool of 5: {:?}, at most {max} upstream connections",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_client_connections_answers_53300() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .max_client_connections(3)
        .start();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&proxy, ALICE.0, APP_DB).await);
    }
    let e = try_connect(&proxy, ALICE.0, APP_DB)
        .await
        .expect_err("a 4th client was accepted");
    let d = e
        .as_db_error()
        .unwrap_or_else(|| panic!("no server error: {e:?}"));
    assert_eq!(d.code().code(), "53300", "{}", describe(&e));
    assert!(d.message().starts_with("pgward: "), "{}", d.message());
    for c in &held {
        assert_usable(c, "held client").await;
    }
    // A slot frees up when a client leaves.
    held.pop();
    let t = Instant::now();
    loop {
        match try_connect(&proxy, ALICE.0, APP_DB).await {
            Ok(c) => {
                assert_usable(&c, "client after a slot freed").await;
                break;
            }
            Err(e) if t.elapsed() < Duration::from_secs(10) && sqlstate(&e) == "53300" => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("slot not freed: {}", describe(&e)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_timeout_answers_53300_and_the_pool_recovers() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(1)
        .checkout_timeout("500ms")
        .start();
    let holder = connect(&proxy, ALICE.0, APP_DB).await;
    holder.simple_query("BEGIN").await.unwrap();
    assert_eq!(simple_value(&holder, "SELECT 1").await, "1");

    // 53300 after checkout_timeout, at the first query (or at connect, if pgward needs a
    // server connection during startup).
    let t = Instant::now();
    let waiter = try_connect(&proxy, DAVE.0, APP_DB).await;
    let e = match &waiter {
        Err(e) => {
            eprintln!("note: checkout happened at connect time: {}", describe(e));
            e.to_owned_error()
        }
        Ok(w) => deadline(10, "checkout timeout", w.simple_query("SELECT 2"))
            .await
            .unwrap_err()
            .to_owned_error(),
    };
    assert_eq!(e.0, "53300", "{}", e.1);
    assert!(e.2.starts_with("pgward: "), "{}", e.1);
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "gave up too early: {:?}",
        t.elapsed()
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "checkout_timeout not honoured: {:?}",
        t.elapsed()
    );

    holder.simple_query("COMMIT").await.unwrap();
    let waiter = match waiter {
        Ok(w) => w,
        Err(_) => connect(&proxy, DAVE.0, APP_DB).await,
    };
    assert_eq!(simple_value(&waiter, "SELECT 3").await, "3");
    assert_usable(&holder, "holder after commit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_clients_get_the_server_when_it_frees_up() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(1)
        .checkout_timeout("10s")
        .start();
    let holder = connect(&proxy, ALICE.0, APP_DB).await;
    holder.simple_query("BEGIN").await.unwrap();
    holder.simple_query("SELECT 1").await.unwrap();
    let waiters: Vec<_> = (0..5)
        .map(|i| {
            let p = &proxy;
            async move {
                let c = connect(p, DAVE.0, APP_DB).await;
                simple_value(&c, &format!("SELECT {i}")).await
            }
        })
        .collect();
    let release = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        holder.simple_query("COMMIT").await.unwrap();
    };
    let (vals, _) = deadline(30, "queued clients", async {
        futures::join!(join_all(waiters), release)
    })
    .await;
    assert_eq!(vals, vec!["0", "1", "2", "3", "4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_pooling_does_not_leak_state_to_the_next_client() {
    let up = upstream::shared();
    let db = up.fresh_db("leak");
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("session")
        .pool_size(1)
        .start();
    let default_work_mem = simple_value(&connect(&proxy, DAVE.0, &db).await, "SHOW work_mem").await;
    // (that client is dropped: its server goes back to the pool)
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let a = connect(&proxy, ALICE.0, &db).await;
        a.simple_query("SET work_mem = '7MB'").await.unwrap();
        a.simple_query("PREPARE leaked AS SELECT 42").await.unwrap();
        a.simple_query("DECLARE leaked_cur CURSOR WITH HOLD FOR SELECT 1")
            .await
            .unwrap_or_else(|e| panic!("DECLARE: {}", describe(&e)));
        a.simple_query("LISTEN leaked_channel").await.unwrap();
        assert_eq!(simple_value(&a, "SHOW work_mem").await, "7MB");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = connect(&proxy, DAVE.0, &db).await;
    assert_eq!(
        simple_value(&b, "SHOW work_mem").await,
        default_work_mem,
        "SET leaked to the next client"
    );
    let e = b
        .simple_query("EXECUTE leaked")
        .await
        .expect_err("prepared statement leaked");
    assert_eq!(sqlstate(&e), "26000", "{}", describe(&e));
    let e = b
        .simple_query("FETCH NEXT FROM leaked_cur")
        .await
        .expect_err("cursor leaked");
    assert_eq!(sqlstate(&e), "34000", "{}", describe(&e));
    assert_eq!(
        simple_value(&b, "SELECT count(*) FROM pg_listening_channels()").await,
        "0",
        "LISTEN leaked"
    );
    // It really was the same server connection (pool of one).
    assert!(backends(up, &db, RO_USER) <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_mid_transaction_leaves_nothing_behind() {
    let up = upstream::shared();
    let db = up.fresh_db("vanish");
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .pool_size(1)
            .start();
        {
            let raw_addr = proxy.addr();
            let mut raw = raw::RawConn::startup(raw_addr, BOB.0, &proxy.password(BOB.0), &db, &[])
                .await
                .unwrap_or_else(|e| panic!("startup: {:?}", e.fields()));
            let r = raw.simple_query("BEGIN").await;
            assert!(raw::first_error(&r).is_none(), "{r:?}");
            let r = raw
                .simple_query("UPDATE documents SET status = 'vanished' WHERE id = 1")
                .await;
            assert!(raw::first_error(&r).is_none(), "{r:?}");
            // Gone without Terminate.
            drop(raw);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let c = connect(&proxy, BOB.0, &db).await;
        assert_eq!(
            simple_value(&c, "SHOW transaction_isolation").await,
            "read committed"
        );
        let rows = simple_rows(&c, "SELECT status FROM documents WHERE id = 1")
            .await
            .unwrap();
        assert_ne!(
            rows[0][0].as_deref(),
            Some("vanished"),
            "{mode}: uncommitted write visible"
        );
        // The row is not locked by a leftover transaction: this update must not block.
        let r = deadline(
            10,
            "update of the row the vanished client touched",
            c.simple_query("UPDATE documents SET updated_at = updated_at WHERE id = 1"),
        )
        .await;
        r.unwrap_or_else(|e| panic!("{mode}: {}", describe(&e)));
        assert_eq!(
            up.sql(
                &db,
                "SELECT count(*) FROM documents WHERE status = 'vanished'"
            ),
            "0",
            "{mode}"
        );
    }
}

/// Transaction mode: a client whose server is idle gets that one back, not whichever server
/// was given back last (its statements and settings are already there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_its_own_server_back_when_it_is_idle() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(2)
        .start();
    let a = connect(&proxy, ALICE.0, APP_DB).await;
    let b = connect(&proxy, DAVE.0, APP_DB).await;
    for round in 0..3 {
        // Both in a block at once: two servers. a gives its back first, b last, so b's is the
        // one most recently given back.
        a.simple_query("BEGIN").await.unwrap();
        let a_pid = simple_value(&a, "SELECT pg_backend_pid()").await;
        b.simple_query("BEGIN").await.unwrap();
        let b_pid = simple_value(&b, "SELECT pg_backend_pid()").await;
        assert_ne!(a_pid, b_pid, "round {round}");
        a.simple_query("COMMIT").await.unwrap();
        b.simple_query("COMMIT").await.unwrap();
        assert_eq!(
            simple_value(&a, "SELECT pg_backend_pid()").await,
            a_pid,
            "round {round}: a got b's server"
        );
    }
}
