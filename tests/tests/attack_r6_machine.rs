//! Round 6 attacks on the session machine (extended protocol and pipelining), both pool
//! modes: a bound write portal run by a built-in that fetches from a cursor by name, row
//! counts keyed by names PostgreSQL truncates, cursor counts dropped by statements that fail
//! on the server, a scroll cursor executed to its end as a portal, startup `options`
//! spellings PostgreSQL reads as `statement_timeout`, and simple Queries in the middle of a
//! guarded batch.
//!
//! bob (oncall): max_affected_rows 5, statement_timeout 1s; alice (engineer):
//! max_result_rows 10, statement_timeout 1s (`attack_common::builder`).

mod attack_common;

use std::net::SocketAddr;

use attack_common::*;
use pgward_e2e::proxy::{ALICE, BOB};
use pgward_e2e::raw::{self, query_frame, Msg, RawConn};
use pgward_e2e::upstream::{self, Upstream};
use pgward_e2e::wire::{bind, execute, parse, sync};

const MODES: [&str; 2] = ["session", "transaction"];

/// A raw connection straight to PostgreSQL as the login bob's role uses.
async fn direct(up: &Upstream, extra: &[(&str, &str)]) -> Result<RawConn, Msg> {
    let addr: SocketAddr = ([127, 0, 0, 1], up.port()).into();
    RawConn::startup(
        addr,
        upstream::OWNER_USER,
        upstream::OWNER_PASSWORD,
        upstream::APP_DB,
        extra,
    )
    .await
}

/// DataRows in an answer.
fn data_rows(msgs: &[Msg]) -> usize {
    msgs.iter().filter(|m| m.tag == b'D').count()
}

/// `SELECT cursor_to_xml('pu', ...)`: the built-in fetches from the portal named `pu`
/// through SPI (`SPI_cursor_find`), whatever created it: a protocol portal bound from
/// `UPDATE ... RETURNING` runs its whole write at that first fetch.
const XML_FETCH: &str = "SELECT cursor_to_xml('pu', 100, false, false, '')";

/// The frames of the one-batch case: the write bound (never executed) and the built-in
/// run in the same batch, no block (the batch's implicit transaction commits at Sync).
fn xml_batch(upd: &str) -> Vec<Vec<u8>> {
    vec![
        parse("u", upd),
        bind("pu", "u", &[]),
        parse("", XML_FETCH),
        bind("", "", &[]),
        execute("", 0),
        sync(),
    ]
}

/// Class 1/3 (FINDING if it fails): `cursor_to_xml` runs a bound write portal. A 60-row
/// `UPDATE ... RETURNING` bound as portal `pu` and never Executed, then
/// `SELECT cursor_to_xml('pu', 100, false, false, '')` (a SELECT of a pg_catalog function:
/// no write for pgward): PostgreSQL runs the whole write, unguarded, and it commits. In one
/// batch, and in the client's block with the SELECT as a simple Query, then COMMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_to_xml_cannot_run_a_bound_write_portal() {
    let up = upstream::shared();
    // Premise, straight against PostgreSQL: the built-in does run the bound write.
    let t = table(up, "r6_xml_direct", 60);
    let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id");
    let mut c = direct(up, &[]).await.expect("direct login");
    let msgs = exchange(&mut c, &xml_batch(&upd), 1).await;
    assert_eq!(
        changed(up, &t),
        "60",
        "premise: cursor_to_xml runs the bound UPDATE on PostgreSQL: {}",
        summary(&msgs)
    );
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r6_xml_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id");
        // One batch, no block.
        reset(up, &t);
        let mut c = login(&proxy, BOB).await;
        let msgs = exchange(&mut c, &xml_batch(&upd), 1).await;
        let n = changed(up, &t);
        if n != "0" {
            got.push(format!(
                "{mode}: [Parse u=UPDATE..RETURNING, Bind pu, Parse/Bind/Execute {XML_FETCH:?}, Sync]: {n} rows committed ({})",
                summary(&msgs)
            ));
        }
        // In the client's block: bound in one batch, fetched by a simple Query, COMMIT.
        reset(up, &t);
        let mut c = login(&proxy, BOB).await;
        exchange(&mut c, &[query_frame("BEGIN")], 1).await;
        let bound = exchange(&mut c, &[parse("u", &upd), bind("pu", "u", &[]), sync()], 1).await;
        let msgs = exchange(&mut c, &[query_frame(XML_FETCH)], 1).await;
        let end = exchange(&mut c, &[query_frame("COMMIT")], 1).await;
        let n = changed(up, &t);
        if n != "0" {
            got.push(format!(
                "{mode}: BEGIN; [Parse u, Bind pu, Sync] ({}); Query {XML_FETCH:?} ({}); COMMIT ({}): {n} rows committed",
                summary(&bound),
                summary(&msgs),
                summary(&end)
            ));
        }
    }
    report("cursor_to_xml of a bound write portal", &got);
}

/// Class 1/3: a FETCH statement parsed before the write portal it names was bound (so at
/// its Parse the name was no write), then the write bound under that name and the FETCH
/// bound and executed in the client's block; also a read portal under the name closed and
/// rebound as the write between the FETCH's Parse and its Execute. COMMIT after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_parsed_before_its_write_portal_was_bound_is_guarded() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r6_fetchfirst_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id");
        let cases: Vec<(&str, Vec<Vec<Vec<u8>>>)> = vec![
            (
                "Parse f=FETCH ALL FROM pu; Sync | Parse u, Bind pu, Bind pf f, Execute pf, Sync",
                vec![
                    vec![parse("f", "FETCH ALL FROM pu"), sync()],
                    vec![
                        parse("u", &upd),
                        bind("pu", "u", &[]),
                        bind("pf", "f", &[]),
                        execute("pf", 0),
                        sync(),
                    ],
                ],
            ),
            (
                "Bind pu=SELECT, Parse f=MOVE ALL IN pu; Sync | Close P pu, Bind pu=UPDATE, Bind pf f, Execute pf, Sync",
                vec![
                    vec![
                        parse("r", &format!("SELECT id FROM {t}")),
                        bind("pu", "r", &[]),
                        parse("f", "MOVE ALL IN pu"),
                        sync(),
                    ],
                    vec![
                        pgward_e2e::wire::close(b'P', "pu"),
                        parse("u", &upd),
                        bind("pu", "u", &[]),
                        bind("pf", "f", &[]),
                        execute("pf", 0),
                        sync(),
                    ],
                ],
            ),
        ];
        for (what, steps) in cases {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            exchange(&mut c, &[query_frame("BEGIN")], 1).await;
            let mut seen = Vec::new();
            for s in &steps {
                seen.push(summary(&exchange(&mut c, s, 1).await));
            }
            exchange(&mut c, &[query_frame("COMMIT")], 1).await;
            let n = changed(up, &t);
            if n != "0" {
                got.push(format!(
                    "{mode}: BEGIN | {what} | COMMIT: {n} rows committed ({seen:?})"
                ));
            }
        }
    }
    report("FETCH parsed before its write portal", &got);
}

/// Class 4 (FINDING if it fails): PostgreSQL keys portals by their first 63 bytes, so
/// Execute("p"*63 + "b") reads the portal bound as "p"*63 + "a"; pgward's row count must be
/// the portal's, not the spelling's. In the client's block: Parse s (40 rows), Bind under a
/// 64-byte name, then 10 x Execute(4 rows) each under another 64-byte spelling of it, Sync.
/// The same for a SQL cursor of a 63-byte name executed as a portal under longer spellings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_counts_a_portal_whatever_spelling_past_63_bytes_executes_it() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r6_longname_{mode}"), 40);
        let proxy = proxy(up, mode);
        let stem = "p".repeat(63);
        // Protocol portal.
        let mut c = login(&proxy, ALICE).await;
        exchange(&mut c, &[query_frame("BEGIN")], 1).await;
        let mut frames = vec![
            parse("s", &format!("SELECT id FROM {t} ORDER BY id")),
            bind(&format!("{stem}a"), "s", &[]),
        ];
        for i in 0..10u8 {
            frames.push(execute(&format!("{stem}{}", (b'b' + i) as char), 4));
        }
        frames.push(sync());
        let msgs = exchange(&mut c, &frames, 1).await;
        exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
        let n = data_rows(&msgs);
        if n > 10 {
            got.push(format!(
                "{mode}: Bind(\"p\"*63+\"a\") then Execute(\"p\"*63+\"b\"..\"k\", 4) x10: {n} rows ({})",
                summary(&msgs)
            ));
        }
        // A SQL cursor, executed as a portal under longer spellings of its name.
        let cur = "c".repeat(63);
        let mut c = login(&proxy, ALICE).await;
        exchange(
            &mut c,
            &[query_frame(&format!(
                "BEGIN; DECLARE {cur} CURSOR FOR SELECT id FROM {t} ORDER BY id"
            ))],
            1,
        )
        .await;
        let mut frames = Vec::new();
        for i in 0..10u8 {
            frames.push(execute(&format!("{cur}{}", (b'a' + i) as char), 4));
        }
        frames.push(sync());
        let msgs = exchange(&mut c, &frames, 1).await;
        exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
        let n = data_rows(&msgs);
        if n > 10 {
            got.push(format!(
                "{mode}: DECLARE \"c\"*63 CURSOR, then Execute(\"c\"*63+\"a\"..\"j\", 4) x10: {n} rows ({})",
                summary(&msgs)
            ));
        }
    }
    report("row limit by long portal names", &got);
}

/// Run simple Queries one by one; total DataRows.
async fn rows_of(c: &mut RawConn, sqls: &[&str]) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut seen = Vec::new();
    for sql in sqls {
        let msgs = exchange(c, &[query_frame(sql)], 1).await;
        n += data_rows(&msgs);
        seen.push(format!("{sql:?}: {}", summary(&msgs)));
    }
    (n, seen)
}

/// Class 4 (FINDING if it fails): a cursor's count is dropped by a CLOSE or DECLARE that
/// never ran on the server (pgward notes their effect as they are sent): the cursor is still
/// open and reads on with a fresh count. alice, max_result_rows 10, cursors over 40 rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_count_survives_statements_that_fail_on_the_server() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r6_curfail_{mode}"), 40);
        let proxy = proxy(up, mode);
        let sel = format!("SELECT id FROM {t} ORDER BY id");
        let declare_hold = format!("DECLARE h CURSOR WITH HOLD FOR {sel}");
        let declare = format!("DECLARE c CURSOR FOR {sel}");
        // Controls (no failing statement): these must be cut, else the cases below prove
        // nothing about the failing statements.
        let controls: Vec<(&str, Vec<&str>)> = vec![
            (
                "control: WITH HOLD, FETCH 8 twice across Syncs",
                vec![&declare_hold, "FETCH 8 FROM h", "FETCH 8 FROM h", "CLOSE h"],
            ),
            (
                "control: in a block, an aborted savepoint rolled back, no CLOSE",
                vec![
                    "BEGIN",
                    &declare,
                    "FETCH 8 FROM c",
                    "SAVEPOINT s",
                    "SELECT 1/0",
                    "ROLLBACK TO s",
                    "FETCH 8 FROM c",
                    "ROLLBACK",
                ],
            ),
        ];
        for (what, sqls) in controls {
            let mut c = login(&proxy, ALICE).await;
            let (n, seen) = rows_of(&mut c, &sqls).await;
            assert!(
                n <= 10,
                "{mode}: {what}: {n} rows\n    {}",
                seen.join("\n    ")
            );
        }
        let cases: Vec<(&str, Vec<&str>)> = vec![
            (
                "WITH HOLD, CLOSE skipped after an error in its string",
                vec![
                    &declare_hold,
                    "FETCH 8 FROM h",
                    "SELECT 1/0; CLOSE h",
                    "FETCH 8 FROM h",
                    "CLOSE h",
                ],
            ),
            (
                "WITH HOLD, DECLARE of the same name refused outside a block (25P01)",
                vec![
                    &declare_hold,
                    "FETCH 8 FROM h",
                    "DECLARE h CURSOR FOR SELECT 1",
                    "FETCH 8 FROM h",
                    "CLOSE h",
                ],
            ),
            (
                "in a block, CLOSE in an aborted savepoint, ROLLBACK TO",
                vec![
                    "BEGIN",
                    &declare,
                    "FETCH 8 FROM c",
                    "SAVEPOINT s",
                    "SELECT 1/0",
                    "CLOSE c",
                    "ROLLBACK TO s",
                    "FETCH 8 FROM c",
                    "ROLLBACK",
                ],
            ),
            (
                "in a block, WITH HOLD, DECLARE of the same name failing (42P03) in a savepoint, COMMIT",
                vec![
                    "BEGIN",
                    &declare_hold,
                    "FETCH 8 FROM h",
                    "SAVEPOINT s",
                    "DECLARE h CURSOR FOR SELECT 1",
                    "ROLLBACK TO s",
                    "COMMIT",
                    "FETCH 8 FROM h",
                    "CLOSE h",
                ],
            ),
        ];
        for (what, sqls) in cases {
            let mut c = login(&proxy, ALICE).await;
            let (n, seen) = rows_of(&mut c, &sqls).await;
            if n > 10 {
                got.push(format!(
                    "{mode}: {what}: {n} rows\n    {}",
                    seen.join("\n    ")
                ));
            }
        }
        // Extended: the CLOSE skipped by PostgreSQL after a failed Execute in its batch.
        let mut c = login(&proxy, ALICE).await;
        let (mut n, mut seen) = rows_of(&mut c, &[&declare_hold, "FETCH 8 FROM h"]).await;
        let msgs = exchange(
            &mut c,
            &[
                parse("", "SELECT 1/0"),
                bind("", "", &[]),
                execute("", 0),
                parse("", "CLOSE h"),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ],
            1,
        )
        .await;
        seen.push(format!("[1/0, CLOSE h, Sync]: {}", summary(&msgs)));
        let (m, more) = rows_of(&mut c, &["FETCH 8 FROM h", "CLOSE h"]).await;
        n += m;
        seen.extend(more);
        if n > 10 {
            got.push(format!(
                "{mode}: WITH HOLD, extended CLOSE skipped in a failed batch: {n} rows\n    {}",
                seen.join("\n    ")
            ));
        }
    }
    report("cursor count after failed statements", &got);
}

/// Class 4 (FINDING if it fails): a SCROLL cursor executed as a portal to its end
/// (CommandComplete) loses its count, though the cursor stays open and can be moved back
/// and read again. In a block: DECLARE c SCROLL CURSOR (40 rows); FETCH 5; MOVE ABSOLUTE 35;
/// [Execute("c", 0), Sync] (5 rows); MOVE ABSOLUTE 5; FETCH 10: 20 rows under a limit of 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scroll_cursor_executed_to_its_end_keeps_its_count() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r6_scroll_{mode}"), 40);
        let proxy = proxy(up, mode);
        let declare = format!("DECLARE c SCROLL CURSOR FOR SELECT id FROM {t} ORDER BY id");
        // Control: the same reads with SQL FETCH only are cut at 10.
        let mut c = login(&proxy, ALICE).await;
        let (n, seen) = rows_of(
            &mut c,
            &[
                "BEGIN",
                &declare,
                "FETCH 5 FROM c",
                "MOVE ABSOLUTE 35 IN c",
                "FETCH ALL FROM c",
                "MOVE ABSOLUTE 5 IN c",
                "FETCH 10 FROM c",
                "ROLLBACK",
            ],
        )
        .await;
        assert!(
            n <= 10,
            "{mode}: control: {n} rows\n    {}",
            seen.join("\n    ")
        );
        let mut c = login(&proxy, ALICE).await;
        let (mut n, mut seen) = rows_of(
            &mut c,
            &["BEGIN", &declare, "FETCH 5 FROM c", "MOVE ABSOLUTE 35 IN c"],
        )
        .await;
        let msgs = exchange(&mut c, &[execute("c", 0), sync()], 1).await;
        n += data_rows(&msgs);
        seen.push(format!("[Execute c 0, Sync]: {}", summary(&msgs)));
        let (m, more) = rows_of(
            &mut c,
            &["MOVE ABSOLUTE 5 IN c", "FETCH 10 FROM c", "ROLLBACK"],
        )
        .await;
        n += m;
        seen.extend(more);
        if n > 10 {
            got.push(format!("{mode}: {n} rows\n    {}", seen.join("\n    ")));
        }
    }
    report("scroll cursor executed to its end", &got);
}

/// Whether a server-side statement_timeout value is looser than 1 s (0 = none).
fn looser_than_1s(v: &str) -> bool {
    let v = v.trim();
    if v == "0" {
        return true;
    }
    let (num, unit): (String, String) = (
        v.chars().take_while(|c| c.is_ascii_digit()).collect(),
        v.chars().skip_while(|c| c.is_ascii_digit()).collect(),
    );
    let n: f64 = num.parse().unwrap_or(f64::MAX);
    let ms = match unit.as_str() {
        "ms" => n,
        "s" => n * 1000.0,
        "min" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        "d" => n * 86_400_000.0,
        _ => f64::MAX,
    };
    ms > 1000.0
}

/// Class 5: startup spellings PostgreSQL reads as `statement_timeout = 0`: in `options`,
/// `-c name=value` and `--name=value` turn `-` into `_` in the name (ParseLongOption) and
/// `pg_split_opts` drops backslashes; a switch glued to its value (`-cname=value`); GUC
/// names in any case (a packet parameter too); values rounded to 0 (`500us`: ties to
/// even). Each is checked straight against PostgreSQL first (it must read 0 there); through
/// pgward the login may be refused, but a session must never run looser than bob's 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_spellings_cannot_switch_statement_timeout_off() {
    let up = upstream::shared();
    let cases: Vec<(&str, &str)> = vec![
        ("options", "-c statement-timeout=0"),
        ("options", "--statement-timeout=0"),
        ("options", "-c statement_time\\out=0"),
        ("options", "-cstatement_timeout=0"),
        ("options", "-c STATEMENT-TIMEOUT=0"),
        ("options", "--Statement_Timeout=500us"),
        ("options", "-c statement_timeout=0\\.4"),
        ("options", "-c statement_timeout=1s -c statement-timeout=0"),
        ("Statement_Timeout", "0"),
        ("statement_timeout", "500us"),
        ("STATEMENT_TIMEOUT", "0.5"),
    ];
    let mut got = Vec::new();
    let mut premises = Vec::new();
    for (k, v) in &cases {
        match direct(up, &[(k, v)]).await {
            Ok(mut c) => {
                let s = server_timeout(&mut c).await;
                if s != "0" {
                    premises.push(format!("{k}={v:?}: PostgreSQL reads {s}"));
                }
            }
            Err(e) => premises.push(format!("{k}={v:?}: PostgreSQL refused: {:?}", e.message())),
        }
    }
    for mode in MODES {
        let proxy = proxy(up, mode);
        for (k, v) in &cases {
            match RawConn::startup(proxy.addr(), BOB.0, BOB.1, upstream::APP_DB, &[(k, v)]).await {
                Err(_) => {} // refused: holds
                Ok(mut c) => {
                    let s = server_timeout(&mut c).await;
                    // The next statement too (transaction mode syncs at checkout).
                    let s2 = server_timeout(&mut c).await;
                    if looser_than_1s(&s) || looser_than_1s(&s2) {
                        got.push(format!("{mode}: {k}={v:?}: statement_timeout {s}/{s2}"));
                    }
                }
            }
        }
    }
    assert!(
        premises.is_empty(),
        "premises that do not hold on PostgreSQL (fix the cases): {premises:#?}; got through: {got:#?}"
    );
    report("startup spellings", &got);
}

/// Class 1: a simple Query in the middle of a guarded write's batch ends PostgreSQL's
/// implicit transaction (exec_simple_query commits it, an empty or comment-only string
/// included): the 60-row write must not be committed by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_query_in_the_middle_of_a_guarded_batch_does_not_commit_the_write() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r6_midq_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        for q in ["", ";", "-- nothing", "SELECT 1", "SHOW statement_timeout"] {
            for flushed in [false, true] {
                reset(up, &t);
                let mut c = login(&proxy, BOB).await;
                let mut frames = vec![parse("", &upd), bind("", "", &[]), execute("", 0)];
                if flushed {
                    frames.push(pgward_e2e::wire::flush());
                }
                frames.push(query_frame(q));
                frames.push(sync());
                let msgs = exchange(&mut c, &frames, 2).await;
                exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
                let n = changed(up, &t);
                if n != "0" {
                    got.push(format!(
                        "{mode}: [UPDATE 60 rows{}] Query({q:?}) Sync: {n} rows ({})",
                        if flushed { ", Flush" } else { "" },
                        summary(&msgs)
                    ));
                }
                if raw::first_error(&msgs).is_none() {
                    got.push(format!(
                        "{mode}: Query({q:?}) after the write: no error at all ({})",
                        summary(&msgs)
                    ));
                }
            }
        }
    }
    report("Query in the middle of a guarded batch", &got);
}

/// Class 1/3: the write guard against spellings of a bound write portal's name past 63
/// bytes (one portal upstream): in the client's block, Bind("p"*63+"a", 60-row UPDATE ...
/// RETURNING) Sync, then Execute under another spelling (whole, or 1 row at a time), or SQL
/// FETCH/MOVE of the 63-byte name; COMMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_portal_run_under_another_long_spelling_is_guarded() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r6_longw_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id");
        let stem = "p".repeat(63);
        let runs: Vec<(String, Vec<Vec<u8>>)> = vec![
            (
                "Execute(p*63+b, 0)".into(),
                vec![execute(&format!("{stem}b"), 0), sync()],
            ),
            (
                "Execute(p*63+b, 1) Execute(p*63+c, 0)".into(),
                vec![
                    execute(&format!("{stem}b"), 1),
                    execute(&format!("{stem}c"), 0),
                    sync(),
                ],
            ),
            (
                "Query FETCH ALL FROM p*63".into(),
                vec![query_frame(&format!("FETCH ALL FROM {stem}"))],
            ),
            (
                "Query MOVE ALL IN p*63+zz".into(),
                vec![query_frame(&format!("MOVE ALL IN {stem}zz"))],
            ),
        ];
        for (what, frames) in runs {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            exchange(&mut c, &[query_frame("BEGIN")], 1).await;
            let bound = exchange(
                &mut c,
                &[
                    parse("u", &upd),
                    bind(&format!("{stem}a"), "u", &[]),
                    sync(),
                ],
                1,
            )
            .await;
            assert_eq!(
                pgward_e2e::wire::tags(&bound),
                "12Z",
                "{mode}: {what}: the write portal must be bound ({})",
                summary(&bound)
            );
            let msgs = exchange(&mut c, &frames, 1).await;
            exchange(&mut c, &[query_frame("COMMIT")], 1).await;
            let n = changed(up, &t);
            if n != "0" {
                got.push(format!(
                    "{mode}: {what}: {n} rows committed ({})",
                    summary(&msgs)
                ));
            }
        }
    }
    report("write portal under long spellings", &got);
}

/// Review of the round-6 fixes: an Execute of a cursor's own portal re-runs its DECLARE's
/// decision, which must not enter a DECLARE that never comes: a WITH HOLD cursor declared
/// after it in the same batch keeps its count past COMMIT (cut at 10 across transactions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_run_as_a_portal_does_not_shift_the_next_declare() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r6_shift_{mode}"), 40);
        let proxy = proxy(up, mode);
        let mut c = login(&proxy, ALICE).await;
        let (mut n, mut seen) = rows_of(&mut c, &["BEGIN", "DECLARE c CURSOR FOR SELECT 1"]).await;
        let declare_d = format!("DECLARE d CURSOR WITH HOLD FOR SELECT id FROM {t} ORDER BY id");
        let msgs = exchange(
            &mut c,
            &[
                execute("c", 0),
                parse("", &declare_d),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ],
            1,
        )
        .await;
        seen.push(format!(
            "[Execute c, P/B/E DECLARE d, Sync]: {}",
            summary(&msgs)
        ));
        let (m, more) = rows_of(
            &mut c,
            &[
                "COMMIT",
                "FETCH 8 FROM d",
                "FETCH 8 FROM d",
                "FETCH 8 FROM d",
            ],
        )
        .await;
        n += m;
        seen.extend(more);
        if n > 11 {
            got.push(format!("{mode}: {n} rows\n    {}", seen.join("\n    ")));
        }
    }
    report("a cursor run as a portal shifting the next DECLARE", &got);
}

/// Review of the round-6 fixes: `cursor_to_xml` reached otherwise than by a call in the
/// statement itself: through a cursor declared over it (FETCH runs it), and through a view
/// that calls it. Either may run a bound write portal: refused to a guarded role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_to_xml_through_a_cursor_or_a_view_is_refused() {
    let up = upstream::shared();
    let mut got = Vec::new();
    up.sql(
        upstream::APP_DB,
        "CREATE OR REPLACE VIEW r6_xml_view AS \
         SELECT cursor_to_xml('pu', 100, false, false, '') AS x; \
         GRANT SELECT ON r6_xml_view TO PUBLIC",
    );
    for mode in MODES {
        let t = table(up, &format!("r6_xmlvia_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id");
        for (what, first, run) in [
            (
                "a cursor over it",
                format!("DECLARE c CURSOR FOR {XML_FETCH}"),
                "FETCH ALL FROM c",
            ),
            (
                "a view calling it",
                "SELECT 1".to_string(),
                "SELECT * FROM r6_xml_view",
            ),
        ] {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            exchange(&mut c, &[query_frame("BEGIN")], 1).await;
            let declared = exchange(&mut c, &[query_frame(&first)], 1).await;
            exchange(&mut c, &[parse("u", &upd), bind("pu", "u", &[]), sync()], 1).await;
            let ran = exchange(&mut c, &[query_frame(run)], 1).await;
            exchange(&mut c, &[query_frame("COMMIT")], 1).await;
            let n = changed(up, &t);
            if n != "0" {
                got.push(format!(
                    "{mode}, {what}: {n} rows committed ({} / {})",
                    summary(&declared),
                    summary(&ran)
                ));
            }
        }
    }
    report("cursor_to_xml through a cursor or a view", &got);
}
