//! The real `pgbench` through the proxy: `-i` as a read-write role with DDL, then `-S` in
//! `-M simple` and `-M extended` (transaction pooling) and `-M prepared` (session pooling).

use std::time::Duration;

use pgward_e2e::proxy::{ALICE, CAROL};
use pgward_e2e::upstream::{self, BENCH_DB, RO_USER};
use pgward_e2e::*;

fn assert_clean_run(out: &CmdOutput, what: &str) -> f64 {
    out.assert_ok(what);
    assert!(
        !out.stderr.contains("error") && !out.stderr.contains("ERROR"),
        "{what}: errors on stderr:\n{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("number of failed transactions: 0 "),
        "{what}: failed transactions:\n{}",
        out.stdout
    );
    let processed: u64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("{what}: no transaction count:\n{}", out.stdout));
    assert!(processed > 50, "{what}: only {processed} transactions");
    let tps: f64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    eprintln!("{what}: {processed} transactions, tps = {tps:.0}");
    tps
}

#[test]
fn pgbench_init_then_select_only_in_all_modes() {
    let up = upstream::shared();
    let tx_proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(4)
        .start();
    let out = pgbench(
        &tx_proxy,
        CAROL.0,
        BENCH_DB,
        &["-i", "-s", "1", "-q"],
        Duration::from_secs(180),
    );
    out.assert_ok("pgbench -i through the proxy");
    assert_eq!(
        up.sql(BENCH_DB, "SELECT count(*) FROM pgbench_accounts"),
        "100000"
    );
    up.sql(
        BENCH_DB,
        &format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {RO_USER}"),
    );

    for mode in ["simple", "extended"] {
        let out = pgbench(
            &tx_proxy,
            CAROL.0,
            BENCH_DB,
            &["-S", "-T", "3", "-c", "4", "-M", mode],
            Duration::from_secs(60),
        );
        assert_clean_run(
            &out,
            &format!("pgbench -S -M {mode} (transaction pooling, read-write role)"),
        );
    }
    // The read-only role too (-n: no VACUUM before the run).
    let out = pgbench(
        &tx_proxy,
        ALICE.0,
        BENCH_DB,
        &["-n", "-S", "-T", "3", "-c", "4", "-M", "extended"],
        Duration::from_secs(60),
    );
    assert_clean_run(&out, "pgbench -S -M extended (read-only role)");

    let session_proxy = ProxyBuilder::new(up.port())
        .pool_mode("session")
        .pool_size(8)
        .start();
    let out = pgbench(
        &session_proxy,
        CAROL.0,
        BENCH_DB,
        &["-S", "-T", "3", "-c", "4", "-M", "prepared"],
        Duration::from_secs(60),
    );
    assert_clean_run(&out, "pgbench -S -M prepared (session pooling)");
    // The full TPC-B-like script writes; it runs too, as the read-write role in session mode.
    let out = pgbench(
        &session_proxy,
        CAROL.0,
        BENCH_DB,
        &["-n", "-T", "2", "-c", "2", "-M", "prepared"],
        Duration::from_secs(60),
    );
    assert_clean_run(&out, "pgbench tpcb-like -M prepared");
}
