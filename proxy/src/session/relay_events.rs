//! The relay's side of the outbox: each event the machine left is carried out here, in order,
//! after every handler call (cancels and audit records sent, the client written, pgward's own
//! round trips on the server, an idle server settled and given back).

use super::cancel_ignored::cancel_ignored_error;
use super::*;

impl Session {
    /// The server went while the relay read or wrote it.
    pub(super) async fn lost(&mut self, why: &str) -> Result<(), PgError> {
        let lost = self.server_lost(why);
        self.carried(lost).await?;
        self.carry_out().await
    }

    /// A handler's result, once what it left in the outbox is carried out when it failed too:
    /// a server it let go is closed and the cancel target cleared before the error ends the
    /// session (whose last write to the client may wait on a client that does not read).
    pub(super) async fn carried<T>(&mut self, handled: Result<T, PgError>) -> Result<T, PgError> {
        if handled.is_err() {
            let _ = self.carry_out().await;
        }
        handled
    }

    /// What the machine asked for besides bytes, in order: cancels upstream, audit records
    /// (the audit channel is bounded: a slow writer slows the session, nothing is dropped),
    /// the housekeeping and return of an idle server, writes to the client, round trips on
    /// the server.
    pub(super) async fn carry_out(&mut self) -> Result<(), PgError> {
        while let Some(event) = self.outbox.pop() {
            match event {
                outbox::Event::CancelUpstream(target) => {
                    crate::server::send_cancel(&target).await;
                }
                outbox::Event::Audit(entry) => {
                    let record = crate::audit::AuditEvent {
                        at: std::time::SystemTime::now(),
                        who: self.audit_who.clone(),
                        application_name: entry.application_name,
                        decision: entry.decision,
                        rows: entry.rows,
                        duration: entry.duration,
                        sqlstate: entry.sqlstate,
                    };
                    self.shared.audit.record(record).await;
                }
                outbox::Event::SettleUnit { release } => {
                    // The client's answer goes out before pgward's own statements.
                    self.client.flush().await.map_err(io_lost)?;
                    let keeps = self.settle_unit().await;
                    if release && !keeps {
                        self.detach().await;
                    }
                }
                // Never past the statement clocks: a client that does not read holds the
                // server in its write, where PostgreSQL acts on no cancel.
                outbox::Event::FlushClient => {
                    let stopped = self.flush_client_until_deadline().await;
                    if let Some(Flow::Stop) = stopped.map_err(io_lost)? {
                        self.ending
                            .get_or_insert_with(|| Box::new(cancel_ignored_error()));
                    }
                }
                outbox::Event::FlushClientWithin(limit) => {
                    let _ = tokio::time::timeout(limit, self.client.flush()).await;
                    self.client.discard_queued();
                }
                outbox::Event::ClearCancelTarget => self.clear_cancel_target().await,
                outbox::Event::CloseServer(pooled) => {
                    tokio::spawn(pooled.server.terminate());
                }
                outbox::Event::TerminateBackend(pool, pid) => {
                    tokio::spawn(async move { pool.terminate_backend(pid).await });
                }
                outbox::Event::RollbackIdle => {
                    if let Some(s) = self.server.as_mut() {
                        if s.server.run_internal("ROLLBACK").await.is_ok() {
                            self.sync.tx_status = b'I';
                        }
                    }
                }
                outbox::Event::ReadPathThenReady { status, ready } => {
                    self.reread_search_path(status).await;
                    self.send_ready(ready, status);
                    self.answer_local();
                }
                outbox::Event::RunScriptPiece(sql) => {
                    // A statement sent for the client never ends the session by itself (its
                    // Terminate does): the flow is always to go on.
                    Box::pin(self.run_script_piece(&sql)).await?;
                }
            }
        }
        match &self.ending {
            // Its audit records out first: the session ends here, whoever met the loss.
            Some(e) => Err(PgError::clone(e)),
            None => Ok(()),
        }
    }
}
