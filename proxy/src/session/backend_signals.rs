//! `pg_cancel_backend(pid)` and `pg_terminate_backend(pid)` through pgward. A pid a client
//! learnt (`pg_backend_pid()`, a NOTIFY, pg_stat_activity) may name one of pgward's pooled
//! server connections, which by then serves another client, or will: signalling it would
//! cancel or end that client's work. So a client may signal its own attached server or a
//! backend that is none of pgward's; a pid pgward cannot read from the text (a column, a
//! parameter) is refused, since pgward cannot tell whose backend it is.

use pgward_policy::Decision;

use super::*;

impl Session {
    /// The refusal for a statement that would signal a backend serving another client.
    pub(super) fn signal_refusal(&self, decision: &Decision) -> Option<PgError> {
        let own = self.server.as_ref().map(|s| s.server.cancel.pid);
        for st in &decision.statements {
            for target in &st.state.signals {
                let refused = match *target {
                    None => Some("a pid pgward cannot read from the statement".to_string()),
                    Some(pid) if Some(pid) == own => None,
                    Some(pid) if self.is_pooled_backend(pid) => Some(format!(
                        "backend {pid} is one of pgward's pooled server connections"
                    )),
                    Some(_) => None,
                };
                if let Some(why) = refused {
                    return Some(
                        PgError::error(
                            sqlstate::INSUFFICIENT_PRIVILEGE,
                            format!("pgward: may not cancel or terminate {why}"),
                        )
                        .with_detail("a pooled backend serves other clients")
                        .with_hint("cancel your own query with the protocol's cancel request; name other backends by a literal pid"),
                    );
                }
            }
        }
        None
    }

    fn is_pooled_backend(&self, pid: i32) -> bool {
        self.shared
            .pools
            .list()
            .iter()
            .any(|p| p.servers().iter().any(|r| r.backend_pid == pid))
    }
}
