//! Validation of the `[listen]`, `[upstream]` and `[peers]` sections, and the list of problems
//! that lets validation go on after one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::super::{invalid, ConfigError, ListenSettings, PeersSettings, UpstreamSettings};
use super::{duration_key, ListenFile, UpstreamFile};
use crate::tls::{self, ClientTlsMode, UpstreamTlsMode};

/// Problems found so far: validation goes on after one so `pgward check` lists them all.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<ConfigError>);

impl Problems {
    pub(super) fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    pub(super) fn ok<T>(&mut self, r: Result<T, ConfigError>) -> Option<T> {
        r.map_err(|e| self.push(e)).ok()
    }
}

/// `[peers]`: several instances behind one load balancer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PeersFile {
    #[serde(rename = "self")]
    self_id: u8,
    #[serde(default)]
    reuse_port: bool,
    #[serde(default)]
    members: BTreeMap<String, String>,
}

impl ListenFile {
    pub(super) fn validate(
        self,
        problems: &mut Problems,
        warnings: &mut Vec<String>,
    ) -> Option<ListenSettings> {
        let address = problems.ok(self
            .address
            .parse::<SocketAddr>()
            .map_err(|e| invalid("listen.address", format!("{:?}: {e}", self.address))));
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                problems.ok(tls::server_config(Path::new(cert), Path::new(key))
                    .map_err(|e| invalid("listen.tls_cert", e.to_string())))
            }
            (None, None) => None,
            (Some(_), None) => {
                problems.push(invalid("listen.tls_key", "tls_cert needs tls_key"));
                None
            }
            (None, Some(_)) => {
                problems.push(invalid("listen.tls_cert", "tls_key needs tls_cert"));
                None
            }
        };
        let client_tls = self.client_tls.unwrap_or(if tls.is_some() {
            ClientTlsMode::Allow
        } else {
            ClientTlsMode::Disable
        });
        if self.tls_cert.is_some() && client_tls == ClientTlsMode::Disable {
            warnings.push(
                "listen.tls_cert/tls_key have no effect with client_tls = \"disable\"".to_string(),
            );
        }
        if self.client_tls == Some(ClientTlsMode::Allow) && self.tls_cert.is_none() {
            warnings.push(
                "listen.client_tls = \"allow\" has no effect without tls_cert and tls_key"
                    .to_string(),
            );
        }
        if client_tls == ClientTlsMode::Require && tls.is_none() {
            problems.push(invalid(
                "listen.client_tls",
                "\"require\" needs tls_cert and tls_key",
            ));
        }
        if self.max_client_connections == 0 {
            problems.push(invalid(
                "listen.max_client_connections",
                "must be at least 1",
            ));
        }
        Some(ListenSettings {
            address: address?,
            tls,
            client_tls,
            max_client_connections: self.max_client_connections,
            startup_timeout: self.startup_timeout.unwrap_or(Duration::from_secs(10)),
            shutdown_grace: self.shutdown_grace.unwrap_or(Duration::from_secs(30)),
            large_message_memory: self.large_message_memory_mib.saturating_mul(1 << 20),
            kept_statement_memory: self.kept_statement_memory_mib.saturating_mul(1 << 20),
        })
    }
}

impl PeersFile {
    pub(super) fn validate(
        self,
        problems: &mut Problems,
        warnings: &mut Vec<String>,
    ) -> Option<PeersSettings> {
        let max = crate::cancel::MAX_PEER_ID;
        if self.self_id == 0 || self.self_id > max {
            problems.push(invalid("peers.self", format!("must be 1..={max}")));
            return None;
        }
        let mut members = BTreeMap::new();
        for (id, addr) in self.members {
            let key = format!("peers.members.{id}");
            let id = match id.parse::<u8>() {
                Ok(i) if (1..=max).contains(&i) => i,
                _ => {
                    problems.push(invalid(key, format!("an instance id is 1..={max}")));
                    continue;
                }
            };
            match addr.parse::<SocketAddr>() {
                Ok(a) => {
                    members.insert(id, a);
                }
                Err(e) => problems.push(invalid(key, format!("{addr:?}: {e}"))),
            }
        }
        if !members.contains_key(&self.self_id) {
            warnings.push(format!(
                "peers.members has no entry for this instance ({})",
                self.self_id
            ));
        }
        if members.len() <= 1 && !self.reuse_port {
            warnings.push("[peers] with a single member has no effect".to_string());
        }
        Some(PeersSettings {
            self_id: self.self_id,
            reuse_port: self.reuse_port,
            members,
        })
    }
}

impl UpstreamFile {
    pub(super) fn validate(self) -> Result<UpstreamSettings, ConfigError> {
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

/// `[limits]`: bounds on what the policy engine analyzes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsFile {
    /// Longer statements are refused with 54001 before parsing; default 1 MiB.
    #[serde(default)]
    pub(super) max_statement_bytes: Option<usize>,
}
