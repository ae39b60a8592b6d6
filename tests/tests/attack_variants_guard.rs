//! Acceptance attacks on issue 8 that hold against the landed code: the write guard
//! (classes 1 and 2) against other commit paths, paged and hidden writes, and a row-limit cut
//! of a write's own RETURNING rows. Findings are in `attack_variants.rs`.

mod attack_common;

use attack_common::*;
use pgward_e2e::proxy::BOB;
use pgward_e2e::raw::{self, query_frame};
use pgward_e2e::upstream;
use pgward_e2e::wire::{bind, execute, parse, sync};

const MODES: [&str; 2] = ["session", "transaction"];

/// Class 1 (holds): a guarded write is not committed by END, COMMIT AND CHAIN, a COMMIT in
/// a simple Query sent in the middle of its extended batch, PREPARE TRANSACTION, a string
/// that commits after the write, or RELEASE of a savepoint taken before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_write_is_not_committed_by_other_commit_paths() {
    let up = upstream::shared();
    for mode in MODES {
        let t = table(up, &format!("atk_commit_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let write = || vec![parse("", &upd), bind("", "", &[]), execute("", 0)];
        let ext = |sql: &str| vec![parse("x", sql), bind("px", "x", &[]), execute("px", 0)];
        let mut variants: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
        for ctl in
            "COMMIT|END|COMMIT AND CHAIN|SELECT 1; COMMIT|COMMIT; SELECT 1|END; BEGIN".split('|')
        {
            variants.push((
                format!("Query {ctl:?} in the middle of the write's batch"),
                [write(), vec![query_frame(ctl), sync()]].concat(),
            ));
        }
        for ctl in "END|COMMIT AND CHAIN|ABORT AND CHAIN|PREPARE TRANSACTION 'atk'".split('|') {
            variants.push((
                format!("extended {ctl:?} after the write"),
                [write(), ext(ctl), vec![sync()]].concat(),
            ));
        }
        for s in [
            format!("{upd}; END"),
            format!("{upd}; COMMIT AND CHAIN"),
            format!("BEGIN; {upd}; END"),
            format!("START TRANSACTION; {upd}; COMMIT AND CHAIN; ROLLBACK"),
            format!("{upd}; PREPARE TRANSACTION 'atk'"),
        ] {
            variants.push((format!("Query {s:?}"), vec![query_frame(&s)]));
        }
        let mut got = Vec::new();
        for (what, frames) in variants {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
            exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
            exchange(&mut c, &[query_frame("ROLLBACK PREPARED 'atk'")], 1).await;
            let rows = changed(up, &t);
            if rows != "0" {
                got.push(format!("{what}: {rows} rows ({})", summary(&msgs)));
            }
        }
        reset(up, &t);
        let mut c = login(&proxy, BOB).await;
        exchange(&mut c, &[query_frame("BEGIN; SAVEPOINT a")], 1).await;
        let frames = [write(), ext("RELEASE SAVEPOINT a"), vec![sync()]].concat();
        let msgs = exchange(&mut c, &frames, 1).await;
        exchange(&mut c, &[query_frame("COMMIT")], 1).await;
        if changed(up, &t) != "0" {
            got.push(format!(
                "RELEASE SAVEPOINT in the batch: {}",
                summary(&msgs)
            ));
        }
        report(mode, &got);
    }
}

/// Class 1/2 (holds): a write whose own RETURNING rows are cut by max_result_rows is still
/// counted and rolled back, simple or extended, in or out of a block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_write_cut_by_the_row_limit_is_still_counted() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("atk_ret_{mode}"), 60);
        let proxy = builder(up, mode)
            .role("oncall", "max_result_rows", 10)
            .start();
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id");
        let ext = vec![parse("", &upd), bind("", "", &[]), execute("", 0), sync()];
        for block in [false, true] {
            for frames in [vec![query_frame(&upd)], ext.clone()] {
                reset(up, &t);
                let mut c = login(&proxy, BOB).await;
                if block {
                    exchange(&mut c, &[query_frame("BEGIN")], 1).await;
                }
                let msgs = exchange(&mut c, &frames, 1).await;
                exchange(&mut c, &[query_frame("COMMIT")], 1).await;
                if changed(up, &t) != "0" {
                    got.push(format!("{mode}, block={block}: {}", summary(&msgs)));
                }
            }
        }
    }
    report("RETURNING cut", &got);
}

/// Class 2 (holds): other paged or uncounted writes: INSERT ... SELECT ... RETURNING,
/// DELETE ... RETURNING and MERGE executed with a row limit, a writable CTE under a SELECT
/// (with and without a row limit), a SQL cursor over one, and a negative max_rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_cannot_be_paged_or_hidden_in_a_select() {
    let up = upstream::shared();
    for mode in ["session", "transaction"] {
        let t = table(up, &format!("atk_paged_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id");
        let cases = [
            (format!("INSERT INTO {t} (id, v) SELECT id + 100, 1 FROM {t} WHERE id > 0 RETURNING id"), 1),
            (format!("DELETE FROM {t} WHERE id > 0 RETURNING id"), 2),
            (format!("MERGE INTO {t} USING {t} s ON s.id = {t}.id WHEN MATCHED THEN UPDATE SET v = 1"), 1),
            (format!("WITH u AS ({upd}) SELECT * FROM u"), 1),
            (format!("WITH u AS ({upd}) SELECT * FROM u"), 0),
            (upd.clone(), -1),
        ];
        let mut got = Vec::new();
        for (sql, max_rows) in cases {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            let frames = [
                parse("", &sql),
                bind("", "", &[]),
                execute("", max_rows),
                sync(),
            ];
            let msgs = exchange(&mut c, &frames, 1).await;
            let count = up.sql(upstream::APP_DB, &format!("SELECT count(*) FROM {t}"));
            if changed(up, &t) != "0" || count.trim() != "60" || raw::first_error(&msgs).is_none() {
                got.push(format!("{sql:?} max_rows {max_rows}: {}", summary(&msgs)));
            }
        }
        reset(up, &t);
        let mut c = login(&proxy, BOB).await;
        let sql = format!(
            "BEGIN; DECLARE c CURSOR FOR WITH u AS ({upd}) SELECT * FROM u; FETCH 1 FROM c; COMMIT"
        );
        let msgs = exchange(&mut c, &[query_frame(&sql)], 1).await;
        exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
        if changed(up, &t) != "0" {
            got.push(format!("cursor over a writable CTE: {}", summary(&msgs)));
        }
        report(mode, &got);
    }
}

/// The guard opened inside a batch that began the client's own block ([BEGIN] [UPDATE]
/// Sync, as pgjdbc sends with autocommit off): the block stays the client's, open after the
/// Sync ('T'), and its ROLLBACK takes the write back; its COMMIT keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_write_in_a_batch_that_began_a_block_stays_in_that_block() {
    let up = upstream::shared();
    for mode in MODES {
        let t = table(up, &format!("atk_block_{mode}"), 60);
        let proxy = proxy(up, mode);
        let small = format!("UPDATE {t} SET v = v + 1 WHERE id = 1");
        for end in ["ROLLBACK", "COMMIT"] {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            let frames = [
                vec![parse("", "BEGIN"), bind("", "", &[]), execute("", 0)],
                vec![parse("", &small), bind("", "", &[]), execute("", 0), sync()],
            ]
            .concat();
            let msgs = exchange(&mut c, &frames, 1).await;
            let what = format!("{mode}, then {end}: {}", summary(&msgs));
            assert!(raw::first_error(&msgs).is_none(), "{what}");
            assert_eq!(
                msgs.last().map(|m| m.body.clone()),
                Some(b"T".to_vec()),
                "{what}"
            );
            assert!(
                !msgs.iter().any(|m| m.tag == b'N'),
                "{what}: pgward's warning leaked"
            );
            assert_eq!(
                changed(up, &t),
                "0",
                "{what}: visible before the block ends"
            );
            exchange(&mut c, &[query_frame(end)], 1).await;
            let want = if end == "COMMIT" { "1" } else { "0" };
            assert_eq!(changed(up, &t), want, "{what}");
        }
    }
}

/// A guarded write's batch in which an error makes the server skip a simple Query sent
/// before the batch's Sync (PostgreSQL skips everything to Sync): the guard's unit ends at
/// that Sync, whose ReadyForQuery is the one that comes, the write is rolled back with the
/// failed batch, and the session goes on (the guard used to wait for the skipped Query's
/// answer and stop reading the client, whose Sync the server was waiting for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_batch_whose_query_the_server_skips_ends_at_its_sync() {
    let up = upstream::shared();
    for mode in MODES {
        let t = table(up, &format!("atk_skipped_query_{mode}"), 3);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id = 1");
        let frames = vec![
            parse("w", &upd),
            bind("", "w", &[]),
            execute("", 0),
            // 42P05, the name is taken: the server skips the rest of the batch to its Sync.
            parse("w", "SELECT 1"),
            query_frame("SELECT 2"),
            sync(),
        ];
        let mut c = login(&proxy, BOB).await;
        let msgs = exchange(&mut c, &frames, 1).await;
        assert_eq!(
            pgward_e2e::wire::codes(&msgs),
            ["42P05"],
            "{mode}: {}",
            summary(&msgs)
        );
        assert_eq!(
            msgs.last().map(|m| m.tag),
            Some(b'Z'),
            "{mode}: {}",
            summary(&msgs)
        );
        let after = exchange(&mut c, &[query_frame("SELECT 3")], 1).await;
        assert_eq!(summary(&after), "TDCZ []", "{mode}: the session went on");
        assert_eq!(
            changed(up, &t),
            "0",
            "{mode}: the failed batch's write committed"
        );
    }
}

/// A guarded write past its limit and an Execute of COPY FROM STDIN in one batch with its
/// Sync: the server ignores the Sync once the COPY starts, and pgward ends the COPY (the unit
/// is rolled back); the client's Sync is still answered (pgward used to leave the client
/// waiting for it until the idle limit), and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_the_guard_ends_still_answers_the_sync() {
    let up = upstream::shared();
    for mode in MODES {
        let t = table(up, &format!("atk_guard_copy_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let copy = format!("COPY {t} (id, v) FROM STDIN");
        let frames = vec![
            parse("", &upd),
            bind("", "", &[]),
            execute("", 0),
            parse("c", &copy),
            bind("", "c", &[]),
            execute("", 0),
            sync(),
        ];
        let mut c = login(&proxy, BOB).await;
        let msgs = exchange(&mut c, &frames, 1).await;
        assert_eq!(
            msgs.last().map(|m| m.tag),
            Some(b'Z'),
            "{mode}: {}",
            summary(&msgs)
        );
        assert!(
            pgward_e2e::wire::codes(&msgs).contains(&"54000".to_string()),
            "{mode}: {}",
            summary(&msgs)
        );
        let after = exchange(&mut c, &[query_frame("SELECT 3")], 1).await;
        assert_eq!(summary(&after), "TDCZ []", "{mode}: the session went on");
        assert_eq!(changed(up, &t), "0", "{mode}: rows were written");
    }
}
