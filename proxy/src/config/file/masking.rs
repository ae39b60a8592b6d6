//! Validation of `[masking]` into the policy's `MaskConfig` (patterns, strategies, the hash
//! key read from `hash_key_env`, the steering uses masked roles may make).

use std::collections::BTreeMap;

use pgward_policy::mask::{MaskConfig, MaskConfigError};
use serde::Deserialize;

use super::super::{invalid, ConfigError};

/// `[masking]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MaskingFile {
    #[serde(default)]
    columns: Vec<String>,
    strategy: Option<String>,
    /// Pattern → strategy; BTreeMap so the first match is stable (sorted by pattern).
    #[serde(default)]
    strategies: BTreeMap<String, String>,
    hash_key_env: Option<String>,
    #[serde(default)]
    allow: Vec<String>,
}

impl MaskingFile {
    /// The policy's config; every problem becomes a `masking.*` config error.
    pub(super) fn validate(self) -> Result<MaskConfig, ConfigError> {
        let key = match &self.hash_key_env {
            None => Vec::new(),
            Some(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => v.into_bytes(),
                _ => {
                    return Err(invalid(
                        "masking.hash_key_env",
                        format!("environment variable {var} is not set or empty"),
                    ))
                }
            },
        };
        let strategies: Vec<(String, String)> = self.strategies.into_iter().collect();
        MaskConfig::new(
            &self.columns,
            self.strategy.as_deref(),
            &strategies,
            key,
            &self.allow,
        )
        .map_err(|e| {
            let field = match e {
                MaskConfigError::BadPattern(_) => "masking.columns",
                MaskConfigError::UnknownStrategy(_) => "masking.strategy",
                MaskConfigError::UnknownAllowance(_) => "masking.allow",
                MaskConfigError::MissingHashKey => "masking.hash_key_env",
            };
            invalid(field, e.to_string())
        })
    }
}
