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
    /// it under exactly that name. Before SQL `PREPARE name`: no statement of another client
    /// holds that name. Done in a round trip of pgward's own while the server is idle (a
    /// failure leaves the name empty: the client's statement meets PostgreSQL's own error);
    /// behind replies still owed, in line (`claim_sql_names_in_line`).
    pub(super) async fn ensure_sql_names(&mut self, decision: &Decision) {
        if !self.replaying() {
            return;
        }
        if self.sync.pending > 0 || self.sync.unsynced || self.replies.owes() {
            // A Parse that failed here would leave the server skipping the client's Query
            // until a Sync nobody sends: names are only emptied.
            self.claim_sql_names_in_line(decision, false);
            return;
        }
        let mut out = BytesMut::new();
        for (kind, name) in named_statements(decision) {
            match self.claim(kind, name, true) {
                Claim::Nothing => {}
                Claim::Close(names) => {
                    for old in &names {
                        crate::server::close_statement_message(old, &mut out);
                    }
                }
                Claim::Place(_, placed, rest) => {
                    for old in &placed.close {
                        crate::server::close_statement_message(old, &mut out);
                    }
                    out.extend_from_slice(&parse_message(&placed.name, &rest));
                }
            }
        }
        if out.is_empty() {
            return;
        }
        if let Some(s) = self.server.as_mut() {
            if s.server.run_extended_messages(out).await.is_err() {
                // What the server has is no longer known for sure: nobody else gets it
                // before DISCARD ALL.
                s.server.statements.clear();
                s.server.dirty = true;
            }
        }
    }

    /// The same, queued in line with the client's messages (an extended batch, or a Query
    /// behind replies owed), answered quietly. `may_parse`: the client's statement is put
    /// under its name (else that name is only emptied: PostgreSQL answers 26000).
    pub(super) fn claim_sql_names_in_line(&mut self, decision: &Decision, may_parse: bool) {
        if !self.replaying() {
            return;
        }
        for (kind, name) in named_statements(decision) {
            match self.claim(kind, name, may_parse) {
                Claim::Nothing => {}
                Claim::Close(names) => {
                    for old in &names {
                        self.close_quietly(old);
                    }
                }
                Claim::Place(key, placed, rest) => self.prepare_on_server(
                    key,
                    placed,
                    &rest,
                    super::prepared::Change::None,
                    super::replies::Handling::Quiet,
                ),
            }
        }
    }

    fn close_quietly(&mut self, name: &str) {
        if let Some(s) = self.server.as_mut() {
            s.server.conn.queue(&super::replay::close_message(name));
            self.replies.push(
                super::replies::Sent::Close(super::prepared::Change::None),
                super::replies::Handling::Quiet,
            );
        }
    }

    /// What the attached server needs so that `name` holds what the client's SQL expects.
    /// The name itself is closed whenever it may hold anything else: pgward's table of a
    /// server's statements can lag behind it (a Close skipped in a failed batch), and a
    /// Close of a name the server lacks is no error.
    fn claim(&mut self, kind: NameUse, name: &str, may_parse: bool) -> Claim {
        let mut own = self
            .prepared
            .replay(name)
            .and_then(|r| r.key.map(|k| (k, r)));
        let placed_here = match (&own, self.server.as_ref()) {
            (Some((key, _)), Some(s)) => s.server.statements.is_under(*key, name),
            _ => false,
        };
        if let (Some((_, replay)), false, NameUse::Runs, true) =
            (&own, placed_here, kind, may_parse)
        {
            // Prepared anew below: under the settings of now (`replay_scope.rs`).
            let replay = self.rescoped(name, replay.clone());
            own = replay.key.map(|k| (k, replay));
        }
        let limit = self.statement_limit;
        let owns_sql = self.prepared.owns_statement(name) && own.is_none();
        let Some(s) = self.server.as_mut() else {
            return Claim::Nothing;
        };
        let table = &mut s.server.statements;
        match (kind, own) {
            // There already (a PREPARE of it meets PostgreSQL's own 42P05).
            (_, Some(_)) if placed_here => Claim::Nothing,
            (NameUse::Runs, Some((key, replay))) if may_parse => {
                let Some(mut placed) = table.place_exactly(key, name, limit, &self.owner) else {
                    return Claim::Nothing;
                };
                if !placed.close.iter().any(|c| &**c == name) {
                    placed.close.insert(0, Arc::from(name));
                }
                Claim::Place(key, placed, replay.rest.clone())
            }
            // The client's own SQL PREPARE made it (PostgreSQL answers a PREPARE of it with
            // 42P05 itself): only a statement the table shows another client keeping goes.
            (_, None) if owns_sql => Claim::Close(table.free_name(name).into_iter().collect()),
            _ => {
                let _ = table.free_name(name);
                Claim::Close(vec![Arc::from(name)])
            }
        }
    }
}

/// What a name needs on the server before the client's statement.
enum Claim {
    Nothing,
    Close(Vec<Arc<str>>),
    /// Close what the placement lists (the name first), then Parse the client's statement.
    Place(StatementKey, Placement, bytes::Bytes),
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
