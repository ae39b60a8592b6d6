//! Getting a server for the client and giving it back: checkout, syncing the client's session
//! parameters onto the server, the cancel slot, and the reset before another client.

use super::*;
use crate::server::ServerConnection;

/// Bring a server to the session's settings (`desired`; `startup`: those it started with):
/// one round trip, only where they differ; nothing to compare where the server was brought
/// to the same settings and nothing changed on it since.
async fn sync_params(
    server: &mut ServerConnection,
    desired: &super::desired::DesiredSettings,
    startup: &[(String, String)],
) -> Result<(), crate::server::ServerError> {
    let fingerprint = desired.fingerprint(startup);
    if server.settings.synced_with(fingerprint) {
        return Ok(());
    }
    if let Some(sql) = server.settings.sync_sql(desired, startup) {
        server.run_internal(&sql).await?;
        server.settings.synced(desired, startup);
    }
    server.settings.mark_synced_with(fingerprint);
    Ok(())
}

/// Close the statements no live client uses any more (one round trip, only when there are).
async fn sweep_statements(server: &mut ServerConnection) -> Result<(), crate::server::ServerError> {
    let dead = server.statements.sweep();
    if dead.is_empty() {
        return Ok(());
    }
    server.close_statements(&dead).await.map(|_| ())
}

/// Make a server fit for the next client; false when it must be closed instead.
pub(super) async fn reset(server: &mut ServerConnection) -> bool {
    // Forget remembered unreported settings: DISCARD ALL resets them.
    match server.run_internal("DISCARD ALL").await {
        Ok(b'I') => {
            if server.reseed {
                // A seed from pgward's generator: the next client's random() follows no
                // sequence the last one chose.
                let seed: f64 = rand::Rng::gen_range(&mut rand::thread_rng(), -1.0..=1.0);
                if !matches!(
                    server
                        .run_internal(&format!("SELECT pg_catalog.setseed({seed})"))
                        .await,
                    Ok(b'I')
                ) {
                    return false;
                }
                server.reseed = false;
            }
            server.params.retain(|k, _| is_reported(k));
            server.dirty = false;
            server.dirty_owner = 0;
            server.held_notifications.clear();
            server.sequence_user = 0;
            server.sql_prepared.clear();
            // DISCARD ALL deallocates every statement and resets every setting.
            server.statements.clear();
            server.settings.clear_values();
            true
        }
        _ => false,
    }
}

/// Parameters PostgreSQL reports with ParameterStatus (GUC_REPORT).
fn is_reported(name: &str) -> bool {
    const REPORTED: &[&str] = &[
        "application_name",
        "client_encoding",
        "datestyle",
        "default_transaction_read_only",
        "in_hot_standby",
        "integer_datetimes",
        "intervalstyle",
        "is_superuser",
        "server_encoding",
        "server_version",
        "session_authorization",
        "standard_conforming_strings",
        "timezone",
        "scram_iterations",
        "search_path",
    ];
    REPORTED.iter().any(|r| r.eq_ignore_ascii_case(name))
}

impl Session {
    /// Make sure a server is attached (checkout and parameter sync).
    pub(super) async fn attach(&mut self) -> Result<(), PgError> {
        self.attach_checked(false).await
    }

    /// The greeting's checkout: nothing has been judged yet, so the server's defaults are
    /// the session's.
    pub(super) async fn attach_first(&mut self) -> Result<(), PgError> {
        self.attach_checked(true).await
    }

    async fn attach_checked(&mut self, first: bool) -> Result<(), PgError> {
        if self.server.is_some() {
            return Ok(());
        }
        // A pooled server whose backend died since it was last used (terminated, restarted)
        // is closed and another one tried: the client never hears of it.
        let mut attempts = 0;
        let pooled = loop {
            attempts += 1;
            let prefer = self
                .sequences
                .wanted
                .take()
                .or((self.last_backend != 0).then_some(self.last_backend));
            let mut pooled = match self.pool.checkout_idle_now(prefer) {
                Some(ready) => ready,
                None => {
                    let slot = self.cancel.slot.clone();
                    // Biased: which of the two is looked at first does not matter, and a
                    // random order costs a random number on every wake-up.
                    tokio::select! {
                        biased;
                        got = self.pool.checkout_preferring(prefer) => got.map_err(|e| e.to_pg())?,
                        // The client cancelled while its statement waited for a server.
                        () = slot.cancelled_while_waiting() => return Err(PgError::error(
                            sqlstate::QUERY_CANCELED,
                            "canceling statement due to user request",
                        )),
                    }
                }
            };
            // State another client left (user code, a pin that ended) is reset first; this
            // client's own is its own.
            if pooled.server.dirty
                && pooled.server.dirty_owner != self.id
                && !reset(&mut pooled.server).await
            {
                tokio::spawn(pooled.server.terminate());
                if attempts >= 3 {
                    return Err(PgError::error(
                        sqlstate::CONNECTION_FAILURE,
                        "pgward: could not reset a server connection",
                    ));
                }
                continue;
            }
            self.follow_server_default_path(pooled.server.default_search_path(), first);
            let synced = match sweep_statements(&mut pooled.server).await {
                Ok(()) => {
                    sync_params(&mut pooled.server, &self.desired, &self.startup_settings).await
                }
                Err(e) => Err(e),
            };
            match synced {
                Ok(()) => break pooled,
                // The server refused one of the client's settings (a bad TimeZone, say): the
                // server itself is fine and goes back; the client hears the server's reason.
                Err(crate::server::ServerError::Query { code, message }) => {
                    pooled.pool.clone().release(pooled);
                    return Err(PgError::error(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("pgward: a session parameter was refused upstream: {message}"),
                    )
                    .with_detail(format!("upstream SQLSTATE {code}")));
                }
                Err(e) => {
                    tokio::spawn(pooled.server.terminate());
                    if attempts >= 3 {
                        return Err(e.to_pg());
                    }
                    tracing::info!(session = self.id, error = %e, "a pooled server was gone; trying another");
                }
            }
        };
        self.cancel
            .slot
            .set(Some(pooled.server.cancel.clone()))
            .await;
        self.server = Some(pooled);
        self.take_sequence_state();
        self.forward_held_notifications();
        Ok(())
    }

    /// A ReadyForQuery pgward answered itself: a server checked out for the message (to
    /// compare a statement's shape, to run pgward's own checks) and left idle goes back, in
    /// transaction mode, as after the server's own ReadyForQuery.
    pub(super) fn give_back_if_idle(&mut self) {
        if self.server.is_some()
            && self.guard.is_none()
            && self.mode == PoolMode::Transaction
            && self.sync.releasable(self.replies.owes())
        {
            self.outbox
                .push(super::outbox::Event::SettleUnit { release: true });
        }
    }

    pub(super) async fn clear_cancel_target(&mut self) {
        self.cancel.slot.set(None).await;
    }

    /// Give the server back (transaction mode, after ReadyForQuery 'I' with nothing pending).
    pub(super) async fn detach(&mut self) {
        self.clear_cancel_target().await;
        // Statements and portals stay with the server (reset if named ones were made); the
        // next server this client gets has none of them.
        self.prepared.clear();
        let Some(mut pooled) = self.server.take() else {
            return;
        };
        // Nothing the server held is another client's business.
        pooled.server.held_notifications.clear();
        self.last_backend = pooled.server.cancel.pid;
        if pooled.server.conn.queued() > 0 || pooled.server.conn.has_frame() {
            tracing::debug!(
                session = self.id,
                "server closed: bytes in flight when given back"
            );
            tokio::spawn(pooled.server.terminate());
            return;
        }
        // Reset when another client checks it out (`attach`): an uncontended client gets
        // its own server back without a round trip.
        if pooled.server.dirty && pooled.server.dirty_owner == 0 {
            pooled.server.dirty_owner = self.id;
        }
        pooled.pool.clone().release(pooled);
    }
}
