//! The client's settings after a unit, from what the server reports as set in its session
//! (`pg_settings` where `source = 'session'`, read back when a unit is settled). Exact, because
//! the checkout's sync sets every value that differs from the client's startup one even where
//! the connection has it already (`server_state.rs`): RESET, however it ran, shows as no
//! session value, and the startup value is the client's again.

use super::*;

/// The client's settings: its startup parameters, overridden by what its session set.
pub fn merged_settings(
    startup: &[(String, String)],
    session: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = startup
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    for (k, v) in session {
        match out.iter_mut().find(|(n, _)| n == k) {
            Some(entry) => entry.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out
}

/// The search_path of a session that sets none: its servers' configured default, as parsed
/// for judging and as the server spells it.
#[derive(Clone, Debug)]
pub(super) struct DefaultPath {
    pub path: Vec<String>,
    pub spelled: String,
}

impl DefaultPath {
    /// From a server's `SHOW search_path`; PostgreSQL's own default when none is known.
    pub fn new(spelled: Option<String>) -> DefaultPath {
        let spelled = spelled.unwrap_or_else(|| "\"$user\", public".to_string());
        DefaultPath {
            path: pgward_policy::parse_search_path(&spelled),
            spelled,
        }
    }
}

/// A search_path as a setting value: each schema quoted, as PostgreSQL takes it back.
pub fn path_setting(path: &[String]) -> String {
    let quoted: Vec<String> = path
        .iter()
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect();
    quoted.join(", ")
}

/// Session-level settings in force (set by SET, set_config or pgward's own sync).
/// pgward's own SQL runs under the client's search_path: every function and operator in it
/// is qualified, so no user operator (`evil.=`) can answer in pg_catalog's place.
const SETTINGS_SQL: &str = "SELECT pg_catalog.lower(name), pg_catalog.current_setting(name) \
     FROM pg_catalog.pg_settings WHERE source OPERATOR(pg_catalog.=) 'session'";

/// [`SETTINGS_SQL`] and the custom settings the client set, read back by name (`NULL` for
/// one that does not exist on this server).
pub fn settings_sql(custom: &[String]) -> String {
    if custom.is_empty() {
        return SETTINGS_SQL.to_string();
    }
    let names: Vec<String> = custom
        .iter()
        .map(|n| crate::server_state::literal(n))
        .collect();
    format!(
        "{SETTINGS_SQL} UNION ALL SELECT n, pg_catalog.current_setting(n, true) \
         FROM pg_catalog.unnest(ARRAY[{}]::text[]) AS n \
         WHERE pg_catalog.current_setting(n, true) IS NOT NULL",
        names.join(", ")
    )
}

impl Session {
    /// A client that keeps its server (session mode, or pinned) after RESET of a setting it
    /// started with: PostgreSQL's RESET returns to the startup value, which pgward applied
    /// with `set_config`, so it is applied again and the client told.
    pub(super) async fn restore_startup_values(&mut self) {
        if self.mode == PoolMode::Transaction && self.pinned.is_none() {
            return; // the next checkout syncs whatever server the client gets
        }
        let Some(s) = self.server.as_mut() else {
            return;
        };
        let Some(sql) = s
            .server
            .settings
            .sync_sql(&self.desired, &self.startup_settings)
        else {
            return;
        };
        let before = s.server.params.clone();
        match s.server.run_internal(&sql).await {
            Ok(_) => {
                s.server
                    .settings
                    .synced(&self.desired, &self.startup_settings);
                let changed: Vec<(String, String)> = s
                    .server
                    .params
                    .iter()
                    .filter(|(k, v)| before.get(*k) != Some(*v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let mut out = BytesMut::new();
                for (k, v) in changed {
                    if self.client_view.changes(&k, &v) {
                        backend::parameter_status(&k, &v, &mut out);
                    }
                }
                self.client.queue(&out);
            }
            Err(e) => {
                tracing::warn!(session = self.id, error = %e, "could not restore startup settings");
            }
        }
    }

    pub(super) async fn read_back_settings(&mut self) {
        let Some(s) = self.server.as_mut() else {
            return;
        };
        let sql = settings_sql(&self.custom_settings);
        match s.server.query_rows(&sql).await {
            Ok(rows) => {
                let session: Vec<(String, String)> = rows
                    .into_iter()
                    .filter_map(|r| match r.as_slice() {
                        [Some(k), Some(v)] => Some((k.clone(), v.clone())),
                        _ => None,
                    })
                    .collect();
                s.server
                    .settings
                    .replace_values(session.iter().cloned().collect());
                self.desired = super::desired::DesiredSettings::new(
                    super::read_back::merged_settings(&self.startup_settings, &session),
                );
                if let Some((_, v)) = self.desired.iter().find(|(k, _)| k == "application_name") {
                    self.application_name = Arc::from(v.as_str());
                }
            }
            Err(e) => {
                // Unknown state: the server is reset before anyone else gets it.
                tracing::warn!(session = self.id, error = %e, "could not read the session's settings");
                s.server.dirty = true;
            }
        }
    }

    /// A server was checked out and the client sets no search_path: the server runs under its
    /// own default (`ALTER ROLE/DATABASE ... SET`, the configuration). On the first checkout,
    /// before anything was judged, that default is the session's; later, a server whose
    /// default differs from the path statements were judged with (a default changed since)
    /// is given that path by the sync.
    pub(super) fn follow_server_default_path(&mut self, server_default: Option<&str>, first: bool) {
        if self.desired.iter().any(|(k, _)| k == "search_path") {
            return;
        }
        let Some(value) = server_default else {
            return;
        };
        // Every checkout comes here: the common case (the server's default is the one the
        // session was judged with) compares strings and parses nothing.
        if value == self.default_path.spelled && *self.search_path == *self.default_path.path {
            return;
        }
        let path = pgward_policy::parse_search_path(value);
        if *path == *self.search_path {
            return;
        }
        if first {
            self.default_path = DefaultPath::new(Some(value.to_string()));
            self.judge_under_path(path);
        } else if *self.search_path == *self.default_path.path {
            // Spelled as the server that reported it spelled it (SHOW shows it so).
            let spelled = self.default_path.spelled.clone();
            self.set_desired("search_path", &spelled);
        } else {
            let judged = path_setting(&self.search_path);
            self.set_desired("search_path", &judged);
        }
    }

    /// The client's search_path after the read-back (its startup one again after RESET, which
    /// the sync or [`Session::restore_startup_values`] puts on the server) is the one its
    /// statements are judged with.
    pub(super) fn judge_with_desired_path(&mut self) {
        let Some((_, value)) = self.desired.iter().find(|(k, _)| k == "search_path") else {
            return;
        };
        let path = pgward_policy::parse_search_path(value);
        if *path != *self.search_path {
            self.judge_under_path(path);
        }
    }

    /// Statements are judged under `path` from now on (PostgreSQL analyses a prepared
    /// statement again under it: its epoch moves on; decisions made under the old one go).
    pub(super) fn judge_under_path(&mut self, path: Vec<String>) {
        self.search_path = path.into();
        self.path_epoch += 1;
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn what_the_session_set_overrides_the_startup_value() {
        let startup = pairs(&[("IntervalStyle", "postgres_verbose"), ("datestyle", "ISO")]);
        let merged = merged_settings(&startup, &pairs(&[("intervalstyle", "postgres")]));
        assert_eq!(
            merged,
            pairs(&[("intervalstyle", "postgres"), ("datestyle", "ISO")])
        );
        // Reset on the server (RESET, set_config(.., NULL), a RESET in user code): the
        // startup value again.
        assert_eq!(merged_settings(&startup, &[])[0].1, "postgres_verbose");
    }
}
