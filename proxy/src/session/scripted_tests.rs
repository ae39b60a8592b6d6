//! The issue-8 findings, each driven through the whole session with scripted frames on
//! virtual time, in both pool modes (`scripted.rs`): what pgward sends the server, what the
//! client gets, step by step.

use super::scripted::*;
use super::scripted_frames::*;
use crate::config::PoolMode;

/// A read-only role that may read at most 2 rows a statement.
const READER: &str = r#"access = "read-only"
max_result_rows = 2
"#;

/// A read-only role with both time limits.
const LIMITED: &str = r#"access = "read-only"
statement_timeout = "5s"
idle_in_transaction_timeout = "5s"
"#;

const MODES: [PoolMode; 2] = [PoolMode::Transaction, PoolMode::Session];

/// A read-write role whose writes are guarded (at most 10 rows each).
const WRITER: &str = r#"access = "read-write"
require_where = false
max_affected_rows = 10
"#;

/// `answers`, then (transaction mode) the answer to pgward's Describe after a kept
/// statement's Parse, for a statement with no result rows.
fn with_described(mode: PoolMode, mut answers: Vec<bytes::BytesMut>) -> Vec<bytes::BytesMut> {
    if mode == PoolMode::Transaction {
        answers.extend([parameter_description(), no_data()]);
    }
    answers
}

/// The guard opens: pgward's own Sync ends what the client pipelined so far (answered here
/// with `before`), then its BEGIN.
async fn answer_guard_open(s: &mut Scripted, before: &[bytes::BytesMut]) {
    // Inside the batch: a Flush for the answers so far, then pgward's BEGIN in the batch.
    let up = s.server_reads().await;
    assert_eq!(up.last().map(|m| m.0), Some(b'H'), "{}", tags(&up));
    s.server_sends(before).await;
    let up = s.server_reads().await;
    assert_eq!(texts(&up), ["BEGIN"]);
    assert_eq!(tags(&up), "PBECCH");
    s.server_sends(&[
        parse_complete(),
        bind_complete(),
        command_complete("BEGIN"),
        close_complete(),
        close_complete(),
    ])
    .await;
}

/// The guard's closing statement (Parse, Bind, Execute, two Closes, Sync), answered as
/// PostgreSQL answers it (`tag`: COMMIT, or ROLLBACK for a failed block).
async fn answer_guard_close(s: &mut Scripted, tag: &str) {
    s.server_sends(&[
        parse_complete(),
        bind_complete(),
        command_complete(tag),
        close_complete(),
        close_complete(),
        ready(b'I'),
    ])
    .await;
}

/// Finding 1: a COMMIT parsed before a guarded UPDATE and bound after it cannot commit the
/// UPDATE's rows: it never reaches the server, and the guard rolls back.
#[tokio::test(start_paused = true)]
async fn a_commit_in_the_batch_cannot_commit_a_guarded_write() {
    for mode in MODES {
        let mut s = Scripted::start(mode, WRITER).await;
        s.client_sends(&[
            parse("c1", "COMMIT"),
            parse("u1", "UPDATE t SET a = 1"),
            bind("", "u1"),
            execute("", 0),
            bind("p2", "c1"),
            execute("p2", 0),
            sync(),
        ])
        .await;
        let before = with_described(mode, vec![parse_complete(), parse_complete()]);
        answer_guard_open(&mut s, &before).await;
        let up = s.server_reads().await;
        // The UPDATE runs; in the COMMIT's place a statement PostgreSQL's parser rejects.
        assert_eq!(tags(&up), "BEPS", "{mode:?}");
        assert_eq!(texts(&up), ["pgward_denied"]);
        s.server_sends(&[
            bind_complete(),
            command_complete("UPDATE 600"),
            server_error("42601", "syntax error at or near \"pgward_denied\""),
            ready(b'E'),
        ])
        .await;
        let up = s.server_reads().await;
        assert_eq!(texts(&up), ["ROLLBACK"], "{mode:?}");
        answer_guard_close(&mut s, "ROLLBACK").await;
        let got = s.client_until_ready().await;
        assert_eq!(codes(&got), ["54000"], "{mode:?}: {}", tags(&got));
        assert_eq!(got.last().map(|m| m.1.as_ref()), Some(&b"I"[..]));
        // Nothing else reached the server: no COMMIT ran.
        assert!(s.server_reads().await.is_empty());
    }
}

/// Finding 2: a guarded write whose RETURNING rows a row limit pages is answered
/// PortalSuspended, with no count to check: the guard rolls it back (54000).
#[tokio::test(start_paused = true)]
async fn a_guarded_write_paged_with_a_row_limit_is_rolled_back() {
    for mode in MODES {
        let mut s = Scripted::start(mode, WRITER).await;
        s.client_sends(&[
            parse("", "UPDATE t SET a = 1 RETURNING a"),
            bind("", ""),
            execute("", 1),
            sync(),
        ])
        .await;
        answer_guard_open(&mut s, &[parse_complete()]).await;
        let up = s.server_reads().await;
        assert_eq!(tags(&up), "BES", "{mode:?}");
        s.server_sends(&[
            bind_complete(),
            data_row("1"),
            portal_suspended(),
            ready(b'T'),
        ])
        .await;
        let up = s.server_reads().await;
        assert_eq!(texts(&up), ["ROLLBACK"], "{mode:?}");
        answer_guard_close(&mut s, "ROLLBACK").await;
        let got = s.client_until_ready().await;
        assert_eq!(codes(&got), ["54000"], "{mode:?}: {}", tags(&got));
        assert_eq!(got.last().map(|m| m.1.as_ref()), Some(&b"I"[..]));
    }
}

/// Finding 3: a statement name re-parsed after its first Parse failed is the new statement:
/// its decision (a guarded write), not the failed one's.
#[tokio::test(start_paused = true)]
async fn a_name_parsed_again_after_a_failed_parse_carries_the_new_decision() {
    for mode in MODES {
        let mut s = Scripted::start(mode, WRITER).await;
        s.client_sends(&[parse("s1", "SELECT nope FROM t"), sync()])
            .await;
        let up = s.server_reads().await;
        let described = ["", "D"][usize::from(mode == PoolMode::Transaction)];
        assert_eq!(tags(&up), format!("P{described}S"));
        s.server_sends(&[
            server_error("42703", "column \"nope\" does not exist"),
            ready(b'I'),
        ])
        .await;
        assert_eq!(codes(&s.client_until_ready().await), ["42703"]);
        s.client_sends(&[
            parse("s1", "UPDATE t SET a = 1"),
            bind("", "s1"),
            execute("", 0),
            sync(),
        ])
        .await;
        // The guard opens for the UPDATE (a SELECT's decision would open none).
        let before = with_described(mode, vec![parse_complete()]);
        answer_guard_open(&mut s, &before).await;
        let up = s.server_reads().await;
        assert_eq!(tags(&up), "BES", "{mode:?}");
        s.server_sends(&[bind_complete(), command_complete("UPDATE 3"), ready(b'T')])
            .await;
        // Within the limit: the guard commits.
        let up = s.server_reads().await;
        assert_eq!(texts(&up), ["COMMIT"], "{mode:?}");
        answer_guard_close(&mut s, "COMMIT").await;
        let got = s.client_until_ready().await;
        assert_eq!(tags(&got), "12CZ", "{mode:?}");
    }
}

/// Finding 4: the row limit counts rows across pages, Describes between them, and
/// pipelined Executes: the third row of a two-row limit is an error, whatever came between.
#[tokio::test(start_paused = true)]
async fn the_row_limit_counts_across_pages_and_describes() {
    for mode in MODES {
        let mut s = Scripted::start(mode, READER).await;
        s.client_sends(&[
            parse("", "SELECT a FROM t"),
            bind("p", ""),
            execute("p", 1),
            describe(b'P', "p"),
            execute("p", 1),
            execute("p", 1),
            sync(),
        ])
        .await;
        let up = s.server_reads().await;
        assert_eq!(tags(&up), "PBEDEES", "{mode:?}");
        s.server_sends(&[
            parse_complete(),
            bind_complete(),
            data_row("1"),
            portal_suspended(),
            row_description(),
            data_row("2"),
            portal_suspended(),
            data_row("3"),
            portal_suspended(),
            ready(b'I'),
        ])
        .await;
        let got = s.client_until_ready().await;
        assert_eq!(tags(&got), "12DsTDsEZ", "{mode:?}");
        assert_eq!(codes(&got), ["54000"]);
    }
}

/// Finding 5: `statement_timeout` values PostgreSQL rounds to 0 (no limit) are refused,
/// however they are spelled; nothing reaches the server.
#[tokio::test(start_paused = true)]
async fn a_statement_timeout_postgresql_rounds_to_no_limit_is_refused() {
    for mode in MODES {
        let mut s = Scripted::start(mode, LIMITED).await;
        for sql in [
            "SET statement_timeout = '0.5'",
            "SET LOCAL statement_timeout = '400us'",
            "SELECT set_config('statement_timeout', '0.4ms', false)",
            "SET statement_timeout = 0",
        ] {
            s.client_sends(&[query(sql)]).await;
            let got = s.client_until_ready().await;
            assert_eq!(codes(&got), ["42501"], "{mode:?} {sql}: {}", tags(&got));
            let text = got
                .iter()
                .find(|m| m.0 == b'E')
                .and_then(|m| crate::protocol::decode::error_field(&m.1, b'M'))
                .unwrap_or_default()
                .to_string();
            assert!(text.contains("statement_timeout"), "{sql}: {text}");
            assert!(s.server_reads().await.is_empty(), "{mode:?} {sql}");
        }
    }
}

/// Finding 5: a transaction held open by an extended batch with no Sync (Parse, Bind,
/// Execute, with or without a Flush) ends at the role's idle-in-transaction limit, as
/// PostgreSQL's own would. Without the client's Flush, pgward sends one: PostgreSQL keeps a
/// batch's answers until one comes, and the limit would never start.
#[tokio::test(start_paused = true)]
async fn an_unsynced_batch_cannot_outlast_the_idle_in_transaction_limit() {
    for (mode, client_flushes) in MODES.into_iter().flat_map(|m| [(m, true), (m, false)]) {
        let mut s = Scripted::start(mode, LIMITED).await;
        let mut batch = vec![parse("", "SELECT a FROM t"), bind("", ""), execute("", 0)];
        if client_flushes {
            batch.push(flush());
        }
        s.client_sends(&batch).await;
        let started = tokio::time::Instant::now();
        let mut up = tags(&s.server_reads().await);
        if up == "PBE" {
            // Without the client's Flush, pgward's own comes at the limit.
            up += &tags(&s.server_reads_within(10).await);
        }
        assert_eq!(up, "PBEH", "{mode:?}, client flushes: {client_flushes}");
        s.server_sends(&[
            parse_complete(),
            bind_complete(),
            data_row("1"),
            command_complete("SELECT 1"),
        ])
        .await;
        let got = s.client_until_closed().await;
        let waited = started.elapsed();
        assert_eq!(codes(&got), ["25P03"], "{mode:?}: {}", tags(&got));
        assert!(s.ended().await, "{mode:?}: the session should be over");
        assert!(
            waited >= std::time::Duration::from_secs(5)
                && waited < std::time::Duration::from_secs(7),
            "{mode:?}: ended after {waited:?}"
        );
    }
}

/// Finding 6: the protocol's parameter counts are unsigned 16-bit: a Bind with 40,000
/// parameters is PostgreSQL's to answer, not malformed.
#[tokio::test(start_paused = true)]
async fn a_bind_with_more_than_32767_parameters_reaches_the_server() {
    for mode in MODES {
        let mut s = Scripted::start(mode, READER).await;
        s.client_sends(&[
            parse("", "SELECT $1::int"),
            bind_n("", "", 40_000),
            execute("", 0),
            sync(),
        ])
        .await;
        let up = s.server_reads().await;
        // pgward may add a Flush of its own where the client's input ran dry mid-batch.
        assert_eq!(tags(&up).replace('H', ""), "PBES", "{mode:?}");
        s.server_sends(&[
            parse_complete(),
            server_error(
                "08P01",
                "bind message supplies 40000 parameters, but prepared statement \"\" requires 1",
            ),
            ready(b'I'),
        ])
        .await;
        let got = s.client_until_ready().await;
        assert_eq!(codes(&got), ["08P01"], "{mode:?}");
    }
}

/// An unguarded writer (no row limits).
const PLAIN_WRITER: &str = r#"access = "read-write"
require_where = false
"#;

/// COPY both ways through the session: the server's CopyOutResponse and data reach the
/// client as they came; the client's CopyData reaches the server until CopyDone.
#[tokio::test(start_paused = true)]
async fn copy_in_both_directions() {
    for mode in MODES {
        let mut s = Scripted::start(mode, PLAIN_WRITER).await;
        s.client_sends(&[query("COPY t TO STDOUT")]).await;
        assert_eq!(texts(&s.server_reads().await), ["COPY t TO STDOUT"]);
        s.server_sends(&[
            copy_out_response(),
            copy_data(b"1\n"),
            copy_data(b"2\n"),
            copy_done(),
            command_complete("COPY 2"),
            ready(b'I'),
        ])
        .await;
        assert_eq!(tags(&s.client_until_ready().await), "HddcCZ", "{mode:?}");

        s.client_sends(&[query("COPY t FROM STDIN")]).await;
        assert_eq!(texts(&s.server_reads().await), ["COPY t FROM STDIN"]);
        s.server_sends(&[copy_in_response()]).await;
        assert_eq!(tags(&s.client_reads().await), "G", "{mode:?}");
        s.client_sends(&[copy_data(b"3\n"), copy_data(b"4\n"), copy_done()])
            .await;
        let up = s.server_reads().await;
        assert_eq!(tags(&up), "ddc", "{mode:?}");
        assert_eq!(up[0].1.as_ref(), b"3\n");
        s.server_sends(&[command_complete("COPY 2"), ready(b'I')])
            .await;
        assert_eq!(tags(&s.client_until_ready().await), "CZ", "{mode:?}");
    }
}

/// An error in the middle of a pipeline: PostgreSQL skips the rest to the Sync; the client
/// gets exactly what the server sent, and the session is at rest for its next query (nothing
/// owed, nothing held back).
#[tokio::test(start_paused = true)]
async fn an_error_in_the_middle_of_a_pipeline_skips_to_the_sync() {
    for mode in MODES {
        let mut s = Scripted::start(mode, READER).await;
        s.client_sends(&[
            parse("", "SELECT a FROM t"),
            bind("", ""),
            execute("", 0),
            parse("", "SELECT nope FROM t"),
            bind("", ""),
            execute("", 0),
            parse("", "SELECT 1"),
            bind("", ""),
            execute("", 0),
            sync(),
        ])
        .await;
        let up = s.server_reads().await;
        assert_eq!(tags(&up), "PBEPBEPBES", "{mode:?}");
        s.server_sends(&[
            parse_complete(),
            bind_complete(),
            data_row("1"),
            command_complete("SELECT 1"),
            server_error("42703", "column \"nope\" does not exist"),
            ready(b'I'),
        ])
        .await;
        let got = s.client_until_ready().await;
        assert_eq!(tags(&got), "12DCEZ", "{mode:?}");
        assert_eq!(codes(&got), ["42703"]);
        s.client_sends(&[query("SELECT 2")]).await;
        assert_eq!(texts(&s.server_reads().await), ["SELECT 2"], "{mode:?}");
        s.server_sends(&[
            row_description(),
            data_row("2"),
            command_complete("SELECT 1"),
            ready(b'I'),
        ])
        .await;
        assert_eq!(tags(&s.client_until_ready().await), "TDCZ", "{mode:?}");
    }
}
