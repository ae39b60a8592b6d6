//! A server held between transactions. In transaction mode a client keeps its server after
//! a transaction while nobody else needs one: its next transaction then costs no checkout,
//! no release and no parameter sync, as in session mode. The pool calls held servers back
//! (a waiting checkout, PAUSE, a shrink, a database that must be free, shutdown, a server
//! past its lifetime), and a holder gives its server back at once when it is between
//! transactions.

use std::sync::atomic::Ordering;

use tokio::sync::watch;

use super::{Pool, PooledServer};
use crate::clients::ClientState;
use crate::server::ServerConnection;

impl Pool {
    /// Call-backs to come: a holder waits on this for its next `changed()`.
    pub fn call_backs(&self) -> watch::Receiver<u64> {
        self.called_back.subscribe()
    }

    /// Ask every holder to give its server back if it is between transactions.
    pub(super) fn call_back(&self) {
        self.called_back.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Held servers are wanted back until [`Pool::end_recall`]: no new hold is taken.
    pub fn recall(&self) {
        self.recalls.fetch_add(1, Ordering::AcqRel);
        self.call_back();
    }

    pub fn end_recall(&self) {
        self.recalls.fetch_sub(1, Ordering::AcqRel);
    }

    /// Servers held between transactions right now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Must `server`, held or about to be, go back instead?
    pub fn wants_back(&self, server: &ServerConnection) -> bool {
        self.recalls.load(Ordering::Acquire) > 0
            || *self.paused.borrow()
            || !self
                .waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
            || self.settings().lifetime.is_some_and(|l| server.age() >= l)
            || self.servers.lock().map_or(0, |r| r.len()) > self.size.load(Ordering::Relaxed)
    }
}

impl PooledServer {
    /// Between transactions, kept: the time from here is not the transaction's, and the
    /// client shows as idle (shutdown ends it at once; SHOW CLIENTS lists it so).
    pub fn hold(&mut self) {
        if self.lease.held {
            return;
        }
        self.lease.settle_time();
        self.lease.held = true;
        self.pool.held.fetch_add(1, Ordering::AcqRel);
        if let Some(c) = &self.lease.client {
            c.set_state(ClientState::Idle);
        }
    }

    /// A held server serves the client's next transaction.
    pub fn renew(&mut self) {
        if !self.lease.held {
            return;
        }
        self.lease.held = false;
        self.pool.held.fetch_sub(1, Ordering::AcqRel);
        self.lease.since = std::time::Instant::now();
        self.pool.counters.xacts.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = &self.lease.client {
            c.attach(self.lease.id);
        }
    }

    pub fn is_held(&self) -> bool {
        self.lease.held
    }
}
