//! Transaction mode shares each server's prepared statements among the clients pgward
//! places there, so SQL that names a prepared statement (`EXECUTE`, `EXPLAIN EXECUTE`,
//! `CREATE TABLE AS EXECUTE`, `DEALLOCATE`) may reach only the client's own: what it
//! prepared by Parse or by SQL `PREPARE`. Any other name is answered as PostgreSQL answers a
//! name its session never prepared, before anything is sent; names beginning with
//! `pgward_` are pgward's. Before SQL `EXECUTE` of one of the client's protocol statements,
//! pgward puts it on the server under exactly that name.

use pgward_policy::{Decision, StatementKind};

use super::replay::parse_message;
use crate::server_state::{Placement, StatementKey};

/// The prefix of pgward's own statement names on a server.
const RESERVED: &str = "pgward_";

fn is_reserved(name: &str) -> bool {
    // Bytes, not characters: a name is any string, its 7th byte may be inside one.
    name.as_bytes()
        .get(..RESERVED.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(RESERVED.as_bytes()))
}

use super::*;

impl Session {
    /// Transaction mode: statement names beginning with `pgward_` are pgward's own on a
    /// shared server (its internal statement, other clients' statements kept under hash
    /// names); a client may not take one.
    pub(super) fn reserved_name_refusal(&self, name: &str) -> Option<PgError> {
        (self.mode == PoolMode::Transaction && is_reserved(name)).then(|| {
            PgError::error(
                sqlstate::INVALID_SQL_STATEMENT_NAME,
                format!("pgward: prepared statement names beginning with \"{RESERVED}\" are reserved in transaction pooling"),
            )
            .with_hint("choose another statement name")
        })
    }

    /// Before anything of `decision` is sent: names it may not use, backends it may not
    /// signal (`backend_signals.rs`), statements judged again under a new search_path.
    pub(super) fn statement_refusal(
        &mut self,
        decision: &Decision,
    ) -> Result<Option<PgError>, PgError> {
        match self
            .foreign_statement_refusal(decision)
            .or_else(|| self.signal_refusal(decision))
        {
            Some(err) => Ok(Some(err)),
            None => self.rejudge_used(decision),
        }
    }

    /// SQL that runs one of the client's protocol statements after the search_path changed:
    /// PostgreSQL reads that statement again under the new path, so pgward judges it again;
    /// its refusal is the SQL statement's.
    pub(super) fn rejudge_used(&mut self, decision: &Decision) -> Result<Option<PgError>, PgError> {
        for st in &decision.statements {
            if st.kind == StatementKind::Deallocate {
                continue;
            }
            let Some(name) = st.state.statement_used.as_deref() else {
                continue;
            };
            let Some(text) = self.prepared.judged_stale(name, self.path_epoch) else {
                continue;
            };
            let again = self.facts_decide(&text)?;
            if let Some(denial) = again.denial() {
                return Ok(Some(super::denial_error(denial)));
            }
            self.prepared.rejudged(name, again, self.path_epoch);
        }
        Ok(None)
    }

    /// The refusal for a statement naming a prepared statement this client never made.
    pub(super) fn foreign_statement_refusal(&self, decision: &Decision) -> Option<PgError> {
        if self.mode != PoolMode::Transaction {
            return None;
        }
        // `PREPARE p AS ...; EXECUTE p` in one string: the first prepares what the second uses.
        let mut prepared_here: Vec<&str> = Vec::new();
        for st in &decision.statements {
            if st.kind == StatementKind::Prepare {
                if let Some(name) = st.state.name.as_deref() {
                    if let Some(err) = self.reserved_name_refusal(name) {
                        return Some(err);
                    }
                    prepared_here.push(name);
                }
            }
            let Some(name) = st.state.statement_used.as_deref() else {
                continue;
            };
            if !self.prepared.owns_statement(name) && !prepared_here.contains(&name) {
                return Some(PgError::error(
                    sqlstate::INVALID_SQL_STATEMENT_NAME,
                    format!("prepared statement \"{name}\" does not exist"),
                ));
            }
        }
        None
    }

    /// Before a Query that runs a prepared statement by name (`EXECUTE`, `EXPLAIN EXECUTE`,
    /// `CREATE TABLE AS EXECUTE`) of one of the client's protocol statements: the server has
    /// it under exactly that name. Before SQL `PREPARE name`: no statement pgward keeps for
    /// others holds that name. Done in a round trip of pgward's own while the server is idle
    /// (its failure is left for the client's statement to meet); behind replies still owed,
    /// in line (`claim_sql_names_in_line`).
    pub(super) async fn ensure_sql_names(&mut self, decision: &Decision) {
        if !self.replaying() {
            return;
        }
        if self.sync.pending > 0 || self.sync.unsynced || self.replies.owes() {
            // A Parse that failed here would leave the server skipping the client's Query
            // until a Sync nobody sends: names are only freed.
            self.claim_sql_names_in_line(decision, false);
            return;
        }
        let mut out = BytesMut::new();
        for (kind, name) in named_statements(decision) {
            let freed = match kind {
                NameUse::Runs => match self.exact_placement(name) {
                    Some(Some((_, placed, rest))) => {
                        for old in &placed.close {
                            crate::server::close_statement_message(old, &mut out);
                        }
                        out.extend_from_slice(&parse_message(&placed.name, &rest));
                        continue;
                    }
                    Some(None) => continue,
                    None => self.free_kept_name(name),
                },
                NameUse::Prepares => self.free_kept_name(name),
            };
            if let Some(old) = freed {
                crate::server::close_statement_message(&old, &mut out);
            }
        }
        if out.is_empty() {
            return;
        }
        if let Some(s) = self.server.as_mut() {
            if s.server.run_extended_messages(out).await.is_err() {
                // What the server has is no longer known for sure.
                s.server.statements.clear();
            }
        }
    }

    /// The same, queued in line with the client's messages (an extended batch, or a Query
    /// behind replies owed), answered quietly. `may_parse`: the client's statement is put
    /// under its name (else that name is only freed, and PostgreSQL answers what it has).
    pub(super) fn claim_sql_names_in_line(&mut self, decision: &Decision, may_parse: bool) {
        if !self.replaying() {
            return;
        }
        for (kind, name) in named_statements(decision) {
            if kind == NameUse::Runs && may_parse {
                match self.exact_placement(name) {
                    Some(Some((key, placed, rest))) => {
                        self.prepare_on_server(
                            key,
                            placed,
                            &rest,
                            super::prepared::Change::None,
                            super::replies::Handling::Quiet,
                        );
                        continue;
                    }
                    Some(None) => continue,
                    None => {}
                }
            }
            if let Some(old) = self.free_kept_name(name) {
                if let Some(s) = self.server.as_mut() {
                    s.server.conn.queue(&super::replay::close_message(&old));
                    self.replies.push(
                        super::replies::Sent::Close(super::prepared::Change::None),
                        super::replies::Handling::Quiet,
                    );
                }
            }
        }
    }

    /// The client's protocol statement `name` placed under exactly that name on the attached
    /// server: `None` when the client has no such statement, `Some(None)` when it is there
    /// already, else what to close and the Parse body's rest.
    fn exact_placement(
        &mut self,
        name: &str,
    ) -> Option<Option<(StatementKey, Placement, bytes::Bytes)>> {
        let replay = self.prepared.replay(name)?;
        let key = replay.key?;
        let limit = self.statement_limit;
        let s = self.server.as_mut()?;
        Some(
            s.server
                .statements
                .place_exactly(key, name, limit, &self.owner)
                .map(|placement| (key, placement, replay.rest.clone())),
        )
    }

    /// Forget the statement pgward keeps for others under `name` on the attached server:
    /// the name to close, if one was kept.
    fn free_kept_name(&mut self, name: &str) -> Option<Arc<str>> {
        self.server
            .as_mut()
            .and_then(|s| s.server.statements.free_name(name))
    }
}

/// How a statement uses a prepared statement's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NameUse {
    /// Runs the statement under it (EXECUTE, EXPLAIN EXECUTE, CREATE TABLE AS EXECUTE).
    Runs,
    /// SQL PREPARE of it.
    Prepares,
}

/// The prepared-statement names `decision`'s statements run or prepare (DEALLOCATE is
/// handled where it runs).
fn named_statements(decision: &Decision) -> impl Iterator<Item = (NameUse, &str)> {
    decision.statements.iter().filter_map(|st| match st.kind {
        StatementKind::Prepare => st.state.name.as_deref().map(|n| (NameUse::Prepares, n)),
        StatementKind::Deallocate => None,
        _ => st
            .state
            .statement_used
            .as_deref()
            .map(|n| (NameUse::Runs, n)),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reserved_names_are_read_as_bytes() {
        assert!(super::is_reserved("pgward_internal"));
        assert!(super::is_reserved("PGWARD_x"));
        assert!(!super::is_reserved("aaaaaaé"));
        assert!(!super::is_reserved("pgward"));
        assert!(!super::is_reserved(""));
    }
}
