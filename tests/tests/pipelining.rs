//! The guards and timeouts hold under extended-protocol pipelining, in both pool modes: a
//! guarded write cannot be committed by anything else in its batch, a paged write cannot hide
//! its row count, a statement name is bound to the Parse that really created it, row limits
//! count across pages and Describes, timeouts run whether or not a batch has a Sync, and
//! parameter counts up to 65,535 are accepted.

use std::time::{Duration, Instant};

use pgward_e2e::proxy::{ALICE, BOB};
use pgward_e2e::raw::{self, RawConn, ReadResult};
use pgward_e2e::upstream::{self, Upstream};
use pgward_e2e::wire::{self, batch, bind, close, describe, execute, flush, parse, sync};
use pgward_e2e::*;

const MODES: [&str; 2] = ["transaction", "session"];

fn table(up: &Upstream, name: &str, rows: u32) -> String {
    up.numbered_table(name, rows)
}

fn changed_rows(up: &Upstream, table: &str) -> String {
    up.changed_rows(table)
}

fn proxy(up: &Upstream, mode: &str) -> Proxy {
    ProxyBuilder::new(up.port())
        .pool_mode(mode)
        .role("oncall", "max_affected_rows", 5)
        .role("engineer", "max_result_rows", 10)
        .role("engineer", "statement_timeout", "1s")
        .role("engineer", "idle_in_transaction_timeout", "1s")
        .start()
}

async fn login(proxy: &Proxy, user: (&str, &str)) -> RawConn {
    RawConn::startup(proxy.addr(), user.0, user.1, upstream::APP_DB, &[])
        .await
        .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()))
}

async fn assert_session_usable(c: &mut RawConn, what: &str) {
    let msgs = c.simple_query("SELECT 1").await;
    assert!(
        raw::first_error(&msgs).is_none(),
        "{what}: session not usable: {:?}",
        wire::codes(&msgs)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_write_cannot_be_committed_by_its_own_batch() {
    let up = upstream::shared();
    for mode in MODES {
        let t = table(up, &format!("pipe_commit_{mode}"), 60);
        let proxy = proxy(up, mode);
        let update = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let orders: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "COMMIT parsed first, executed after the write",
                vec![
                    parse("c", "COMMIT"),
                    parse("u", &update),
                    bind("pu", "u", &[]),
                    execute("pu", 0),
                    bind("pc", "c", &[]),
                    execute("pc", 0),
                    sync(),
                ],
            ),
            (
                "COMMIT bound before the write",
                vec![
                    parse("c", "COMMIT"),
                    parse("u", &update),
                    bind("pc", "c", &[]),
                    bind("pu", "u", &[]),
                    execute("pu", 0),
                    execute("pc", 0),
                    sync(),
                ],
            ),
            (
                "unnamed statements, COMMIT after the write",
                vec![
                    parse("", &update),
                    bind("", "", &[]),
                    execute("", 0),
                    parse("", "COMMIT"),
                    bind("", "", &[]),
                    execute("", 0),
                    sync(),
                ],
            ),
        ];
        for (what, frames) in orders {
            let mut c = login(&proxy, BOB).await;
            c.send(&batch(&frames)).await.unwrap();
            let msgs = c.until_ready(30).await;
            assert!(
                !wire::codes(&msgs).is_empty(),
                "{mode}, {what}: no error for a 60-row write under max_affected_rows = 5: {}",
                wire::tags(&msgs)
            );
            assert_eq!(changed_rows(up, &t), "0", "{mode}, {what}: rows committed");
            assert_session_usable(&mut c, what).await;
            assert_eq!(
                changed_rows(up, &t),
                "0",
                "{mode}, {what}: rows committed later"
            );
        }
        // Inside the client's block: a COMMIT portal bound in an earlier batch.
        let mut c = login(&proxy, BOB).await;
        c.simple_query("BEGIN").await;
        c.send(&batch(&[
            parse("c", "COMMIT"),
            bind("pc", "c", &[]),
            sync(),
        ]))
        .await
        .unwrap();
        c.until_ready(30).await;
        c.send(&batch(&[
            parse("u", &update),
            bind("pu", "u", &[]),
            execute("pu", 0),
            execute("pc", 0),
            sync(),
        ]))
        .await
        .unwrap();
        let msgs = c.until_ready(30).await;
        assert!(!wire::codes(&msgs).is_empty(), "{mode}: block: no error");
        c.simple_query("COMMIT").await;
        assert_eq!(changed_rows(up, &t), "0", "{mode}: block: rows committed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_write_cannot_be_paged() {
    let up = upstream::shared();
    for mode in MODES {
        let t = table(up, &format!("pipe_paged_{mode}"), 60);
        let proxy = proxy(up, mode);
        for (sql, rows) in [
            (
                format!("UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id"),
                1,
            ),
            (format!("DELETE FROM {t} WHERE id > 0 RETURNING id"), 3),
            (format!("UPDATE {t} SET v = 1 WHERE id = 1 RETURNING id"), 1),
        ] {
            let mut c = login(&proxy, BOB).await;
            c.send(&batch(&[
                parse("", &sql),
                bind("", "", &[]),
                execute("", rows),
                sync(),
            ]))
            .await
            .unwrap();
            let msgs = c.until_ready(30).await;
            let err = raw::first_error(&msgs)
                .unwrap_or_else(|| panic!("{mode}: paged write ran: {}", wire::tags(&msgs)));
            // PostgreSQL runs the write whole and pages its RETURNING rows without a count:
            // the guard rolls it back (54000).
            assert_eq!(
                err.code().as_deref(),
                Some("54000"),
                "{mode}: {:?}",
                err.message()
            );
            assert!(
                err.message()
                    .unwrap_or_default()
                    .contains("max_affected_rows"),
                "{mode}: {:?}",
                err.message()
            );
            assert_eq!(
                changed_rows(up, &t),
                "0",
                "{mode}: paged write changed rows"
            );
            assert_eq!(
                up.sql(upstream::APP_DB, &format!("SELECT count(*) FROM {t}"))
                    .trim(),
                "60",
                "{mode}: paged delete removed rows"
            );
            assert_session_usable(&mut c, "after a paged write").await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_name_carries_the_decision_of_the_parse_that_created_it() {
    let up = upstream::shared();
    for mode in MODES {
        let t = table(up, &format!("pipe_names_{mode}"), 60);
        let proxy = proxy(up, mode);
        let update = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let failing = parse("s1", "SELECT * FROM pgward_no_such_table");
        let reuse = [
            parse("s1", &update),
            bind("", "s1", &[]),
            execute("", 0),
            sync(),
        ];
        // One answer at a time, then everything in one write.
        let mut c = login(&proxy, BOB).await;
        c.send(&batch(&[failing.clone(), sync()])).await.unwrap();
        let msgs = c.until_ready(30).await;
        assert_eq!(wire::codes(&msgs), ["42P01"], "{mode}");
        c.send(&batch(&reuse)).await.unwrap();
        let msgs = c.until_ready(30).await;
        assert_eq!(
            wire::codes(&msgs),
            ["54000"],
            "{mode}: {}",
            wire::tags(&msgs)
        );
        assert_eq!(
            changed_rows(up, &t),
            "0",
            "{mode}: re-parsed write unguarded"
        );

        let mut c = login(&proxy, BOB).await;
        let mut all = vec![failing.clone(), sync()];
        all.extend(reuse.iter().cloned());
        c.send(&batch(&all)).await.unwrap();
        let msgs = wire::until_ready_n(&mut c, 2, 30).await;
        assert_eq!(
            wire::codes(&msgs),
            ["42P01", "54000"],
            "{mode}: {}",
            wire::tags(&msgs)
        );
        assert_eq!(
            changed_rows(up, &t),
            "0",
            "{mode}: pipelined re-parse unguarded"
        );

        // Without a failure: a live name keeps its statement (session mode, 42P05), or is
        // gone with the server (transaction mode); never the old decision on the new text.
        let mut c = login(&proxy, BOB).await;
        c.send(&batch(&[parse("s1", "SELECT 1"), sync()]))
            .await
            .unwrap();
        c.until_ready(30).await;
        c.send(&batch(&reuse)).await.unwrap();
        let msgs = c.until_ready(30).await;
        assert!(
            !wire::codes(&msgs).is_empty(),
            "{mode}: {}",
            wire::tags(&msgs)
        );
        assert_eq!(
            changed_rows(up, &t),
            "0",
            "{mode}: swapped statement unguarded"
        );

        // The audit names what really ran.
        let audit = proxy.audit_text();
        assert!(
            audit.contains(&format!("UPDATE {t}")),
            "{mode}: the write was not audited as itself"
        );
        // A closed name is forgotten; a re-parse after Close is judged on its own.
        let mut c = login(&proxy, BOB).await;
        c.send(&batch(&[
            parse("s2", "SELECT 1"),
            close(b'S', "s2"),
            parse("s2", &update),
            bind("", "s2", &[]),
            execute("", 0),
            sync(),
        ]))
        .await
        .unwrap();
        let msgs = c.until_ready(30).await;
        assert_eq!(
            wire::codes(&msgs),
            ["54000"],
            "{mode}: {}",
            wire::tags(&msgs)
        );
        assert_eq!(changed_rows(up, &t), "0", "{mode}: closed then re-parsed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limits_count_across_pages_describes_and_pipelined_executes() {
    let up = upstream::shared();
    for mode in MODES {
        let t = table(up, &format!("pipe_rows_{mode}"), 40);
        let proxy = proxy(up, mode);
        let select = format!("SELECT id FROM {t} ORDER BY id");
        let patterns: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "Describe between pages",
                [execute("p", 4), describe(b'P', "p")]
                    .into_iter()
                    .cycle()
                    .take(12)
                    .collect(),
            ),
            (
                "pipelined Executes",
                std::iter::repeat_n(execute("p", 3), 8).collect(),
            ),
        ];
        for (what, pages) in patterns {
            let mut c = login(&proxy, ALICE).await;
            c.simple_query("BEGIN").await;
            let mut frames = vec![parse("", &select), bind("p", "", &[])];
            frames.extend(pages);
            frames.push(sync());
            c.send(&batch(&frames)).await.unwrap();
            let msgs = c.until_ready(30).await;
            let rows = raw::rows(&msgs).len();
            assert!(
                rows <= 10,
                "{mode}, {what}: {rows} rows past max_result_rows = 10"
            );
            assert!(
                wire::codes(&msgs).contains(&"54000".to_string()),
                "{mode}, {what}: no 54000: {}",
                wire::tags(&msgs)
            );
            c.simple_query("ROLLBACK").await;
            assert_session_usable(&mut c, what).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_holds_without_a_sync() {
    let up = upstream::shared();
    for mode in MODES {
        let proxy = proxy(up, mode);
        let mut c = login(&proxy, ALICE).await;
        // A value PostgreSQL rounds to 0 (no limit) must not loosen the limit, whether pgward
        // refuses it or not.
        c.simple_query("SET statement_timeout = '0.5'").await;
        let t0 = Instant::now();
        c.send(&batch(&[
            parse("", "SELECT pg_sleep(20)"),
            bind("", "", &[]),
            execute("", 0),
            flush(),
        ]))
        .await
        .unwrap();
        let mut got = None;
        while t0.elapsed() < Duration::from_secs(8) {
            match c.read_msg(8).await {
                ReadResult::Msg(m) if m.tag == b'E' => {
                    got = m.code();
                    break;
                }
                ReadResult::Msg(_) => {}
                other => panic!("{mode}: {other:?}"),
            }
        }
        assert_eq!(
            got.as_deref(),
            Some("57014"),
            "{mode}: no statement timeout"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{mode}: timeout took {:?}",
            t0.elapsed()
        );
        c.send(&sync()).await.unwrap();
        c.until_ready(10).await;
        assert_session_usable(&mut c, "after the timeout").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_fires_while_a_batch_is_open() {
    let up = upstream::shared();
    for mode in MODES {
        let t = table(up, &format!("pipe_idle_{mode}"), 5);
        let proxy = proxy(up, mode);
        let mut c = login(&proxy, ALICE).await;
        // Parse takes a lock on the table and holds a transaction until Sync.
        c.send(&batch(&[
            parse("", &format!("SELECT id FROM {t}")),
            flush(),
        ]))
        .await
        .unwrap();
        let t0 = Instant::now();
        let mut fatal = None;
        loop {
            match c.read_msg(10).await {
                ReadResult::Msg(m) if m.tag == b'E' => {
                    fatal = m.code();
                    break;
                }
                ReadResult::Msg(_) => {}
                ReadResult::Closed | ReadResult::TimedOut => break,
            }
        }
        assert_eq!(fatal.as_deref(), Some("25P03"), "{mode}: no idle timeout");
        assert!(
            t0.elapsed() < Duration::from_secs(6),
            "{mode}: took {:?}",
            t0.elapsed()
        );
        // The lock is gone: the table can be altered at once.
        let locked = up.try_sql(
            upstream::APP_DB,
            &format!("SET lock_timeout = '3s'; ALTER TABLE {t} ADD COLUMN w int"),
        );
        assert!(
            locked.is_ok(),
            "{mode}: the batch's lock was held: {locked:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_counts_up_to_65535_are_accepted() {
    let up = upstream::shared();
    for mode in MODES {
        let proxy = proxy(up, mode);
        for n in [32_768usize, 40_000, 65_535] {
            let mut c = login(&proxy, ALICE).await;
            let params: Vec<Option<&str>> = vec![Some("7"); n];
            c.send(&batch(&[
                wire::parse_with_params("", &format!("SELECT ${n}::int AS x"), n),
                bind("", "", &params),
                execute("", 0),
                sync(),
            ]))
            .await
            .unwrap();
            let msgs = c.until_ready(60).await;
            assert!(
                raw::first_error(&msgs).is_none(),
                "{mode}, {n} parameters: {:?}",
                raw::first_error(&msgs).and_then(|m| m.message())
            );
            assert_eq!(
                raw::rows(&msgs),
                vec![vec![Some("7".to_string())]],
                "{mode}, {n}"
            );
        }
    }
}
