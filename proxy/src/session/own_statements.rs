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
        text_len: usize,
    ) -> Result<Option<PgError>, PgError> {
        match self
            .foreign_statement_refusal(decision)
            .or_else(|| self.signal_refusal(decision))
            .or_else(|| self.unknown_path_refusal(decision))
            .or_else(|| self.sql_prepare_refusal(decision, text_len))
        {
            Some(err) => Ok(Some(err)),
            None => self.rejudge_used(decision),
        }
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

    /// Before SQL that runs a prepared statement by name (`EXECUTE`, `EXPLAIN EXECUTE`,
    /// `CREATE TABLE AS EXECUTE`) or prepares one (`PREPARE`), by any path: the name on the
    /// server holds the client's own statement, or nothing of anyone else's. What the server
    /// holds is asked of the server (`pg_prepared_statements`; pgward's table of it can lag
    /// behind, as when a failed batch skipped a Close), and the fix is a round trip of
    /// pgward's own, so it needs the server idle: behind unanswered messages, such SQL is
    /// refused unless the name was settled earlier in the unit. Called before the write
    /// guard's BEGIN, so that a failed claim leaves no guard open.
    pub(super) async fn claim_sql_names(&mut self, decision: &Decision) -> Result<(), PgError> {
        // Every Bind, Query and Parse comes here: most name no prepared statement.
        if !self.replaying() || named_statements(decision).next().is_none() {
            return Ok(());
        }
        // pgward's own round trip needs the server idle and the ledger current.
        let idle = self.sync.pending == 0 && !self.sync.unsynced && !self.replies.owes();
        let names: Vec<(NameUse, Box<str>)> = named_statements(decision)
            .map(|(kind, name)| (kind, Box::from(name)))
            .collect();
        let unsettled: Vec<(NameUse, Box<str>)> = names
            .iter()
            .filter(|(kind, name)| !self.name_settled(*kind, name))
            .cloned()
            .collect();
        if unsettled.is_empty() {
            self.note_claimed(&names);
            return Ok(());
        }
        let names = unsettled;
        if !idle {
            // A PREPARE left alone may meet another client's name (42P05): nothing runs.
            if names.iter().all(|(kind, _)| *kind == NameUse::Prepares) {
                return Ok(());
            }
            return Err(PgError::error(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "pgward: in transaction pooling, a statement that runs or prepares a named \
                 statement cannot follow messages whose results are still owed",
            )
            .with_hint("send it once the earlier results are in, or use session pooling"));
        }
        let mut out = BytesMut::new();
        let mut told = Vec::new();
        for (kind, name) in &names {
            let from_sql = self.server_holds(name).await?;
            self.claim_messages(*kind, name, from_sql, &mut out, &mut told);
        }
        if !out.is_empty() {
            let Some(s) = self.server.as_mut() else {
                return Err(super::lost_meanwhile());
            };
            match s.server.run_extended_described(out).await {
                Ok(described) => {
                    // Parsed anew here, a statement must have the result type it was parsed
                    // with, as PostgreSQL holds a prepared statement to it.
                    let changed = told.iter().zip(&described).any(|((_, t), (tag, body))| {
                        super::replay_shape::shape_of(*tag, body).is_some_and(|there| there != *t)
                    });
                    if changed {
                        // Not left there under the client's name for a later EXECUTE.
                        let placed: Vec<Arc<str>> = told
                            .iter()
                            .filter_map(|(name, _)| s.server.statements.free_name(name))
                            .collect();
                        if s.server.close_statements(&placed).await.is_err() {
                            s.server.dirty = true;
                        }
                        return Err(super::replay_shape::shape_changed());
                    }
                }
                Err(e) => {
                    // What the server holds is no longer known: nobody else gets it before
                    // DISCARD ALL, and a block it ran in is failed.
                    s.server.statements.clear();
                    s.server.dirty = true;
                    if self.sync.tx_status == b'T' {
                        self.sync.tx_status = b'E';
                    }
                    return Err(claim_error(e));
                }
            }
        }
        self.note_claimed(&names);
        Ok(())
    }

    /// A Parse or Close of statement `name`, or DEALLOCATE of it (`None`: of every name,
    /// DEALLOCATE ALL or DISCARD ALL), from the client: what the name holds on the server may
    /// change (a closed statement stays there under its name), so what was known of it
    /// earlier in the unit, or at the last pin check, no longer holds.
    pub(super) fn name_may_change(&mut self, name: Option<&str>) {
        let gone = |n: &str| name.is_none_or(|name| n == name);
        self.unit.claimed.retain(|c| !gone(&c.name));
        if let Some(s) = self.server.as_mut() {
            s.server.sql_prepared.retain(|n| !gone(n));
        }
    }

    /// `names` hold what the client's SQL expects on the attached server now.
    fn note_claimed(&mut self, names: &[(NameUse, Box<str>)]) {
        let Some(backend) = self.server.as_ref().map(|s| s.server.cancel.pid) else {
            return;
        };
        for (_, name) in names {
            let key = self.prepared.replay(name).and_then(|r| r.key);
            let claimed = super::unit_effects::Claimed {
                backend,
                name: name.clone(),
                key,
            };
            if !self.unit.claimed.contains(&claimed) {
                self.unit.claimed.push(claimed);
            }
        }
    }

    /// Known right already: checked on this very server earlier in the unit for the
    /// client's statement of that name as it is now, or the client's statement is there
    /// under it by a Parse the server answered (none placing it is owed) in a batch that
    /// has not failed, or the client is pinned here by its own SQL PREPARE of that name
    /// (nobody else has had this server since; a DEALLOCATE of it since leaves PostgreSQL's
    /// own 26000 to answer).
    fn name_settled(&self, kind: NameUse, name: &str) -> bool {
        let Some(s) = self.server.as_ref() else {
            return false;
        };
        if kind == NameUse::Runs
            && self.pinned.is_some()
            && self.prepared.replay(name).is_none()
            && s.server.sql_prepared.iter().any(|n| &**n == name)
        {
            return true;
        }
        let own = self.prepared.replay(name).and_then(|r| r.key);
        let backend = s.server.cancel.pid;
        if self
            .unit
            .claimed
            .iter()
            .any(|c| c.backend == backend && &*c.name == name && c.key == own)
        {
            return true;
        }
        match (kind, own) {
            (NameUse::Runs, Some(key)) => {
                !self.replies.places(key)
                    && !self.skipping
                    && s.server.statements.is_under(key, name)
            }
            _ => false,
        }
    }

    /// Whether the server holds a prepared statement `name`, and whether SQL PREPARE made
    /// it (only the client can have: another client's SQL PREPARE pins that client to its
    /// server, which is reset before anyone else gets it).
    async fn server_holds(&mut self, name: &str) -> Result<Option<bool>, PgError> {
        let Some(s) = self.server.as_mut() else {
            return Err(super::lost_meanwhile());
        };
        let sql = format!(
            "SELECT from_sql FROM pg_catalog.pg_prepared_statements \
             WHERE name OPERATOR(pg_catalog.=) {}",
            crate::server_state::literal(name)
        );
        let rows = s.server.query_rows(&sql).await.map_err(claim_error)?;
        Ok(rows
            .first()
            .map(|r| r.first().cloned().flatten().as_deref() == Some("t")))
    }

    /// The messages that leave `name` as the client's SQL expects, given what the server
    /// holds under it (`from_sql`: see [`Session::server_holds`]).
    fn claim_messages(
        &mut self,
        kind: NameUse,
        name: &str,
        from_sql: Option<bool>,
        out: &mut BytesMut,
        told: &mut Vec<(Arc<str>, Arc<[u8]>)>,
    ) {
        if from_sql == Some(true) {
            // The client's own SQL PREPARE: PostgreSQL answers as it would.
            return;
        }
        let own = self.prepared.replay(name).filter(|r| r.key.is_some());
        let limit = self.statement_limit;
        let own_here = own.as_ref().and_then(|r| r.key).is_some_and(|k| {
            self.server
                .as_ref()
                .is_some_and(|s| s.server.statements.is_under(k, name))
        });
        match (kind, own) {
            (NameUse::Runs, Some(replay)) => {
                let replay = self.rescoped(name, replay);
                let Some(key) = replay.key else { return };
                let Some(s) = self.server.as_mut() else {
                    return;
                };
                let Some(placed) = s
                    .server
                    .statements
                    .place_exactly(key, name, limit, &self.owner)
                else {
                    return;
                };
                if from_sql.is_some() && !placed.close.iter().any(|c| &**c == name) {
                    crate::server::close_statement_message(name, out);
                }
                for old in &placed.close {
                    crate::server::close_statement_message(old, out);
                }
                out.extend_from_slice(&parse_message(&placed.name, &replay.rest));
                if let Some(shape) = self.told_shape(name) {
                    crate::protocol::frontend::describe_statement(&placed.name, out);
                    told.push((placed.name.clone(), shape));
                }
            }
            // The client's protocol statement is there: PostgreSQL's own 42P05.
            (NameUse::Prepares, Some(_)) if own_here => {}
            _ => {
                if let Some(s) = self.server.as_mut() {
                    let _ = s.server.statements.free_name(name);
                }
                if from_sql == Some(false) {
                    crate::server::close_statement_message(name, out);
                }
            }
        }
    }
}

/// What the client hears when pgward's own round trip for a name fails: in a failed block,
/// PostgreSQL's 25P02 (the client's statement would have met it); otherwise the server's
/// words under pgward's name (the client's statement could not be prepared there).
fn claim_error(e: crate::server::ServerError) -> PgError {
    match &e {
        crate::server::ServerError::Query { code, message }
            if code == sqlstate::IN_FAILED_SQL_TRANSACTION =>
        {
            PgError::error(sqlstate::IN_FAILED_SQL_TRANSACTION, message.clone())
        }
        crate::server::ServerError::Query { code, message } => PgError::error(
            sqlstate::INVALID_SQL_STATEMENT_NAME,
            format!("pgward: the prepared statement could not be placed: {message}"),
        )
        .with_detail(format!("upstream SQLSTATE {code}")),
        _ => e.to_pg(),
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
