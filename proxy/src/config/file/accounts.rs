//! Validation of the `[roles.*]` and `[users.*]` tables: each role's rules from its keys and
//! login, each user's SCRAM verifier from its secret.

use std::collections::BTreeMap;
use std::sync::Arc;

use pgward_policy::Access;

use super::super::{invalid, role_rules, Login, Role, Secrets, User};
use super::sections::Problems;
use super::{AccessFile, RoleFile, UserFile};
use crate::auth::scram::{hash_password, ScramVerifier};
use crate::config::secret::SecretSource;

/// The roles, with a problem for each that names a login the file lacks and a warning for
/// each key that has no effect on its role.
pub(super) fn roles(
    files: BTreeMap<String, RoleFile>,
    logins: &BTreeMap<String, Login>,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, Role> {
    let mut roles = BTreeMap::new();
    for (name, r) in files {
        let key = format!("roles.{name}");
        if !logins.contains_key(&r.login) {
            problems.push(invalid(
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
        if access == Access::ReadOnly && r.allow_set_role {
            warnings.push(format!(
                "{key}.allow_set_role has no effect on a read-only role"
            ));
        }
        if access == Access::ReadOnly && r.max_affected_rows > 0 {
            warnings.push(format!(
                "{key}.max_affected_rows has no effect on a read-only role"
            ));
        }
        let mut rules = role_rules(&name, Some(access));
        rules.require_where = r.require_where.unwrap_or(true);
        rules.allow_ddl = r.allow_ddl && access == Access::ReadWrite;
        rules.statement_timeout_ms = r.statement_timeout.map(|d| d.as_millis() as u64);
        rules.max_result_rows = r.max_result_rows;
        rules.max_affected_rows = r.max_affected_rows;
        rules.unmasked = r.unmasked;
        rules.allow_set_role = r.allow_set_role && access == Access::ReadWrite;
        // The session's current user: what `$user` in search_path names.
        rules.upstream_user = logins
            .get(&r.login)
            .map(|l: &super::Login| l.user.clone())
            .unwrap_or_default();
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
    roles
}

/// The users, with a problem for each that names a role the file lacks or has no usable
/// secret. With `Secrets::Optional` a missing secret is a warning.
pub(super) fn users(
    files: BTreeMap<String, UserFile>,
    roles: &BTreeMap<String, Role>,
    secrets: Secrets,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, User> {
    let mut users = BTreeMap::new();
    for (name, u) in files {
        let key = format!("users.{name}");
        if !roles.contains_key(&u.role) {
            problems.push(invalid(
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
        let secret = match source.resolve(&key, &mut ignored) {
            Ok(Some(s)) => s,
            Ok(None) => {
                problems.push(invalid(
                    format!("{key}.password"),
                    "a user needs a password",
                ));
                continue;
            }
            Err(e) if secrets == Secrets::Optional => {
                // Nobody logs in through this config: a verifier of a random password
                // keeps the user (and its role) without its secret.
                warnings.push(format!("{e} (not needed here)"));
                let random: [u8; 24] = rand::random();
                hash_password(&base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    random,
                ))
            }
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let verifier = if secret.starts_with("SCRAM-SHA-256$") {
            ScramVerifier::parse(&secret)
                .map_err(|e| invalid(format!("{key}.password"), e.to_string()))
        } else {
            warnings.push(format!(
                "{key}.password is not a SCRAM verifier; store `pgward passwd` output instead"
            ));
            ScramVerifier::parse(&hash_password(&secret))
                .map_err(|e| invalid(format!("{key}.password"), e.to_string()))
        };
        if let Some(verifier) = problems.ok(verifier) {
            users.insert(
                name,
                User {
                    verifier,
                    role: u.role,
                },
            );
        }
    }
    users
}
