//! Guardrails end to end: every case of the shared corpora through the proxy over the simple
//! protocol, the extended protocol with unnamed statements (transaction pooling) and named
//! prepared statements via tokio-postgres (session pooling); denials look like the contract and
//! leave a usable session; straight against the upstream, nothing changed that should not have.
//! Plus the audit log (limits and timeouts: `limits.rs`).

use std::time::{Duration, Instant};

use pgward_e2e::corpus::{self, Case};
use pgward_e2e::proxy::{ALICE, BOB, DAVE};
use pgward_e2e::raw::{self, frame, Msg, RawConn, ReadResult};
use pgward_e2e::snapshot::Snapshot;
use pgward_e2e::upstream::{self, RO_USER};
use pgward_e2e::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Proto {
    Simple,
    /// Parse/Bind/Describe/Execute/Sync with the unnamed statement.
    Extended,
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// Send one case and collect the answer up to ReadyForQuery. A CopyInResponse (a COPY FROM that
/// got through) is answered with CopyFail so the test fails instead of hanging.
async fn run_raw(c: &mut RawConn, proto: Proto, sql: &str) -> Vec<Msg> {
    match proto {
        Proto::Simple => c.send(&raw::query_frame(sql)).await.unwrap(),
        Proto::Extended => {
            let mut bytes = Vec::new();
            let mut parse = cstr("");
            parse.extend(cstr(sql));
            parse.extend_from_slice(&0u16.to_be_bytes());
            bytes.extend(frame(b'P', &parse));
            let mut bind = cstr("");
            bind.extend(cstr(""));
            bind.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            bytes.extend(frame(b'B', &bind));
            let mut desc = vec![b'P'];
            desc.extend(cstr(""));
            bytes.extend(frame(b'D', &desc));
            let mut exec = cstr("");
            exec.extend_from_slice(&0u32.to_be_bytes());
            bytes.extend(frame(b'E', &exec));
            bytes.extend(frame(b'S', &[]));
            c.send(&bytes).await.unwrap();
        }
    }
    let mut out = Vec::new();
    loop {
        match c.read_msg(30).await {
            ReadResult::Msg(m) => {
                let tag = m.tag;
                out.push(m);
                if tag == b'G' {
                    c.send(&frame(b'f', &cstr("e2e: COPY FROM got through")))
                        .await
                        .unwrap();
                    if proto == Proto::Extended {
                        c.send(&frame(b'S', &[])).await.unwrap();
                    }
                }
                if tag == b'Z' {
                    return out;
                }
            }
            other => panic!("{proto:?} {sql:?}: {other:?} after {out:?}"),
        }
    }
}

fn tags(msgs: &[Msg]) -> String {
    msgs.iter().map(Msg::tag_char).collect()
}

/// The contract's denial: 42501, `pgward: `, DETAIL, HINT; and nothing ran.
fn check_denied(msgs: &[Msg], what: &str) -> Result<(), String> {
    let Some(e) = raw::first_error(msgs) else {
        return Err(format!("{what}: not denied (messages {})", tags(msgs)));
    };
    let f = e.fields();
    let code = f.get(&'C').cloned().unwrap_or_default();
    let msg = f.get(&'M').cloned().unwrap_or_default();
    // A syntax error is PostgreSQL's own (42601, its message and position): nothing ran.
    if code == "42601" && f.contains_key(&'P') && tags(msgs).find(['C', 'D']).is_none() {
        return Ok(());
    }
    if code != "42501" || !msg.starts_with("pgward: ") {
        return Err(format!(
            "{what}: expected 42501 `pgward: ...`, got {code} {msg:?}"
        ));
    }
    if f.get(&'D').is_none_or(|d| d.trim().is_empty()) {
        return Err(format!("{what}: denial without DETAIL ({msg:?})"));
    }
    if f.get(&'H').is_none_or(|h| h.trim().is_empty()) {
        return Err(format!("{what}: denial without HINT ({msg:?})"));
    }
    if let Some(m) = msgs
        .iter()
        .find(|m| matches!(m.tag, b'C' | b'D' | b'G' | b'H' | b'2'))
    {
        return Err(format!(
            "{what}: denied but something ran (saw {:?} in {})",
            m.tag_char(),
            tags(msgs)
        ));
    }
    Ok(())
}

fn check_allowed(msgs: &[Msg], case: &Case, proto: Proto, what: &str) -> Result<(), String> {
    match raw::first_error(msgs) {
        None => Ok(()),
        // PostgreSQL itself refuses several statements in one Parse.
        Some(e)
            if proto == Proto::Extended
                && case.is_multi_statement()
                && e.code().as_deref() == Some("42601") =>
        {
            Ok(())
        }
        Some(e) => Err(format!(
            "{what}: expected to run, got {} {:?} (detail {:?})",
            e.code().unwrap_or_default(),
            e.message().unwrap_or_default(),
            e.fields().get(&'D')
        )),
    }
}

async fn check_usable(c: &mut RawConn, what: &str) -> Result<(), String> {
    let r = c.simple_query("SELECT 'usable'").await;
    if raw::rows(&r) == vec![vec![Some("usable".to_string())]] {
        Ok(())
    } else {
        Err(format!("{what}: session not usable afterwards: {r:?}"))
    }
}

/// Run every case of a corpus file as `user` over `proto`; collect failures instead of stopping
/// at the first, so one run reports every misjudged case.
async fn run_corpus(
    proxy: &Proxy,
    user: &str,
    db: &str,
    cases: &[Case],
    proto: Proto,
    only_deny: bool,
) -> Vec<String> {
    let mut failures = Vec::new();
    let pw = proxy.password(user);
    let mut c = RawConn::startup(proxy.addr(), user, &pw, db, &[])
        .await
        .unwrap();
    for case in cases.iter().filter(|c| !only_deny || c.is_deny()) {
        let what = format!("[{proto:?} as {user}] {}", case.sql);
        let msgs = run_raw(&mut c, proto, &case.sql).await;
        let verdict = if case.is_deny() {
            check_denied(&msgs, &what)
        } else {
            check_allowed(&msgs, case, proto, &what)
        };
        if let Err(e) = verdict {
            failures.push(e);
        }
        // Each case stands alone: leave no transaction block open for the next one.
        if msgs.last().is_some_and(|z| z.body.first() != Some(&b'I')) {
            let r = c.simple_query("ROLLBACK").await;
            assert!(raw::first_error(&r).is_none(), "ROLLBACK: {r:?}");
        }
        if let Err(e) = check_usable(&mut c, &what).await {
            failures.push(e);
            c = RawConn::startup(proxy.addr(), user, &pw, db, &[])
                .await
                .unwrap();
        }
        // Denials inside a transaction block: the block is aborted (as after any error), the
        // session usable after ROLLBACK.
        if case.is_deny() {
            let b = c.simple_query("BEGIN").await;
            assert!(raw::first_error(&b).is_none(), "BEGIN: {b:?}");
            let msgs = run_raw(&mut c, proto, &case.sql).await;
            if let Err(e) = check_denied(&msgs, &format!("{what} (in a transaction block)")) {
                failures.push(e);
            }
            let r = c.simple_query("SELECT 1").await;
            if raw::first_error(&r).and_then(Msg::code).as_deref() != Some("25P02") {
                failures.push(format!(
                    "{what}: transaction not aborted after a denial inside it: {}",
                    tags(&r)
                ));
            }
            let r = c.simple_query("ROLLBACK").await;
            assert!(raw::first_error(&r).is_none(), "ROLLBACK: {r:?}");
            if let Err(e) = check_usable(&mut c, &format!("{what} (after ROLLBACK)")).await {
                failures.push(e);
                c = RawConn::startup(proxy.addr(), user, &pw, db, &[])
                    .await
                    .unwrap();
            }
        }
    }
    let _ = c.send(&frame(b'X', &[])).await;
    failures
}

/// Wait until the upstream shows no session of the test logins inside a transaction in `db`.
fn settle(up: &Upstream, db: &str) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        let n = up.sql(
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND state LIKE 'idle in transaction%'"),
        );
        if n == "0" {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_corpus_simple_and_extended() {
    let up = upstream::shared();
    let db = up.fresh_db("ro_corpus");
    let cases = corpus::load("readonly.toml");
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .start();
    let before = Snapshot::take(up, &db);
    let mut failures = Vec::new();
    for proto in [Proto::Simple, Proto::Extended] {
        failures.extend(run_corpus(&proxy, ALICE.0, &db, &cases, proto, false).await);
    }
    settle(up, &db);
    let after = Snapshot::take(up, &db);
    assert!(
        failures.is_empty(),
        "{} misjudged:\n{}",
        failures.len(),
        failures.join("\n")
    );
    before.assert_unchanged(&after, "read-only corpus");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_corpus_named_prepared_statements_in_session_mode() {
    let up = upstream::shared();
    let db = up.fresh_db("ro_prep");
    let cases = corpus::load("readonly.toml");
    let proxy = ProxyBuilder::new(up.port()).pool_mode("session").start();
    let before = Snapshot::take(up, &db);
    let c = connect(&proxy, ALICE.0, &db).await;
    let mut failures = Vec::new();
    for case in &cases {
        if case.is_multi_statement() || case.is_copy_out() {
            continue; // not preparable; covered by the raw protocol runs
        }
        let r = deadline(30, &case.sql, async {
            let stmt = c.prepare(&case.sql).await?;
            c.execute(&stmt, &[]).await
        })
        .await;
        match (case.is_deny(), r) {
            (true, Err(e)) => {
                let ok = e.as_db_error().is_some_and(|d| {
                    d.code().code() == "42501"
                        && d.message().starts_with("pgward: ")
                        && d.detail().is_some()
                        && d.hint().is_some()
                        // PostgreSQL's own syntax error: nothing ran.
                        || d.code().code() == "42601" && d.position().is_some()
                });
                if !ok {
                    failures.push(format!("[prepared] {}: {}", case.sql, describe(&e)));
                }
            }
            (true, Ok(n)) => {
                failures.push(format!("[prepared] {}: not denied ({n} rows)", case.sql))
            }
            (false, Err(e)) => failures.push(format!("[prepared] {}: {}", case.sql, describe(&e))),
            (false, Ok(_)) => {}
        }
        // Each case stands alone: leave no transaction block open for the next one.
        let _ = c.simple_query("ROLLBACK").await;
        assert_usable(&c, &case.sql).await;
    }
    // COPY TO STDOUT through a prepared statement (copy_out) works for the read-only role.
    for case in cases.iter().filter(|c| c.is_copy_out() && c.is_allow()) {
        let s = c.copy_out(case.sql.as_str()).await;
        if let Err(e) = s {
            failures.push(format!(
                "[prepared copy_out] {}: {}",
                case.sql,
                describe(&e)
            ));
        } else {
            use futures::TryStreamExt;
            let data: Vec<bytes::Bytes> = s.unwrap().try_collect().await.unwrap();
            assert!(!data.is_empty());
        }
    }
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    settle(up, &db);
    assert!(
        failures.is_empty(),
        "{} misjudged:\n{}",
        failures.len(),
        failures.join("\n")
    );
    before.assert_unchanged(&Snapshot::take(up, &db), "read-only corpus (prepared)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_corpus_simple_and_extended() {
    let up = upstream::shared();
    let cases = corpus::load("writes.toml");
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .start();
    let mut failures = Vec::new();
    for proto in [Proto::Simple, Proto::Extended] {
        let db = up.fresh_db("w_corpus");
        let before = Snapshot::take(up, &db);
        failures.extend(run_corpus(&proxy, BOB.0, &db, &cases, proto, true).await);
        settle(up, &db);
        let after = Snapshot::take(up, &db);
        let changed = std::panic::catch_unwind(|| {
            before.assert_unchanged(&after, "writes corpus (deny cases)")
        });
        if let Err(p) = changed {
            failures.push(format!(
                "[{proto:?}] upstream changed by denied writes: {}",
                panic_text(&p)
            ));
        }
        // Then the allowed writes run, and really write.
        let mut c = RawConn::startup(proxy.addr(), BOB.0, &proxy.password(BOB.0), &db, &[])
            .await
            .unwrap();
        for case in cases.iter().filter(|c| c.is_allow()) {
            let what = format!("[{proto:?} as bob] {}", case.sql);
            let msgs = run_raw(&mut c, proto, &case.sql).await;
            if let Err(e) = check_allowed(&msgs, case, proto, &what) {
                failures.push(e);
            }
            if let Err(e) = check_usable(&mut c, &what).await {
                failures.push(e);
                c = RawConn::startup(proxy.addr(), BOB.0, &proxy.password(BOB.0), &db, &[])
                    .await
                    .unwrap();
            }
        }
        assert_eq!(
            up.sql(&db, "SELECT status FROM documents WHERE id = 123"),
            "failed",
            "[{proto:?}] the allowed UPDATE did not reach the upstream"
        );
        assert_eq!(
            up.sql(
                &db,
                "SELECT status FROM users WHERE email = 'user7@example.com'"
            ),
            "deleted"
        );
    }
    assert!(
        failures.is_empty(),
        "{} misjudged:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_named_statement_never_executes() {
    let up = upstream::shared();
    let db = up.fresh_db("refused_named");
    let proxy = ProxyBuilder::new(up.port()).pool_mode("session").start();
    let before = Snapshot::take(up, &db);
    let mut c = RawConn::startup(proxy.addr(), ALICE.0, &proxy.password(ALICE.0), &db, &[])
        .await
        .unwrap();
    // Parse s1 (refused) then, in the same pipeline, Bind/Execute s1 and a good query; Sync.
    let mut bytes = Vec::new();
    let mut parse = cstr("s1");
    parse.extend(cstr("DELETE FROM documents WHERE id = 3"));
    parse.extend_from_slice(&0u16.to_be_bytes());
    bytes.extend(frame(b'P', &parse));
    let mut bind = cstr("");
    bind.extend(cstr("s1"));
    bind.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    bytes.extend(frame(b'B', &bind));
    let mut exec = cstr("");
    exec.extend_from_slice(&0u32.to_be_bytes());
    bytes.extend(frame(b'E', &exec));
    bytes.extend(frame(b'S', &[]));
    c.send(&bytes).await.unwrap();
    let msgs = c.until_ready(10).await;
    check_denied(&msgs, "Parse of a DELETE as read-only").unwrap();
    assert_eq!(
        tags(&msgs),
        "EZ",
        "after a refused Parse the pipeline skips to Sync"
    );
    // Later Bind/Execute of s1 in its own pipeline: an error, never a DELETE.
    let mut bytes = frame(b'B', &bind);
    bytes.extend(frame(b'E', &exec));
    bytes.extend(frame(b'S', &[]));
    c.send(&bytes).await.unwrap();
    let msgs = c.until_ready(10).await;
    assert!(
        raw::first_error(&msgs).is_some(),
        "Execute of a refused statement: {}",
        tags(&msgs)
    );
    assert!(
        !msgs.iter().any(|m| m.tag == b'C'),
        "refused statement executed: {}",
        tags(&msgs)
    );
    check_usable(&mut c, "after refused named statement")
        .await
        .unwrap();
    drop(c);
    settle(up, &db);
    before.assert_unchanged(&Snapshot::take(up, &db), "refused named statement");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_over_reads_are_allowed_for_the_read_only_role() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, ALICE.0, upstream::APP_DB).await;
    c.simple_query("BEGIN").await.unwrap();
    c.simple_query("DECLARE cur CURSOR FOR SELECT id FROM users ORDER BY id")
        .await
        .unwrap_or_else(|e| panic!("DECLARE: {}", describe(&e)));
    let mut got = Vec::new();
    for sql in [
        "FETCH cur",
        "FETCH NEXT FROM cur",
        "FETCH 3 FROM cur",
        "FETCH FORWARD 2 cur",
        "MOVE 10 IN cur",
        "FETCH cur",
    ] {
        let rows = simple_rows(&c, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)));
        got.extend(rows.into_iter().map(|r| r[0].clone().unwrap()));
    }
    assert_eq!(got, ["1", "2", "3", "4", "5", "6", "7", "18"]);
    c.simple_query("CLOSE cur")
        .await
        .unwrap_or_else(|e| panic!("CLOSE: {}", describe(&e)));
    c.simple_query("COMMIT").await.unwrap();
    // A cursor over a write is not a read.
    c.simple_query("BEGIN").await.unwrap();
    expect_denied(
        c.simple_query("DECLARE w CURSOR FOR SELECT id FROM users FOR UPDATE")
            .await,
        "cursor with FOR UPDATE",
    );
    c.simple_query("ROLLBACK").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_has_one_line_per_statement_and_no_literals() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, DAVE.0, upstream::APP_DB).await;
    let statements = [
        "SELECT id FROM users WHERE email = 'zq-secret-4242@example.com'",
        "SELECT 987654321 + id FROM users WHERE id = 1",
        "DELETE FROM documents WHERE name = 'zq-secret-doc'",
        "SELECT 1/0",
    ];
    for s in statements {
        let _ = c.simple_query(s).await;
    }
    let _ = c
        .query_typed(
            "SELECT id FROM users WHERE full_name = 'zq-typed-literal'",
            &[],
        )
        .await;
    let expected = statements.len() + 1;
    let t = Instant::now();
    let records = loop {
        let r: Vec<serde_json::Value> = proxy
            .audit_records()
            .into_iter()
            .filter(|r| r["user"] == DAVE.0)
            .collect();
        if r.len() >= expected || t.elapsed() > Duration::from_secs(10) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        records.len(),
        expected,
        "one audit line per statement: {records:#?}"
    );
    let text = proxy.audit_text();
    for secret in [
        "zq-secret-4242",
        "987654321",
        "zq-secret-doc",
        "zq-typed-literal",
    ] {
        assert!(
            !text.contains(secret),
            "audit log contains a literal {secret:?}:\n{text}"
        );
    }
    for r in &records {
        for field in [
            "ts",
            "session",
            "user",
            "role",
            "client",
            "database",
            "application_name",
            "statement",
            "fingerprint",
            "decision",
            "masked",
            "rows",
            "duration_ms",
        ] {
            assert!(r.get(field).is_some(), "audit record lacks {field}: {r}");
        }
        assert_eq!(r["role"], "engineer");
        assert_eq!(r["database"], upstream::APP_DB);
        assert_eq!(r["application_name"], "pgward-e2e");
        assert!(
            r["client"].as_str().unwrap_or("").starts_with("127.0.0.1:"),
            "{r}"
        );
        let ts = r["ts"].as_str().unwrap_or("");
        assert!(
            ts.len() >= 20 && ts.as_bytes()[10] == b'T',
            "ts is not RFC 3339: {ts}"
        );
    }
    let denied: Vec<_> = records
        .iter()
        .filter(|r| r["decision"] == "denied")
        .collect();
    assert_eq!(denied.len(), 1, "{records:#?}");
    assert!(
        denied[0].get("rule").is_some_and(|v| !v.is_null()),
        "denied record without rule: {}",
        denied[0]
    );
    let failed: Vec<_> = records
        .iter()
        .filter(|r| r["sqlstate"] == "22012")
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "the failed statement's sqlstate: {records:#?}"
    );
    let sessions: std::collections::HashSet<String> =
        records.iter().map(|r| r["session"].to_string()).collect();
    assert_eq!(sessions.len(), 1, "one client = one session id");
    let _ = RO_USER;
}
