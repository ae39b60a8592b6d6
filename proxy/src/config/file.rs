//! The TOML file as written (serde types, unknown keys refused) and its validation into
//! [`Config`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pgward_policy::PolicyConfig;
use serde::Deserialize;

use super::duration::{parse_duration, serde_opt};
use super::secret::SecretSource;
use super::*;
use crate::tls::{ClientTlsMode, UpstreamTlsMode};

mod accounts;
mod masking;
mod sections;

use pgward_policy::DEFAULT_MAX_STATEMENT_BYTES;
use sections::{LimitsFile, PeersFile, Problems};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    listen: ListenFile,
    upstream: UpstreamFile,
    #[serde(default)]
    logins: BTreeMap<String, LoginFile>,
    #[serde(default)]
    pool: PoolFile,
    #[serde(default)]
    roles: BTreeMap<String, RoleFile>,
    #[serde(default)]
    users: BTreeMap<String, UserFile>,
    #[serde(default)]
    masking: Option<masking::MaskingFile>,
    #[serde(default)]
    audit: AuditFile,
    #[serde(default)]
    admin: AdminFile,
    #[serde(default)]
    functions: FunctionsFile,
    #[serde(default)]
    peers: Option<PeersFile>,
    #[serde(default)]
    limits: LimitsFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenFile {
    #[serde(default = "default_listen")]
    address: String,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    client_tls: Option<ClientTlsMode>,
    #[serde(default = "default_max_clients")]
    max_client_connections: usize,
    #[serde(default, with = "serde_opt")]
    startup_timeout: Option<Duration>,
    #[serde(default, with = "serde_opt")]
    shutdown_grace: Option<Duration>,
    #[serde(default = "default_large_message_memory")]
    large_message_memory_mib: usize,
    #[serde(default = "default_kept_statement_memory")]
    kept_statement_memory_mib: usize,
}

impl Default for ListenFile {
    fn default() -> Self {
        ListenFile {
            address: default_listen(),
            tls_cert: None,
            tls_key: None,
            client_tls: None,
            max_client_connections: default_max_clients(),
            startup_timeout: None,
            shutdown_grace: None,
            large_message_memory_mib: default_large_message_memory(),
            kept_statement_memory_mib: default_kept_statement_memory(),
        }
    }
}

fn default_large_message_memory() -> usize {
    crate::protocol::budget::DEFAULT_LIMIT_MIB
}

fn default_kept_statement_memory() -> usize {
    crate::protocol::budget::DEFAULT_KEPT_MIB
}

fn default_listen() -> String {
    "127.0.0.1:6432".into()
}
fn default_max_clients() -> usize {
    10_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamFile {
    #[serde(default = "default_host")]
    host: String,
    #[serde(default = "default_port")]
    port: u16,
    #[serde(default = "default_upstream_tls")]
    tls: UpstreamTlsMode,
    tls_ca: Option<PathBuf>,
    connect_timeout: Option<String>,
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    5432
}
fn default_upstream_tls() -> UpstreamTlsMode {
    UpstreamTlsMode::Prefer
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginFile {
    user: String,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolFile {
    #[serde(default = "default_pool_mode")]
    mode: PoolMode,
    #[serde(default = "default_pool_size")]
    size: usize,
    checkout_timeout: Option<String>,
    idle_timeout: Option<String>,
    lifetime: Option<String>,
    #[serde(default = "default_max_prepared_statements")]
    max_prepared_statements: usize,
    #[serde(default = "default_on_session_state")]
    on_session_state: SessionStatePolicy,
}

impl Default for PoolFile {
    fn default() -> Self {
        PoolFile {
            mode: default_pool_mode(),
            size: default_pool_size(),
            checkout_timeout: None,
            idle_timeout: None,
            lifetime: None,
            max_prepared_statements: default_max_prepared_statements(),
            on_session_state: default_on_session_state(),
        }
    }
}

fn default_max_prepared_statements() -> usize {
    200
}
fn default_on_session_state() -> SessionStatePolicy {
    SessionStatePolicy::Pin
}

fn default_pool_mode() -> PoolMode {
    PoolMode::Transaction
}
fn default_pool_size() -> usize {
    20
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum AccessFile {
    ReadOnly,
    ReadWrite,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    login: String,
    access: Option<AccessFile>,
    #[serde(default, with = "serde_opt")]
    statement_timeout: Option<Duration>,
    #[serde(default, with = "serde_opt")]
    idle_in_transaction_timeout: Option<Duration>,
    #[serde(default)]
    max_result_rows: u64,
    #[serde(default)]
    unmasked: bool,
    #[serde(default)]
    require_where: Option<bool>,
    #[serde(default)]
    max_affected_rows: u64,
    #[serde(default)]
    allow_ddl: bool,
    #[serde(default)]
    allow_set_role: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    role: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFile {
    file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminFile {
    #[serde(default)]
    users: Vec<String>,
    metrics: Option<String>,
}

/// `[functions]`: extend the built-in lists of the policy engine.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionsFile {
    #[serde(default)]
    safe: Vec<String>,
    #[serde(default)]
    denied: Vec<String>,
}

fn duration_key(
    key: &str,
    value: &Option<String>,
    default: Option<Duration>,
) -> Result<Option<Duration>, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => parse_duration(text).map_err(|m| invalid(key, m)),
    }
}

impl ConfigFile {
    pub fn validate(self, secrets: Secrets) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        let mut problems = Problems::default();
        let listen = self.listen.validate(&mut problems, &mut warnings);
        let upstream = problems.ok(self.upstream.validate());

        let mut logins = BTreeMap::new();
        for (name, l) in self.logins {
            let key = format!("logins.{name}");
            if l.user.is_empty() {
                problems.push(invalid(format!("{key}.user"), "must not be empty"));
            }
            let source = SecretSource {
                password: l.password,
                password_env: l.password_env,
                password_file: l.password_file,
            };
            let password = match source.resolve(&key, &mut warnings) {
                Ok(p) => p,
                Err(e) if secrets == Secrets::Optional => {
                    warnings.push(format!("{e} (not needed here)"));
                    None
                }
                Err(e) => {
                    problems.push(e);
                    None
                }
            };
            logins.insert(
                name.clone(),
                Login {
                    name,
                    user: l.user,
                    password,
                },
            );
        }

        let p = self.pool;
        if p.size == 0 {
            problems.push(invalid("pool.size", "must be at least 1"));
        }
        let pool = PoolSettings {
            mode: p.mode,
            size: p.size.max(1),
            checkout_timeout: problems
                .ok(duration_key(
                    "pool.checkout_timeout",
                    &p.checkout_timeout,
                    Some(Duration::from_secs(5)),
                ))
                .flatten(),
            idle_timeout: problems
                .ok(duration_key(
                    "pool.idle_timeout",
                    &p.idle_timeout,
                    Some(Duration::from_secs(600)),
                ))
                .flatten(),
            lifetime: problems
                .ok(duration_key(
                    "pool.lifetime",
                    &p.lifetime,
                    Some(Duration::from_secs(3600)),
                ))
                .flatten(),
            max_prepared_statements: p.max_prepared_statements,
            on_session_state: p.on_session_state,
        };

        let roles = accounts::roles(self.roles, &logins, &mut problems, &mut warnings);
        let used: std::collections::BTreeSet<&str> =
            roles.values().map(|r| r.login.as_str()).collect();
        for name in logins.keys() {
            if !used.contains(name.as_str()) {
                warnings.push(format!("logins.{name} is not used by any role"));
            }
        }

        let users = accounts::users(self.users, &roles, secrets, &mut problems, &mut warnings);

        let audit = AuditSettings {
            file: self.audit.file,
        };
        let metrics = match self.admin.metrics {
            None => None,
            Some(a) => problems.ok(a
                .parse::<SocketAddr>()
                .map_err(|e| invalid("admin.metrics", format!("{a:?}: {e}")))),
        };
        for u in &self.admin.users {
            if !users.contains_key(u) && secrets == Secrets::Required {
                problems.push(invalid("admin.users", format!("no [users.{u}] table")));
            }
        }
        let peers = self
            .peers
            .map(|p| p.validate(&mut problems, &mut warnings))
            .unwrap_or_default();
        let masking = self.masking.and_then(|m| problems.ok(m.validate()));
        if masking.as_ref().is_some_and(|m| m.is_empty()) {
            warnings.push("[masking] names no column: nothing is masked".to_string());
        }
        match (listen, upstream) {
            (Some(listen), Some(upstream)) if problems.0.is_empty() => Ok(Config {
                listen,
                upstream,
                logins,
                pool,
                roles,
                users,
                audit,
                admin: AdminSettings {
                    users: self.admin.users,
                    metrics,
                },
                peers,
                policy: PolicyConfig {
                    safe_functions: self.functions.safe,
                    denied_functions: self.functions.denied,
                    max_statement_bytes: self
                        .limits
                        .max_statement_bytes
                        .unwrap_or(DEFAULT_MAX_STATEMENT_BYTES),
                    masking,
                },
                warnings,
            }),
            _ => Err(ConfigError::from_many(problems.0)),
        }
    }
}
