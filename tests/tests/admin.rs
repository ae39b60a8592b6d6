//! The admin console (database `pgward`) and the metrics endpoint, with real clients: psql
//! and tokio-postgres on the console while pgbench runs through the proxy, and a Prometheus
//! text parser on `/metrics`.

use std::time::Duration;

use pgward_e2e::ops::{admin_rows, http_get, num, text, AdminRows};
use pgward_e2e::proxy::{ALICE, BOB, CAROL, DAVE};
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::*;

const POOL_SIZE: i64 = 3;
const PGBENCH_CLIENTS: usize = 8;

fn admin_proxy(metrics_port: u16) -> Proxy {
    let up = upstream::shared();
    ProxyBuilder::new(up.port())
        .pool_size(POOL_SIZE)
        .checkout_timeout("30s")
        .set("admin", "users", vec![ALICE.0])
        .set("admin", "metrics", format!("127.0.0.1:{metrics_port}"))
        .start()
}

async fn console(proxy: &Proxy) -> tokio_postgres::Client {
    connect(proxy, ALICE.0, "pgward").await
}

fn rows_for<'a>(
    rows: &'a AdminRows,
    col: &str,
    value: &str,
) -> Vec<&'a std::collections::BTreeMap<String, Option<String>>> {
    rows.iter().filter(|r| text(r, col) == value).collect()
}

/// Run pgbench (a sleeping statement, so clients pile up on a small pool) in a thread.
fn start_pgbench(proxy: &Proxy, seconds: u32) -> std::thread::JoinHandle<CmdOutput> {
    let script = proxy.dir().join("sleep.sql");
    std::fs::write(&script, "SELECT pg_sleep(0.02);\n").unwrap();
    let mut cmd = libpq_command(proxy, "pgbench", CAROL.0, APP_DB);
    cmd.args([
        "-n",
        "-M",
        "simple",
        "-c",
        &PGBENCH_CLIENTS.to_string(),
        "-T",
        &seconds.to_string(),
        "-f",
    ])
    .arg(&script);
    std::thread::spawn(move || {
        run_with_timeout(
            cmd,
            None,
            Duration::from_secs(120),
            "pgbench through pgward",
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shows_pools_clients_servers_and_stats_while_pgbench_runs() {
    let metrics_port = pgward::local_pg::free_port().unwrap();
    let proxy = admin_proxy(metrics_port);
    let bench = start_pgbench(&proxy, 6);
    let admin = console(&proxy).await;

    // Wait until pgbench's clients are all in.
    let mut clients = AdminRows::new();
    for _ in 0..200 {
        clients = admin_rows(&admin, "SHOW CLIENTS").await.unwrap();
        if rows_for(&clients, "user", CAROL.0).len() >= PGBENCH_CLIENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bench_clients = rows_for(&clients, "user", CAROL.0);
    assert_eq!(
        bench_clients.len(),
        PGBENCH_CLIENTS,
        "SHOW CLIENTS: {clients:#?}"
    );
    for c in &bench_clients {
        assert_eq!(text(c, "database"), APP_DB);
        assert_eq!(text(c, "role"), "admin");
        assert_eq!(text(c, "type"), "C");
        assert!(
            ["active", "waiting", "idle"].contains(&text(c, "state").as_str()),
            "{c:?}"
        );
        assert_eq!(text(c, "addr"), "127.0.0.1");
        assert!(num(c, "port") > 0);
    }
    let me = rows_for(&clients, "user", ALICE.0);
    assert_eq!(me.len(), 1, "the console's own client is listed");
    assert_eq!(text(me[0], "database"), "pgward");

    // Under load: the small pool is busy and clients queue for it.
    let mut saw_waiting = false;
    let mut saw_active = false;
    for _ in 0..100 {
        let pools = admin_rows(&admin, "SHOW POOLS").await.unwrap();
        let p = rows_for(&pools, "database", APP_DB);
        assert_eq!(p.len(), 1, "SHOW POOLS: {pools:#?}");
        let p = p[0];
        assert_eq!(text(p, "user"), "owner");
        assert_eq!(text(p, "pool_mode"), "transaction");
        assert_eq!(num(p, "pool_size"), POOL_SIZE);
        let (sv_active, sv_idle) = (num(p, "sv_active"), num(p, "sv_idle"));
        assert!(sv_active + sv_idle <= POOL_SIZE, "{p:?}");
        assert_eq!(
            num(p, "cl_active") + num(p, "cl_waiting"),
            PGBENCH_CLIENTS as i64,
            "{p:?}"
        );
        saw_waiting |= num(p, "cl_waiting") > 0 && num(p, "maxwait_us") + num(p, "maxwait") > 0;
        saw_active |= sv_active > 0;
        if saw_waiting && saw_active {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(saw_active, "no active server seen in SHOW POOLS");
    assert!(saw_waiting, "8 clients on a pool of 3 never waited");

    // Servers: at most the pool size, each active one linked to a listed client.
    let servers = admin_rows(&admin, "SHOW SERVERS").await.unwrap();
    let clients = admin_rows(&admin, "SHOW CLIENTS").await.unwrap();
    let ours = rows_for(&servers, "database", APP_DB);
    assert!(
        !ours.is_empty() && ours.len() as i64 <= POOL_SIZE,
        "{servers:#?}"
    );
    for s in &ours {
        assert_eq!(text(s, "type"), "S");
        assert_eq!(text(s, "user"), "owner");
        assert!(num(s, "remote_pid") > 0, "{s:?}");
        if text(s, "state") == "active" {
            let link = text(s, "link");
            assert!(
                clients.iter().any(|c| text(c, "id") == link) || link.is_empty(),
                "server linked to unknown client {link}: {clients:#?}"
            );
        }
    }

    let out = bench.join().unwrap();
    out.assert_ok("pgbench");
    let stats = admin_rows(&admin, "SHOW STATS").await.unwrap();
    let st = rows_for(&stats, "database", APP_DB);
    assert_eq!(st.len(), 1, "{stats:#?}");
    let st = st[0];
    let xacts = num(st, "total_xact_count");
    assert!(xacts > 50, "{st:?}");
    // Every pgbench transaction is one statement; the greeting's first checkout is not.
    let queries = num(st, "total_query_count");
    assert!(
        queries >= xacts - PGBENCH_CLIENTS as i64 - 1 && queries <= xacts,
        "{st:?}"
    );
    assert!(
        num(st, "total_received") > 0 && num(st, "total_sent") > 0,
        "{st:?}"
    );
    assert!(num(st, "total_wait_time") > 0, "{st:?}");
    assert!(num(st, "avg_xact_time") > 0, "{st:?}");

    let decisions = admin_rows(&admin, "SHOW DECISIONS").await.unwrap();
    let allowed = rows_for(&decisions, "decision", "allowed");
    assert!(num(allowed[0], "count") >= queries, "{decisions:#?}");

    // psql's aligned output, as an operator reads it.
    for cmd in [
        "SHOW POOLS",
        "SHOW CLIENTS",
        "SHOW SERVERS",
        "SHOW STATS",
        "SHOW CONFIG",
    ] {
        let out = psql(&proxy, ALICE.0, "pgward", &["-c", cmd], None);
        out.assert_ok(cmd);
        let header = out.stdout.lines().next().unwrap_or_default().to_string();
        assert!(header.contains(" | "), "{cmd}: {}", out.stdout);
        assert!(out.stdout.contains(" row"), "{cmd}: {}", out.stdout);
        eprintln!("{cmd}:\n{}", out.stdout);
    }
    let dbs = admin_rows(&admin, "SHOW DATABASES").await.unwrap();
    let d = rows_for(&dbs, "name", APP_DB);
    assert_eq!(num(d[0], "pool_size"), POOL_SIZE, "{dbs:#?}");
    assert_eq!(text(d[0], "force_user"), "owner");
    let lists = admin_rows(&admin, "SHOW LISTS").await.unwrap();
    assert_eq!(
        num(rows_for(&lists, "list", "pools")[0], "items"),
        1,
        "{lists:#?}"
    );
    let out = psql(
        &proxy,
        ALICE.0,
        "pgward",
        &["-At", "-c", "SHOW VERSION"],
        None,
    );
    assert!(out.stdout.starts_with("pgward "), "{}", out.stdout);

    // The metrics, parsed by a Prometheus text parser.
    let (status, body) = http_get(([127, 0, 0, 1], metrics_port).into(), "/metrics");
    assert_eq!(status, 200);
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("metrics do not parse: {e}\n{body}"));
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(h) => {
                    h.iter().map(|b| b.count).fold(0.0, f64::max)
                }
                prometheus_parse::Value::Summary(_) => 0.0,
            })
            .sum()
    };
    assert!(
        value("pgward_statements_total", Some(("decision", "allowed"))) >= queries as f64,
        "{body}"
    );
    assert!(
        value("pgward_pool_wait_seconds", None) >= xacts as f64,
        "{body}"
    );
    assert!(value("pgward_query_duration_seconds", None) > 0.0, "{body}");
    assert!(
        value("pgward_clients", Some(("state", "idle"))) >= 1.0,
        "{body}"
    );
    assert!(
        value("pgward_servers", Some(("state", "idle"))) >= 1.0,
        "{body}"
    );
    assert!(
        value("pgward_client_received_bytes_total", None) > 0.0,
        "{body}"
    );
    assert!(
        value("pgward_client_sent_bytes_total", None) > 0.0,
        "{body}"
    );
    assert!(value("pgward_logins_total", Some(("result", "ok"))) >= PGBENCH_CLIENTS as f64);
    for family in [
        "pgward_pinned_clients",
        "pgward_masked_columns_total",
        "pgward_policy_cache_entries",
    ] {
        assert!(body.contains(family), "{family} missing:\n{body}");
    }
    let (status, _) = http_get(([127, 0, 0, 1], metrics_port).into(), "/other");
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_is_for_admin_users_only() {
    let proxy = admin_proxy(pgward::local_pg::free_port().unwrap());
    // A user who is not in [admin] users: 42501 after logging in.
    let e = try_connect(&proxy, DAVE.0, "pgward")
        .await
        .expect_err("non-admin got the console");
    assert_eq!(sqlstate(&e), "42501", "{}", describe(&e));
    // A wrong password: the usual 28P01.
    let mut cfg = pg_config(&proxy, ALICE.0, "pgward");
    cfg.password("wrong");
    let e = connect_with(cfg)
        .await
        .expect_err("wrong password accepted");
    assert_eq!(sqlstate(&e), "28P01");
    // Unknown commands and SQL get a clear error; the console stays usable.
    let admin = console(&proxy).await;
    for bad in ["SELECT 1", "SHOW TABLES", "KILL_CLIENT nobody"] {
        let e = admin.simple_query(bad).await.expect_err(bad);
        assert!(
            ["42601", "22P02"].contains(&sqlstate(&e).as_str()),
            "{bad}: {}",
            describe(&e)
        );
    }
    let users = admin_rows(&admin, "show users").await.unwrap();
    let alice = rows_for(&users, "name", ALICE.0);
    assert_eq!(text(alice[0], "admin"), "yes");
    assert_eq!(text(rows_for(&users, "name", DAVE.0)[0], "admin"), "no");
    assert_eq!(
        text(rows_for(&users, "name", BOB.0)[0], "access"),
        "read-write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_client_pause_and_resume() {
    let proxy = admin_proxy(pgward::local_pg::free_port().unwrap());
    let admin = console(&proxy).await;
    let victim = connect(&proxy, DAVE.0, APP_DB).await;
    assert_eq!(simple_value(&victim, "SELECT 7").await, "7");
    let clients = admin_rows(&admin, "SHOW CLIENTS").await.unwrap();
    let id = text(rows_for(&clients, "user", DAVE.0)[0], "id");
    admin_rows(&admin, &format!("KILL_CLIENT {id}"))
        .await
        .unwrap();
    let e = victim
        .simple_query("SELECT 1")
        .await
        .expect_err("a killed client could still query");
    let code = sqlstate(&e);
    assert!(code == "57P01" || victim.is_closed(), "{}", describe(&e));
    let clients = admin_rows(&admin, "SHOW CLIENTS").await.unwrap();
    assert!(rows_for(&clients, "id", &id).is_empty(), "{clients:#?}");

    // PAUSE holds new work until RESUME; the client is not dropped.
    let c = connect(&proxy, BOB.0, APP_DB).await;
    assert_eq!(simple_value(&c, "SELECT 1").await, "1");
    admin_rows(&admin, &format!("PAUSE {APP_DB}"))
        .await
        .unwrap();
    let pools = admin_rows(&admin, "SHOW POOLS").await.unwrap();
    assert!(rows_for(&pools, "database", APP_DB)
        .iter()
        .all(|p| text(p, "paused") == "yes"));
    let held = tokio::spawn(async move {
        let v = simple_value(&c, "SELECT 42").await;
        (c, v)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !held.is_finished(),
        "a statement ran while the pool was paused"
    );
    admin_rows(&admin, "RESUME").await.unwrap();
    let (_c, v) = deadline(10, "statement after RESUME", held).await.unwrap();
    assert_eq!(v, "42");
    let e = admin
        .simple_query("PAUSE nosuchdb")
        .await
        .expect_err("paused a missing db");
    assert_eq!(sqlstate(&e), "3D000");

    // KILL db ends every client of that database, not the console.
    let a = connect(&proxy, DAVE.0, APP_DB).await;
    let b = connect(&proxy, BOB.0, APP_DB).await;
    assert_usable(&a, "before KILL").await;
    admin_rows(&admin, &format!("KILL {APP_DB}")).await.unwrap();
    for c in [&a, &b] {
        c.simple_query("SELECT 1")
            .await
            .expect_err("a client survived KILL");
    }
    assert!(admin_rows(&admin, "SHOW VERSION").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shutdown_stops_pgward() {
    let mut proxy = admin_proxy(pgward::local_pg::free_port().unwrap());
    let admin = console(&proxy).await;
    let _ = admin.simple_query("SHUTDOWN").await;
    let code = tokio::task::block_in_place(|| proxy.wait_exit(Duration::from_secs(20)));
    assert_eq!(code, Some(0));
}
