//! A session's memory of recent decisions by exact SQL text, so a client that sends the same
//! text again (every extended-protocol driver, every prepared statement) skips even the
//! engine's normalizing lexer. Exact text means exact parse; the memo is tied to one policy
//! snapshot and cleared when the session's search_path changes, the only session facts a
//! decision reads besides the role. `Session::facts_decide` is the session's way to a
//! decision: the memo, else the engine with the session's facts.

use std::sync::Arc;

use pgward_policy::{Decision, SessionFacts};

use super::prepared::names::JudgedUnder;
use crate::protocol::backend::PgError;
use crate::shared::Snapshot;
use crate::sqlstate;

const SLOTS: usize = 16;

#[derive(Default)]
pub(super) struct DecisionMemo {
    /// The id of the policy snapshot the entries were decided under (0: none yet).
    snapshot: u64,
    entries: Vec<(Box<str>, Arc<Decision>)>,
    next: usize,
}

impl DecisionMemo {
    pub fn get(&self, snap: &Snapshot, sql: &str) -> Option<Arc<Decision>> {
        if self.snapshot != snap.id {
            return None;
        }
        self.entries
            .iter()
            .find(|(text, _)| &**text == sql)
            .map(|(_, d)| d.clone())
    }

    pub fn put(&mut self, snap: &Snapshot, sql: &str, decision: Arc<Decision>) {
        if self.snapshot != snap.id {
            self.clear();
            self.snapshot = snap.id;
        }
        // Long texts (bulk INSERTs, generated SQL) are unlikely to repeat; keep memory small.
        if sql.len() > 4096 {
            return;
        }
        if self.entries.len() < SLOTS {
            self.entries.push((sql.into(), decision));
        } else {
            self.entries[self.next] = (sql.into(), decision);
            self.next = (self.next + 1) % SLOTS;
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.next = 0;
    }
}

impl super::Session {
    /// What the decision made last was judged under.
    pub(super) fn judged_now(&self) -> JudgedUnder {
        JudgedUnder {
            path_epoch: self.path_epoch,
            snapshot: self.judged_snapshot,
        }
    }

    /// What a decision made now would be judged under (the snapshot in force).
    pub(super) fn judging_now(&self) -> JudgedUnder {
        JudgedUnder {
            path_epoch: self.path_epoch,
            snapshot: self.shared.snapshot_id(),
        }
    }

    /// The decision for `sql` under the role's current rules and the session's facts (the
    /// memo first), and the role's limits as they stand now.
    /// [`Session::facts_decide`], for a role with `max_affected_rows`: a statement naming a
    /// relation the catalog snapshot lacks (made outside pgward since it was read) is judged
    /// again with a fresh snapshot, so the triggers, rules and views it has are counted.
    pub(super) async fn decide_fresh(&mut self, sql: &str) -> Result<Arc<Decision>, PgError> {
        if !self.first_catalog_awaited {
            self.await_first_catalog().await;
        }
        let decision = self.facts_decide(sql)?;
        let unseen = decision.statements.iter().any(|s| s.state.unseen_relations);
        // At most once a second per session: a name that does not exist (or a temporary
        // table, which no snapshot has) must not keep the catalog reloading.
        let waited_lately = self.catalog_waited_at.is_some_and(|t| {
            self.now.saturating_duration_since(t) < std::time::Duration::from_secs(1)
        });
        let guarded = unseen && decision.is_allowed() && self.limits.max_affected_rows > 0;
        if guarded
            && waited_lately
            && self
                .shared
                .catalog_failed
                .load(std::sync::atomic::Ordering::Acquire)
        {
            return Ok(catalog_late(&decision));
        }
        if guarded && !waited_lately {
            if self.shared.reload_catalog_for_miss().await {
                self.catalog_waited_at = Some(self.now);
                return self.facts_decide(sql);
            }
            // No snapshot within the wait (a loaded upstream): what the relation runs when
            // read (a view's writing function) is unknown, so it does not run unguarded, and
            // the next such statement waits again.
            return Ok(catalog_late(&decision));
        }
        Ok(decision)
    }

    /// A session's first decision waits (up to 3 s) for the catalog snapshot of its database
    /// when one is to be read and none is in force yet (a database that has just come into
    /// use): judged without it, a call of a built-in's name that a user function answers to,
    /// or a view that calls one, would pass as the built-in.
    async fn await_first_catalog(&mut self) {
        self.first_catalog_awaited = true;
        let snap = self.shared.snapshot();
        if snap.engine.catalog().is_some() || !self.shared.pools.only_database(&self.info.database)
        {
            return;
        }
        if !self.shared.reload_catalog_for_miss().await {
            tracing::warn!(
                session = self.id,
                "no catalog snapshot yet; judging without it"
            );
        }
    }

    pub(super) fn facts_decide(&mut self, sql: &str) -> Result<Arc<Decision>, PgError> {
        let snap = self.shared.snapshot();
        self.judged_snapshot = snap.id;
        if let Some(d) = self.recent.get(&snap, sql) {
            return Ok(d);
        }
        let path = self.search_path.clone();
        let decision = self.decide_under(&snap, sql, &path)?;
        self.recent.put(&snap, sql, decision.clone());
        Ok(decision)
    }

    /// The decision for `sql` under search_path `path` (a portal's, fixed when it was made)
    /// and the rules in force, past the memo.
    pub(super) fn decide_under_path(
        &mut self,
        sql: &str,
        path: &[String],
    ) -> Result<Arc<Decision>, PgError> {
        let snap = self.shared.snapshot();
        self.judged_snapshot = snap.id;
        self.decide_under(&snap, sql, path)
    }

    fn decide_under(
        &mut self,
        snap: &Snapshot,
        sql: &str,
        path: &[String],
    ) -> Result<Arc<Decision>, PgError> {
        let Some(role) = snap.config.roles.get(&self.info.role) else {
            return Err(PgError::fatal(
                sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                "pgward: the user's role no longer exists in the configuration",
            ));
        };
        self.limits = super::guard::Limits {
            max_result_rows: role.rules.max_result_rows,
            max_affected_rows: role.rules.max_affected_rows,
            idle_in_transaction_timeout: role.idle_in_transaction_timeout,
            statement_timeout: role.statement_timeout,
        };
        let facts = SessionFacts {
            role: &role.rules,
            search_path: path,
            in_transaction: self.sync.tx_status != b'I',
        };
        Ok(snap.engine.decide(sql, &facts))
    }
}

/// `decision` refused because the catalog snapshot it needs did not arrive in time.
fn catalog_late(decision: &Decision) -> Arc<Decision> {
    let rule = "max_affected_rows";
    Arc::new(Decision {
        verdict: pgward_policy::Verdict::Deny(pgward_policy::Denial {
            rule,
            message: "max_affected_rows cannot count what this statement changes: it names a \
                      relation the catalog snapshot lacks, and no fresh snapshot was read in time"
                .into(),
            detail: format!("rule: {rule}"),
            hint: "try again".into(),
            sqlstate: pgward_policy::SQLSTATE_DENIED,
            position: None,
            audited: true,
        }),
        ..decision.clone()
    })
}
