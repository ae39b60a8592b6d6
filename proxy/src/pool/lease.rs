//! Who holds a server and who waits for one: a [`Lease`] per checkout keeps the client's link
//! and the server's row right however the checkout ends; [`Pool::release`], the way back into
//! the idle list (and its slot to the first waiter).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::slots::Slot;
use super::{IdleServer, Pool, PooledServer};
use crate::clients::ClientEntry;
use crate::server::ServerConnection;

impl Pool {
    pub(super) fn lease(
        self: &Arc<Self>,
        id: u64,
        server: Box<ServerConnection>,
        slot: Slot,
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
            slot,
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
            slot,
            mut lease,
        } = pooled;
        let now = Instant::now();
        server.last_used = now;
        // More servers than the (reloaded, smaller) size: this one closes instead.
        let oversize =
            self.servers.lock().map_or(0, |r| r.len()) > self.size.load(Ordering::Relaxed);
        // Not idle (a transaction left open however pgward came to think otherwise): closed.
        // One past its lifetime or idle limit is closed by the next checkout or the reaper.
        if oversize || server.status != b'I' {
            tokio::spawn(server.terminate());
            return;
        }
        lease.ended = Some(now);
        let id = lease.id;
        // The lease (client link, row) ends before the slot is free for another client.
        drop(lease);
        slot.release_with(IdleServer { id, server });
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
