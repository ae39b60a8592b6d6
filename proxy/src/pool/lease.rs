//! Who holds a server and who waits for one: a [`Lease`] per checkout keeps the client's link
//! and the server's row right however the checkout ends; a [`WaitTicket`] per waiting client;
//! [`Pool::release`], the way back into the idle list.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;

use super::{IdleServer, Pool, PooledServer};
use crate::clients::{ClientEntry, ClientState};
use crate::server::ServerConnection;

impl Pool {
    pub(super) fn lease(
        self: &Arc<Self>,
        id: u64,
        server: Box<ServerConnection>,
        permit: OwnedSemaphorePermit,
        client: Option<Arc<ClientEntry>>,
        now: Instant,
    ) -> PooledServer {
        if let Some(c) = &client {
            c.attach(id);
        }
        if let Some(r) = self
            .servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&id)
        {
            r.client = client.as_ref().map(|c| c.id);
            r.since = now;
        }
        PooledServer {
            server,
            pool: self.clone(),
            _permit: permit,
            lease: Lease {
                id,
                pool: self.clone(),
                client,
                since: now,
                ended: None,
            },
        }
    }

    /// Return a server that is idle (ReadyForQuery 'I') and clean.
    pub fn release(&self, pooled: PooledServer) {
        let PooledServer {
            mut server,
            pool: _,
            _permit,
            mut lease,
        } = pooled;
        let now = Instant::now();
        server.last_used = now;
        // More servers than the (reloaded, smaller) size: this one closes instead.
        let oversize =
            self.servers.lock().map_or(0, |r| r.len()) > self.size.load(Ordering::Relaxed);
        if oversize || Self::expired(&self.settings(), &server, now) {
            tokio::spawn(server.terminate());
            return;
        }
        lease.ended = Some(now);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.push(IdleServer {
            id: lease.id,
            server,
        });
        // The lease (client link, row) drops before the permit frees the slot.
        drop(lease);
        drop(idle);
    }
}

/// Who holds a server: clears the client's link and the server's row however it ends.
pub(super) struct Lease {
    pub(super) id: u64,
    pub(super) pool: Arc<Pool>,
    pub(super) client: Option<Arc<ClientEntry>>,
    pub(super) since: Instant,
    /// When the server went back to the pool; `None`: it was closed.
    pub(super) ended: Option<Instant>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = &self.client {
            c.detach(self.id);
        }
        let now = self.ended.unwrap_or_else(Instant::now);
        let held = now.saturating_duration_since(self.since).as_micros() as u64;
        self.pool
            .counters
            .xact_us
            .fetch_add(held, Ordering::Relaxed);
        let mut rows = self.pool.servers.lock().unwrap_or_else(|p| p.into_inner());
        if self.ended.is_some() {
            if let Some(r) = rows.get_mut(&self.id) {
                r.client = None;
                r.since = now;
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
        if let Some(at) = w.iter().position(|(t, _)| *t == self.ticket) {
            w.remove(at);
        }
        if let Some(c) = self.client {
            if c.state() == ClientState::Waiting {
                c.set_state(ClientState::Idle);
            }
        }
    }
}
