//! Test support: a server connection opened elsewhere joins a pool (the session's
//! scripted-frame tests start theirs over an in-memory pipe).

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use super::{IdleServer, Pool, ServerRow};
use crate::server::ServerConnection;

impl Pool {
    /// A server connection opened elsewhere (the session's scripted-frame tests) joins the
    /// pool as if it had opened it.
    pub fn add_idle(&self, server: ServerConnection) {
        if let Ok(mut r) = self.reported.lock() {
            *r = Some(server.params.clone());
        }
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        self.servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id,
                ServerRow {
                    id,
                    backend_pid: server.cancel.pid,
                    connected_at: SystemTime::now(),
                    client: None,
                    since: Instant::now(),
                },
            );
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(IdleServer {
                id,
                server: Box::new(server),
            });
    }
}
