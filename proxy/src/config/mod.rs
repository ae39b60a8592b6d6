//! The configuration file: serde types (`file`), validation into the immutable [`Config`] the
//! proxy runs on, duration strings and secrets.
//!
//! A `Config` is built whole and shared as `Arc<Config>`; a reload builds a new one and swaps it,
//! so a statement is always judged against one consistent snapshot.

pub mod duration;
mod file;
mod secret;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pgward_policy::{Access, PolicyConfig, RoleRules};

use crate::auth::scram::ScramVerifier;
use crate::tls::{ClientTlsMode, UpstreamTlsMode};

pub use file::ConfigFile;

/// A config problem, naming the key (and the line when the TOML parser knows it).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Syntax(String),
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// Several problems, all reported at once.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ConfigError>),
}

impl ConfigError {
    fn from_many(mut v: Vec<ConfigError>) -> ConfigError {
        if v.len() == 1 {
            if let Some(e) = v.pop() {
                return e;
            }
        }
        ConfigError::Many(v)
    }

    /// Each problem on its own.
    pub fn problems(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Many(v) => v.iter().collect(),
            e => vec![e],
        }
    }
}

/// Whether secrets must resolve: `run` and `check` need them; `explain` does not (missing
/// ones become warnings and unusable placeholders).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secrets {
    Required,
    Optional,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Pooling mode, as PgBouncer names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// A server connection is held for one transaction.
    Transaction,
    /// A server connection is held for the whole client session.
    Session,
}

#[derive(Clone, Debug)]
pub struct ListenSettings {
    pub address: SocketAddr,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub client_tls: ClientTlsMode,
    pub max_client_connections: usize,
    pub startup_timeout: Duration,
    /// How long in-flight transactions get after SIGTERM before clients get 57P01.
    pub shutdown_grace: Duration,
    /// Bytes all clients' messages still arriving may hold past 1 MiB each.
    pub large_message_memory: usize,
    /// Bytes all clients' kept named statements may hold past 1 MiB each.
    pub kept_statement_memory: usize,
}

#[derive(Clone, Debug)]
pub struct UpstreamSettings {
    pub host: String,
    pub port: u16,
    pub tls_mode: UpstreamTlsMode,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub connect_timeout: Option<Duration>,
}

/// Credentials pgward uses upstream.
#[derive(Clone)]
pub struct Login {
    pub name: String,
    pub user: String,
    pub password: Option<String>,
}

impl std::fmt::Debug for Login {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("name", &self.name)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub mode: PoolMode,
    pub size: usize,
    pub checkout_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub lifetime: Option<Duration>,
    /// Named statements kept per server connection in transaction mode (least recently used
    /// out); 0 turns statement replay off.
    pub max_prepared_statements: usize,
    /// What transaction mode does with session state that cannot follow a client.
    pub on_session_state: SessionStatePolicy,
}

/// `[pool] on_session_state`: temporary objects, session advisory locks, LISTEN, WITH HOLD
/// cursors and SQL prepared statements in transaction mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatePolicy {
    /// The client keeps its server until the state is gone or it leaves.
    Pin,
    /// Statements that would create such state are refused (0A000).
    Refuse,
}

/// A role: which login it uses upstream and its guardrails.
#[derive(Clone, Debug)]
pub struct Role {
    pub login: String,
    pub rules: Arc<RoleRules>,
    pub statement_timeout: Option<Duration>,
    pub idle_in_transaction_timeout: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct User {
    pub verifier: ScramVerifier,
    pub role: String,
}

#[derive(Clone, Debug, Default)]
pub struct AuditSettings {
    /// `None`: disabled; `Some("-")`: stdout.
    pub file: Option<PathBuf>,
}

/// `[peers]`: this instance's id and where the others listen.
#[derive(Clone, Debug, Default)]
pub struct PeersSettings {
    pub self_id: u8,
    pub reuse_port: bool,
    pub members: BTreeMap<u8, SocketAddr>,
}

#[derive(Clone, Debug, Default)]
pub struct AdminSettings {
    pub users: Vec<String>,
    pub metrics: Option<SocketAddr>,
}

/// The validated configuration the proxy runs on.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: ListenSettings,
    pub upstream: UpstreamSettings,
    pub logins: BTreeMap<String, Login>,
    pub pool: PoolSettings,
    pub roles: BTreeMap<String, Role>,
    pub users: BTreeMap<String, User>,
    pub audit: AuditSettings,
    pub admin: AdminSettings,
    pub peers: Option<PeersSettings>,
    pub policy: PolicyConfig,
    /// Problems that do not stop the proxy (inline secrets, ...), for the startup log.
    pub warnings: Vec<String>,
}

impl Config {
    /// Read, parse and validate a config file. Relative paths inside it (certificates, secret
    /// files, the audit file) are taken relative to the current directory, like psql does.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, Secrets::Required)
    }

    pub fn load_with(path: &Path, secrets: Secrets) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_with(&text, secrets)
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::from_toml_with(text, Secrets::Required)
    }

    pub fn from_toml_with(text: &str, secrets: Secrets) -> Result<Config, ConfigError> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        file.validate(secrets)
    }

    pub fn role_of(&self, user: &str) -> Option<(&User, &Role)> {
        let u = self.users.get(user)?;
        let r = self.roles.get(&u.role)?;
        Some((u, r))
    }
}

pub(crate) fn role_rules(name: &str, access: Option<Access>) -> RoleRules {
    RoleRules {
        name: name.to_string(),
        access: access.unwrap_or_default(),
        ..RoleRules::default()
    }
}

#[cfg(test)]
mod tests;
