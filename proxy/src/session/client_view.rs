//! The parameters PostgreSQL reports (ParameterStatus) as the client knows them: told at the
//! greeting, then as each change arrives. A pooled server connection's defaults are not the
//! client's: after RESET or DISCARD ALL the server reports its own connection's value. For
//! `application_name` (pgward's own, a label) the client is shown its startup value at once;
//! the others are what the server runs until the unit ends (DateStyle shapes the result
//! text, client_encoding the bytes and how pgward reads the client's text), so the client is
//! told the server's value, and its startup value again once the unit is settled and its
//! settings are back. A report that changes nothing the client was told is not sent, as
//! PostgreSQL sends none.

use super::*;
use crate::pool::Greeting;
use crate::protocol::decode;
use crate::protocol::Frame;

/// The reported parameters as the client knows them: what the greeting told it (its startup
/// value as the server spells it, where a server took it), shared by the clients of a pool
/// that were told the same, and what changed since.
#[derive(Debug, Default)]
pub(super) struct ClientView {
    greeting: Option<Greeting>,
    /// Lower-cased name -> the value the client was last told, where that is not the
    /// greeting's.
    changed: Vec<(Box<str>, Box<str>)>,
}

impl ClientView {
    /// The greeting told the client these parameters.
    pub fn greeted(&mut self, told: Greeting) {
        self.greeting = Some(told);
        self.changed.clear();
    }

    /// The greeting's (name as spelled, value) of parameter `name`, in any case.
    pub fn greeted_with(&self, name: &str) -> Option<(&str, &str)> {
        self.greeting
            .as_deref()?
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(n, v)| (&**n, &**v))
    }

    /// Whether telling the client `value` changes what it knows (and if so, it is told).
    pub fn changes(&mut self, name: &str, value: &str) -> bool {
        let at = self
            .changed
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name));
        let greeted = self.greeted_with(name).map(|(_, v)| v) == Some(value);
        match at {
            Some(i) if *self.changed[i].1 == *value => false,
            None if greeted => false,
            Some(i) if greeted => {
                self.changed.swap_remove(i);
                true
            }
            Some(i) => {
                self.changed[i].1 = value.into();
                true
            }
            None => {
                self.changed
                    .push((name.to_ascii_lowercase().into(), value.into()));
                true
            }
        }
    }
}

impl Session {
    /// AuthenticationOk, the server's parameters, our cancel key, ReadyForQuery. Checking a
    /// server out here also tells a client at once when the upstream is down.
    pub(super) async fn greet(&mut self) -> Result<(), PgError> {
        let mut out = BytesMut::new();
        backend::auth_ok(&mut out);
        self.client.queue(&out);
        // In transaction mode a client is greeted with what the pool's servers report, so it
        // can log in while every server is busy; otherwise (or before the pool has ever
        // connected) a server is checked out, which also reports a down upstream at once.
        let known = match self.mode {
            PoolMode::Transaction => self.pool.reported_params(),
            PoolMode::Session => None,
        };
        let params = match known {
            Some(p) => p,
            None => {
                self.attach_first().await?;
                self.server
                    .as_ref()
                    .map(|s| s.server.params.clone())
                    .unwrap_or_default()
            }
        };
        out.clear();
        // A server that took the client's settings reports them as PostgreSQL spells them;
        // greeted from the pool's figures, the client's own values stand in.
        let synced = self.server.is_some();
        let mut told = Vec::with_capacity(params.len());
        for (k, v) in &params {
            let wanted = self
                .desired
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str());
            let v = match wanted {
                Some(w) if !synced && k.eq_ignore_ascii_case("client_encoding") => {
                    session_state::canonical_encoding(w).unwrap_or(w)
                }
                Some(w) if !synced => w,
                _ => v.as_str(),
            };
            backend::parameter_status(k, v, &mut out);
            told.push((Box::from(k.as_str()), Box::from(v)));
        }
        self.client_view.greeted(self.pool.shared_greeting(told));
        backend::backend_key_data(self.cancel.pid, self.cancel.secret, &mut out);
        backend::ready_for_query(b'I', &mut out);
        self.client.queue(&out);
        if self.mode == PoolMode::Transaction {
            self.detach().await;
        }
        self.client.flush().await.map_err(io_lost)?;
        Ok(())
    }

    /// A unit that reset reported settings (`resets`: their names, `*` for all) is settled:
    /// those back at the client's startup value (the restore, or the next checkout's sync,
    /// puts it on the server) are reported so, as PostgreSQL reports a RESET.
    pub(super) fn report_restored(&mut self, resets: &[String]) {
        if resets.is_empty() {
            return;
        }
        let mut out = BytesMut::new();
        for (name, startup) in &self.startup_settings {
            let reset = resets.iter().any(|r| r == "*" || r == name);
            let now = self.desired.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            // Named and spelled as the greeting told it (the server's spelling, where one
            // took it); a setting the greeting did not report is not reported.
            let Some((reported, told)) = self
                .client_view
                .greeted_with(name)
                .map(|(n, v)| (n.to_string(), v.to_string()))
            else {
                continue;
            };
            if !reset || now != Some(startup) {
                continue;
            }
            if self.client_view.changes(&reported, &told) {
                backend::parameter_status(&reported, &told, &mut out);
            }
        }
        self.client.queue(&out);
    }

    /// A ParameterStatus from the server: the client's value of the setting (the server's,
    /// or the client's own startup value where the server shows its connection's default
    /// after a reset), kept on every server the client gets, and sent on when it changes
    /// what the client knows.
    pub(super) fn on_parameter_status(&mut self, frame: &Frame) {
        let Ok((name, value)) = decode::parameter_status(frame.body()) else {
            self.client.queue(frame.raw());
            return;
        };
        let lower = name.to_ascii_lowercase();
        let connection_default = self.server.as_ref().is_some_and(|s| {
            s.server.settings.initial.get(&lower).map(String::as_str) == Some(value)
        });
        let startup = self
            .startup_settings
            .iter()
            .find(|(k, _)| *k == lower)
            .map(|(_, v)| v.clone());
        let shown = match startup {
            Some(own)
                if lower == "application_name"
                    && connection_default
                    && self.unit.shows_connection_default(&lower) =>
            {
                own
            }
            _ => value.to_string(),
        };
        // The client changed a reported setting: keep it on every server it gets.
        if self.desired.iter().any(|(n, _)| *n == lower) || server::is_client_setting(name) {
            self.set_desired(name, &shown);
        }
        if !self.client_view.changes(name, &shown) {
            return;
        }
        if shown == value {
            self.client.queue(frame.raw());
        } else {
            let mut out = BytesMut::new();
            backend::parameter_status(name, &shown, &mut out);
            self.client.queue(&out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ClientView;
    use crate::pool::Greeting;

    fn greeting() -> Greeting {
        Greeting::from(vec![
            (Box::from("DateStyle"), Box::from("ISO, MDY")),
            (Box::from("application_name"), Box::from("app")),
        ])
    }

    #[test]
    fn a_report_is_sent_only_when_it_changes_what_the_client_was_told() {
        let mut view = ClientView::default();
        view.greeted(greeting());
        assert!(!view.changes("datestyle", "ISO, MDY"), "as greeted");
        assert!(view.changes("DateStyle", "German, DMY"));
        assert!(!view.changes("DATESTYLE", "German, DMY"), "told already");
        assert!(
            view.changes("DateStyle", "ISO, MDY"),
            "back to the greeting's"
        );
        assert!(!view.changes("DateStyle", "ISO, MDY"));
        assert!(view.changes("TimeZone", "UTC"), "not in the greeting");
        assert!(!view.changes("timezone", "UTC"));
        assert_eq!(
            view.greeted_with("APPLICATION_NAME"),
            Some(("application_name", "app"))
        );
        assert_eq!(view.greeted_with("TimeZone"), None);
    }

    #[test]
    fn a_new_greeting_forgets_what_changed_before() {
        let mut view = ClientView::default();
        view.greeted(greeting());
        assert!(view.changes("application_name", "other"));
        view.greeted(greeting());
        assert!(!view.changes("application_name", "app"));
    }
}
