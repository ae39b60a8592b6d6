//! The client's settings after a unit, from what the server reports as set in its session
//! (`pg_settings` where `source = 'session'`, read back by `session_state.rs`).

use std::collections::BTreeMap;

use pgward_policy::SettingsReset;

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

/// The client's settings after a unit: its startup parameters overridden by what the
/// server's session has set. A value the checkout's sync left alone because the connection
/// already had it (`initial`) shows as a default, not a session setting: unless the unit
/// reset that setting, it stays the client's.
pub fn desired_after_unit(
    startup: &[(String, String)],
    previous: &[(String, String)],
    session: &[(String, String)],
    initial: &BTreeMap<String, String>,
    resets: &SettingsReset,
) -> Vec<(String, String)> {
    let mut desired = merged_settings(startup, session);
    for (name, value) in previous {
        let kept = initial.get(name) == Some(value)
            && !session.iter().any(|(n, _)| n == name)
            && !resets.covers(name);
        if kept {
            match desired.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = value.clone(),
                None => desired.push((name.clone(), value.clone())),
            }
        }
    }
    desired
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
    fn a_value_the_connection_already_had_stays_the_clients() {
        // pg_regress starts with intervalstyle=postgres_verbose, then SETs postgres, which the
        // pooled connection already has: pg_settings lists it as a default.
        let startup = pairs(&[("intervalstyle", "postgres_verbose")]);
        let previous = pairs(&[("intervalstyle", "postgres"), ("datestyle", "ISO")]);
        let session = pairs(&[("datestyle", "ISO")]);
        let initial: BTreeMap<String, String> =
            [("intervalstyle".to_string(), "postgres".to_string())].into();
        let kept = |resets: SettingsReset| {
            desired_after_unit(&startup, &previous, &session, &initial, &resets)
                .contains(&("intervalstyle".into(), "postgres".into()))
        };
        assert!(kept(SettingsReset::None));
        // pg_regress `interval`: RESET of another setting leaves this one alone.
        assert!(kept(SettingsReset::Named(vec!["enable_seqscan".into()])));
        // After RESET of this one, or of all, the startup value is the client's again.
        assert!(!kept(SettingsReset::Named(vec!["intervalstyle".into()])));
        assert!(!kept(SettingsReset::All));
    }
}
