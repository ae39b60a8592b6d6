//! Test support: a server connection opened elsewhere joins a pool (the session's
//! scripted-frame tests start theirs over an in-memory pipe).

use super::{IdleServer, Pool};
use crate::server::ServerConnection;

impl Pool {
    /// A server connection opened elsewhere (the session's scripted-frame tests) joins the
    /// pool as if it had opened it.
    pub fn add_idle(&self, server: ServerConnection) {
        let row = self.register(&server);
        self.slots().idle.push(IdleServer {
            row,
            server: Box::new(server),
        });
    }
}
