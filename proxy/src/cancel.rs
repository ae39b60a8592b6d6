//! Cancel keys: each client gets pgward's own (pid, secret); the key maps to the server
//! connection currently running that client's work, and to nothing while it has none, so a
//! cancel can never reach another client's query.

use std::sync::Arc;

use dashmap::DashMap;
use rand::Rng;
use tokio::sync::Mutex;

use crate::server::{send_cancel, CancelTarget};

/// The server a client's cancel would go to right now.
pub type CancelSlot = Arc<Mutex<Option<CancelTarget>>>;

#[derive(Default)]
pub struct CancelRegistry {
    slots: DashMap<(i32, i32), CancelSlot>,
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
    /// A fresh, unique key for a new client.
    pub fn register(self: &Arc<Self>) -> CancelKey {
        let mut rng = rand::thread_rng();
        loop {
            let pid = rng.gen_range(1..i32::MAX);
            let secret = rng.gen::<i32>();
            let slot: CancelSlot = Arc::new(Mutex::new(None));
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

    /// Forward a client's CancelRequest. The slot stays locked until the cancel is delivered,
    /// and a session clears its slot (taking the lock) before its server goes back to the
    /// pool, so the cancel hits this client's query or nothing.
    pub async fn cancel(&self, pid: i32, secret: i32) {
        let Some(slot) = self.slots.get(&(pid, secret)).map(|s| s.clone()) else {
            tracing::debug!("cancel request with an unknown key");
            return;
        };
        let guard = slot.lock().await;
        if let Some(target) = guard.as_ref() {
            send_cancel(target).await;
        }
    }
}
