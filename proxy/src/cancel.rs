//! Cancel keys: each client gets pgward's own (pid, secret); the key maps to the server
//! connection currently running that client's work, and to nothing while it has none, so a
//! cancel can never reach another client's query.
//!
//! With `[peers]`, a key carries its instance's id in the pid's top byte (PgBouncer's
//! `peer_id`): a cancel that a load balancer sent to another instance is forwarded there.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atomic_waker::AtomicWaker;
use dashmap::DashMap;
use rand::Rng;
use std::sync::Mutex;
use tokio::io::AsyncWriteExt;

use crate::config::PeersSettings;
use crate::metrics::Metrics;
use crate::protocol::frontend::cancel_request;
use crate::server::{send_cancel, CancelTarget};

/// Bits of the pid below the instance id.
const PEER_SHIFT: u32 = 23;
/// The largest instance id a key can carry.
pub const MAX_PEER_ID: u8 = 127;

/// Where a client's cancel goes right now: the server running its work, or, while it waits
/// for one, the wait itself.
#[derive(Default)]
pub struct CancelState {
    /// Taken only for a moment, never across an await: a session sets its target twice a
    /// transaction in transaction mode, and an async lock costs a semaphore each time.
    target: Mutex<Target>,
    /// Woken when the last cancel on its way is delivered (a [`CancelState::set`] waits).
    delivered: tokio::sync::Notify,
    /// Cancels that found no server: a client waiting for a free server stops waiting (as
    /// PostgreSQL cancels a statement that has not started) when this moves on.
    unserved: AtomicU64,
    /// The task waiting for a server, woken by such a cancel. Not a `Notify`: a
    /// transaction-mode checkout under contention waits once a transaction, and a `Notify`
    /// takes a lock at every poll and drop.
    waiting: AtomicWaker,
}

#[derive(Default)]
struct Target {
    server: Option<Arc<CancelTarget>>,
    /// Cancels being sent to `server` right now.
    sending: u32,
}

pub type CancelSlot = Arc<CancelState>;

impl CancelState {
    /// The server this client's cancel reaches from now on (`None`: none).
    /// Waits while a cancel is being sent to the current target, so the server cannot go to
    /// another client with this client's cancel still on its way.
    pub async fn set(&self, target: Option<Arc<CancelTarget>>) {
        // In place at once, so a cancel that comes while this waits goes to the new target
        // (for a detach: none), and only those already on their way are waited for.
        let mut target = Some(target);
        loop {
            let delivered = {
                let mut t = lock(&self.target);
                if let Some(new) = target.take() {
                    t.server = new;
                }
                if t.sending == 0 {
                    return;
                }
                // Made under the lock: the delivery that ends the sending is announced
                // after it, so this future sees it.
                self.delivered.notified()
            };
            delivered.await;
        }
    }

    /// Resolves when a cancel arrives while no server runs the client's work, after this is
    /// called (an earlier cancel is not held for it). One task waits at a time (the
    /// client's own).
    pub fn cancelled_while_waiting(&self) -> impl std::future::Future<Output = ()> + '_ {
        let seen = self.unserved.load(Ordering::Acquire);
        crate::wake::until(&self.waiting, move || {
            (self.unserved.load(Ordering::Acquire) != seen).then_some(())
        })
    }

    /// The target a cancel goes to now, counted as being sent to until the guard drops
    /// (however the sending ends).
    fn start_sending(&self) -> Option<Sending<'_>> {
        let mut t = lock(&self.target);
        let server = t.server.clone()?;
        t.sending += 1;
        Some(Sending {
            state: self,
            server,
        })
    }
}

/// A cancel on its way to a server; the slot's target stays until it is dropped.
struct Sending<'a> {
    state: &'a CancelState,
    server: Arc<CancelTarget>,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        let done = {
            let mut t = lock(&self.state.target);
            t.sending = t.sending.saturating_sub(1);
            t.sending == 0
        };
        if done {
            self.state.delivered.notify_waiters();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
pub struct CancelRegistry {
    slots: DashMap<(i32, i32), CancelSlot>,
    /// This instance's id (0: no peers, keys carry no id).
    peer_id: u8,
    metrics: Arc<Metrics>,
}

/// The instance a key belongs to (0 when keys carry no id).
pub fn key_owner(pid: i32) -> u8 {
    ((pid as u32) >> PEER_SHIFT) as u8
}

/// Removes the client's key when its session ends.
pub struct CancelKey {
    pub pid: i32,
    pub secret: i32,
    pub slot: CancelSlot,
    registry: Arc<CancelRegistry>,
}

impl Drop for CancelKey {
    fn drop(&mut self) {
        self.registry.slots.remove(&(self.pid, self.secret));
    }
}

impl CancelRegistry {
    pub fn new(peer_id: u8, metrics: Arc<Metrics>) -> CancelRegistry {
        CancelRegistry {
            slots: DashMap::new(),
            peer_id,
            metrics,
        }
    }

    /// A fresh, unique key for a new client.
    pub fn register(self: &Arc<Self>) -> CancelKey {
        let mut rng = rand::thread_rng();
        loop {
            let pid = if self.peer_id == 0 {
                rng.gen_range(1..i32::MAX)
            } else {
                // The id in bits 23..31; the sign bit stays clear (pids are positive).
                (i32::from(self.peer_id & 0x7f) << PEER_SHIFT)
                    | rng.gen_range(1..(1i32 << PEER_SHIFT))
            };
            let secret = rng.gen::<i32>();
            let slot: CancelSlot = Arc::new(CancelState::default());
            if let dashmap::Entry::Vacant(v) = self.slots.entry((pid, secret)) {
                v.insert(slot.clone());
                return CancelKey {
                    pid,
                    secret,
                    slot,
                    registry: self.clone(),
                };
            }
        }
    }

    /// Forward a client's CancelRequest. The slot keeps its target until the cancel is
    /// delivered, and a session clears its slot (waiting for that) before its server goes
    /// back to the pool, so the cancel hits this client's query or nothing.
    /// A key owned by another `[peers]` member is forwarded to it.
    pub async fn cancel(&self, pid: i32, secret: i32, peers: Option<&PeersSettings>) {
        let owner = key_owner(pid);
        if let Some(peers) = peers.filter(|_| self.peer_id != 0 && owner != self.peer_id) {
            match peers.members.get(&owner) {
                Some(addr) => {
                    self.metrics.cancel("forwarded");
                    forward(*addr, pid, secret).await;
                }
                None => {
                    self.metrics.cancel("unknown");
                    tracing::debug!(owner, "cancel request for an unknown peer");
                }
            }
            return;
        }
        let Some(slot) = self.slots.get(&(pid, secret)).map(|s| s.clone()) else {
            self.metrics.cancel("unknown");
            tracing::debug!("cancel request with an unknown key");
            return;
        };
        self.metrics.cancel("local");
        let sending = slot.start_sending();
        match &sending {
            Some(sending) => send_cancel(&sending.server).await,
            // Only a client waiting right now is woken: no permit is stored for later.
            None => {
                slot.unserved.fetch_add(1, Ordering::AcqRel);
                slot.waiting.wake();
            }
        }
        drop(sending);
    }
}

/// Hand a CancelRequest to the peer that owns the key (it answers nothing, as PostgreSQL).
async fn forward(addr: SocketAddr, pid: i32, secret: i32) {
    let sent = tokio::time::timeout(Duration::from_secs(5), async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.write_all(&cancel_request(pid, secret)).await?;
        tcp.shutdown().await
    })
    .await;
    match sent {
        Ok(Ok(())) => tracing::info!(%addr, "cancel request forwarded to its peer"),
        Ok(Err(e)) => tracing::warn!(%addr, error = %e, "cannot forward a cancel request"),
        Err(_) => tracing::warn!(%addr, "forwarding a cancel request timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(pid: i32) -> Option<Arc<CancelTarget>> {
        Some(Arc::new(CancelTarget {
            host: "127.0.0.1".into(),
            port: 1,
            pid,
            secret: 0,
        }))
    }

    fn now_target(slot: &CancelState) -> Option<i32> {
        lock(&slot.target).server.as_ref().map(|t| t.pid)
    }

    #[tokio::test]
    async fn a_target_is_let_go_only_after_the_cancel_on_its_way_is_delivered() {
        let slot = Arc::new(CancelState::default());
        slot.set(target(7)).await;
        let Some(sending) = slot.start_sending() else {
            panic!("a target to send to");
        };
        assert_eq!(sending.server.pid, 7);
        let clearing = tokio::spawn({
            let slot = slot.clone();
            async move { slot.set(None).await }
        });
        tokio::task::yield_now().await;
        assert!(
            !clearing.is_finished(),
            "set(None) must wait for the delivery"
        );
        // A cancel arriving meanwhile finds the new target (none), not the old server.
        assert!(slot.start_sending().is_none());
        assert_eq!(now_target(&slot), None);
        drop(sending);
        let cleared = tokio::time::timeout(Duration::from_secs(5), clearing).await;
        assert!(
            matches!(cleared, Ok(Ok(()))),
            "set(None) ends once the cancel is delivered"
        );
    }

    #[tokio::test]
    async fn a_cancel_with_no_server_wakes_only_a_client_waiting_now() {
        use std::future::Future;
        let reg = Arc::new(CancelRegistry::new(0, Arc::default()));
        let key = reg.register();
        // Before anyone waits: nothing is kept for a later wait.
        reg.cancel(key.pid, key.secret, None).await;
        let mut wait = std::pin::pin!(key.slot.cancelled_while_waiting());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        // A wrong secret is no cancel.
        reg.cancel(key.pid, key.secret.wrapping_add(1), None).await;
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        // One that comes while it waits ends the wait.
        reg.cancel(key.pid, key.secret, None).await;
        assert!(wait.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn keys_carry_the_instance_id() {
        for id in [1u8, 2, 77, MAX_PEER_ID] {
            let reg = Arc::new(CancelRegistry::new(id, Arc::default()));
            for _ in 0..200 {
                let k = reg.register();
                assert!(k.pid > 0, "pids stay positive: {}", k.pid);
                assert_eq!(key_owner(k.pid), id);
            }
        }
        // Without peers, keys are random over the whole positive range.
        let reg = Arc::new(CancelRegistry::new(0, Arc::default()));
        let owners: std::collections::BTreeSet<u8> =
            (0..200).map(|_| key_owner(reg.register().pid)).collect();
        assert!(owners.len() > 10);
    }
}
