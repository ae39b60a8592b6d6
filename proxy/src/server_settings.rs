//! The session-level settings pgward knows a pooled server connection has, and the SQL that
//! brings it to a client's settings at checkout.

use std::collections::BTreeMap;

/// Session-level settings pgward knows a server has (name lower-cased -> value as
/// `current_setting` shows it), beyond what it had at connection time.
#[derive(Clone, Debug, Default)]
pub struct AppliedSettings {
    values: BTreeMap<String, String>,
    /// What the server reported when it connected (lower-cased names).
    pub initial: BTreeMap<String, String>,
    /// The fingerprint of the client settings the server was brought to (startup ones
    /// included), while nothing pgward knows of changed its settings since
    /// (`session/desired.rs`).
    synced_to: Option<u128>,
}

/// Setting names pgward writes into SQL: only plain names.
pub fn plain_setting_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$')
}

/// A string literal that reads the same whatever the server's standard_conforming_strings
/// (a client may have turned it off): `E'...'` when the value holds a backslash.
pub fn literal(v: &str) -> String {
    let quoted = v.replace('\'', "''");
    if v.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

impl AppliedSettings {
    /// A connection that has what it reported when it connected.
    pub fn new(initial: BTreeMap<String, String>) -> AppliedSettings {
        AppliedSettings {
            initial,
            ..AppliedSettings::default()
        }
    }

    /// Whether the server was brought to client settings of this fingerprint, with no
    /// change since: [`AppliedSettings::sync_sql`] for them would be `None`.
    pub fn synced_with(&self, fingerprint: u128) -> bool {
        self.synced_to == Some(fingerprint)
    }

    pub fn mark_synced_with(&mut self, fingerprint: u128) {
        self.synced_to = Some(fingerprint);
    }

    /// What a read-back found the server's session settings to be.
    pub fn replace_values(&mut self, values: BTreeMap<String, String>) {
        self.values = values;
        self.synced_to = None;
    }

    /// DISCARD ALL reset every setting.
    pub fn clear_values(&mut self) {
        self.values.clear();
        self.synced_to = None;
    }

    /// The SQL that brings the server to exactly `desired` (lower-cased name, value), or
    /// `None` when it is there already. Names that are not plain are skipped. A value that
    /// differs from the client's `startup` one is set even where the connection has it
    /// already: read back after a unit (`pg_settings` where `source = 'session'`), it must
    /// show as the session's, not as a default that RESET would have left.
    pub fn sync_sql(
        &self,
        desired: &[(String, String)],
        startup: &[(String, String)],
    ) -> Option<String> {
        let mut sql = String::new();
        for (name, value) in desired {
            if !plain_setting_name(name) {
                continue;
            }
            let current = match self.values.get(name) {
                Some(v) => Some(v),
                None if overrides_startup(name, value, startup) => None,
                None => self.initial.get(name),
            };
            if current.map(String::as_str) == Some(value.as_str()) {
                continue;
            }
            // A DateStyle that names only a style or only an order keeps the other part of
            // the value in force: from the connection's own value, not another client's.
            if name == "datestyle" {
                sql.push_str("RESET datestyle;");
            }
            // set_config parses the value as the configuration file would, which list
            // settings such as search_path need.
            sql.push_str(&format!(
                "SELECT pg_catalog.set_config({}, {}, false);",
                literal(name),
                literal(value)
            ));
        }
        for name in self.values.keys() {
            if plain_setting_name(name) && !desired.iter().any(|(n, _)| n == name) {
                sql.push_str(&format!("RESET {name};"));
            }
        }
        (!sql.is_empty()).then_some(sql)
    }

    /// The sync ran: the server now has `desired` (and `startup` was the client's).
    pub fn synced(&mut self, desired: &[(String, String)], startup: &[(String, String)]) {
        self.synced_to = None;
        self.values = desired
            .iter()
            .filter(|(n, _)| plain_setting_name(n))
            .filter(|(n, v)| {
                self.values.contains_key(n)
                    || self.initial.get(n) != Some(v)
                    || overrides_startup(n, v, startup)
            })
            .cloned()
            .collect();
    }
}

/// Whether `value` for `name` differs from the client's startup value of it.
fn overrides_startup(name: &str, value: &str, startup: &[(String, String)]) -> bool {
    startup
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case(name) && v != value)
}
