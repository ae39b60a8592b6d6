//! The TOML file as written (serde types, unknown keys refused) and its validation into
//! [`Config`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pgward_policy::{Access, PolicyConfig};
use serde::Deserialize;

use super::duration::{parse_duration, serde_opt};
use super::secret::SecretSource;
use super::*;
use crate::auth::scram::{hash_password, ScramVerifier};
use crate::tls::{self, ClientTlsMode, UpstreamTlsMode};
use pgward_policy::DEFAULT_MAX_STATEMENT_BYTES;

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
    masking: Option<toml::Table>,
    #[serde(default)]
    audit: AuditFile,
    #[serde(default)]
    admin: AdminFile,
    #[serde(default)]
    functions: FunctionsFile,
    #[serde(default)]
    limits: LimitsFile,
}

/// `[limits]`: bounds on what the policy engine analyzes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    /// Longer statements are refused with 54001 before parsing; default 1 MiB.
    #[serde(default)]
    max_statement_bytes: Option<usize>,
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
        }
    }
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
}

impl Default for PoolFile {
    fn default() -> Self {
        PoolFile {
            mode: default_pool_mode(),
            size: default_pool_size(),
            checkout_timeout: None,
            idle_timeout: None,
            lifetime: None,
        }
    }
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
    pub fn validate(self) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        let listen = self.listen.validate()?;
        let upstream = self.upstream.validate()?;

        let mut logins = BTreeMap::new();
        for (name, l) in self.logins {
            let key = format!("logins.{name}");
            if l.user.is_empty() {
                return Err(invalid(format!("{key}.user"), "must not be empty"));
            }
            let source = SecretSource {
                password: l.password,
                password_env: l.password_env,
                password_file: l.password_file,
            };
            let password = source.resolve(&key, &mut warnings)?;
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
            return Err(invalid("pool.size", "must be at least 1"));
        }
        let pool = PoolSettings {
            mode: p.mode,
            size: p.size,
            checkout_timeout: duration_key(
                "pool.checkout_timeout",
                &p.checkout_timeout,
                Some(Duration::from_secs(5)),
            )?,
            idle_timeout: duration_key(
                "pool.idle_timeout",
                &p.idle_timeout,
                Some(Duration::from_secs(600)),
            )?,
            lifetime: duration_key(
                "pool.lifetime",
                &p.lifetime,
                Some(Duration::from_secs(3600)),
            )?,
        };

        let mut roles = BTreeMap::new();
        for (name, r) in self.roles {
            let key = format!("roles.{name}");
            if !logins.contains_key(&r.login) {
                return Err(invalid(
                    format!("{key}.login"),
                    format!("no [logins.{}] table", r.login),
                ));
            }
            let access = match r.access {
                None | Some(AccessFile::ReadOnly) => Access::ReadOnly,
                Some(AccessFile::ReadWrite) => Access::ReadWrite,
            };
            if access == Access::ReadOnly && (r.require_where.is_some() || r.allow_ddl) {
                warnings.push(format!(
                    "{key}: require_where/allow_ddl have no effect on a read-only role"
                ));
            }
            let mut rules = role_rules(&name, Some(access));
            rules.require_where = r.require_where.unwrap_or(true);
            rules.allow_ddl = r.allow_ddl && access == Access::ReadWrite;
            rules.statement_timeout_ms = r.statement_timeout.map(|d| d.as_millis() as u64);
            rules.max_result_rows = r.max_result_rows;
            rules.max_affected_rows = r.max_affected_rows;
            rules.unmasked = r.unmasked;
            roles.insert(
                name,
                Role {
                    login: r.login,
                    rules: Arc::new(rules),
                    statement_timeout: r.statement_timeout,
                    idle_in_transaction_timeout: r.idle_in_transaction_timeout,
                },
            );
        }

        let mut users = BTreeMap::new();
        for (name, u) in self.users {
            let key = format!("users.{name}");
            if !roles.contains_key(&u.role) {
                return Err(invalid(
                    format!("{key}.role"),
                    format!("no [roles.{}] table", u.role),
                ));
            }
            let source = SecretSource {
                password: u.password,
                password_env: u.password_env,
                password_file: u.password_file,
            };
            // The inline form is expected to be a verifier: no warning for that one.
            let mut ignored = Vec::new();
            let secret = source
                .resolve(&key, &mut ignored)?
                .ok_or_else(|| invalid(format!("{key}.password"), "a user needs a password"))?;
            let verifier = if secret.starts_with("SCRAM-SHA-256$") {
                ScramVerifier::parse(&secret)
                    .map_err(|e| invalid(format!("{key}.password"), e.to_string()))?
            } else {
                warnings.push(format!(
                    "{key}.password is not a SCRAM verifier; store `pgward passwd` output instead"
                ));
                ScramVerifier::parse(&hash_password(&secret))
                    .map_err(|e| invalid(format!("{key}.password"), e.to_string()))?
            };
            users.insert(
                name,
                User {
                    verifier,
                    role: u.role,
                },
            );
        }

        let audit = AuditSettings {
            file: self.audit.file,
        };
        let metrics = match self.admin.metrics {
            None => None,
            Some(a) => Some(
                a.parse::<SocketAddr>()
                    .map_err(|e| invalid("admin.metrics", format!("{a:?}: {e}")))?,
            ),
        };
        for u in &self.admin.users {
            if !users.contains_key(u) {
                return Err(invalid("admin.users", format!("no [users.{u}] table")));
            }
        }
        let _ = self.masking; // validated by the masking feature; accepted so configs stay forward-compatible
        Ok(Config {
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
            policy: PolicyConfig {
                safe_functions: self.functions.safe,
                denied_functions: self.functions.denied,
                max_statement_bytes: self
                    .limits
                    .max_statement_bytes
                    .unwrap_or(DEFAULT_MAX_STATEMENT_BYTES),
            },
            warnings,
        })
    }
}

impl ListenFile {
    fn validate(self) -> Result<ListenSettings, ConfigError> {
        let address = self
            .address
            .parse::<SocketAddr>()
            .map_err(|e| invalid("listen.address", format!("{:?}: {e}", self.address)))?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(
                tls::server_config(Path::new(cert), Path::new(key))
                    .map_err(|e| invalid("listen.tls_cert", e.to_string()))?,
            ),
            (None, None) => None,
            (Some(_), None) => return Err(invalid("listen.tls_key", "tls_cert needs tls_key")),
            (None, Some(_)) => return Err(invalid("listen.tls_cert", "tls_key needs tls_cert")),
        };
        let client_tls = self.client_tls.unwrap_or(if tls.is_some() {
            ClientTlsMode::Allow
        } else {
            ClientTlsMode::Disable
        });
        if client_tls == ClientTlsMode::Require && tls.is_none() {
            return Err(invalid(
                "listen.client_tls",
                "\"require\" needs tls_cert and tls_key",
            ));
        }
        if self.max_client_connections == 0 {
            return Err(invalid(
                "listen.max_client_connections",
                "must be at least 1",
            ));
        }
        Ok(ListenSettings {
            address,
            tls,
            client_tls,
            max_client_connections: self.max_client_connections,
            startup_timeout: self.startup_timeout.unwrap_or(Duration::from_secs(10)),
        })
    }
}

impl UpstreamFile {
    fn validate(self) -> Result<UpstreamSettings, ConfigError> {
        if self.host.is_empty() {
            return Err(invalid("upstream.host", "must not be empty"));
        }
        if self.tls_ca.is_some() && self.tls != UpstreamTlsMode::VerifyFull {
            return Err(invalid(
                "upstream.tls_ca",
                "only used with tls = \"verify-full\"",
            ));
        }
        let tls_config = tls::client_config(self.tls, self.tls_ca.as_deref())
            .map_err(|e| invalid("upstream.tls_ca", e.to_string()))?;
        Ok(UpstreamSettings {
            host: self.host,
            port: self.port,
            tls_mode: self.tls,
            tls: tls_config,
            connect_timeout: duration_key(
                "upstream.connect_timeout",
                &self.connect_timeout,
                Some(Duration::from_secs(5)),
            )?,
        })
    }
}
