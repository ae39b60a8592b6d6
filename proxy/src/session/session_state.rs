//! Session state in transaction mode: what each statement does to the state its server
//! holds, carried with the client where it can be (settings, cursors, statements) and
//! pinning the client to its server where it cannot (temporary objects, LISTEN, WITH HOLD
//! cursors, SQL prepared statements, session advisory locks). The server itself says, once
//! idle, which settings are in force and whether such state remains: pgward asks instead of
//! guessing what a statement (or the user code it ran) did.

use pgward_policy::{SessionChange, StatementKind};

use super::PathCheck;
use super::*;
use crate::config::SessionStatePolicy;

/// State that cannot move to another server, one count per kind (the identity column is
/// appended by [`state_sql`]).
const STATE_SQL: &str = "SELECT \
     (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()) \
       OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()) \
       OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()) \
       OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_statistic_ext WHERE stxnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()) \
       OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()) \
       OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()) \
       OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()) \
       OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_config WHERE cfgnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()) \
       OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_dict WHERE dictnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()) \
       OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_opfamily WHERE opfnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()), \
     (SELECT pg_catalog.count(*) FROM pg_catalog.pg_listening_channels()), \
     (SELECT pg_catalog.count(*) FROM pg_catalog.pg_cursors WHERE is_holdable), \
     (SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statements WHERE from_sql), \
     (SELECT pg_catalog.count(*) FROM pg_catalog.pg_locks WHERE locktype OPERATOR(pg_catalog.=) 'advisory' \
        AND pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()), ";

/// The pin check for a server that logged in as `login`: besides [`STATE_SQL`]'s counts, an
/// identity changed by SET ROLE or SET SESSION AUTHORIZATION. Neither shows in pg_settings,
/// so neither could be carried to another server: the client keeps this one until it is
/// back to the login's identity.
pub fn state_sql(login: Option<&str>) -> String {
    let identity = match login {
        Some(login) => format!(
            "(pg_catalog.current_setting('role') OPERATOR(pg_catalog.<>) 'none' OR session_user OPERATOR(pg_catalog.<>) {})::int",
            crate::server_state::literal(login)
        ),
        None => "(pg_catalog.current_setting('role') OPERATOR(pg_catalog.<>) 'none')::int".to_string(),
    };
    // Last, the names SQL PREPARE made (not a pin reason of its own: counted above).
    format!(
        "{STATE_SQL}{identity}, (SELECT pg_catalog.json_agg(name) FROM pg_catalog.pg_prepared_statements \
         WHERE from_sql)::text"
    )
}

/// The names in [`state_sql`]'s last column (a JSON array, or NULL for none).
pub fn sql_prepared_names(row: &[Option<String>]) -> Vec<Box<str>> {
    row.get(STATE_KINDS.len())
        .and_then(|c| c.as_deref())
        .and_then(|json| serde_json::from_str::<Vec<String>>(json).ok())
        .map(|names| names.into_iter().map(Box::from).collect())
        .unwrap_or_default()
}

/// The pin reason for each column of [`state_sql`].
const STATE_KINDS: [&str; 6] = [
    "temporary objects",
    "LISTEN",
    "WITH HOLD cursor",
    "SQL prepared statement",
    "session advisory lock",
    "SET ROLE or SESSION AUTHORIZATION",
];

/// What [`STATE_SQL`]'s row says pins the client, if anything.
pub fn pin_reason(row: &[Option<String>]) -> Option<&'static str> {
    row.iter()
        .zip(STATE_KINDS)
        .find(|(count, _)| count.as_deref().is_some_and(|c| c != "0"))
        .map(|(_, kind)| kind)
}

pub use crate::client_text::canonical_encoding;

impl Session {
    /// What an allowed statement does to session state, as it starts to run.
    pub(super) fn note_session_state(
        &mut self,
        decision: &Arc<Decision>,
        origin: Option<PrepareOrigin<'_>>,
    ) {
        self.unit.catalog |= decision.changes_catalog();
        for (at, st) in decision.statements.iter().enumerate() {
            let state = &st.state;
            self.unit.note(state);
            if state.drops_statements {
                self.name_may_change(None);
            } else if st.kind == StatementKind::Deallocate {
                self.name_may_change(state.name.as_deref());
            }
            // User code may SET search_path too: judge with what the server has after it.
            if state.user_code && !state.unseen_relations && self.path_check == PathCheck::No {
                self.path_check = PathCheck::AfterCode;
            }
            if state.user_code {
                if let Some(s) = self.server.as_mut() {
                    // What it left cannot all be listed (custom settings; the seed, which
                    // survives DISCARD ALL): reset and reseeded before another client.
                    s.server.reseed = true;
                    s.server.dirty = true;
                }
            }
            for name in &state.custom_settings {
                if !self.custom_settings.contains(name) {
                    self.custom_settings.push(name.clone());
                }
            }
            // A custom name SET LOCAL, reset or set in a block that rolls back stays defined
            // in the session (empty): read back once, it follows the client as such.
            for name in state.sets.iter().chain(&state.resets) {
                if name.contains('.') && !self.custom_settings.contains(name) {
                    self.custom_settings.push(name.clone());
                    self.unit.settings = true;
                }
            }
            match st.kind {
                StatementKind::Declare => self.cursor_declare_sent(decision, at, origin),
                StatementKind::ClosePortal => {
                    self.prepared.close_cursor(state.name.as_deref());
                    if let Some(r) = self.masking.records() {
                        r.forget_cursor(state.name.as_deref());
                    }
                    let batch = self.sync.syncs_sent + 1;
                    self.row_counter.close_sent(state.name.as_deref(), batch);
                }
                StatementKind::Prepare => {
                    if let Some(name) = &state.name {
                        let own = origin.and_then(|o| statement_at(o.text, at, decision));
                        let snapshot = origin.map(|o| o.snapshot);
                        let path = &self.search_path;
                        if let Some(seq) = self.prepared.sql_prepared(name, path, own, snapshot) {
                            self.sql_effect_sent(b"PREPARE", Some(name), seq);
                        }
                    }
                }
                StatementKind::Deallocate => {
                    let tag: &'static [u8] = match state.name {
                        Some(_) => b"DEALLOCATE",
                        None => b"DEALLOCATE ALL",
                    };
                    let upto = self.prepared.sql_seq();
                    self.sql_effect_sent(tag, state.name.as_deref(), upto);
                    if let Some(r) = self.masking.records() {
                        r.forget_prepared(state.name.as_deref());
                    }
                    match &state.name {
                        Some(name) => self.prepared.drop_statement(name),
                        None => {
                            self.prepared.forget_named();
                            self.server_statements_dropped();
                        }
                    }
                }
                StatementKind::Discard if state.drops_statements => {
                    let upto = self.prepared.sql_seq();
                    self.sql_effect_sent(b"DISCARD ALL", None, upto);
                    if let Some(r) = self.masking.records() {
                        r.forget_prepared(None);
                        r.forget_cursor(None);
                    }
                    self.prepared.forget_named();
                    self.server_statements_dropped();
                }
                _ => {}
            }
        }
    }

    /// `[pool] on_session_state = "refuse"`: in transaction mode, a statement that would
    /// leave state pinning the client is refused before it runs.
    pub(super) fn session_state_refusal(&self, decision: &Decision) -> Option<PgError> {
        if self.mode != PoolMode::Transaction || self.on_session_state != SessionStatePolicy::Refuse
        {
            return None;
        }
        // User code (DO, CALL) is checked once it ran, not refused for what it might do.
        let st = decision.statements.iter().find(|s| {
            s.state.may_pin && !matches!(s.kind, StatementKind::Do | StatementKind::Call)
        })?;
        Some(
            PgError::error(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!(
                    "pgward: {:?} would leave session state on a pooled server connection",
                    st.kind
                ),
            )
            .with_detail("rule: pool.on_session_state = refuse")
            .with_hint("use session pooling for temporary tables, LISTEN, WITH HOLD cursors, SQL PREPARE and session advisory locks"),
        )
    }

    /// The server is idle after a unit (transaction mode): carry the settings it changed with
    /// the client, and keep the server if state remains that cannot follow. True when the
    /// client keeps its server.
    pub(super) async fn settle_unit(&mut self) -> bool {
        let unit = std::mem::take(&mut self.unit);
        if unit.settings {
            self.read_back_settings().await;
        }
        if unit.leaves_unlisted_state() {
            // Unknown: it may be the identity (the pin check sees that) or a custom setting
            // nobody can list, which must not reach the next client.
            if let Some(s) = self.server.as_mut() {
                s.server.dirty = true;
            }
        }
        if self.mode == PoolMode::Transaction && (unit.needs_pin_check() || self.pinned.is_some()) {
            self.check_pin().await;
        }
        if unit.settings {
            // After the pin check: a client pinned by this very unit keeps its server, which
            // no checkout's sync will bring back to the client's startup values.
            self.restore_startup_values().await;
            self.judge_with_desired_path();
            self.report_restored(&unit.resets);
        }
        self.settle_sequence_state(unit.sets_sequences);
        self.forward_held_notifications();
        self.pinned.is_some()
    }

    /// Notifications that arrived while pgward ran its own statements on the client's server.
    pub(super) fn forward_held_notifications(&mut self) {
        let Some(s) = self.server.as_mut() else {
            return;
        };
        if s.server.held_notifications.is_empty() {
            return;
        }
        for n in std::mem::take(&mut s.server.held_notifications) {
            self.client.queue(&n);
        }
    }

    async fn check_pin(&mut self) {
        let Some(s) = self.server.as_mut() else {
            return;
        };
        let login = s
            .server
            .settings
            .initial
            .get("session_authorization")
            .cloned();
        let reason = match s.server.query_rows(&state_sql(login.as_deref())).await {
            Ok(rows) => {
                s.server.sql_prepared = rows.first().map_or(Vec::new(), |r| sql_prepared_names(r));
                rows.first().and_then(|r| pin_reason(r))
            }
            Err(e) => {
                tracing::warn!(session = self.id, error = %e, "could not check the session's state");
                s.server.dirty = true;
                None
            }
        };
        if reason.is_some() {
            // Whatever happens next, this server is reset before another client has it.
            s.server.dirty = true;
        }
        if reason != self.pinned {
            match reason {
                Some(r) => {
                    tracing::info!(session = self.id, reason = r, "client pinned to its server")
                }
                None => tracing::info!(session = self.id, "client no longer pinned"),
            }
            if let Some(entry) = crate::clients::current() {
                entry.set_pin(reason);
            }
            self.pinned = reason;
        }
    }
}

impl Session {
    /// Session state a statement changes: the search_path we judge with, and whether the
    /// server needs a reset before another client may have it.
    pub(super) fn apply_effects(
        &mut self,
        decision: &Arc<Decision>,
        origin: Option<PrepareOrigin<'_>>,
    ) {
        self.note_session_state(decision, origin);
        for st in &decision.statements {
            self.path_effect(st);
        }
    }

    /// What one statement does to the search_path, as it runs.
    pub(super) fn path_effect(&mut self, st: &pgward_policy::StatementInfo) {
        // DISCARD ALL resets the search_path with every other setting.
        let discards_all = st.kind == StatementKind::Discard && st.state.drops_statements;
        let change = match &st.session_change {
            _ if discards_all => Some(&SessionChange::SearchPathDefault),
            other => other.as_ref(),
        };
        match change {
            Some(SessionChange::SearchPath(path)) => {
                self.judge_under_path(path.clone());
                // It may fail or be rolled back: ask the server once the unit is done.
                self.path_check = PathCheck::AfterUnit;
                self.set_desired("search_path", &read_back::path_setting(path));
            }
            Some(SessionChange::SearchPathDefault) => {
                self.path_check = PathCheck::AfterUnit;
                self.judge_under_path(self.default_path.path.clone());
                self.desired.retain(|(k, _)| k != "search_path");
            }
            // Not all of it shows in the text (SET LOCAL, set_config): ask the server.
            Some(SessionChange::SearchPathUnknown) => {
                self.recent.clear();
                self.path_check = match self.sync.unsynced {
                    true => PathCheck::UnknownInBatch,
                    false => PathCheck::AfterUnit,
                };
            }
            // Transaction mode asks the server what is left once it is idle
            // (`session_state.rs`); session mode resets the server when the client leaves.
            Some(SessionChange::Other) | None => {}
        }
    }

    /// CREATE DATABASE (its template) and DROP DATABASE need no other session on the
    /// database: pgward's own idle connections to it are closed first (PostgreSQL waits a
    /// few seconds for backends that are exiting).
    pub(super) async fn free_databases(&mut self, decision: &Decision) {
        for st in &decision.statements {
            for db in &st.state.databases {
                let idle = self.shared.pools.take_idle_to(db);
                if !idle.is_empty() {
                    tracing::info!(
                        session = self.id,
                        closed = idle.len(),
                        "closing idle server connections to a database a statement needs free"
                    );
                }
                for server in idle {
                    server.terminate().await;
                }
            }
        }
    }

    pub(super) fn set_desired(&mut self, name: &str, value: &str) {
        let lower = name.to_ascii_lowercase();
        if lower == "application_name" {
            self.application_name = Arc::from(value);
        }
        match self.desired.iter_mut().find(|(k, _)| *k == lower) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.desired.push((lower, value.to_string())),
        }
    }
}

#[cfg(test)]
#[path = "session_state_tests.rs"]
mod tests;

/// The text a decision was judged from and the policy snapshot it was judged under: what an
/// SQL `PREPARE` or `DECLARE` in it keeps, to be judged again after a reload
/// (`sql_prepared.rs`, `rejudge_portals.rs`).
#[derive(Clone, Copy)]
pub(super) struct PrepareOrigin<'a> {
    pub text: &'a str,
    pub snapshot: u64,
    /// An Execute: the portal it runs and the search_path that portal was bound under.
    pub portal: Option<(&'a str, &'a Arc<[String]>)>,
}

/// The text of statement `at` of `decision`, judged from `text`: the whole text when it is
/// the only one, else its piece as PostgreSQL splits the string (`None` when the pieces do
/// not match the statements one to one).
pub(super) fn statement_at(text: &str, at: usize, decision: &Decision) -> Option<Arc<str>> {
    if decision.statements.len() == 1 {
        return Some(Arc::from(text));
    }
    let pieces = pgward_policy::split_statements(text)?;
    (pieces.len() == decision.statements.len())
        .then(|| pieces.into_iter().nth(at).map(Arc::from))
        .flatten()
}
