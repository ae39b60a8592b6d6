//! Acceptance attacks on issue 8: variants of each finding's class, run against the landed
//! session machine. Tests marked `#[ignore = "finding: ..."]` still get through.

use std::time::{Duration, Instant};

use pgward_e2e::proxy::{ALICE, BOB};
use pgward_e2e::raw::{self, query_frame, RawConn, ReadResult};
use pgward_e2e::upstream::{self, Upstream};
use pgward_e2e::wire::{self, batch, bind, close, describe, execute, parse, sync};
use pgward_e2e::*;

fn table(up: &Upstream, name: &str, rows: u32) -> String {
    up.sql(
        upstream::APP_DB,
        &format!(
            "DROP TABLE IF EXISTS {name};
CREATE TABLE {name} (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
INSERT INTO {name} (id) SELECT g FROM generate_series(1, {rows}) g;
ALTER TABLE {name} OWNER TO {owner};
GRANT SELECT ON {name} TO {ro};",
            owner = upstream::OWNER_USER,
            ro = upstream::RO_USER,
        ),
    );
    name.to_string()
}

fn changed(up: &Upstream, t: &str) -> String {
    up.sql(
        upstream::APP_DB,
        &format!("SELECT count(*) FROM {t} WHERE v <> 0"),
    )
    .trim()
    .to_string()
}

fn reset(up: &Upstream, t: &str) {
    up.sql(upstream::APP_DB, &format!("UPDATE {t} SET v = 0"));
}

fn proxy(up: &Upstream, mode: &str) -> Proxy {
    ProxyBuilder::new(up.port())
        .pool_mode(mode)
        .role("oncall", "max_affected_rows", 5)
        .role("oncall", "statement_timeout", "1s")
        .role("engineer", "max_result_rows", 10)
        .role("engineer", "statement_timeout", "1s")
        .start()
}

async fn login(proxy: &Proxy, user: (&str, &str)) -> RawConn {
    RawConn::startup(proxy.addr(), user.0, user.1, upstream::APP_DB, &[])
        .await
        .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()))
}

/// Send frames, read up to `n` ReadyForQuery (fewer if the session ends or goes quiet).
async fn exchange(c: &mut RawConn, frames: &[Vec<u8>], n: usize) -> Vec<raw::Msg> {
    let _ = c.send(&batch(frames)).await;
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < n {
        match c.read_msg(5).await {
            ReadResult::Msg(m) => {
                seen += usize::from(m.tag == b'Z');
                out.push(m);
            }
            _ => break,
        }
    }
    out
}

fn report(mode: &str, got_through: &[String]) {
    assert!(
        got_through.is_empty(),
        "{mode}: {} variant(s) got through:\n{}",
        got_through.len(),
        got_through.join("\n")
    );
}

/// Class 1: a guarded write committed by something else than a plain COMMIT in its batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_write_is_not_committed_by_other_commit_paths() {
    let up = upstream::shared();
    for mode in ["session", "transaction"] {
        let t = table(up, &format!("atk_commit_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let write = || vec![parse("", &upd), bind("", "", &[]), execute("", 0)];
        let ext = |sql: &str| vec![parse("x", sql), bind("px", "x", &[]), execute("px", 0)];
        let mut variants: Vec<(String, Vec<Vec<u8>>, usize)> = Vec::new();
        for ctl in [
            "COMMIT",
            "END",
            "COMMIT AND CHAIN",
            "SELECT 1; COMMIT",
            "COMMIT; SELECT 1",
            "END; BEGIN",
        ] {
            variants.push((
                format!("Query {ctl:?} in the middle of the batch"),
                [write(), vec![query_frame(ctl), sync()]].concat(),
                2,
            ));
        }
        for ctl in ["END", "COMMIT AND CHAIN", "ABORT AND CHAIN", "PREPARE TRANSACTION 'atk'"] {
            variants.push((
                format!("extended {ctl:?} after the write"),
                [write(), ext(ctl), vec![sync()]].concat(),
                1,
            ));
        }
        for s in [
            format!("{upd}; END"),
            format!("{upd}; COMMIT AND CHAIN"),
            format!("BEGIN; {upd}; END"),
            format!("START TRANSACTION; {upd}; COMMIT AND CHAIN; ROLLBACK"),
            format!("{upd}; PREPARE TRANSACTION 'atk2'"),
        ] {
            variants.push((format!("Query {s:?}"), vec![query_frame(&s)], 1));
        }
        let mut got = Vec::new();
        for (what, frames, n) in variants {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            let msgs = exchange(&mut c, &frames, n).await;
            let _ = exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
            let _ = exchange(&mut c, &[query_frame("ROLLBACK PREPARED 'atk'")], 1).await;
            let _ = exchange(&mut c, &[query_frame("ROLLBACK PREPARED 'atk2'")], 1).await;
            let rows = changed(up, &t);
            if rows != "0" {
                got.push(format!(
                    "{what}: {rows} rows committed ({} {:?})",
                    wire::tags(&msgs),
                    wire::codes(&msgs)
                ));
            }
        }
        // Inside the client's block: the write, then RELEASE of a savepoint taken before it.
        reset(up, &t);
        let mut c = login(&proxy, BOB).await;
        exchange(&mut c, &[query_frame("BEGIN; SAVEPOINT a")], 1).await;
        let msgs = exchange(&mut c, &[write(), ext("RELEASE SAVEPOINT a"), vec![sync()]].concat(), 1).await;
        exchange(&mut c, &[query_frame("COMMIT")], 1).await;
        if changed(up, &t) != "0" {
            got.push(format!("RELEASE SAVEPOINT in the batch: {}", wire::tags(&msgs)));
        }
        report(mode, &got);
    }
}

/// Class 4: `max_result_rows` across pages of a SQL cursor (FETCH, or protocol Execute of
/// the cursor's portal), across Syncs for a WITH HOLD cursor, across a Describe of the
/// statement between pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_rows_count_across_cursor_pages() {
    let up = upstream::shared();
    let mode = "session";
    let t = table(up, "atk_rows", 40);
    let proxy = proxy(up, mode);
    let select = format!("SELECT id FROM {t} ORDER BY id");
    let mut got = Vec::new();
    // SQL FETCH in pages of 4 inside a block.
    let mut c = login(&proxy, ALICE).await;
    exchange(&mut c, &[query_frame(&format!("BEGIN; DECLARE c CURSOR FOR {select}"))], 1).await;
    let mut n = 0;
    for _ in 0..12 {
        n += raw::rows(&exchange(&mut c, &[query_frame("FETCH 4 FROM c")], 1).await).len();
    }
    if n > 10 {
        got.push(format!("SQL FETCH 4 x12 in a block: {n} rows"));
    }
    // The same cursor's portal paged by protocol Execute, one Sync per page, in a block.
    let mut c = login(&proxy, ALICE).await;
    exchange(&mut c, &[query_frame(&format!("BEGIN; DECLARE c CURSOR FOR {select}"))], 1).await;
    let mut n = 0;
    for _ in 0..12 {
        n += raw::rows(&exchange(&mut c, &[execute("c", 4), sync()], 1).await).len();
    }
    if n > 10 {
        got.push(format!("Execute(c, 4) + Sync x12 in a block: {n} rows"));
    }
    // A WITH HOLD cursor outside any block: each page's Sync ends at ReadyForQuery(I).
    let mut c = login(&proxy, ALICE).await;
    exchange(&mut c, &[query_frame(&format!("DECLARE h CURSOR WITH HOLD FOR {select}"))], 1).await;
    let mut n = 0;
    for _ in 0..12 {
        n += raw::rows(&exchange(&mut c, &[execute("h", 4), sync()], 1).await).len();
    }
    if n > 10 {
        got.push(format!("WITH HOLD cursor, Execute(h, 4) + Sync x12: {n} rows"));
    }
    let mut c = login(&proxy, ALICE).await;
    exchange(&mut c, &[query_frame(&format!("DECLARE h2 CURSOR WITH HOLD FOR {select}"))], 1).await;
    let mut n = 0;
    for _ in 0..12 {
        n += raw::rows(&exchange(&mut c, &[query_frame("FETCH 4 FROM h2")], 1).await).len();
    }
    if n > 10 {
        got.push(format!("WITH HOLD cursor, FETCH 4 x12: {n} rows"));
    }
    // Protocol portal in a block, a Describe of the statement (not the portal) between pages,
    // and a Sync between pages.
    for (what, between) in [
        ("Describe S", vec![describe(b'S', "s")]),
        ("Sync", vec![sync()]),
        ("Describe S + Sync", vec![describe(b'S', "s"), sync()]),
    ] {
        let mut c = login(&proxy, ALICE).await;
        exchange(&mut c, &[query_frame("BEGIN")], 1).await;
        let mut frames = vec![parse("s", &select), bind("p", "s", &[])];
        for _ in 0..12 {
            frames.push(execute("p", 4));
            frames.extend(between.iter().cloned());
        }
        frames.push(sync());
        let syncs = frames.iter().filter(|f| f[0] == b'S').count();
        let msgs = exchange(&mut c, &frames, syncs).await;
        let n = raw::rows(&msgs).len();
        if n > 10 {
            got.push(format!("Execute(p, 4) with {what} between: {n} rows"));
        }
    }
    report(mode, &got);
}

/// The server's value of statement_timeout as the session sees it (`SHOW` through pgward).
async fn server_timeout(c: &mut RawConn) -> String {
    let msgs = exchange(c, &[query_frame("SHOW statement_timeout")], 1).await;
    raw::rows(&msgs)
        .first()
        .and_then(|r| r[0].clone())
        .unwrap_or_else(|| format!("? {} {:?}", wire::tags(&msgs), wire::codes(&msgs)))
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
    let values = [
        "'1e-3s'", "' 0.4 ms'", "'-1'", "'0.0001min'", "'400us'", "'.4'", "'-0.4'", "'+0.4'",
        "'0x0'", "'00'", "'-0'", "'0e5'", "'4e-1'", "'0.49999'", "'0.001d'", "'0.00001h'",
        "'\t0.4'", "'0.4\n'", "0.4", "4e-1", "-0.4", "DEFAULT", "'1e-1000'", "'0.5ms'",
        "'1.5us'", "'0x1.8p-1'", "'2147483647'", "'2147483648'", "'1e9'", "'0x7fffffff'",
        "'1d'", "'0.04 s'",
    ];
    let mut stmts: Vec<(String, String)> = Vec::new();
    for v in values {
        stmts.push((format!("SET statement_timeout = {v}"), String::new()));
        stmts.push((format!("SET statement_timeout TO {v}"), String::new()));
        stmts.push((format!("SET SESSION statement_timeout = {v}"), String::new()));
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
    // bob's writes: pg_settings' update rule calls set_config.
    let mut c = login(&proxy, BOB).await;
    let msgs = exchange(
        &mut c,
        &[query_frame(
            "UPDATE pg_settings SET setting = '0' WHERE name = 'statement_timeout'",
        )],
        1,
    )
    .await;
    let v = server_timeout(&mut c).await;
    if looser_than_1s(&v) {
        got.push(format!("bob UPDATE pg_settings: {v} {:?}", wire::codes(&msgs)));
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
        vec![("options", "-c application_name=x\\ -c\\ statement_timeout=0")],
        vec![("statement_timeout", "1s"), ("options", "-c statement_timeout=0")],
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

/// Class 6: 16-bit counts at their limits and counts larger than the message holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_bit_counts_at_and_past_their_limits() {
    let up = upstream::shared();
    let mut proxy = proxy(up, "session");
    let raw_bind = |nfmt: u16, fmts: usize, nparams: u16, params: &[&str], nres: u16, res: usize| {
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
    let mut cases: Vec<(&str, Vec<Vec<u8>>, Option<&str>)> = vec![
        (
            "Bind with 65535 result-format codes (1 column)",
            vec![parse("", "SELECT 1 AS x"), raw_bind(0, 0, 0, &[], 65535, 65535)],
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
            got.push(format!("{what}: {} {codes:?} in {:?}", wire::tags(&msgs), t0.elapsed()));
        }
        if !proxy.is_running() {
            got.push(format!("{what}: pgward exited"));
            break;
        }
        still_serves(&proxy, what).await;
    }
    report("session", &got);
}

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
            ("DEALLOCATE s1 then re-Parse", vec![
                vec![parse("s1", "SELECT 1"), sync()],
                vec![query_frame("DEALLOCATE s1")],
                [vec![parse("s1", &upd)], run("s1")].concat(),
            ]),
            ("DEALLOCATE ALL between Parse and Bind", vec![
                vec![parse("s1", &upd), sync()],
                vec![query_frame("DEALLOCATE ALL")],
                vec![query_frame(&format!("PREPARE s1 AS {upd}"))],
                run("s1"),
            ]),
            ("DISCARD ALL then re-Parse", vec![
                vec![parse("s1", "SELECT 1"), sync()],
                vec![query_frame("DISCARD ALL")],
                [vec![parse("s1", &upd)], run("s1")].concat(),
            ]),
            ("SQL PREPARE bound by protocol", vec![
                vec![query_frame(&format!("PREPARE s2 AS {upd}"))],
                run("s2"),
            ]),
            ("SQL PREPARE over a Parse's name", vec![
                vec![parse("s3", "SELECT 1"), sync()],
                vec![query_frame(&format!("DEALLOCATE s3; PREPARE s3 AS {upd}"))],
                run("s3"),
            ]),
            ("Parse named pgward_internal", vec![
                vec![parse("pgward_internal", "SELECT 1"), sync()],
                [vec![parse("", &upd)], run("")].concat(),
                [vec![parse("pgward_internal", &upd)], run("pgward_internal")].concat(),
            ]),
            ("unnamed replaced by a Query mid-batch", vec![
                vec![parse("", "SELECT 1"), query_frame(&upd), bind("", "", &[]), execute("", 0), sync()],
            ]),
            ("Close, failing re-Parse, re-Parse, same batch", vec![
                vec![parse("s4", "SELECT 1"), sync()],
                vec![close(b'S', "s4"), parse("s4", "SELECT * FROM atk_no_such"), parse("s4", &upd), bind("", "s4", &[]), execute("", 0), sync()],
                [vec![parse("s4", &upd)], run("s4")].concat(),
            ]),
        ];
        let mut got = Vec::new();
        for (what, steps) in steps {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            let mut all = Vec::new();
            for step in &steps {
                let n = step.iter().filter(|f| matches!(f[0], b'S' | b'Q')).count();
                all.extend(exchange(&mut c, step, n).await);
            }
            let rows = changed(up, &t);
            if rows != "0" {
                got.push(format!("{what}: {rows} rows changed ({} {:?})", wire::tags(&all), wire::codes(&all)));
            }
        }
        report(mode, &got);
    }
}
