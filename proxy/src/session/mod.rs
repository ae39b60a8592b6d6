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
//! the server aborts the transaction and skips to Sync exactly as it would have. A syntax
//! error is the exception: the client's text goes to the server behind a guard that keeps
//! it invalid, so PostgreSQL answers in its own words (`server_syntax.rs`).

mod answer;
mod attach;
mod audit_trail;
mod backend_signals;
mod backpressure;
mod cancel_ignored;
mod client;
mod client_encoding;
mod client_view;
mod decision_memo;
mod desired;
mod extended;
mod fastpath;
mod guard;
mod guard_rules;
mod ledger;
mod masking;
mod masking_records;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod model;
#[cfg(any(test, feature = "fuzzing"))]
mod model_pg;
#[cfg(test)]
mod model_tests;
mod outbox;
mod own_statements;
mod path_guard;
use path_guard::PathCheck;
#[cfg(test)]
mod backpressure_tests;
mod pin_watch;
mod pins;
mod prepared;
mod read_back;
mod refusals;
mod rejudge_portals;
#[cfg(test)]
mod rejudge_tests;
mod relay;
#[cfg(test)]
mod relay_clock_tests;
mod relay_clocks;
mod relay_events;
mod replay;
mod replay_scope;
mod replay_shape;
mod replies;
mod result_fields;
mod row_limit;
mod row_limit_step;
#[cfg(any(test, feature = "fuzzing"))]
mod scripted;
#[cfg(any(test, feature = "fuzzing"))]
mod scripted_frames;
#[cfg(test)]
mod scripted_tests;
mod sequences;
mod server;
mod server_masking;
mod server_syntax;
mod session_state;
mod sql_effects;
mod sql_prepared;
mod statement_text;
#[cfg(test)]
mod strict_frames_tests;
mod timers;
mod unit_effects;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod wire_fuzz;
#[cfg(test)]
mod wire_fuzz_tests;
#[cfg(any(test, feature = "fuzzing"))]
mod wire_pg;

use crate::sqlstate;
use std::collections::VecDeque;
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
use guard::{Limits, WriteGuard};
use prepared::Prepared;
use replies::{Handling, ReplyQueue, Sent};
use row_limit::RowCounter;
use unit_effects::UnitEffects;

/// The statement pgward sends in place of a refused one; PostgreSQL's grammar rejects it
/// before anything runs.
const DENIED_MARKER: &str = "pgward_denied";

/// Stop the loop or keep going.
enum Flow {
    Continue,
    Stop,
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
    /// Sync points sent and answered, the open batch, the transaction status.
    sync: ledger::Ledger,
    /// After an error in an extended-protocol batch: drop messages until Sync.
    skipping: bool,
    /// What every message sent to the server is owed, in order.
    replies: ReplyQueue,
    /// Session parameters the client asked for, by lower-cased name: (name, value).
    desired: desired::DesiredSettings,
    /// Those it started with (startup packet and `options`): what RESET returns to.
    startup_settings: Vec<(String, String)>,
    search_path: Arc<[String]>,
    /// What a session that sets none starts with (the servers' configured default).
    default_path: read_back::DefaultPath,
    /// Bumped whenever `search_path` changes: statements judged under an older one are
    /// judged again before they run.
    path_epoch: u64,
    /// The policy snapshot the session's last decision was made under.
    judged_snapshot: u64,
    /// When this session last waited for a catalog snapshot (a relation it lacked).
    catalog_waited_at: Option<Instant>,
    /// Its first decision has looked for its database's catalog snapshot (waited for it when
    /// it was about to be read).
    first_catalog_awaited: bool,
    /// Statements and portals as the server has them, each with its decision.
    prepared: Prepared,
    /// SQL PREPARE/DEALLOCATE/DISCARD ALL sent and not yet answered (`sql_effects.rs`).
    sql_effects: VecDeque<sql_effects::SqlEffect>,
    audit: VecDeque<PendingAudit>,
    /// Finished statements waiting to be written at the next ReadyForQuery.
    completed: Vec<PendingAudit>,
    limits: Limits,
    row_counter: RowCounter,
    /// Result masking for a masked role (plans bound to results, recorded cursors).
    masking: masking::ResultMasking,
    /// The masking the next extended-protocol message's reply carries.
    next_mask: Option<masking::ReplyMask>,
    guard: Option<WriteGuard>,
    /// The rest of a string being run one statement at a time (see `client.rs`).
    script: VecDeque<String>,
    /// A statement of that string failed: the rest is not sent, as PostgreSQL would not run it.
    script_failed: bool,
    /// The server is in COPY FROM STDIN: the client's CopyData must keep flowing.
    copy_in: bool,
    /// An Execute of COPY FROM STDIN was sent and the COPY has not ended.
    copy_from_started: bool,
    path_check: PathCheck,
    /// The statement backstop and idle-in-transaction clocks.
    timers: timers::Timers,
    /// Who this session is, for every audit event.
    audit_who: Arc<crate::audit::AuditSession>,
    /// The client's current application_name (audit).
    application_name: Arc<str>,
    /// Decisions for texts this session sent before, valid for one policy snapshot.
    recent: decision_memo::DecisionMemo,
    /// Transaction mode: named statements kept per server (0: statements are not replayed).
    statement_limit: usize,
    /// Parses sent (who owns a server's unnamed statement).
    parse_seq: u64,
    /// This session's claim on the server statements it uses (released when it ends).
    owner: crate::server_state::StatementOwner,
    /// Custom (dotted) settings the client set at session level: pg_settings lists none of
    /// them, so they are read back by name.
    custom_settings: Vec<String>,
    /// What the statements of the unit now running did to the server's session state.
    unit: UnitEffects,
    /// Whose sequence state the attached server holds.
    sequences: sequences::SequenceState,
    /// The backend pid of the server this client last gave back (0: none): its next
    /// checkout takes that one when it is idle, so an uncontended client keeps its server.
    last_backend: i32,
    /// pgward asked an unflushed batch's answers at the idle limit (then, once in, it fires).
    flush_asked_at_limit: bool,
    /// While pgward's BEGIN runs inside the client's batch: whether PostgreSQL said a block
    /// was already open (the guard then works inside the client's block).
    guard_begin: Option<bool>,
    /// Transaction mode: the client keeps its server for state that cannot follow it.
    pinned: Option<&'static str>,
    /// The session must end with this (its server was lost with a transaction or batch
    /// open): whatever handler met it, the relay ends the session at its next step.
    ending: Option<Box<PgError>>,
    on_session_state: crate::config::SessionStatePolicy,
    /// The relay's clock at its last wake-up: the machine reads no clock of its own (timers
    /// and audit durations use this).
    now: Instant,
    /// Cancels and audit records the relay carries out after each handler call.
    outbox: outbox::Outbox,
    /// The reported parameters as the client was last told them.
    client_view: client_view::ClientView,
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
        now: Instant,
    ) -> Session {
        let cancel = shared.cancels.register();
        let default_path = read_back::DefaultPath::new(pool.default_search_path());
        let search_path = info
            .search_path
            .as_deref()
            .map(pgward_policy::parse_search_path)
            .unwrap_or_else(|| default_path.path.clone())
            .into();
        let mut desired: Vec<(String, String)> = info
            .params
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        // A client that names no application has none (not pgward's own upstream name).
        if !desired.iter().any(|(k, _)| k == "application_name") {
            desired.push(("application_name".to_string(), String::new()));
        }
        // Custom settings from the startup packet or `options` are read back by name too.
        let custom_settings = desired
            .iter()
            .filter(|(k, _)| k.contains('.'))
            .map(|(k, _)| k.clone())
            .collect();
        let id = shared.next_session_id();
        let audit_who = Arc::new(crate::audit::AuditSession::new(
            id,
            &info.user,
            &info.role,
            &peer.to_string(),
            &info.database,
        ));
        let application_name = Arc::from(info.application_name.as_str());
        let pool_settings = pool.settings();
        Session {
            statement_limit: pool_settings.max_prepared_statements,
            on_session_state: pool_settings.on_session_state,
            parse_seq: 0,
            owner: Default::default(),
            custom_settings,
            unit: UnitEffects::default(),
            sequences: Default::default(),
            last_backend: 0,
            flush_asked_at_limit: false,
            guard_begin: None,
            pinned: None,
            ending: None,
            path_check: PathCheck::No,
            timers: timers::Timers::new(now),
            now,
            outbox: outbox::Outbox::default(),
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
            sync: ledger::Ledger::default(),
            skipping: false,
            replies: ReplyQueue::default(),
            startup_settings: desired.clone(),
            desired: desired::DesiredSettings::new(desired),
            search_path,
            default_path,
            path_epoch: 0,
            judged_snapshot: 0,
            catalog_waited_at: None,
            first_catalog_awaited: false,
            prepared: Prepared::default(),
            sql_effects: VecDeque::new(),
            audit: VecDeque::new(),
            completed: Vec::new(),
            limits: Limits::default(),
            row_counter: RowCounter::default(),
            masking: masking::ResultMasking::default(),
            next_mask: None,
            guard: None,
            recent: decision_memo::DecisionMemo::default(),
            script: VecDeque::new(),
            script_failed: false,
            copy_in: false,
            copy_from_started: false,
            client_view: client_view::ClientView::default(),
        }
    }

    /// Finish the startup (parameters, cancel key, ReadyForQuery) and run until the client
    /// leaves. Boxed: an async fn keeps its arguments twice (as given and as moved in), and
    /// an idle client's task would hold two copies of this large struct.
    pub async fn run(mut self: Box<Self>) {
        // Every step but the relay is boxed: the relay's state is what an idle client keeps.
        if let Err(e) = Box::pin(self.greet()).await {
            Box::pin(self.refuse_login(e)).await;
            return;
        }
        let result = self.relay().await;
        Box::pin(self.finish_with(result.err())).await;
    }

    /// The greeting failed: the client gets it as FATAL and the connection ends.
    async fn refuse_login(&mut self, e: PgError) {
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
    }

    /// The relay ended (with the error that ended it, if one did): tell the client, then
    /// leave the server clean.
    async fn finish_with(&mut self, error: Option<PgError>) {
        if let Some(e) = error {
            tracing::debug!(session = self.id, error = %e.message, "session ended with an error");
            let mut out = BytesMut::new();
            backend::error_response(&e, &mut out);
            let _ = self.client.send(&out).await;
        }
        self.finish().await;
    }
}

/// The server went away while a message waited for it.
fn lost_meanwhile() -> PgError {
    PgError::error(
        sqlstate::CONNECTION_FAILURE,
        "pgward: upstream connection lost",
    )
}

fn io_lost(e: std::io::Error) -> PgError {
    PgError::fatal(
        sqlstate::CONNECTION_FAILURE,
        format!("client connection lost: {e}"),
    )
}
