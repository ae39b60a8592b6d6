//! One client's session after startup: the relay loop between the client and (while it holds
//! one) a pooled server connection.
//!
//! Every message that can run SQL passes `client.rs`'s decision point before any byte of it
//! reaches the server; `server.rs` forwards the server's frames as bytes and watches the few
//! that matter (ReadyForQuery, ParameterStatus, errors); `attach.rs` checks servers out of the
//! pool, syncs the client's session parameters onto them and gives them back clean.
//!
//! A refused statement is answered in the order PostgreSQL would answer it: with nothing in
//! flight the reply is local; otherwise pgward sends the server a statement that fails at
//! PostgreSQL's raw parser (`pgward_denied`) in its place and swaps that error for its own, so
//! the server aborts the transaction and skips to Sync exactly as it would have.

mod attach;
mod audit_trail;
mod client;
mod decision_memo;
mod guard;
mod server;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pgward_policy::{Decision, Denial};

use crate::cancel::CancelKey;
use crate::config::PoolMode;
use crate::pool::{Pool, PooledServer};
use crate::protocol::backend::{self, PgError};
use crate::protocol::FramedConn;
use crate::shared::Shared;
use crate::startup::StartupInfo;
use crate::stream::ClientStream;

use audit_trail::PendingAudit;
use guard::{Limits, RowCounter, WriteGuard};

/// The statement pgward sends in place of a refused one; PostgreSQL's grammar rejects it
/// before anything runs.
const DENIED_MARKER: &str = "pgward_denied";

/// How long past the role's statement_timeout pgward waits for the server's own cancel.
const STATEMENT_TIMEOUT_GRACE: Duration = Duration::from_secs(1);

/// When pgward must re-read the server's search_path (the one it judges functions with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PathCheck {
    No,
    /// A statement changed it; it may have failed.
    AfterUnit,
    /// It changed inside the open transaction block; a ROLLBACK may undo it.
    OnRollback,
}

/// Stop the loop or keep going.
enum Flow {
    Continue,
    Stop,
}

/// An error to show the client in place of the server's answer to an injected statement.
struct Substitution {
    /// Which ReadyForQuery ends the pipeline it belongs to.
    sync_seq: u64,
    error: PgError,
}

pub struct Session {
    id: u64,
    client: FramedConn<ClientStream>,
    info: StartupInfo,
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    mode: PoolMode,
    server: Option<PooledServer>,
    cancel: CancelKey,
    /// The status of the last ReadyForQuery the client was sent (or will be).
    tx_status: u8,
    /// Sync points (Query, Sync) sent to the server whose ReadyForQuery has not come back.
    pending: usize,
    syncs_sent: u64,
    syncs_done: u64,
    /// Extended-protocol messages were forwarded since the last Sync.
    unsynced: bool,
    /// After an error in an extended-protocol batch: drop messages until Sync.
    skipping: bool,
    substitutions: VecDeque<Substitution>,
    /// Session parameters the client asked for, by lower-cased name: (name, value).
    desired: Vec<(String, String)>,
    search_path: Vec<String>,
    statements: HashMap<String, Arc<Decision>>,
    portals: HashMap<String, Arc<Decision>>,
    audit: VecDeque<PendingAudit>,
    /// Finished statements waiting to be written at the next ReadyForQuery.
    completed: Vec<PendingAudit>,
    idle_since: Instant,
    limits: Limits,
    row_counter: RowCounter,
    guard: Option<WriteGuard>,
    /// The rest of a string being run one statement at a time (see `client.rs`).
    script: VecDeque<String>,
    /// A statement of that string failed: the rest is not sent, as PostgreSQL would not run it.
    script_failed: bool,
    /// The server is in COPY FROM STDIN: the client's CopyData must keep flowing.
    copy_in: bool,
    /// An Execute of COPY FROM STDIN was sent and the COPY has not ended.
    copy_from_started: bool,
    /// A Sync sent after that Execute, held until we know whether the server ignores it.
    held_sync: Option<bytes::Bytes>,
    path_check: PathCheck,
    /// The portal of the last Execute, where max_result_rows applies (a cut closes it).
    limited_portal: Option<String>,
    /// When the server last finished something while work was pending (statement timer).
    busy_since: Option<Instant>,
    /// pgward cancelled the running statement for exceeding statement_timeout.
    timeout_fired: bool,
    /// Who this session is, for every audit event.
    audit_who: Arc<crate::audit::AuditSession>,
    /// The client's current application_name (audit).
    application_name: Arc<str>,
    /// Decisions for texts this session sent before, valid for one policy snapshot.
    recent: decision_memo::DecisionMemo,
}

pub fn denial_error(d: &Denial) -> PgError {
    if d.is_syntax_error() {
        // PostgreSQL's own error, as the server would have sent it.
        return PgError::error(d.sqlstate, d.message.clone()).with_position(d.position);
    }
    PgError::error(d.sqlstate, format!("pgward: {}", d.message))
        .with_detail(d.detail.clone())
        .with_hint(d.hint.clone())
}

impl Session {
    pub fn new(
        client: FramedConn<ClientStream>,
        info: StartupInfo,
        peer: SocketAddr,
        shared: Arc<Shared>,
        pool: Arc<Pool>,
        mode: PoolMode,
    ) -> Session {
        let cancel = shared.cancels.register();
        let search_path = info
            .search_path
            .as_deref()
            .map(pgward_policy::parse_search_path)
            .unwrap_or_else(|| vec!["$user".to_string(), "public".to_string()]);
        let desired = info
            .params
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let id = shared.next_session_id();
        let audit_who = Arc::new(crate::audit::AuditSession {
            session: id,
            user: info.user.clone(),
            role: info.role.clone(),
            client: peer.to_string(),
            database: info.database.clone(),
        });
        let application_name = Arc::from(info.application_name.as_str());
        Session {
            path_check: PathCheck::No,
            limited_portal: None,
            busy_since: None,
            timeout_fired: false,
            audit_who,
            application_name,
            id,
            client,
            info,
            shared,
            pool,
            mode,
            server: None,
            cancel,
            tx_status: b'I',
            pending: 0,
            syncs_sent: 0,
            syncs_done: 0,
            unsynced: false,
            skipping: false,
            substitutions: VecDeque::new(),
            desired,
            search_path,
            statements: HashMap::new(),
            portals: HashMap::new(),
            audit: VecDeque::new(),
            completed: Vec::new(),
            idle_since: Instant::now(),
            limits: Limits::default(),
            row_counter: RowCounter::default(),
            guard: None,
            recent: decision_memo::DecisionMemo::default(),
            script: VecDeque::new(),
            script_failed: false,
            copy_in: false,
            copy_from_started: false,
            held_sync: None,
        }
    }

    /// Finish the startup (parameters, cancel key, ReadyForQuery) and run until the client
    /// leaves.
    pub async fn run(mut self) {
        if let Err(e) = self.greet().await {
            let mut out = BytesMut::new();
            backend::error_response(
                &PgError {
                    severity: "FATAL",
                    ..e
                },
                &mut out,
            );
            let _ = self.client.send(&out).await;
            self.client.shutdown().await;
            return;
        }
        let result = self.relay().await;
        if let Err(e) = result {
            tracing::debug!(session = self.id, error = %e.message, "session ended with an error");
            let mut out = BytesMut::new();
            backend::error_response(&e, &mut out);
            let _ = self.client.send(&out).await;
        }
        self.finish().await;
    }

    /// AuthenticationOk, the server's parameters, our cancel key, ReadyForQuery. Checking a
    /// server out here also tells a client at once when the upstream is down.
    async fn greet(&mut self) -> Result<(), PgError> {
        let mut out = BytesMut::new();
        backend::auth_ok(&mut out);
        self.client.queue(&out);
        // In transaction mode a client is greeted with what the pool's servers report, so it
        // can log in while every server is busy; otherwise (or before the pool has ever
        // connected) a server is checked out, which also reports a down upstream at once.
        let known = match self.mode {
            PoolMode::Transaction => self.pool.reported_params(),
            PoolMode::Session => None,
        };
        let params = match known {
            Some(p) => p,
            None => {
                self.attach().await?;
                self.server
                    .as_ref()
                    .map(|s| s.server.params.clone())
                    .unwrap_or_default()
            }
        };
        out.clear();
        for (k, v) in &params {
            let v = self
                .desired
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
                .unwrap_or(v);
            backend::parameter_status(k, v, &mut out);
        }
        backend::backend_key_data(self.cancel.pid, self.cancel.secret, &mut out);
        backend::ready_for_query(b'I', &mut out);
        self.client.queue(&out);
        if self.mode == PoolMode::Transaction {
            self.detach().await;
        }
        self.client.flush().await.map_err(io_lost)?;
        Ok(())
    }

    async fn relay(&mut self) -> Result<(), PgError> {
        // One timer for the statement backstop, moved only when its deadline changes (once a
        // statement, not once a message).
        let backstop = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(backstop);
        let mut armed_for = None;
        loop {
            let server_has_frame = self
                .server
                .as_ref()
                .is_some_and(|s| s.server.conn.has_frame());
            if self.client.queued() > 0 && !server_has_frame {
                self.client.flush().await.map_err(io_lost)?;
            }
            // Batch what the client pipelined, but never wait on the server with its input
            // unsent (a guard may have stopped us reading the client's next frame).
            if !self.client.has_frame() || self.guard_blocks_client() {
                if let Some(s) = self.server.as_mut() {
                    if s.server.conn.queued() > 0 {
                        if let Err(e) = s.server.conn.flush().await {
                            self.server_lost(&e.to_string()).await?;
                            continue;
                        }
                    }
                }
            }
            let idle_deadline = self.idle_in_transaction_deadline();
            let statement_deadline = self.statement_deadline();
            if let Some(d) = statement_deadline.filter(|d| armed_for != Some(*d)) {
                backstop.as_mut().reset(d);
                armed_for = Some(d);
            }
            let flow = tokio::select! {
                f = self.client.read_frame(), if !self.guard_blocks_client() => match f {
                    Ok(Some(frame)) => {
                        tracing::trace!(session = self.id, tag = %(frame.tag() as char), pending = self.pending, "client message");
                        self.on_client(frame).await?
                    }
                    Ok(None) => Flow::Stop,
                    Err(e) => {
                        return Err(PgError::fatal("08P01", format!("pgward: invalid message from client: {e}")));
                    }
                },
                f = read_server(&mut self.server), if self.server.is_some() => match f {
                    Ok(Some(frame)) => {
                        tracing::trace!(session = self.id, tag = %(frame.tag() as char), pending = self.pending, done = self.syncs_done, "server message");
                        self.on_server(frame).await?
                    }
                    Ok(None) => { self.server_lost("closed by the server").await?; Flow::Continue }
                    Err(e) => { self.server_lost(&e.to_string()).await?; Flow::Continue }
                },
                _ = sleep_until_opt(idle_deadline), if idle_deadline.is_some() => {
                    self.idle_in_transaction_expired().await
                }
                _ = &mut backstop, if statement_deadline.is_some() => {
                    self.statement_timeout_backstop().await
                }
            };
            if let Flow::Stop = flow {
                return Ok(());
            }
        }
    }

    /// The role's statement_timeout is pinned on its upstream connections, so the server
    /// cancels on its own; this backstop cancels from pgward a moment later should the pin
    /// ever have been loosened.
    fn statement_deadline(&mut self) -> Option<tokio::time::Instant> {
        if self.pending == 0 {
            self.busy_since = None;
            self.timeout_fired = false;
            return None;
        }
        let since = *self.busy_since.get_or_insert_with(Instant::now);
        let limit = self.limits.statement_timeout?;
        if self.timeout_fired {
            return None;
        }
        Some(tokio::time::Instant::from_std(
            since + limit + STATEMENT_TIMEOUT_GRACE,
        ))
    }

    async fn statement_timeout_backstop(&mut self) -> Flow {
        self.timeout_fired = true;
        tracing::warn!(
            session = self.id,
            "statement ran past the role's statement_timeout; cancelling"
        );
        if let Some(s) = self.server.as_ref() {
            crate::server::send_cancel(&s.server.cancel).await;
        }
        Flow::Continue
    }

    fn idle_in_transaction_deadline(&self) -> Option<tokio::time::Instant> {
        if self.tx_status == b'I' || self.pending > 0 || self.unsynced {
            return None;
        }
        let t = self.limits.idle_in_transaction_timeout?;
        Some(tokio::time::Instant::from_std(self.idle_since + t))
    }

    /// The client sat in an open transaction too long: roll it back upstream, give the server
    /// back, and end the session as PostgreSQL does (25P03).
    async fn idle_in_transaction_expired(&mut self) -> Flow {
        if let Some(s) = self.server.as_mut() {
            if s.server.run_internal("ROLLBACK").await.is_ok() {
                self.tx_status = b'I';
            }
        }
        let mut out = BytesMut::new();
        backend::error_response(
            &PgError::fatal(
                "25P03",
                "terminating connection due to idle-in-transaction timeout",
            ),
            &mut out,
        );
        self.client.queue(&out);
        let _ = self.client.flush().await;
        Flow::Stop
    }

    /// The server connection died under us.
    async fn server_lost(&mut self, why: &str) -> Result<(), PgError> {
        tracing::warn!(session = self.id, reason = why, "upstream connection lost");
        self.clear_cancel_target().await;
        self.server = None;
        let err = PgError::error("08006", format!("pgward: upstream connection lost: {why}"));
        if self.tx_status != b'I' || self.mode == PoolMode::Session {
            // Its transaction or session state is gone with the server: end like PostgreSQL.
            return Err(PgError {
                severity: "FATAL",
                ..err
            });
        }
        let mut out = BytesMut::new();
        for _ in 0..self.pending {
            backend::error_response(&err, &mut out);
            backend::ready_for_query(b'I', &mut out);
        }
        self.pending = 0;
        self.syncs_done = self.syncs_sent;
        self.guard = None;
        self.script.clear();
        self.copy_in = false;
        self.copy_from_started = false;
        self.held_sync = None;
        self.row_counter = RowCounter::default();
        self.unsynced = false;
        self.substitutions.clear();
        self.client.queue(&out);
        Ok(())
    }

    /// The client is gone or said Terminate: leave its server clean or close it.
    async fn finish(&mut self) {
        self.flush_audit_all("08006").await;
        self.clear_cancel_target().await;
        let Some(mut pooled) = self.server.take() else {
            self.client.shutdown().await;
            return;
        };
        let reusable = self.pending == 0 && !self.unsynced && !pooled.server.conn.has_frame();
        if reusable {
            let mut ok = true;
            if self.tx_status != b'I' {
                ok = matches!(pooled.server.run_internal("ROLLBACK").await, Ok(b'I'));
            }
            if ok && (self.mode == PoolMode::Session || pooled.server.dirty) {
                ok = attach::reset(&mut pooled.server).await;
            }
            if ok {
                pooled.pool.clone().release(pooled);
            } else {
                tokio::spawn(pooled.server.terminate());
            }
        } else {
            tokio::spawn(pooled.server.terminate());
        }
        self.client.shutdown().await;
    }
}

async fn read_server(
    server: &mut Option<PooledServer>,
) -> Result<Option<crate::protocol::Frame>, crate::protocol::FrameError> {
    match server {
        Some(s) => s.server.conn.read_frame().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn io_lost(e: std::io::Error) -> PgError {
    PgError::fatal("08006", format!("client connection lost: {e}"))
}
