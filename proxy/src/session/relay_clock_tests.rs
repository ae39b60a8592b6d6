//! The relay's timers are moved only when their deadline moved far (`relay.rs`): one armed
//! for an earlier statement or answer wakes early, finds nothing due and is armed again, so
//! each limit still counts from the session's last step, in both pool modes.

use std::time::Duration;

use super::scripted::*;
use super::scripted_frames::*;
use crate::config::PoolMode;

/// The client sends `sql`; the server gets it as one Query.
async fn query_reaches_server(s: &mut Scripted, sql: &str) {
    s.client_sends(&[query(sql)]).await;
    assert_eq!(tags(&s.server_reads().await), "Q", "{sql}");
}

const IDLE_2S: &str = r#"access = "read-only"
statement_timeout = "10s"
idle_in_transaction_timeout = "2s"
"#;

/// A block's clock restarts at each answer: a statement answered half a second after the
/// BEGIN moves the limit by half a second, though the timer armed at the BEGIN is not moved.
#[tokio::test(start_paused = true)]
async fn the_idle_limit_counts_from_the_last_answer_not_an_earlier_one() {
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let mut s = Scripted::start(mode, IDLE_2S).await;
        query_reaches_server(&mut s, "BEGIN").await;
        s.server_sends(&[command_complete("BEGIN"), ready(b'T')])
            .await;
        assert_eq!(tags(&s.client_until_ready().await), "CZ", "{mode:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        query_reaches_server(&mut s, "SELECT 1").await;
        s.server_sends(&[command_complete("SELECT 0"), ready(b'T')])
            .await;
        let answered = tokio::time::Instant::now();
        assert_eq!(tags(&s.client_until_ready().await), "CZ", "{mode:?}");
        // At the limit pgward rolls the block back on the server, then ends the session.
        let up = s.server_reads_within(10).await;
        let waited = answered.elapsed();
        assert_eq!(texts(&up), ["ROLLBACK"], "{mode:?}");
        s.server_sends(&[command_complete("ROLLBACK"), ready(b'I')])
            .await;
        let fatal = match s.client.read_frame().await {
            Ok(Some(f)) => f,
            other => panic!("{mode:?}: no FATAL: {other:?}"),
        };
        let code = crate::protocol::decode::error_field(fatal.body(), b'C');
        assert_eq!(code.as_deref(), Some("25P03"), "{mode:?}");
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_millis(2100),
            "{mode:?}: ended {waited:?} after the last answer"
        );
    }
}

const STATEMENT_2S: &str = r#"access = "read-only"
statement_timeout = "2s"
"#;

/// After pgward's own statement-timeout cancel was answered, the next statement is timed
/// afresh: it is neither left without a backstop nor taken for a server that ignored the
/// old cancel (which would close it and end the session with 57014).
#[tokio::test(start_paused = true)]
async fn a_statement_after_a_backstop_cancel_is_timed_afresh() {
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        let mut s = Scripted::start(mode, STATEMENT_2S).await;
        query_reaches_server(&mut s, "SELECT pg_sleep(10)").await;
        // Past the limit and its grace pgward cancels; the server then gives up.
        tokio::time::sleep(Duration::from_millis(3500)).await;
        s.server_sends(&[
            server_error("57014", "canceling statement due to statement timeout"),
            ready(b'I'),
        ])
        .await;
        let got = s.client_until_ready().await;
        assert_eq!(codes(&got), ["57014"], "{mode:?}: {}", tags(&got));
        query_reaches_server(&mut s, "SELECT 1").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        s.server_sends(&[command_complete("SELECT 1"), ready(b'I')])
            .await;
        let got = s.client_until_ready().await;
        assert_eq!(tags(&got), "CZ", "{mode:?}: {:?}", codes(&got));
    }
}

#[test]
fn a_timer_moves_only_when_it_would_fire_late_or_far_too_early() {
    let t = tokio::time::Instant::now();
    let slack = Duration::from_secs(1);
    assert!(super::relay::rearm(None, t, slack));
    assert!(!super::relay::rearm(Some(t), t, slack));
    assert!(!super::relay::rearm(Some(t), t + slack, slack));
    assert!(super::relay::rearm(Some(t), t + slack * 2, slack));
    assert!(super::relay::rearm(Some(t + slack), t, slack));
}
