//! Acceptance attacks on issue 8 that hold against the landed code: variants of the
//! re-Parse (3), row-limit (4), timeout-rounding (5) and 16-bit-count (6) classes beyond the
//! suite's own tests. Findings are in `attack_variants.rs`.

mod attack_common;

use std::time::{Duration, Instant};

use attack_common::*;
use pgward_e2e::proxy::{ALICE, BOB};
use pgward_e2e::raw::{self, query_frame, RawConn};
use pgward_e2e::upstream;
use pgward_e2e::wire::{self, bind, close, describe, execute, parse, sync};
use pgward_e2e::*;

/// Class 3: a statement name whose server statement changed behind pgward's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_names_follow_sql_deallocate_prepare_and_queries() {
    let up = upstream::shared();
    for mode in ["session", "transaction"] {
        let t = table(up, &format!("atk_names_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let run = |name: &str| vec![bind("", name, &[]), execute("", 0), sync()];
        let steps: Vec<(&str, Vec<Vec<Vec<u8>>>)> = vec![
            (
                "DEALLOCATE s1 then re-Parse",
                vec![
                    vec![parse("s1", "SELECT 1"), sync()],
                    vec![query_frame("DEALLOCATE s1")],
                    [vec![parse("s1", &upd)], run("s1")].concat(),
                ],
            ),
            (
                "DEALLOCATE ALL between Parse and Bind",
                vec![
                    vec![parse("s1", &upd), sync()],
                    vec![query_frame("DEALLOCATE ALL")],
                    vec![query_frame(&format!("PREPARE s1 AS {upd}"))],
                    run("s1"),
                ],
            ),
            (
                "DISCARD ALL then re-Parse",
                vec![
                    vec![parse("s1", "SELECT 1"), sync()],
                    vec![query_frame("DISCARD ALL")],
                    [vec![parse("s1", &upd)], run("s1")].concat(),
                ],
            ),
            (
                "SQL PREPARE bound by protocol",
                vec![
                    vec![query_frame(&format!("PREPARE s2 AS {upd}"))],
                    run("s2"),
                ],
            ),
            (
                "SQL PREPARE over a Parse's name",
                vec![
                    vec![parse("s3", "SELECT 1"), sync()],
                    vec![query_frame(&format!("DEALLOCATE s3; PREPARE s3 AS {upd}"))],
                    run("s3"),
                ],
            ),
            (
                "Parse named pgward_internal",
                vec![
                    vec![parse("pgward_internal", "SELECT 1"), sync()],
                    [vec![parse("", &upd)], run("")].concat(),
                    [vec![parse("pgward_internal", &upd)], run("pgward_internal")].concat(),
                ],
            ),
            (
                "unnamed replaced by a Query mid-batch",
                vec![vec![
                    parse("", "SELECT 1"),
                    query_frame(&upd),
                    bind("", "", &[]),
                    execute("", 0),
                    sync(),
                ]],
            ),
            (
                "Close, failing re-Parse, re-Parse, same batch",
                vec![
                    vec![parse("s4", "SELECT 1"), sync()],
                    vec![
                        close(b'S', "s4"),
                        parse("s4", "SELECT * FROM atk_no_such"),
                        parse("s4", &upd),
                        bind("", "s4", &[]),
                        execute("", 0),
                        sync(),
                    ],
                    [vec![parse("s4", &upd)], run("s4")].concat(),
                ],
            ),
        ];
        let mut got = Vec::new();
        for (what, steps) in steps {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            let mut all = Vec::new();
            for step in &steps {
                all.extend(exchange(&mut c, step, sync_points(step)).await);
            }
            let rows = changed(up, &t);
            if rows != "0" {
                got.push(format!("{what}: {rows} rows changed ({})", summary(&all)));
            }
        }
        report(mode, &got);
    }
}
/// Class 4 (holds): a Describe of the statement (not the portal) between pages of a portal
/// in one batch does not restart the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_counts_across_statement_describes() {
    let up = upstream::shared();
    for mode in ["session", "transaction"] {
        let t = table(up, &format!("atk_desc_{mode}"), 40);
        let proxy = proxy(up, mode);
        let mut c = login(&proxy, ALICE).await;
        exchange(&mut c, &[query_frame("BEGIN")], 1).await;
        let mut frames = vec![
            parse("s", &format!("SELECT id FROM {t} ORDER BY id")),
            bind("p", "s", &[]),
        ];
        for _ in 0..12 {
            frames.push(execute("p", 4));
            frames.push(describe(b'S', "s"));
        }
        frames.push(sync());
        let msgs = exchange(&mut c, &frames, 1).await;
        let n = raw::rows(&msgs).len();
        assert!(n <= 10, "{mode}: {n} rows past max_result_rows = 10");
        assert!(
            wire::codes(&msgs).contains(&"54000".to_string()),
            "{mode}: {}",
            summary(&msgs)
        );
    }
}

/// Whether a server-side statement_timeout value is looser than 1 s (0 = none).
fn looser_than_1s(v: &str) -> bool {
    !matches!(v, "1s" | "1000ms") && !v.ends_with("ms") || v == "0" || v.starts_with('?')
}

/// Class 5: statement_timeout values PostgreSQL turns into 0 or into more than the role's
/// limit, through SET, SET LOCAL, set_config anywhere, pg_settings and startup parameters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cannot_be_loosened() {
    let up = upstream::shared();
    let mode = "session";
    let proxy = proxy(up, mode);
    let mut got = Vec::new();
    // Separated by |: quoted strings, bare numbers, DEFAULT.
    let values = "'1e-3s'|' 0.4 ms'|'-1'|'0.0001min'|'400us'|'.4'|'-0.4'|'+0.4'|'0x0'|'00'|'-0'|'0e5'|'4e-1'|'0.49999'|'0.001d'|'0.00001h'|'\t0.4'|'0.4\n'|0.4|4e-1|-0.4|DEFAULT|'1e-1000'|'0.5ms'|'1.5us'|'0x1.8p-1'|'2147483647'|'2147483648'|'1e9'|'0x7fffffff'|'1d'|'0.04 s'"
        .split('|');
    let mut stmts: Vec<(String, String)> = Vec::new();
    for v in values {
        stmts.push((format!("SET statement_timeout = {v}"), String::new()));
        stmts.push((format!("SET statement_timeout TO {v}"), String::new()));
        stmts.push((
            format!("SET SESSION statement_timeout = {v}"),
            String::new(),
        ));
        stmts.push((
            format!("BEGIN; SET LOCAL statement_timeout = {v}"),
            "ROLLBACK".into(),
        ));
    }
    for v in ["'0.4'", "'400us'", "'0'", "'1e-3s'", "'1h'"] {
        for sql in [
            format!("SELECT set_config('statement_timeout', {v}, false)"),
            format!("SELECT 1 WHERE set_config('statement_timeout', {v}, false) IS NOT NULL"),
            format!("SELECT pg_catalog.set_config('STATEMENT_TIMEOUT', {v}, false)"),
            format!("SELECT set_config('statement_' || 'timeout', {v}, false)"),
            format!("SELECT set_config(name, {v}, false) FROM pg_settings WHERE name = 'statement_timeout'"),
            format!("SELECT set_config('statement_timeout', (SELECT {v}), false)"),
            format!("SELECT set_config(lower('Statement_Timeout'), {v}, false)"),
            format!("WITH s AS (SELECT set_config('statement_timeout', {v}, false)) SELECT * FROM s"),
            format!("SELECT set_config('statement_timeout', {v}, true)"),
        ] {
            stmts.push((sql, String::new()));
        }
    }
    stmts.push(("RESET ALL".into(), String::new()));
    stmts.push(("DISCARD ALL".into(), String::new()));
    stmts.push(("SET statement_timeout FROM CURRENT".into(), String::new()));
    for (sql, after) in stmts {
        let mut c = login(&proxy, ALICE).await;
        let msgs = exchange(&mut c, &[query_frame(&sql)], 1).await;
        let v = server_timeout(&mut c).await;
        if looser_than_1s(&v) {
            got.push(format!(
                "{sql:?}: server has statement_timeout {v} ({} {:?})",
                wire::tags(&msgs),
                wire::codes(&msgs)
            ));
        }
        if !after.is_empty() {
            exchange(&mut c, &[query_frame(&after)], 1).await;
        }
    }
    // Startup parameters.
    for extra in [
        vec![("statement_timeout", "0.4")],
        vec![("statement_timeout", "400us")],
        vec![("Statement_Timeout", "0")],
        vec![("options", "-c statement_timeout=0.4")],
        vec![("options", "-cstatement_timeout=400us")],
        vec![("options", "--statement_timeout=1e-4s")],
        vec![("options", "--statement-timeout=0")],
        vec![("options", "-c statement-timeout=0")],
        vec![("options", "-c statement_timeout=1s -c statement_timeout=0")],
        vec![("options", "-c STATEMENT_TIMEOUT=0")],
        vec![("options", "-c\tstatement_timeout=0")],
        vec![("options", "-c\x0bstatement_timeout=0")],
        vec![("options", "--application_name=x\x0b--statement_timeout=0")],
        vec![(
            "options",
            "-c application_name=x\\ -c\\ statement_timeout=0",
        )],
        vec![
            ("statement_timeout", "1s"),
            ("options", "-c statement_timeout=0"),
        ],
    ] {
        match RawConn::startup(proxy.addr(), ALICE.0, ALICE.1, upstream::APP_DB, &extra).await {
            Err(_) => {}
            Ok(mut c) => {
                let v = server_timeout(&mut c).await;
                if looser_than_1s(&v) {
                    got.push(format!("startup {extra:?}: server has {v}"));
                }
            }
        }
    }
    report(mode, &got);
}

/// A backend still answers: a fresh session runs a query.
async fn still_serves(proxy: &Proxy, what: &str) {
    let mut c = login(proxy, ALICE).await;
    let msgs = exchange(&mut c, &[query_frame("SELECT 1")], 1).await;
    assert!(
        raw::first_error(&msgs).is_none() && raw::rows(&msgs).len() == 1,
        "{what}: pgward no longer serves: {}",
        wire::tags(&msgs)
    );
}

/// What a case is called, its frames before Execute/Sync, and the answer it must get:
/// `Some(code)` that error first, `Some("")` one row and no error, `None` any error.
type Case = (&'static str, Vec<Vec<u8>>, Option<&'static str>);

/// Class 6: 16-bit counts at their limits (Describe's ParameterDescription included) and counts larger than the message holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_bit_counts_at_and_past_their_limits() {
    let up = upstream::shared();
    let mut proxy = proxy(up, "session");
    let raw_bind =
        |nfmt: u16, fmts: usize, nparams: u16, params: &[&str], nres: u16, res: usize| {
            let mut b = b"\0\0".to_vec();
            b.extend_from_slice(&nfmt.to_be_bytes());
            b.extend(std::iter::repeat_n([0u8, 0], fmts).flatten());
            b.extend_from_slice(&nparams.to_be_bytes());
            for p in params {
                b.extend_from_slice(&(p.len() as i32).to_be_bytes());
                b.extend_from_slice(p.as_bytes());
            }
            b.extend_from_slice(&nres.to_be_bytes());
            b.extend(std::iter::repeat_n([0u8, 0], res).flatten());
            raw::frame(b'B', &b)
        };
    let mut cases: Vec<Case> = vec![
        (
            "Bind with 65535 result-format codes (1 column)",
            vec![
                parse("", "SELECT 1 AS x"),
                raw_bind(0, 0, 0, &[], 65535, 65535),
            ],
            Some("08P01"),
        ),
        (
            "Bind claiming 65535 parameters, none sent",
            vec![parse("", "SELECT 1 AS x"), raw_bind(0, 0, 65535, &[], 0, 0)],
            None,
        ),
        (
            "Bind claiming 65535 format codes, none sent",
            vec![parse("", "SELECT 1 AS x"), raw_bind(65535, 0, 0, &[], 0, 0)],
            None,
        ),
        (
            "Bind claiming 65535 result formats, one sent",
            vec![parse("", "SELECT 1 AS x"), raw_bind(0, 0, 0, &[], 65535, 1)],
            None,
        ),
        (
            "Parse declaring 65535 types, 10 sent",
            vec![{
                let mut b = b"\0SELECT 1\0".to_vec();
                b.extend_from_slice(&65535u16.to_be_bytes());
                b.extend(std::iter::repeat_n(23u32.to_be_bytes(), 10).flatten());
                raw::frame(b'P', &b)
            }],
            None,
        ),
        (
            "Bind with 65535 format codes and 65535 parameters",
            vec![
                wire::parse_with_params("", "SELECT $65535::int AS x", 65535),
                raw_bind(65535, 65535, 65535, &vec!["7"; 65535], 0, 0),
            ],
            Some(""),
        ),
        (
            "Describe of a 65535-parameter statement and portal",
            vec![
                wire::parse_with_params("", "SELECT $65535::int AS x", 65535),
                describe(b'S', ""),
                bind("", "", &vec![Some("7"); 65535]),
                describe(b'P', ""),
            ],
            Some(""),
        ),
    ];
    cases.push((
        "Parse with 65536 declared types (count wraps to 0)",
        vec![wire::parse_with_params("", "SELECT 1", 65536)],
        None,
    ));
    let mut got = Vec::new();
    for (what, mut frames, want) in cases {
        frames.push(execute("", 0));
        frames.push(sync());
        let mut c = login(&proxy, ALICE).await;
        let t0 = Instant::now();
        let msgs = exchange(&mut c, &frames, 1).await;
        let codes = wire::codes(&msgs);
        let ok = match want {
            Some("") => codes.is_empty() && raw::rows(&msgs).len() == 1,
            Some(code) => codes.first().map(String::as_str) == Some(code),
            None => !codes.is_empty(),
        };
        if !ok || t0.elapsed() > Duration::from_secs(20) {
            got.push(format!(
                "{what}: {} {codes:?} in {:?}",
                wire::tags(&msgs),
                t0.elapsed()
            ));
        }
        if !proxy.is_running() {
            got.push(format!("{what}: pgward exited"));
            break;
        }
        still_serves(&proxy, what).await;
    }
    report("session", &got);
}
