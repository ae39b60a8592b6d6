//! The fastpath interface (FunctionCall by OID): libpq's large-object API through psql
//! (`\lo_import`, `\lo_export`, `\lo_unlink`) works for a role whose rules allow the
//! functions, in both pool modes, judged and audited as `SELECT schema.function(...)`; a
//! read-only role is refused by its rules, and a call by an OID no function has is refused
//! as pgward cannot name it.

use pgward_e2e::proxy::{ALICE, CAROL};
use pgward_e2e::upstream;
use pgward_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_objects_through_psql_follow_the_roles_rules() {
    let up = upstream::shared();
    let db = up.fresh_db("fastpath");
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        // The first client makes pgward load its catalog snapshot (OIDs to names).
        let c = connect(&proxy, CAROL.0, &db).await;
        assert_usable(&c, "carol").await;
        wait_for_catalog(&proxy).await;
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        let output = dir.path().join("out.txt");
        std::fs::write(&input, "the ultimate answer\n").unwrap();
        let import = psql(
            &proxy,
            CAROL.0,
            &db,
            &["-c", &format!("\\lo_import {}", input.display())],
            None,
        );
        assert!(import.ok(), "{mode}: {}", import.stderr);
        let oid: u32 = import
            .stdout
            .trim()
            .strip_prefix("lo_import ")
            .and_then(|o| o.parse().ok())
            .unwrap_or_else(|| panic!("{mode}: {}", import.stdout));
        let export = psql(
            &proxy,
            CAROL.0,
            &db,
            &["-c", &format!("\\lo_export {oid} {}", output.display())],
            None,
        );
        assert!(export.ok(), "{mode}: {}", export.stderr);
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            "the ultimate answer\n"
        );
        // A read-only role: its rules refuse the large-object functions.
        let refused = psql(
            &proxy,
            ALICE.0,
            &db,
            &["-c", &format!("\\lo_export {oid} {}", output.display())],
            None,
        );
        assert!(!refused.ok(), "{mode}: {}", refused.stdout);
        assert!(
            refused.stderr.contains("pgward:"),
            "{mode}: {}",
            refused.stderr
        );
        let unlink = psql(
            &proxy,
            CAROL.0,
            &db,
            &["-c", &format!("\\lo_unlink {oid}")],
            None,
        );
        assert!(unlink.ok(), "{mode}: {}", unlink.stderr);
        let left = simple_value(
            &c,
            &format!("SELECT count(*) FROM pg_largeobject_metadata WHERE oid = {oid}"),
        )
        .await;
        assert_eq!(left, "0", "{mode}");
        // Judged and audited by name.
        let audited = proxy.audit_records();
        assert!(
            audited.iter().any(|r| r.to_string().contains("lo_open")),
            "{mode}: no lo_open in the audit"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_by_an_oid_no_function_has_is_refused_and_the_session_goes_on() {
    let up = upstream::shared();
    let db = up.fresh_db("fastpathbad");
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, CAROL.0, &db).await;
    assert_usable(&c, "carol").await;
    wait_for_catalog(&proxy).await;
    let mut raw = proxy.raw_login(CAROL.0, &db).await;
    // FunctionCall: OID 4000000000, no format codes, no arguments, text result.
    let mut body = Vec::new();
    body.extend_from_slice(&4_000_000_000u32.to_be_bytes());
    body.extend_from_slice(&0u16.to_be_bytes());
    body.extend_from_slice(&0u16.to_be_bytes());
    body.extend_from_slice(&0u16.to_be_bytes());
    raw.send(&raw::frame(b'F', &body)).await.unwrap();
    let got = raw.until_ready(30).await;
    assert_eq!(wire::codes(&got), ["42501"], "{got:?}");
    let rows = raw::rows(&raw.simple_query("SELECT 1").await);
    assert_eq!(rows, vec![vec![Some("1".to_string())]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_several_databases_in_use_builtin_functions_are_still_named() {
    let up = upstream::shared();
    let one = up.fresh_db("fastpath1");
    let two = up.fresh_db("fastpath2");
    let proxy = ProxyBuilder::new(up.port()).start();
    let a = connect(&proxy, CAROL.0, &one).await;
    let b = connect(&proxy, CAROL.0, &two).await;
    assert_usable(&a, "one").await;
    assert_usable(&b, "two").await;
    let t = std::time::Instant::now();
    while !proxy.stderr().contains("built-in functions read") {
        assert!(t.elapsed().as_secs() < 30, "{}", proxy.stderr());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "forty-two\n").unwrap();
    let import = psql(
        &proxy,
        CAROL.0,
        &two,
        &["-c", &format!("\\lo_import {}", input.display())],
        None,
    );
    assert!(import.ok(), "{}", import.stderr);
    assert!(import.stdout.starts_with("lo_import "), "{}", import.stdout);
}
