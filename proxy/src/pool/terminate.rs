//! Ending a backend that ignored pgward's cancel: closing its socket does not stop it.

use super::Pool;
use crate::server::ServerConnection;

impl Pool {
    /// Ends backend `pid` of this pool's login with `pg_terminate_backend`, over a connection
    /// of its own: a backend that ignores cancels (a function that catches them) runs on
    /// after its socket is closed, with its transaction and locks, until it next writes to
    /// the client; a termination cannot be caught.
    pub async fn terminate_backend(&self, pid: i32) {
        let spec = self.spec.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match ServerConnection::connect(&spec).await {
            Ok(mut s) => {
                let sql = format!("SELECT pg_catalog.pg_terminate_backend({pid})");
                if let Err(e) = s.run_internal(&sql).await {
                    tracing::warn!(pid, error = %e, "could not terminate a backend that ignored its cancel");
                }
                s.terminate().await;
            }
            Err(e) => {
                tracing::warn!(pid, error = %e, "could not connect to terminate a backend that ignored its cancel")
            }
        }
    }
}
