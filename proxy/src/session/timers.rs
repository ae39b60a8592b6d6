//! The session's two clocks, as plain values: the statement backstop (armed whenever the
//! server owes an answer, Sync or not) and idle-in-transaction (armed whenever a transaction
//! block or an unfinished batch is open and the server owes nothing). Time is passed in; the
//! relay owns the real clock and the sleeping.

use std::time::{Duration, Instant};

use crate::protocol::BackendTag;

/// How long past the role's statement_timeout pgward waits for the server's own cancel.
pub const STATEMENT_TIMEOUT_GRACE: Duration = Duration::from_secs(1);

/// How long after its own cancel pgward waits before it closes a server that did not act on
/// it (PostgreSQL checks for a cancel only between rows: a COPY FROM STDIN fed one endless
/// line, or a backend blocked writing to a client that does not read, never does).
pub const CANCEL_IGNORED_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Timers {
    /// Since when the server has owed an answer without finishing a step.
    busy_since: Option<Instant>,
    /// pgward cancelled the running statement for exceeding statement_timeout.
    fired: bool,
    /// When it did.
    fired_at: Option<Instant>,
    /// Last sign of life from the client, or the server's last answer.
    idle_since: Instant,
}

impl Timers {
    pub fn new(now: Instant) -> Timers {
        Timers {
            busy_since: None,
            fired: false,
            fired_at: None,
            idle_since: now,
        }
    }

    /// The client sent something, or the server finished answering.
    pub fn touch(&mut self, now: Instant) {
        self.idle_since = now;
    }

    /// A server message, after the reply queue took it (`owes`: what is still owed then).
    /// A finished step restarts the statement clock; once nothing is owed, idle time counts
    /// from the server's last answer as much as from the client's last message.
    pub fn on_server(&mut self, tag: BackendTag, owes: bool, now: Instant) {
        if finishes_step(tag) {
            self.progressed();
        }
        if !owes {
            self.touch(now);
            self.settled();
        }
    }

    /// Nothing is owed: no statement runs, and a cancel pgward sent is answered or moot.
    fn settled(&mut self) {
        self.busy_since = None;
        self.fired = false;
        self.fired_at = None;
    }

    /// The server finished a step (a command, a page, a reply): the statement clock restarts.
    pub fn progressed(&mut self) {
        self.busy_since = None;
    }

    /// pgward sent its own cancel.
    pub fn fire(&mut self, now: Instant) {
        self.fired = true;
        self.fired_at = Some(now);
    }

    /// When to give up on the server after pgward's cancel: it still owes the answer.
    pub fn cancel_ignored_deadline(&self, owes: bool) -> Option<Instant> {
        if !owes || !self.fired {
            return None;
        }
        self.fired_at.map(|at| at + CANCEL_IGNORED_AFTER)
    }

    pub fn fired(&self) -> bool {
        self.fired
    }

    /// When to cancel from pgward: `limit` (plus grace) after the server began owing an
    /// answer; `None` when it owes nothing, there is no limit, or the cancel went already.
    pub fn statement_deadline(
        &mut self,
        now: Instant,
        owes: bool,
        limit: Option<Duration>,
    ) -> Option<Instant> {
        if !owes {
            self.settled();
            return None;
        }
        let since = *self.busy_since.get_or_insert(now);
        let limit = limit?;
        if self.fired {
            return None;
        }
        Some(since + limit + STATEMENT_TIMEOUT_GRACE)
    }

    /// When an open transaction (a block, or a batch without its Sync, which holds a
    /// transaction and the locks its Parse took) has been idle too long.
    pub fn idle_deadline(
        &self,
        owes: bool,
        open: bool,
        limit: Option<Duration>,
    ) -> Option<Instant> {
        if !open || owes {
            return None;
        }
        Some(self.idle_since + limit?)
    }
}

/// Messages that end one step of the server's work (a command, a page, a reply to one
/// message); rows and COPY data do not.
fn finishes_step(tag: BackendTag) -> bool {
    use BackendTag as B;
    matches!(
        tag,
        B::CommandComplete
            | B::ReadyForQuery
            | B::EmptyQueryResponse
            | B::PortalSuspended
            | B::ParseComplete
            | B::BindComplete
            | B::CloseComplete
            | B::NoData
            | B::ParameterDescription
            | B::CopyInResponse
            | B::CopyOutResponse
    )
}

#[cfg(test)]
#[path = "timers_pipeline_tests.rs"]
mod pipeline_tests;

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn statement_clock_runs_while_the_server_owes_an_answer() {
        let t0 = Instant::now();
        let mut t = Timers::new(t0);
        // Execute + Flush, no Sync: the server owes the Execute's answer.
        assert_eq!(
            t.statement_deadline(t0, true, Some(5 * S)),
            Some(t0 + 6 * S)
        );
        // Later polls keep the first deadline.
        assert_eq!(
            t.statement_deadline(t0 + 3 * S, true, Some(5 * S)),
            Some(t0 + 6 * S)
        );
        t.fire(t0 + 6 * S);
        assert_eq!(t.statement_deadline(t0 + 7 * S, true, Some(5 * S)), None);
        // Still owed after the cancel: the server is closed a moment later.
        assert_eq!(
            t.cancel_ignored_deadline(true),
            Some(t0 + 6 * S + CANCEL_IGNORED_AFTER)
        );
        // The answer came: the clock stops, and restarts with the next request.
        assert_eq!(t.statement_deadline(t0 + 8 * S, false, Some(5 * S)), None);
        assert!(!t.fired());
        assert_eq!(t.cancel_ignored_deadline(true), None);
        assert_eq!(
            t.statement_deadline(t0 + 9 * S, true, Some(5 * S)),
            Some(t0 + 15 * S)
        );
        t.progressed();
        assert_eq!(
            t.statement_deadline(t0 + 10 * S, true, Some(5 * S)),
            Some(t0 + 16 * S)
        );
        assert_eq!(t.statement_deadline(t0, true, None), None);
    }

    #[test]
    fn idle_clock_runs_in_an_open_batch_or_block_while_nothing_is_owed() {
        let t0 = Instant::now();
        let mut t = Timers::new(t0);
        // Parse + Flush answered: a batch is open, nothing is owed.
        assert_eq!(t.idle_deadline(false, true, Some(5 * S)), Some(t0 + 5 * S));
        // While the server owes an answer it is the statement clock's turn.
        assert_eq!(t.idle_deadline(true, true, Some(5 * S)), None);
        // Idle outside any transaction: no limit.
        assert_eq!(t.idle_deadline(false, false, Some(5 * S)), None);
        t.touch(t0 + 2 * S);
        assert_eq!(t.idle_deadline(false, true, Some(5 * S)), Some(t0 + 7 * S));
        assert_eq!(t.idle_deadline(false, true, None), None);
    }
}
