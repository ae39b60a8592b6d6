//! The vocabulary shared with the proxy: roles' rules, session facts, decisions.
//!
//! These types are the contract between `policy` and `proxy`; the proxy builds `RoleRules` from
//! its config and reads `Decision`s. Extend freely, rename with care.

use std::sync::Arc;

/// What a role may do to data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Access {
    /// Reads only; the default for a role that does not say.
    #[default]
    ReadOnly,
    ReadWrite,
}

/// The limits of one role, as configured under `[roles.NAME]`.
#[derive(Clone, Debug, Default)]
pub struct RoleRules {
    pub name: String,
    pub access: Access,
    /// UPDATE/DELETE/MERGE must have a WHERE (or ON) that filters rows of the target.
    pub require_where: bool,
    /// DDL and TRUNCATE allowed (read-write roles only).
    pub allow_ddl: bool,
    /// The role's statement_timeout in milliseconds; `None` = no limit. A client may lower it
    /// with SET but never raise it above this or turn it off (0).
    pub statement_timeout_ms: Option<u64>,
    /// 0 = unlimited. Enforced by the relay; here for completeness of the facts.
    pub max_result_rows: u64,
    /// 0 = unlimited. Enforced by the relay.
    pub max_affected_rows: u64,
    /// Sees PII in clear.
    pub unmasked: bool,
    /// May change the session's identity: `SET ROLE`, `SET SESSION AUTHORIZATION` and their
    /// `RESET`s (and the same through `set_config('role' | 'session_authorization', ...)`).
    pub allow_set_role: bool,
    /// The user name of the role's upstream login (empty: unknown): the session's current
    /// user, whose schema `$user` in search_path names (unless the role may SET ROLE, when
    /// pgward cannot tell who the current user is).
    pub upstream_user: String,
}

/// Engine-wide settings that come from the config file (not per role).
#[derive(Clone, Debug, Default)]
pub struct PolicyConfig {
    /// Extra functions a read-only role may call, schema-qualified (`public.my_report`).
    pub safe_functions: Vec<String>,
    /// Extra functions refused for read-only roles, schema-qualified.
    pub denied_functions: Vec<String>,
    /// Longest statement text analyzed (`[limits] max_statement_bytes`); 0 = 1 MiB.
    pub max_statement_bytes: usize,
    /// `[masking]`, validated (`None`: no column is PII).
    pub masking: Option<crate::mask::MaskConfig>,
}

/// What the proxy knows about the session a statement arrives in.
#[derive(Clone, Copy, Debug)]
pub struct SessionFacts<'a> {
    pub role: &'a RoleRules,
    /// Schemas, folded as PostgreSQL folds them, in search order (pg_catalog implied first
    /// unless listed).
    pub search_path: &'a [String],
    /// A transaction block is open (ReadyForQuery said 'T' or 'E').
    pub in_transaction: bool,
}

pub use crate::denial::{Denial, SQLSTATE_DENIED, SQLSTATE_SYNTAX_ERROR, SQLSTATE_TOO_COMPLEX};

/// The top-level kind of one statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    CopyTo,
    CopyFrom,
    Ddl,
    Truncate,
    Transaction,
    Set,
    Reset,
    Show,
    Explain,
    Prepare,
    Execute,
    Deallocate,
    Listen,
    Unlisten,
    Notify,
    Declare,
    Fetch,
    ClosePortal,
    Discard,
    Lock,
    Maintenance,
    Grant,
    Call,
    Do,
    Other,
}

/// A change a statement makes to session state that outlives its transaction (the proxy must
/// not hand such a server connection to another client without resetting it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionChange {
    /// `SET search_path ...`: the new path, folded.
    SearchPath(Vec<String>),
    /// `RESET search_path` / `SET search_path TO DEFAULT`.
    SearchPathDefault,
    /// A change to the search_path the text does not fully show: `SET LOCAL search_path`
    /// (`SET LOCAL SCHEMA`), `set_config('search_path', ..., true)`, or `set_config` of a
    /// setting named by no literal. The proxy reads the path back after the statement and
    /// again when its transaction ends.
    SearchPathUnknown,
    /// Any other SET/RESET, PREPARE, LISTEN, DECLARE ... WITH HOLD, temp objects, ...
    Other,
}

/// What one allowed statement does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementInfo {
    pub kind: StatementKind,
    /// Writes data (INSERT/UPDATE/DELETE/MERGE/COPY FROM, writable CTE, SELECT INTO, ...).
    pub writes: bool,
    pub session_change: Option<SessionChange>,
    /// What it does to state that lives on the server connection (cursors, prepared
    /// statements, channels, temporary objects, settings).
    pub state: SessionState,
    /// It runs code that may change rows without a count of its own: a volatile user
    /// function called or reached (through a view, an operator, a domain), or one pgward
    /// cannot resolve. `max_affected_rows` cannot count such a statement.
    pub code_may_write: bool,
}

/// A statement's effect on state that lives on its server connection, as PostgreSQL's tree
/// says: what transaction pooling must carry to the client's next server, or pin it for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionState {
    /// The name it acts on: a cursor (DECLARE/FETCH/MOVE/CLOSE), a prepared statement
    /// (PREPARE/EXECUTE/DEALLOCATE) or a channel (LISTEN/UNLISTEN); `None` for ALL or `*`.
    pub name: Option<String>,
    /// It may leave state that cannot move to another server: a temporary object, a LISTEN,
    /// a WITH HOLD cursor, an SQL prepared statement, a session advisory lock, or user code
    /// (DO, CALL) that may do any of these.
    pub may_pin: bool,
    /// DECLARE ... WITH HOLD: the cursor outlives its transaction.
    pub hold: bool,
    /// DEALLOCATE ALL, DISCARD ALL: every prepared statement on the server is gone.
    pub drops_statements: bool,
    /// DISCARD ALL/TEMP: temporary objects (and for ALL, the rest) are gone.
    pub releases: bool,
    /// Session-level settings may change (SET, RESET, set_config(..., false), SET SESSION
    /// CHARACTERISTICS, DISCARD ALL, or user code that may SET: DO, CALL, a function no
    /// built-in list names).
    pub settings: bool,
    /// The names of the custom (dotted, `app.tenant`) settings it sets or resets at session
    /// level, lower-cased: PostgreSQL lists none of them in pg_settings, so transaction
    /// pooling reads them back by name.
    pub custom_settings: Vec<String>,
    /// A session-level `set_config` whose name is not a literal: which setting it changes
    /// (a custom one, the identity) only the server knows.
    pub opaque_settings: bool,
    /// Databases no other session may be connected to for it to run (CREATE DATABASE's
    /// template, DROP DATABASE's target): pgward closes its idle connections to them first.
    pub databases: Vec<String>,
    /// It reads the session's sequence state (`currval`, `lastval`): what earlier `nextval`
    /// calls on this server connection left.
    pub reads_sequences: bool,
    /// It may change that state: it calls a function (`nextval`, or user code that may), or
    /// writes or runs rows whose defaults or triggers may. Only a plain read of rows and
    /// statements that run nothing are known not to.
    pub may_set_sequences: bool,
    /// It runs code whose effects on the session its text does not show: DO, CALL, SQL
    /// EXECUTE, a user function called or reached through a view, operator or domain, or a
    /// built-in that changes session state reached that way (`set_config` in a view),
    /// `setseed`. Transaction pooling reads the settings back, checks for state that pins,
    /// and resets the server before another client has it.
    pub user_code: bool,
    /// Settings it returns to their default (RESET, SET ... TO DEFAULT, SET LOCAL ... TO
    /// DEFAULT), lower-cased; `*` for RESET ALL and DISCARD ALL. PostgreSQL reports the
    /// server connection's own default for them, which pgward shows the client as its own.
    pub resets: Vec<String>,
    /// Settings it sets to a value by name (SET, SET LOCAL, `set_config` with a literal
    /// name), lower-cased.
    pub sets: Vec<String>,
    /// It may create an object that lands in the temporary schema without saying so (a
    /// CREATE under a search_path that starts with pg_temp, `SELECT INTO`, EXPLAIN ANALYZE
    /// of a CREATE TABLE AS): pgward asks the server afterwards whether state now pins.
    pub check_after: bool,
    /// The prepared statement it runs or removes by name: `EXECUTE`, `EXPLAIN EXECUTE`,
    /// `CREATE TABLE AS EXECUTE`, `DEALLOCATE` (not `DEALLOCATE ALL`).
    pub statement_used: Option<String>,
    /// The backends it cancels or terminates (`pg_cancel_backend`, `pg_terminate_backend`)
    /// by pid; `None` for a pid that is not a literal.
    pub signals: Vec<Option<i32>>,
    /// It names a relation the catalog snapshot does not have (none loaded, or it was
    /// created since): what reading or writing it runs is unknown.
    pub unseen_relations: bool,
}

/// Allowed, or denied with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny(Denial),
}

/// The answer for one SQL string (possibly several statements).
#[derive(Clone, Debug)]
pub struct Decision {
    pub verdict: Verdict,
    /// Hash of the normalized text; equal for texts that differ only in literal values.
    pub fingerprint: u64,
    /// The SQL with every literal replaced by a placeholder (`$1`, ...): what audit writes.
    /// Never contains a value from the query text.
    pub normalized: Arc<str>,
    /// One entry per statement, in order (empty when the text could not be analyzed).
    pub statements: Vec<StatementInfo>,
    /// For a masked role: the mask plan of every statement, in order (`None`: results pass
    /// in clear).
    pub mask: Option<Arc<crate::mask::DecisionMask>>,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self.verdict, Verdict::Allow)
    }
    pub fn denial(&self) -> Option<&Denial> {
        match &self.verdict {
            Verdict::Deny(d) => Some(d),
            Verdict::Allow => None,
        }
    }

    /// Whether running this text may change what the catalog snapshot holds (DDL, SELECT
    /// INTO, and DO/CALL, whose bodies may run DDL): once it has run, the proxy should
    /// reload the snapshot rather than wait for the periodic refresh.
    pub fn changes_catalog(&self) -> bool {
        self.is_allowed()
            && self.statements.iter().any(|s| match s.kind {
                StatementKind::Ddl | StatementKind::Do | StatementKind::Call => true,
                StatementKind::Select => s.writes,
                _ => false,
            })
    }
}

/// What to do with one startup parameter (from the startup packet or from `options`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartupParamVerdict {
    /// Harmless: pass it upstream as it is.
    Pass,
    /// Kept as a session fact by the proxy (search_path), and passed upstream.
    SessionFact,
    /// Refused at startup.
    Refuse(Denial),
}
