//! Who holds a server and who waits for one: a [`Lease`] per checkout keeps the client's link
//! and the server's row right however the checkout ends; [`Pool::release`], the way back into
//! the idle list (and its slot to the first waiter).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::admin::LiveRow;
use super::slots::Slot;
use super::{IdleServer, Pool, PooledServer};
use crate::clients::ClientEntry;
use crate::server::ServerConnection;

impl Pool {
    pub(super) fn lease(
        self: &Arc<Self>,
        row: Arc<LiveRow>,
        server: Box<ServerConnection>,
        slot: Slot,
        client: Option<Arc<ClientEntry>>,
        now: Instant,
    ) -> PooledServer {
        if let Some(c) = &client {
            c.attach(row.id);
        }
        row.serve(client.as_ref().map(|c| c.id), now);
        PooledServer {
            server,
            pool: self.clone(),
            slot,
            lease: Lease {
                row,
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
        let oversize = self.open.load(Ordering::Relaxed) > self.size.load(Ordering::Relaxed);
        // Not idle (a transaction left open however pgward came to think otherwise): closed.
        // One past its lifetime or idle limit is closed by the next checkout or the reaper.
        if oversize || server.status != b'I' {
            tokio::spawn(server.terminate());
            return;
        }
        lease.ended = Some(now);
        let row = lease.row.clone();
        // The lease (client link, row) ends before the slot is free for another client.
        drop(lease);
        slot.release_with(IdleServer { row, server });
    }
}

/// Who holds a server: clears the client's link and the server's row however it ends.
pub(super) struct Lease {
    pub(super) row: Arc<LiveRow>,
    pub(super) pool: Arc<Pool>,
    pub(super) client: Option<Arc<ClientEntry>>,
    pub(super) since: Instant,
    /// When the server went back to the pool; `None`: it was closed.
    pub(super) ended: Option<Instant>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = &self.client {
            c.detach(self.row.id);
        }
        let now = self.ended.unwrap_or_else(Instant::now);
        let held = now.saturating_duration_since(self.since).as_micros() as u64;
        self.pool
            .counters
            .xact_us
            .fetch_add(held, Ordering::Relaxed);
        match self.ended {
            Some(_) => self.row.serve(None, now),
            None => self.pool.forget_server(self.row.id),
        }
    }
}
