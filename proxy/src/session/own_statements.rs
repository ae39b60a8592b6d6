//! Transaction mode shares each server's prepared statements among the clients pgward
//! places there, so SQL that names a prepared statement (`EXECUTE`, `EXPLAIN EXECUTE`,
//! `CREATE TABLE AS EXECUTE`, `DEALLOCATE`) may reach only the client's own: what it
//! prepared by Parse or by SQL `PREPARE`. Any other name is answered as PostgreSQL answers a
//! name its session never prepared, before anything is sent; names beginning with
//! `pgward_` are pgward's. Before SQL `EXECUTE` of one of the client's protocol statements,
//! pgward puts it on the server under exactly that name.

use pgward_policy::{Decision, StatementKind};

use super::replay::parse_message;

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

    /// Before a Query with SQL `EXECUTE name` of one of the client's protocol statements:
    /// the server has it under exactly that name. Before SQL `PREPARE name`: no statement
    /// pgward keeps for others holds that name. Done in a round trip of pgward's own while
    /// the server is idle (its failure is left for the client's statement to meet); with
    /// replies still owed, the names are left as they are.
    pub(super) async fn ensure_sql_names(&mut self, decision: &Decision) {
        if !self.replaying() || self.sync.pending > 0 || self.sync.unsynced || self.replies.owes() {
            return;
        }
        let mut out = BytesMut::new();
        for st in &decision.statements {
            let Some(name) = st.state.name.as_deref() else {
                continue;
            };
            match st.kind {
                pgward_policy::StatementKind::Execute => self.place_exactly(name, &mut out),
                pgward_policy::StatementKind::Prepare => {
                    let freed = self
                        .server
                        .as_mut()
                        .and_then(|s| s.server.statements.free_name(name));
                    if let Some(old) = freed {
                        crate::server::close_statement_message(&old, &mut out);
                    }
                }
                _ => {}
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

    /// The messages that put the client's statement `name` on the server under that name.
    fn place_exactly(&mut self, name: &str, out: &mut BytesMut) {
        let Some(replay) = self.prepared.replay(name) else {
            return;
        };
        let Some(key) = replay.key else { return };
        let limit = self.statement_limit;
        let Some(s) = self.server.as_mut() else {
            return;
        };
        let placed = s
            .server
            .statements
            .place_exactly(key, name, limit, &self.owner);
        if let Some(placed) = placed {
            for old in &placed.close {
                crate::server::close_statement_message(old, out);
            }
            out.extend_from_slice(&parse_message(&placed.name, &replay.rest));
        }
    }
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
