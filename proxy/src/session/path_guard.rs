//! The search_path pgward judges with against the one the server runs: when it must be read
//! back from the server ([`PathCheck`]), and what is refused meanwhile to a role whose rules
//! resolve names (read-only, require_where, max_affected_rows, masking).

use pgward_policy::Decision;

use super::*;

/// When pgward must re-read the server's search_path (the one it judges functions with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PathCheck {
    No,
    /// A statement changed it; it may have failed. The client's next message waits for the
    /// read-back.
    AfterUnit,
    /// User code ran, which may have changed it: read back once the unit is done, without
    /// holding the client's pipeline (what pgward cannot see it cannot follow in between).
    AfterCode,
    /// It changed inside the open transaction block; a ROLLBACK may undo it.
    OnRollback,
    /// It may have changed, unseen, inside the open extended batch: nothing more of the batch
    /// that resolves names is judged before its Sync and the read-back.
    UnknownInBatch,
}

impl Session {
    /// A statement that resolves names, after a change of the search_path pgward could not
    /// follow earlier in the still open batch (`set_config('search_path', .., true)`): the
    /// server reads it under a path pgward does not know.
    pub(super) fn unknown_path_refusal(&self, decision: &Decision) -> Option<PgError> {
        let unknown = self.path_check == PathCheck::UnknownInBatch && self.sync.unsynced;
        (unknown
            && decision.statements.iter().any(pgward_policy::resolves_names)
            && self.judges_names(decision))
        .then(|| {
            PgError::error(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                "pgward: a statement after a search_path change pgward cannot follow, in the same batch",
            )
            .with_detail("rule: session.search_path")
            .with_hint("send Sync after the search_path change")
        })
    }

    /// Whether the role's rules resolve names (what the search_path decides): read-only,
    /// require_where, max_affected_rows, or masked results.
    fn judges_names(&self, decision: &Decision) -> bool {
        let snap = self.shared.snapshot();
        decision.mask.is_some()
            || snap.config.roles.get(&self.info.role).is_none_or(|r| {
                r.rules.access == pgward_policy::Access::ReadOnly
                    || r.rules.require_where
                    || r.rules.max_affected_rows > 0
            })
    }

    /// `EXECUTE` of an SQL-prepared statement judged under another search_path: PostgreSQL
    /// analyses it again under the current one, and pgward keeps no text of it to judge
    /// again, so a role whose rules resolve names is refused.
    pub(super) fn stale_sql_prepared_refusal(
        &self,
        name: &str,
        decision: &Decision,
    ) -> Option<PgError> {
        (self.prepared.sql_prepared_stale(name, &self.search_path) && self.judges_names(decision))
            .then(|| {
                PgError::error(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    format!("pgward: prepared statement \"{name}\" was judged under another search_path"),
                )
                .with_detail("rule: session.search_path")
                .with_hint("PREPARE it again under the current search_path")
            })
    }
}

impl Session {
    /// Judge with the search_path the server really has after a statement that set it (which
    /// may have failed, or been rolled back with its transaction).
    pub(super) async fn reread_search_path(&mut self, status: u8) {
        if status == b'E' {
            // A failed block runs nothing: what it set goes with its ROLLBACK.
            self.path_check = PathCheck::OnRollback;
            return;
        }
        let Some(s) = self.server.as_mut() else {
            return;
        };
        match s.server.show("search_path").await {
            Ok(value) => {
                let path = pgward_policy::parse_search_path(&value);
                if *path != *self.search_path {
                    self.judge_under_path(path);
                }
                self.set_desired("search_path", &value);
            }
            Err(e) => tracing::warn!(session = self.id, error = %e, "could not read search_path"),
        }
        self.forward_held_notifications();
        self.path_check = if status == b'I' {
            PathCheck::No
        } else {
            PathCheck::OnRollback
        };
    }
}
