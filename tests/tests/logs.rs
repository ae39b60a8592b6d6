//! What an on-call engineer reads in pgward's log: connect and disconnect lines (user, role,
//! peer, duration, statements, bytes), failed logins with their reason (which the client never
//! sees), upstream failures with the upstream's own error, one session id shared with the
//! audit records, no ANSI colours in a file, JSON on request.

use std::time::Duration;

use pgward_e2e::ops::log_field;
use pgward_e2e::proxy::{ALICE, DAVE};
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::*;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_disconnect_and_failed_logins_are_logged() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();

    let c = connect(&proxy, DAVE.0, APP_DB).await;
    assert_eq!(simple_value(&c, "SELECT 41 + 1").await, "42");
    simple_rows(&c, "SELECT 'x' FROM generate_series(1, 3)")
        .await
        .unwrap();
    drop(c);

    let connected = tokio::task::block_in_place(|| {
        proxy.wait_log(&["client connected", &format!("user={}", DAVE.0)], WAIT)
    });
    let session = log_field(&connected, "session").expect("session id on the connect line");
    assert_eq!(log_field(&connected, "role").as_deref(), Some("engineer"));
    assert_eq!(log_field(&connected, "database").as_deref(), Some(APP_DB));
    assert!(log_field(&connected, "peer").is_some_and(|p| p.starts_with("127.0.0.1:")));

    let gone = tokio::task::block_in_place(|| {
        proxy.wait_log(
            &["client disconnected", &format!("session={session} ")],
            WAIT,
        )
    });
    assert_eq!(log_field(&gone, "user").as_deref(), Some(DAVE.0));
    assert_eq!(
        log_field(&gone, "statements").as_deref(),
        Some("2"),
        "{gone}"
    );
    assert!(log_field(&gone, "duration").is_some(), "{gone}");
    let received: u64 = log_field(&gone, "bytes_received").unwrap().parse().unwrap();
    let sent: u64 = log_field(&gone, "bytes_sent").unwrap().parse().unwrap();
    assert!(received > 0 && sent > received, "{gone}");

    // The same id in the audit records of that session.
    let mut audited = Vec::new();
    for _ in 0..100 {
        audited = proxy
            .audit_records()
            .into_iter()
            .filter(|r| r["user"] == DAVE.0)
            .collect();
        if audited.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(audited.len(), 2, "{audited:?}");
    for r in &audited {
        assert_eq!(r["session"].to_string(), session, "{r}");
    }

    // Failed logins: the reason is in the log only.
    let mut cfg = pg_config(&proxy, ALICE.0, APP_DB);
    cfg.password("not-the-password");
    let e = connect_with(cfg)
        .await
        .expect_err("wrong password accepted");
    assert_eq!(sqlstate(&e), "28P01");
    assert!(!describe(&e).contains("wrong password"), "{}", describe(&e));
    let line = tokio::task::block_in_place(|| {
        proxy.wait_log(&["login failed", &format!("user={}", ALICE.0)], WAIT)
    });
    assert_eq!(
        log_field(&line, "reason").as_deref(),
        Some("wrong password"),
        "{line}"
    );
    assert!(log_field(&line, "peer").is_some(), "{line}");

    let mut cfg = pg_config(&proxy, ALICE.0, APP_DB);
    cfg.user("mallory");
    let e = connect_with(cfg).await.expect_err("unknown user accepted");
    assert_eq!(sqlstate(&e), "28P01");
    let line =
        tokio::task::block_in_place(|| proxy.wait_log(&["login failed", "user=mallory"], WAIT));
    assert_eq!(
        log_field(&line, "reason").as_deref(),
        Some("unknown user"),
        "{line}"
    );

    // Nothing but plain text in a log file; no password anywhere.
    let log = proxy.stderr();
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escape codes in a redirected log:\n{log}"
    );
    assert!(!log.contains("not-the-password") && !log.contains(DAVE.1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_logged_with_its_error() {
    let dead_port = pgward::local_pg::free_port().unwrap();
    let proxy = ProxyBuilder::new(dead_port).start();
    let e = try_connect(&proxy, DAVE.0, APP_DB)
        .await
        .expect_err("connected through a dead upstream");
    assert_eq!(sqlstate(&e), "08001", "{}", describe(&e));
    let line =
        tokio::task::block_in_place(|| proxy.wait_log(&["cannot open a server connection"], WAIT));
    assert!(
        line.contains("refused"),
        "the upstream's error is missing: {line}"
    );
    assert_eq!(
        log_field(&line, "upstream"),
        Some(format!("127.0.0.1:{dead_port}"))
    );
    assert_eq!(log_field(&line, "database").as_deref(), Some(APP_DB));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_on_request() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .env("PGWARD_LOG_FORMAT", "json")
        .start();
    let c = connect(&proxy, DAVE.0, APP_DB).await;
    assert_eq!(simple_value(&c, "SELECT 1").await, "1");
    drop(c);
    tokio::task::block_in_place(|| proxy.wait_log(&["client disconnected"], WAIT));
    let mut connected = None;
    for line in proxy.stderr().lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{v}");
        if v["message"] == "client connected" {
            connected = Some(v);
        }
    }
    let v = connected.expect("a client connected line");
    assert_eq!(v["user"], DAVE.0);
    assert_eq!(v["role"], "engineer");
    assert!(v["span"]["session"].is_u64(), "{v}");
    assert!(v["span"]["peer"].is_string(), "{v}");
}
