//! Robustness: the upstream going away and coming back, garbage and hostile bytes on the
//! client socket, message types pgwire cannot decode, shutdown.

use std::time::{Duration, Instant};

use pgward_e2e::proxy::{ALICE, BOB};
use pgward_e2e::raw::{self, frame, startup_packet, Msg, RawConn, ReadResult};
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::*;

/// What the proxy does with a hostile connection: an ErrorResponse or a close, within `secs`.
async fn expect_error_or_close(c: &mut RawConn, secs: u64, what: &str) -> Option<Msg> {
    let t = Instant::now();
    loop {
        match c.read_msg(secs).await {
            ReadResult::Msg(m) if m.tag == b'E' => return Some(m),
            // Notices or anything else before the verdict: keep reading.
            ReadResult::Msg(_) if t.elapsed() < Duration::from_secs(secs) => continue,
            ReadResult::Msg(m) => panic!("{what}: unexpected {:?}", m.tag_char()),
            ReadResult::Closed => return None,
            ReadResult::TimedOut => panic!("{what}: neither an error nor a close within {secs}s"),
        }
    }
}

async fn assert_still_serving(proxy: &Proxy, what: &str) {
    let c = connect(proxy, ALICE.0, APP_DB).await;
    assert_usable(&c, what).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_stopped_and_started_again() {
    let up = Upstream::start(false);
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .set("upstream", "connect_timeout", "2s")
        .start();
    let before = connect(&proxy, ALICE.0, APP_DB).await;
    assert_eq!(
        simple_value(&before, "SELECT count(*) FROM users").await,
        "300"
    );

    up.stop();

    // The client that was connected gets an error (or its connection closes), not a hang.
    let r = deadline(
        20,
        "query while upstream is down",
        before.simple_query("SELECT 1"),
    )
    .await;
    match r {
        Ok(m) => panic!("query succeeded with the upstream down: {m:?}"),
        Err(e) => {
            let code = sqlstate(&e);
            assert!(
                code.starts_with("08") || code == "57P01" || code == "-----",
                "existing client: {}",
                describe(&e)
            );
        }
    }
    // New clients get an 08xxx error, at connect or at their first query.
    for _ in 0..3 {
        let t = Instant::now();
        let err = match try_connect(&proxy, ALICE.0, APP_DB).await {
            Err(e) => e,
            Ok(c) => deadline(20, "first query while down", c.simple_query("SELECT 1"))
                .await
                .expect_err("query succeeded with the upstream down"),
        };
        let code = sqlstate(&err);
        assert!(
            code == "08006" || code == "08001" || code == "08004" || code == "08000",
            "new client while upstream down: {}",
            describe(&err)
        );
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "took {:?}",
            t.elapsed()
        );
    }

    up.start_again();

    // Without restarting pgward, clients work again (allow the pool a few seconds).
    let t = Instant::now();
    loop {
        let attempt = async {
            let c = try_connect(&proxy, ALICE.0, APP_DB).await?;
            let rows = c.simple_query("SELECT count(*) FROM users").await?;
            Ok::<_, tokio_postgres::Error>(rows.len())
        };
        match deadline(20, "query after restart", attempt).await {
            Ok(n) => {
                assert!(n >= 1);
                break;
            }
            Err(e) if t.elapsed() < Duration::from_secs(15) => {
                eprintln!("not yet: {}", describe(&e));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!(
                "pgward did not recover after the upstream came back: {}",
                describe(&e)
            ),
        }
    }
    // Several clients in a row all work (no dead connections left in the pool).
    for _ in 0..5 {
        let c = connect(&proxy, ALICE.0, APP_DB).await;
        assert_eq!(simple_value(&c, "SELECT count(*) FROM users").await, "300");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_before_startup() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let addr = proxy.addr();

    // Random-looking bytes instead of a startup packet.
    let mut c = RawConn::connect(addr).await;
    let garbage: Vec<u8> = (0..256u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = c.send(&garbage).await;
    expect_error_or_close(&mut c, 10, "random bytes").await;

    // HTTP.
    let mut c = RawConn::connect(addr).await;
    let _ = c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    expect_error_or_close(&mut c, 10, "HTTP request").await;

    // An absurd length prefix: must not allocate 2 GiB or wait for it.
    for len in [0x7fff_ffffu32, 0xffff_ffff, 3, 0, 8] {
        let mut c = RawConn::connect(addr).await;
        let mut pkt = len.to_be_bytes().to_vec();
        pkt.extend_from_slice(&196608u32.to_be_bytes());
        let _ = c.send(&pkt).await;
        expect_error_or_close(&mut c, 10, &format!("startup length {len:#x}")).await;
    }

    // A wrong protocol version.
    let mut c = RawConn::connect(addr).await;
    let mut pkt = 8u32.to_be_bytes().to_vec();
    pkt.extend_from_slice(&0x0009_0000u32.to_be_bytes());
    let _ = c.send(&pkt).await;
    let m = expect_error_or_close(&mut c, 10, "protocol 9.0").await;
    if let Some(m) = m {
        assert!(m.code().is_some(), "{:?}", m.fields());
    }

    // Startup without a user.
    let mut c = RawConn::connect(addr).await;
    let _ = c.send(&startup_packet(&[("database", APP_DB)])).await;
    expect_error_or_close(&mut c, 10, "startup without user").await;

    // Startup parameters that are not NUL-terminated / not UTF-8.
    let mut c = RawConn::connect(addr).await;
    let mut body = 196608u32.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0\xff\xfe\xfd");
    let mut pkt = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    pkt.extend_from_slice(&body);
    let _ = c.send(&pkt).await;
    expect_error_or_close(&mut c, 10, "malformed startup parameters").await;

    assert_still_serving(&proxy, "after garbage before startup").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_silent_peers_do_not_block_others() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let addr = proxy.addr();
    let mut silent = Vec::new();
    for i in 0..30 {
        let mut c = RawConn::connect(addr).await;
        if i % 3 == 1 {
            // A length that promises more than ever comes.
            let mut pkt = 100u32.to_be_bytes().to_vec();
            pkt.extend_from_slice(&196608u32.to_be_bytes());
            let _ = c.send(&pkt).await;
        } else if i % 3 == 2 {
            // Half a length.
            let _ = c.send(&[0, 0]).await;
        }
        silent.push(c);
    }
    // Others are served meanwhile, promptly.
    let t = Instant::now();
    assert_still_serving(&proxy, "while 30 peers stall").await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "serving others took {:?}",
        t.elapsed()
    );
    // A client that stalls in the middle of authentication does not block others either.
    let mut c = RawConn::connect(addr).await;
    c.send(&startup_packet(&[("user", ALICE.0), ("database", APP_DB)]))
        .await
        .unwrap();
    match c.read_msg(10).await {
        ReadResult::Msg(m) => assert_eq!(m.tag, b'R', "expected an authentication request"),
        other => panic!("no authentication request: {other:?}"),
    }
    assert_still_serving(&proxy, "while a peer stalls in SCRAM").await;
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_after_authentication() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let addr = proxy.addr();
    let pw = proxy.password(ALICE.0);

    // An absurd length on a Query: an error or a close, promptly, without allocating it.
    for len in [0x7fff_fff0u32, 0xffff_ffff, 2] {
        let mut c = RawConn::startup(addr, ALICE.0, &pw, APP_DB, &[])
            .await
            .unwrap();
        let mut pkt = vec![b'Q'];
        pkt.extend_from_slice(&len.to_be_bytes());
        pkt.extend_from_slice(b"SELECT 1\0");
        let _ = c.send(&pkt).await;
        expect_error_or_close(&mut c, 10, &format!("Query with length {len:#x}")).await;
    }

    // An unknown message type.
    let mut c = RawConn::startup(addr, ALICE.0, &pw, APP_DB, &[])
        .await
        .unwrap();
    let _ = c.send(&frame(b'y', b"whatever")).await;
    expect_error_or_close(&mut c, 10, "unknown message type").await;

    // Random bytes after authentication.
    let mut c = RawConn::startup(addr, ALICE.0, &pw, APP_DB, &[])
        .await
        .unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(40503) >> 7) as u8)
        .collect();
    let _ = c.send(&garbage).await;
    expect_error_or_close(&mut c, 10, "garbage after auth").await;

    // A Query that is not NUL-terminated.
    let mut c = RawConn::startup(addr, ALICE.0, &pw, APP_DB, &[])
        .await
        .unwrap();
    let _ = c.send(&frame(b'Q', b"SELECT 1")).await;
    expect_error_or_close(&mut c, 10, "unterminated Query").await;

    // Invalid UTF-8 in query text: refused (never repaired and run), the session goes on or is
    // closed; never a crash.
    let mut c = RawConn::startup(addr, ALICE.0, &pw, APP_DB, &[])
        .await
        .unwrap();
    let _ = c.send(&frame(b'Q', b"SELECT '\xff\xfe'\0")).await;
    let r = c.read_msg(10).await;
    match r {
        ReadResult::Msg(m) if m.tag == b'E' => {
            let rest = c.until_ready(10).await;
            assert_eq!(rest.last().unwrap().tag, b'Z');
            let ok = c.simple_query("SELECT 'still here'").await;
            assert_eq!(raw::rows(&ok), vec![vec![Some("still here".to_string())]]);
        }
        ReadResult::Closed => {}
        other => panic!("invalid UTF-8 query: expected an error, got {other:?}"),
    }

    // A truncated frame followed by silence, then a normal client: served.
    let mut c = RawConn::startup(addr, ALICE.0, &pw, APP_DB, &[])
        .await
        .unwrap();
    let _ = c.send(&[b'Q', 0, 0, 0, 50, b'S', b'E']).await;
    assert_still_serving(&proxy, "after hostile frames").await;
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_call_message_gets_a_clear_error_and_the_session_goes_on() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    for user in [ALICE.0, BOB.0] {
        let mut c = RawConn::startup(proxy.addr(), user, &proxy.password(user), APP_DB, &[])
            .await
            .unwrap();
        // FunctionCall of an OID no function has (pgward cannot name it: refused), and one
        // cut short (malformed): each a clear error, nothing reaches the server.
        let mut body = Vec::new();
        body.extend_from_slice(&4_000_000_000u32.to_be_bytes());
        body.extend_from_slice(&0u16.to_be_bytes());
        body.extend_from_slice(&0u16.to_be_bytes());
        body.extend_from_slice(&0u16.to_be_bytes());
        for body in [&body[..], &body[..6]] {
            c.send(&frame(b'F', body)).await.unwrap();
            let msgs = c.until_ready(10).await;
            let e = raw::first_error(&msgs)
                .unwrap_or_else(|| panic!("{user}: FunctionCall not refused: {msgs:?}"));
            assert!(e.code().is_some(), "{:?}", e.fields());
            assert!(
                !msgs.iter().any(|m| m.tag == b'V'),
                "{user}: FunctionCall reached the server"
            );
        }
        let ok = c.simple_query("SELECT 'after F'").await;
        assert_eq!(
            raw::rows(&ok),
            vec![vec![Some("after F".to_string())]],
            "{user}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_and_gss_requests_are_answered() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    // GSSENCRequest: answered 'N', then a normal startup works on the same socket.
    let mut c = RawConn::connect(proxy.addr()).await;
    let mut pkt = 8u32.to_be_bytes().to_vec();
    pkt.extend_from_slice(&80877104u32.to_be_bytes());
    c.send(&pkt).await.unwrap();
    assert_eq!(c.read_byte(10).await, Some(b'N'));
    // SSLRequest with client_tls = disable: 'N'.
    let mut pkt = 8u32.to_be_bytes().to_vec();
    pkt.extend_from_slice(&80877103u32.to_be_bytes());
    c.send(&pkt).await.unwrap();
    assert_eq!(c.read_byte(10).await, Some(b'N'));
    c.send(&startup_packet(&[("user", ALICE.0), ("database", APP_DB)]))
        .await
        .unwrap();
    match c.read_msg(10).await {
        ReadResult::Msg(m) => assert_eq!(m.tag, b'R'),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_transaction_finish_then_exits_zero() {
    let up = upstream::shared();
    let mut proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, ALICE.0, APP_DB).await;
    c.simple_query("BEGIN").await.unwrap();
    c.simple_query("SELECT 1").await.unwrap();
    proxy.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // New connections are no longer accepted...
    assert!(
        try_connect(&proxy, ALICE.0, APP_DB).await.is_err(),
        "accepted a client after SIGTERM"
    );
    // ...but the transaction in flight can finish.
    assert_eq!(simple_value(&c, "SELECT 2").await, "2");
    c.simple_query("COMMIT").await.unwrap();
    drop(c);
    let code = tokio::task::block_in_place(|| proxy.wait_exit(Duration::from_secs(30)));
    assert_eq!(code, Some(0), "exit status after SIGTERM");
}
