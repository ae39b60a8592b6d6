//! The session's side of the pins (`pins.rs` judges): a ParameterStatus that contradicts a
//! pin closes the server and ends the session.

use super::*;
use crate::protocol::decode;

impl Session {
    /// A ParameterStatus that contradicts a pin ends the session: the server is closed (never
    /// pooled again) and the statements in flight are audited with the error.
    pub(super) fn watch_pins(&mut self, body: &[u8]) -> Result<(), PgError> {
        let Ok((name, value)) = decode::parameter_status(body) else {
            return Ok(());
        };
        let identity_may_change = self
            .shared
            .snapshot()
            .config
            .roles
            .get(&self.info.role)
            .is_some_and(|r| r.rules.allow_set_role);
        let pins = pins::Pins {
            read_only: self.pool.read_only(),
            login_user: self.pool.upstream_user().to_string(),
            identity_may_change,
        };
        let previous = self.server.as_ref().and_then(|s| {
            s.server
                .params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        });
        let Some(broken) = pins.check(name, value, previous) else {
            return Ok(());
        };
        tracing::error!(
            session = self.id,
            setting = broken.setting,
            value = %broken.value,
            expected = %broken.expected,
            "an upstream session broke a pinned setting; closing it"
        );
        self.outbox.push(super::outbox::Event::ClearCancelTarget);
        if let Some(s) = self.server.take() {
            self.outbox.push(super::outbox::Event::CloseServer(s));
        }
        self.replies.clear();
        self.sync.pending = 0;
        self.flush_audit_all(sqlstate::INSUFFICIENT_PRIVILEGE);
        Err(PgError::fatal(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!(
                "pgward: the upstream session changed the pinned setting {} to \"{}\"; the session is closed",
                broken.setting, broken.value
            ),
        )
        .with_detail(format!("rule: pin ({} must stay {})", broken.setting, broken.expected))
        .with_hint("the pinned settings cannot be changed through pgward"))
    }
}
