//! The client's settings after a unit, from what the server reports as set in its session
//! (`pg_settings` where `source = 'session'`, read back by `session_state.rs`). Exact, because
//! the checkout's sync sets every value that differs from the client's startup one even where
//! the connection has it already (`server_state.rs`): RESET, however it ran, shows as no
//! session value, and the startup value is the client's again.

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
