//! What the machine asks of the relay besides bytes: the events it cannot carry out itself
//! (it holds no socket to cancel with, no channel to the audit writer, no clock to wait on).
//! Handlers push; the relay carries them out, in order, after every call into the machine.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use pgward_policy::Decision;

use crate::pool::PooledServer;
use crate::protocol::Frame;
use crate::server::CancelTarget;

pub enum Event {
    /// Cancel the statement running on this server (a CancelRequest of its own).
    CancelUpstream(Arc<CancelTarget>),
    /// A finished or refused statement for the audit sink.
    Audit(AuditEntry),
    /// The server is idle after the client's unit: send the client its answer, then
    /// pgward's housekeeping (settings read back, pins checked) and, with `release`
    /// (transaction pooling, `Ledger::releasable`), the server back to the pool unless
    /// the client must keep it.
    SettleUnit { release: bool },
    /// Write what is queued for the client (a long result, or last words before the end).
    FlushClient,
    /// Write the client's last words for at most this long, then drop what is left: a client
    /// that does not read must not hold the session open.
    FlushClientWithin(Duration),
    /// Point the client's cancel requests nowhere (its server was lost or closed), once the
    /// cancels already on their way are delivered.
    ClearCancelTarget,
    /// Close this server connection (never pooled again).
    CloseServer(PooledServer),
    /// End backend `pid` of `pool`'s login: it went on after a cancel, and closing its
    /// socket does not stop it.
    TerminateBackend(Arc<crate::pool::Pool>, i32),
    /// Roll back the transaction the client left idle past its limit, on its server.
    RollbackIdle,
    /// A ReadyForQuery that ends a unit after which the search_path must be read back: read
    /// it on the server first, then finish the ReadyForQuery (`status`) and send it on.
    ReadPathThenReady { status: u8, ready: Frame },
    /// The next statement of a string run one statement at a time.
    RunScriptPiece(String),
}

/// A statement for the audit sink as the machine knows it (the relay adds who, and the
/// wall-clock time it is written at).
#[derive(Debug)]
pub struct AuditEntry {
    pub decision: Arc<Decision>,
    /// The client's application_name when the statement finished.
    pub application_name: Arc<str>,
    pub rows: u64,
    pub duration: Duration,
    pub sqlstate: Option<String>,
}

/// Events not yet carried out; emptied after every handler call, so it holds at most what
/// one client or server message caused.
#[derive(Default)]
pub struct Outbox {
    events: VecDeque<Event>,
}

impl Outbox {
    pub fn push(&mut self, event: Event) {
        self.events.push_back(event);
    }

    pub fn pop(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether a ReadyForQuery is held for a search_path read (what follows it waits).
    pub fn holds_ready(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::ReadPathThenReady { .. }))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_in_order() {
        let target = Arc::new(CancelTarget {
            host: "127.0.0.1".into(),
            port: 5432,
            pid: 1,
            secret: 2,
        });
        let mut o = Outbox::default();
        o.push(Event::CancelUpstream(target.clone()));
        o.push(Event::CancelUpstream(Arc::new(CancelTarget {
            pid: 3,
            ..(*target).clone()
        })));
        assert_eq!(o.len(), 2);
        assert!(matches!(o.pop(), Some(Event::CancelUpstream(t)) if t.pid == 1));
        assert!(matches!(o.pop(), Some(Event::CancelUpstream(t)) if t.pid == 3));
        assert!(o.pop().is_none());
    }
}
