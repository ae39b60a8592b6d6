//! Who holds a server and who waits for one: a [`Lease`] per checkout keeps the client's link
//! and the server's row right however the checkout ends; a [`WaitTicket`] per waiting client.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::Pool;
use crate::clients::{ClientEntry, ClientState};

/// Who holds a server: clears the client's link and the server's row however it ends.
pub(super) struct Lease {
    pub(super) id: u64,
    pub(super) pool: Arc<Pool>,
    pub(super) client: Option<Arc<ClientEntry>>,
    pub(super) since: Instant,
    pub(super) returned: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = &self.client {
            c.detach(self.id);
        }
        let held = self.since.elapsed().as_micros() as u64;
        self.pool
            .counters
            .xact_us
            .fetch_add(held, Ordering::Relaxed);
        let mut rows = self.pool.servers.lock().unwrap_or_else(|p| p.into_inner());
        if self.returned {
            if let Some(r) = rows.get_mut(&self.id) {
                r.client = None;
                r.since = Instant::now();
            }
        } else {
            rows.remove(&self.id);
        }
    }
}

/// Removes a waiting client's ticket however its wait ends.
pub(super) struct WaitTicket<'a> {
    pub(super) pool: &'a Pool,
    pub(super) ticket: u64,
    pub(super) client: Option<&'a Arc<ClientEntry>>,
}

impl Drop for WaitTicket<'_> {
    fn drop(&mut self) {
        let mut w = self.pool.waiters.lock().unwrap_or_else(|p| p.into_inner());
        w.remove(&self.ticket);
        if let Some(c) = self.client {
            if c.state() == ClientState::Waiting {
                c.set_state(ClientState::Idle);
            }
        }
    }
}
