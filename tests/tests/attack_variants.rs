//! Acceptance attacks on issue 8 (guards and timeouts under pipelining): variants of each
//! finding's class run against the landed session machine. Each test here was a finding (a
//! variant that got through); those marked `#[ignore = "finding: ..."]` still do, the others
//! are fixed and guard against it coming back.
//! Variants that hold: `attack_variants_guard.rs` and `attack_variants_holds.rs`.

mod attack_common;

use std::time::{Duration, Instant};

use attack_common::*;
use pgward_e2e::proxy::{ALICE, BOB};
use pgward_e2e::raw::{self, query_frame, ReadResult};
use pgward_e2e::upstream;
use pgward_e2e::wire::{self, bind, execute, parse, sync};

const MODES: [&str; 2] = ["session", "transaction"];

/// FINDING (class 1/2): a guarded write whose CommandComplete falls in the part of the batch
/// that max_result_rows swallows after cutting a result is never counted, and the guard
/// COMMITs it. bob has max_affected_rows 5 and max_result_rows 10:
/// Parse("u", UPDATE 60 rows) Bind("pu","u") Parse("", SELECT 60 rows) Bind("","")
/// Execute("",0) Execute("pu",0) Sync. The client sees only the SELECT's 54000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_cut_does_not_hide_a_guarded_write() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("atk_cut_{mode}"), 60);
        let proxy = builder(up, mode)
            .role("oncall", "max_result_rows", 10)
            .start();
        let frames = vec![
            parse("u", &format!("UPDATE {t} SET v = v + 1 WHERE id > 0")),
            bind("pu", "u", &[]),
            parse("", &format!("SELECT id FROM {t}")),
            bind("", "", &[]),
            execute("", 0),
            execute("pu", 0),
            sync(),
        ];
        for block in [false, true] {
            // The cancel pgward sends on the cut races the write: a few tries.
            for _ in 0..3 {
                reset(up, &t);
                let mut c = login(&proxy, BOB).await;
                if block {
                    exchange(&mut c, &[query_frame("BEGIN")], 1).await;
                }
                let msgs = exchange(&mut c, &frames, 1).await;
                if block {
                    exchange(&mut c, &[query_frame("COMMIT")], 1).await;
                }
                let rows = changed(up, &t);
                if rows != "0" {
                    got.push(format!(
                        "{mode}, block={block}: {rows} rows committed: {}",
                        summary(&msgs)
                    ));
                    break;
                }
            }
        }
    }
    report("guarded write after a cut", &got);
}

/// Rows alice reads from `pages` exchanges (each one write, answered up to its Syncs).
async fn paged_rows(c: &mut pgward_e2e::raw::RawConn, page: &[Vec<u8>], pages: usize) -> usize {
    let mut n = 0;
    for _ in 0..pages {
        n += raw::rows(&exchange(c, page, sync_points(page)).await).len();
    }
    n
}

/// FINDING (class 4): a SQL cursor read with FETCH in pages: each FETCH is counted as a
/// result of its own. Query("BEGIN; DECLARE c CURSOR FOR SELECT id FROM t") then
/// Query("FETCH 4 FROM c") x12: 40 rows under max_result_rows = 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_counts_across_fetch_pages_of_a_cursor() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("atk_fetch_{mode}"), 40);
        let proxy = proxy(up, mode);
        let mut c = login(&proxy, ALICE).await;
        let declare = format!("BEGIN; DECLARE c CURSOR FOR SELECT id FROM {t} ORDER BY id");
        exchange(&mut c, &[query_frame(&declare)], 1).await;
        let n = paged_rows(&mut c, &[query_frame("FETCH 4 FROM c")], 12).await;
        if n > 10 {
            got.push(format!("{mode}: {n} rows past max_result_rows = 10"));
        }
    }
    report("FETCH pages", &got);
}

/// FINDING (class 4): a WITH HOLD cursor outlives its transaction, but the row count is
/// cleared at every ReadyForQuery(I): Query("DECLARE h CURSOR WITH HOLD FOR SELECT id
/// FROM t") then [Execute("h", 4), Sync] x12 (or Query("FETCH 4 FROM h") x12): 40 rows,
/// in both pool modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_counts_across_syncs_for_a_held_cursor() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("atk_hold_{mode}"), 40);
        let proxy = proxy(up, mode);
        let declare = format!("DECLARE h CURSOR WITH HOLD FOR SELECT id FROM {t} ORDER BY id");
        for (what, page) in [
            ("Execute(h, 4) + Sync", vec![execute("h", 4), sync()]),
            ("FETCH 4 FROM h", vec![query_frame("FETCH 4 FROM h")]),
        ] {
            let mut c = login(&proxy, ALICE).await;
            exchange(&mut c, &[query_frame(&declare)], 1).await;
            let n = paged_rows(&mut c, &page, 12).await;
            if n > 10 {
                got.push(format!(
                    "{mode}, {what} x12: {n} rows past max_result_rows = 10"
                ));
            }
        }
    }
    report("WITH HOLD cursor", &got);
}

/// FINDING (class 4): in a block, pages of one portal pipelined with a Sync after each:
/// after the cut (54000, but ReadyForQuery 'T' and the portal still open upstream) the
/// Executes already sent go on reading it with a fresh count. Query("BEGIN"), then in one
/// write Parse("s", SELECT 40 rows) Bind("p","s") [Execute("p",4) Sync] x12: rows 1-10,
/// 54000, 13-22, 54000, 25-34, 54000, 37-40 (34 rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_cut_portal_is_not_read_by_pipelined_pages() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("atk_pipe_{mode}"), 40);
        let proxy = proxy(up, mode);
        let mut c = login(&proxy, ALICE).await;
        exchange(&mut c, &[query_frame("BEGIN")], 1).await;
        let mut frames = vec![
            parse("s", &format!("SELECT id FROM {t} ORDER BY id")),
            bind("p", "s", &[]),
        ];
        for _ in 0..12 {
            frames.push(execute("p", 4));
            frames.push(sync());
        }
        let msgs = exchange(&mut c, &frames, 12).await;
        let n = raw::rows(&msgs).len();
        if n > 10 {
            got.push(format!("{mode}: {n} rows past max_result_rows = 10"));
        }
    }
    report("pipelined pages", &got);
}

/// FINDING (class 5): bob (read-write, statement_timeout 1s) switches the server's
/// statement_timeout off through pg_settings' update rule (it calls set_config):
/// Query("UPDATE pg_settings SET setting = '0' WHERE name = 'statement_timeout'") passes
/// (require_where is met), SHOW says 0, and in transaction mode the next client of the
/// pooled server inherits 0. Only pgward's backstop (limit + 1 s grace) is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cannot_be_switched_off_through_pg_settings() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let proxy = builder(up, mode).pool_size(1).start();
        let mut c = login(&proxy, BOB).await;
        let sql = "UPDATE pg_settings SET setting = '0' WHERE name = 'statement_timeout'";
        let msgs = exchange(&mut c, &[query_frame(sql)], 1).await;
        let here = server_timeout(&mut c).await;
        drop(c);
        let mut next = login(&proxy, BOB).await;
        let there = server_timeout(&mut next).await;
        if here != "1s" || there != "1s" {
            got.push(format!(
                "{mode}: {sql} answered {}; SHOW: {here}, next client: {there}",
                summary(&msgs)
            ));
        }
    }
    report("pg_settings", &got);
}

/// FINDING (class 5): a batch with neither Sync nor Flush. PostgreSQL runs the messages,
/// buffers their answers (nothing reaches pgward) and holds the batch's transaction and
/// locks; pgward counts the answer as owed, so the idle-in-transaction clock never starts
/// and the statement backstop's cancel finds an idle server. alice (idle_in_transaction
/// 1s, statement_timeout 1s) sends Parse("", "SELECT id FROM t") alone, or Parse Bind
/// Execute: nothing comes back for 6 s and the table's lock is still held (ALTER TABLE
/// with lock_timeout 2s fails), in both pool modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_fires_for_a_batch_without_flush() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let proxy = builder(up, mode)
            .role("engineer", "idle_in_transaction_timeout", "1s")
            .start();
        for n in [1, 3] {
            let t = table(up, &format!("atk_noflush_{mode}_{n}"), 5);
            let mut c = login(&proxy, ALICE).await;
            let frames = [
                parse("", &format!("SELECT id FROM {t}")),
                bind("", "", &[]),
                execute("", 0),
            ];
            c.send(&frames[..n].concat()).await.expect("sending");
            if let Some(what) = still_holds(up, &mut c, &t).await {
                got.push(format!("{mode}, {n} message(s): {what}"));
            }
        }
    }
    report("no Sync, no Flush", &got);
}

/// What the client hears for 6 s; `Some` (what it saw) when no 25P03/57014 came or the
/// table's lock is still held then (an ALTER TABLE with lock_timeout 2s fails).
async fn still_holds(up: &upstream::Upstream, c: &mut raw::RawConn, t: &str) -> Option<String> {
    let t0 = Instant::now();
    let mut seen = Vec::new();
    while t0.elapsed() < Duration::from_secs(6) {
        match c.read_msg(6).await {
            ReadResult::Msg(m) => seen.push(m),
            _ => break,
        }
    }
    let lock = up.try_sql(
        upstream::APP_DB,
        &format!("SET lock_timeout = '2s'; ALTER TABLE {t} ADD COLUMN w int"),
    );
    let ended = wire::codes(&seen)
        .iter()
        .any(|c| c == "25P03" || c == "57014");
    (!ended || lock.is_err()).then(|| {
        format!(
            "client saw {:?} in 6 s; lock still held: {}",
            summary(&seen),
            lock.is_err()
        )
    })
}

/// FINDING (class 5): a COPY FROM STDIN whose data never comes. PostgreSQL ignores a cancel
/// while it waits for COPY data, so pgward's statement backstop does nothing, and the
/// idle-in-transaction clock is not armed while the COPY owes its answer. bob
/// (statement_timeout 1s, idle_in_transaction_timeout 1s) sends Query("COPY t FROM STDIN")
/// (or "BEGIN; COPY t FROM STDIN") and then nothing: CopyInResponse, then silence, and the
/// table's RowExclusiveLock is still held after 8 s, in both pool modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_end_a_stalled_copy_from_stdin() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let proxy = builder(up, mode)
            .role("oncall", "idle_in_transaction_timeout", "1s")
            .start();
        for block in ["", "BEGIN; "] {
            let t = table(up, &format!("atk_copy_{mode}"), 5);
            let mut c = login(&proxy, BOB).await;
            let sql = format!("{block}COPY {t} FROM STDIN");
            c.send(&query_frame(&sql)).await.expect("sending");
            if let Some(what) = still_holds(up, &mut c, &t).await {
                got.push(format!("{mode}, {sql:?}: {what}"));
            }
        }
    }
    report("stalled COPY", &got);
}

/// FINDING (class 1, the guard's own Sync): a write after a failed message of its batch,
/// which PostgreSQL skips, runs and commits: the Sync pgward sends before opening the guard
/// ends the server's skip-to-Sync. bob: Parse("", "SELECT 1/0") Bind Execute, then
/// Query("UPDATE t SET v = 1 WHERE id = 1") Sync: PostgreSQL answers 1 E(22012) Z and
/// changes nothing; through pgward 1 E(22012) C Z Z and the row was committed. The same
/// with Bind/Execute of a write statement parsed in an earlier batch (1 E 2 C Z). Fixed:
/// pgward skips the write with the rest of the failed batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_after_an_error_in_their_batch_stay_skipped() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("atk_skip_{mode}"), 60);
        let proxy = proxy(up, mode);
        let small = format!("UPDATE {t} SET v = 1 WHERE id = 1");
        let fail = || vec![parse("", "SELECT 1/0"), bind("", "", &[]), execute("", 0)];
        for (what, pre, frames) in [
            (
                "Query",
                vec![],
                [fail(), vec![query_frame(&small), sync()]].concat(),
            ),
            (
                "Bind/Execute of an earlier statement",
                vec![parse("w", &small), sync()],
                [fail(), vec![bind("pw", "w", &[]), execute("pw", 0), sync()]].concat(),
            ),
        ] {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            if !pre.is_empty() {
                exchange(&mut c, &pre, 1).await;
            }
            let msgs = exchange(&mut c, &frames, 1).await;
            let rest = exchange(&mut c, &[], 1).await;
            let rows = changed(up, &t);
            if rows != "0" || wire::tags(&msgs) != "1EZ" || !rest.is_empty() {
                got.push(format!(
                    "{mode}, {what}: {} then {}; {rows} row(s) committed",
                    summary(&msgs),
                    summary(&rest)
                ));
            }
        }
    }
    report("after an error", &got);
}

/// FINDING (class 1, the guard's own Sync): the Sync pgward sends before opening the guard
/// splits the batch's implicit transaction: a NOTIFY before the write is committed though a
/// later message fails the batch (PostgreSQL delivers nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_batch_stays_one_transaction() {
    let up = upstream::shared();
    let mut got = Vec::new();
    let mut listener = raw::RawConn::startup(
        ([127, 0, 0, 1], up.port()).into(),
        upstream::OWNER_USER,
        upstream::OWNER_PASSWORD,
        upstream::APP_DB,
        &[],
    )
    .await
    .expect("direct login");
    exchange(&mut listener, &[query_frame("LISTEN atk_ch")], 1).await;
    for mode in MODES {
        let t = table(up, &format!("atk_notify_{mode}"), 60);
        let proxy = proxy(up, mode);
        let mut frames = Vec::new();
        for sql in [
            "NOTIFY atk_ch".to_string(),
            format!("UPDATE {t} SET v = 1 WHERE id = 1"),
            "SELECT 1/0".to_string(),
        ] {
            frames.extend([parse("", &sql), bind("", "", &[]), execute("", 0)]);
        }
        frames.push(sync());
        let msgs = exchange(&mut login(&proxy, BOB).await, &frames, 1).await;
        let mut notes = 0;
        while let ReadResult::Msg(m) = listener.read_msg(2).await {
            notes += usize::from(m.tag == b'A');
        }
        if notes > 0 {
            got.push(format!(
                "{mode}, NOTIFY; small UPDATE; 1/0: {} and the NOTIFY was delivered",
                summary(&msgs)
            ));
        }
    }
    report("after an error", &got);
}
