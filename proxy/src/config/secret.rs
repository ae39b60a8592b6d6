//! Secrets in the config: inline (with a warning), from an environment variable, or a file.

use super::{invalid, ConfigError};

/// The three ways to give a secret; at most one may be set.
#[derive(Debug, Default, serde::Deserialize)]
pub struct SecretSource {
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
}

impl SecretSource {
    /// Resolve to the secret, `None` when none of the three is given. `key` names the table for
    /// errors; inline secrets add a warning.
    pub fn resolve(
        &self,
        key: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Option<String>, ConfigError> {
        let given = [
            self.password.is_some(),
            self.password_env.is_some(),
            self.password_file.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given > 1 {
            return Err(invalid(
                key,
                "give only one of password, password_env, password_file",
            ));
        }
        if let Some(p) = &self.password {
            warnings.push(format!(
                "{key}.password is inline in the config file; prefer password_env or password_file"
            ));
            return Ok(Some(p.clone()));
        }
        if let Some(var) = &self.password_env {
            return match std::env::var(var) {
                Ok(v) => Ok(Some(v)),
                Err(_) => Err(invalid(
                    format!("{key}.password_env"),
                    format!("environment variable {var} is not set"),
                )),
            };
        }
        if let Some(path) = &self.password_file {
            return match std::fs::read_to_string(path) {
                // A trailing newline is an editor's, not part of the secret.
                Ok(v) => Ok(Some(v.trim_end_matches(['\n', '\r']).to_string())),
                Err(e) => Err(invalid(
                    format!("{key}.password_file"),
                    format!("cannot read {path}: {e}"),
                )),
            };
        }
        Ok(None)
    }
}
