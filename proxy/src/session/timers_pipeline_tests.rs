//! The two clocks driven the way the session drives them, with scripted frames and virtual
//! time: messages entered in the reply queue, server answers advancing it
//! (`answer::advance`), `Timers::on_server` after each, deadlines asked at each wake-up.

use std::time::{Duration, Instant};

use super::*;
use crate::protocol::BackendTag as B;
use crate::session::answer;
use crate::session::prepared::{Change, Prepared};
use crate::session::replies::{Handling, ReplyQueue, Sent};

const LIMIT: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The session's view of one connection, reduced to what the clocks watch.
struct Line {
    replies: ReplyQueue,
    prepared: Prepared,
    timers: Timers,
    /// Extended-protocol messages sent since the last Sync.
    unsynced: bool,
    tx_status: u8,
}

impl Line {
    fn new(t0: Instant) -> Line {
        Line {
            replies: ReplyQueue::default(),
            prepared: Prepared::default(),
            timers: Timers::new(t0),
            unsynced: false,
            tx_status: b'I',
        }
    }

    /// Client messages (extended protocol, no Sync) forwarded at `now`.
    fn client(&mut self, sent: impl IntoIterator<Item = Sent>, now: Instant) {
        self.timers.touch(now);
        for s in sent {
            let point = matches!(s, Sent::Sync | Sent::Query);
            self.replies.push(s, Handling::Forward);
            self.unsynced = !point;
        }
    }

    /// A server message read at `now`.
    fn server(&mut self, tag: B, now: Instant) {
        answer::advance(&mut self.replies, &mut self.prepared, tag);
        self.timers.on_server(tag, self.replies.owes(), now);
        if tag == B::ReadyForQuery {
            self.unsynced = false;
        }
    }

    /// (statement backstop, idle-in-transaction) as the relay asks at a wake-up at `now`.
    fn deadlines(&mut self, now: Instant) -> (Option<Instant>, Option<Instant>) {
        let owes = self.replies.owes();
        let open = self.tx_status != b'I' || self.unsynced;
        (
            self.timers.statement_deadline(now, owes, Some(LIMIT)),
            self.timers.idle_deadline(owes, open, Some(LIMIT)),
        )
    }
}

#[test]
fn parse_and_flush_without_sync_is_idle_in_a_transaction() {
    let t0 = Instant::now();
    let mut l = Line::new(t0);
    // Parse (its statement takes locks in the batch's transaction) + Flush, no Sync.
    l.client([Sent::Parse(Change::None)], t0);
    let (stmt, idle) = l.deadlines(t0);
    assert_eq!(stmt, Some(t0 + LIMIT + STATEMENT_TIMEOUT_GRACE));
    assert_eq!(
        idle, None,
        "the server owes an answer: the statement clock's turn"
    );
    // ParseComplete: nothing owed, the batch still open.
    l.server(B::ParseComplete, t0 + ms(10));
    let (stmt, idle) = l.deadlines(t0 + ms(10));
    assert_eq!(stmt, None);
    assert_eq!(idle, Some(t0 + ms(10) + LIMIT));
    // Nothing from the client for a while: the deadline does not move.
    assert_eq!(l.deadlines(t0 + ms(4_000)).1, Some(t0 + ms(10) + LIMIT));
    // A Flush is not a message the session enters; a Describe is, and restarts idleness
    // once it is answered.
    l.client([Sent::Describe], t0 + ms(4_500));
    assert_eq!(l.deadlines(t0 + ms(4_500)).1, None);
    l.server(B::ParameterDescription, t0 + ms(4_501));
    l.server(B::NoData, t0 + ms(4_502));
    assert_eq!(l.deadlines(t0 + ms(4_502)).1, Some(t0 + ms(4_502) + LIMIT));
    // Sync: the batch's transaction ends, nothing is open any more.
    l.client([Sent::Sync], t0 + ms(5_000));
    l.server(B::ReadyForQuery, t0 + ms(5_001));
    assert_eq!(l.deadlines(t0 + ms(5_001)), (None, None));
}

#[test]
fn an_open_block_is_timed_between_batches() {
    let t0 = Instant::now();
    let mut l = Line::new(t0);
    l.client([Sent::Query], t0);
    l.server(B::CommandComplete, t0 + ms(1));
    l.server(B::ReadyForQuery, t0 + ms(1));
    l.tx_status = b'T';
    assert_eq!(l.deadlines(t0 + ms(1)), (None, Some(t0 + ms(1) + LIMIT)));
}

#[test]
fn an_unsynced_batch_running_long_meets_the_backstop() {
    let t0 = Instant::now();
    let mut l = Line::new(t0);
    // Parse, Bind, Execute (pg_sleep(20)) + Flush: no Sync ever comes.
    l.client(
        [
            Sent::Parse(Change::None),
            Sent::Bind(Change::None),
            Sent::Execute {
                portal: String::new(),
            },
        ],
        t0,
    );
    assert_eq!(
        l.deadlines(t0).0,
        Some(t0 + LIMIT + STATEMENT_TIMEOUT_GRACE)
    );
    // ParseComplete and BindComplete are steps: the Execute's clock starts after them.
    l.server(B::ParseComplete, t0 + ms(1));
    l.server(B::BindComplete, t0 + ms(2));
    let due = t0 + ms(2) + LIMIT + STATEMENT_TIMEOUT_GRACE;
    assert_eq!(l.deadlines(t0 + ms(2)).0, Some(due));
    // Rows are not steps: a result that keeps streaming stays on the same clock.
    l.server(B::RowDescription, t0 + ms(3));
    l.server(B::DataRow, t0 + ms(3_000));
    assert_eq!(l.deadlines(t0 + ms(3_000)).0, Some(due));
    assert_eq!(l.deadlines(t0 + ms(3_000)).1, None);
    // The deadline passes: pgward cancels once, and is not asked to again.
    l.timers.fire(due);
    assert!(l.timers.fired());
    assert_eq!(l.deadlines(due).0, None);
    // The server's 57014 ends the Execute; with no Sync the batch is still open, and the
    // idle clock takes over from the error.
    l.server(B::ErrorResponse, due + ms(5));
    let (stmt, idle) = l.deadlines(due + ms(5));
    assert_eq!(stmt, None);
    assert!(!l.timers.fired(), "the next request gets a fresh clock");
    assert_eq!(idle, Some(due + ms(5) + LIMIT));
}

#[test]
fn pipelined_batches_are_timed_per_step_not_per_batch() {
    let t0 = Instant::now();
    let mut l = Line::new(t0);
    // Three Execute+Sync batches sent at once: each one's answer restarts the clock, so a
    // long pipeline of quick statements is not cancelled, while any one slow step is.
    let batch = || {
        [
            Sent::Bind(Change::None),
            Sent::Execute {
                portal: String::new(),
            },
            Sent::Sync,
        ]
    };
    l.client(batch().into_iter().chain(batch()).chain(batch()), t0);
    let mut at = t0;
    for _ in 0..3 {
        for tag in [B::BindComplete, B::CommandComplete, B::ReadyForQuery] {
            at += ms(4_000);
            l.server(tag, at);
            if l.replies.owes() {
                assert_eq!(
                    l.deadlines(at).0,
                    Some(at + LIMIT + STATEMENT_TIMEOUT_GRACE)
                );
            }
        }
    }
    assert_eq!(l.deadlines(at), (None, None));
}
