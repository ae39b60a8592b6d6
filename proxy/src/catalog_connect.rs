//! The connection pgward reads a database's catalog over: read-only, its own settings, and
//! under whichever configured login can connect. A login whose password is wrong or whose
//! role is gone must not leave every other login judged without a catalog, so the logins
//! that pools already use for that database come first, then the rest of the configuration.

use crate::catalog::CatalogError;
use crate::config::{Config, Login};
use crate::server::{ConnectSpec, ServerConnection, ServerError};

/// Connects to `database` for a catalog read, trying the logins of `in_use` (login names of
/// live pools on that database) first, then every other configured login, until one gets in.
pub async fn connect(
    config: &Config,
    database: &str,
    in_use: &[String],
) -> Result<ServerConnection, CatalogError> {
    let mut last = CatalogError::NoLogin;
    for login in logins_in_order(config, in_use) {
        match ServerConnection::connect(&spec(config, login, database)).await {
            Ok(server) => return Ok(server),
            Err(e) => {
                let this_login_only =
                    matches!(e, ServerError::Auth(_) | ServerError::Refused { .. });
                tracing::debug!(database = %database, login = %login.name, error = %e, "catalog connection refused to this login");
                last = e.into();
                if !this_login_only {
                    // The upstream itself is unreachable: another login fares no better.
                    break;
                }
            }
        }
    }
    Err(last)
}

/// The configured logins, those named in `in_use` first (each once).
fn logins_in_order<'a>(config: &'a Config, in_use: &[String]) -> Vec<&'a Login> {
    let used = config.logins.values().filter(|l| in_use.contains(&l.name));
    let rest = config.logins.values().filter(|l| !in_use.contains(&l.name));
    used.chain(rest).collect()
}

fn spec(config: &Config, login: &Login, database: &str) -> ConnectSpec {
    ConnectSpec {
        host: config.upstream.host.clone(),
        port: config.upstream.port,
        tls_mode: config.upstream.tls_mode,
        tls: config.upstream.tls.clone(),
        connect_timeout: config.upstream.connect_timeout,
        user: login.user.clone(),
        password: login.password.clone(),
        database: database.to_string(),
        params: vec![
            (
                "options".into(),
                // View definitions are read back as text and parsed with the setting on.
                "-c default_transaction_read_only=on -c statement_timeout=30000 \
                 -c standard_conforming_strings=on"
                    .into(),
            ),
            ("client_encoding".into(), "UTF8".into()),
            ("application_name".into(), "pgward-catalog".into()),
        ],
    }
}
