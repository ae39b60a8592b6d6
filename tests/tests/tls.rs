//! TLS towards clients (client_tls = require | allow) and towards the upstream.

use pgward_e2e::certs::TestCert;
use pgward_e2e::proxy::ALICE;
use pgward_e2e::upstream::{self, APP_DB, RO_USER};
use pgward_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_tls_require_refuses_plaintext_and_serves_tls() {
    install_crypto_provider();
    let up = upstream::shared();
    let cert = TestCert::new();
    let proxy = ProxyBuilder::new(up.port())
        .client_tls("require", &cert)
        .start();

    let e = try_connect(&proxy, ALICE.0, APP_DB)
        .await
        .expect_err("plaintext accepted");
    let d = e
        .as_db_error()
        .unwrap_or_else(|| panic!("no server error: {e:?}"));
    assert_eq!(d.code().code(), "28000", "{}", describe(&e));
    assert!(d.message().starts_with("pgward: "), "{}", d.message());

    let c = connect_tls(&proxy, ALICE.0, APP_DB, &cert)
        .await
        .unwrap_or_else(|e| panic!("TLS connect: {}", describe(&e)));
    assert_eq!(simple_value(&c, "SELECT count(*) FROM users").await, "300");

    // A client that does not trust the certificate fails the handshake.
    let other = TestCert::new();
    let e = connect_tls(&proxy, ALICE.0, APP_DB, &other)
        .await
        .expect_err("untrusted cert accepted");
    assert!(
        e.as_db_error().is_none(),
        "expected a TLS error, got {}",
        describe(&e)
    );

    // psql with sslmode=require works; sslmode=disable is refused with the pgward message.
    let proxy_ref = &proxy;
    let (ok, refused) = tokio::task::block_in_place(|| {
        let mut cmd = libpq_command(proxy_ref, "psql", ALICE.0, APP_DB);
        cmd.env("PGSSLMODE", "require").args([
            "-X",
            "-At",
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            "-c",
            "SELECT count(*) FROM users",
        ]);
        let ok = run_with_timeout(
            cmd,
            None,
            std::time::Duration::from_secs(30),
            "psql sslmode=require",
        );
        let mut cmd = libpq_command(proxy_ref, "psql", ALICE.0, APP_DB);
        cmd.env("PGSSLMODE", "disable")
            .args(["-X", "-c", "SELECT 1"]);
        let refused = run_with_timeout(
            cmd,
            None,
            std::time::Duration::from_secs(30),
            "psql sslmode=disable",
        );
        (ok, refused)
    });
    ok.assert_ok("psql sslmode=require");
    assert!(ok.stdout.contains("300"), "{}", ok.stdout);
    assert!(!refused.ok(), "plaintext psql accepted");
    assert!(refused.stderr.contains("pgward: "), "{}", refused.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_tls_allow_serves_both() {
    install_crypto_provider();
    let up = upstream::shared();
    let cert = TestCert::new();
    let proxy = ProxyBuilder::new(up.port())
        .client_tls("allow", &cert)
        .start();
    let plain = connect(&proxy, ALICE.0, APP_DB).await;
    assert_usable(&plain, "plaintext with client_tls = allow").await;
    let tls = connect_tls(&proxy, ALICE.0, APP_DB, &cert)
        .await
        .unwrap_or_else(|e| panic!("TLS connect: {}", describe(&e)));
    assert_usable(&tls, "TLS with client_tls = allow").await;
    // A large result over TLS arrives whole.
    let rows = simple_rows(
        &tls,
        "SELECT repeat('x', 1000) FROM generate_series(1, 5000)",
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 5000);
    assert!(rows
        .iter()
        .all(|r| r[0].as_deref().map(str::len) == Some(1000)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_tls_require() {
    install_crypto_provider();
    // An upstream with ssl = on (self-signed): tls = require encrypts without verifying.
    let up = Upstream::start(true);
    let proxy = ProxyBuilder::new(up.port()).upstream_tls("require").start();
    let c = connect(&proxy, ALICE.0, APP_DB).await;
    assert_eq!(simple_value(&c, "SELECT count(*) FROM users").await, "300");
    let ssl = up.sql(
        "postgres",
        &format!("SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = '{RO_USER}'"),
    );
    assert_eq!(ssl, "t", "pgward's upstream connection is not encrypted");

    // tls = require against a server without TLS: a clear 08xxx error, no plaintext fallback.
    let plain_up = upstream::shared();
    let proxy = ProxyBuilder::new(plain_up.port())
        .upstream_tls("require")
        .start();
    let err = match try_connect(&proxy, ALICE.0, APP_DB).await {
        Err(e) => e,
        Ok(c) => c
            .simple_query("SELECT 1")
            .await
            .expect_err("fell back to plaintext upstream"),
    };
    assert!(sqlstate(&err).starts_with("08"), "{}", describe(&err));
}
