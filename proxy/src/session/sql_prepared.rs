//! Prepared statements SQL runs by name (`EXECUTE`, `EXPLAIN EXECUTE`, `CREATE TABLE AS
//! EXECUTE`) after what they were judged under changed: PostgreSQL runs what was prepared
//! (analysed again under a new search_path), so pgward judges the prepared text again under
//! the rules as they are now, a protocol statement's and an SQL `PREPARE`'s alike (and makes
//! the latter's result mask again), before the SQL runs.

use pgward_policy::mask::ResultSource;
use pgward_policy::{Decision, StatementKind};

use super::prepared::name_key;
use super::prepared::names::Judged;
use super::*;

impl Session {
    /// `name` is a statement the client's SQL PREPARE made on the server it is pinned to
    /// (as the last pin check found it there).
    pub(super) fn holds_sql_prepared(&self, name: &str) -> bool {
        self.prepared.is_sql_prepared(name)
            && self
                .server
                .as_ref()
                .is_some_and(|s| s.server.sql_prepared.iter().any(|n| **n == *name))
    }

    /// SQL that runs a prepared statement by name, after the search_path or the rules changed
    /// since that statement was judged: PostgreSQL runs it again as it reads it now, so pgward
    /// judges it again; its refusal is the SQL statement's.
    pub(super) fn rejudge_used(&mut self, decision: &Decision) -> Result<Option<PgError>, PgError> {
        // Most statements run nothing by name.
        let uses_names = (decision.statements.iter())
            .any(|s| s.kind == StatementKind::Fetch || s.state.statement_used.is_some());
        if !uses_names {
            return Ok(None);
        }
        // `DEALLOCATE p; PREPARE p AS ...; EXECUTE p`: the EXECUTE runs this string's p (a
        // string stops at its first error, so the PREPARE ran when the EXECUTE does).
        let mut made_here: Vec<&str> = Vec::new();
        for st in &decision.statements {
            if matches!(st.kind, StatementKind::Deallocate | StatementKind::Prepare) {
                made_here.extend(st.state.name.as_deref());
                continue;
            }
            let Some(name) = st.state.statement_used.as_deref() else {
                continue;
            };
            if made_here.contains(&name) {
                continue;
            }
            if let Some(err) = self.stale_sql_prepared_refusal(name, decision) {
                return Ok(Some(err));
            }
            if let Some(err) = self.rejudge_sql_prepared(name)? {
                return Ok(Some(err));
            }
            let text = match self.prepared.judged_stale(name, self.judging_now()) {
                Judged::Current => continue,
                Judged::Stale(text) => text,
                Judged::Unknown => return Ok(Some(cannot_tell(name))),
            };
            let again = self.facts_decide(&text)?;
            if let Some(denial) = again.denial() {
                return Ok(Some(super::denial_error(denial)));
            }
            self.prepared.rejudged(name, again, self.judged_now());
        }
        self.rejudge_fetched(decision)
    }

    /// SQL `PREPARE name` judged under an earlier policy snapshot (a reload since, a catalog
    /// read): every text the server may hold under the name is judged again under the role's
    /// rules as they are now, and what they refuse now is refused; so is a name one of whose
    /// texts pgward could not tell apart.
    fn rejudge_sql_prepared(&mut self, name: &str) -> Result<Option<PgError>, PgError> {
        self.sql_effects_expire();
        let snapshot = self.judging_now().snapshot;
        let Some(texts) = self.prepared.sql_prepared_outdated(name, snapshot) else {
            return Ok(None);
        };
        let mut plans = Vec::with_capacity(texts.len());
        for text in &texts {
            let Some(text) = text else {
                return Ok(Some(cannot_tell(name)));
            };
            let again = self.facts_decide(text)?;
            if let Some(denial) = again.denial() {
                return Ok(Some(super::denial_error(denial)));
            }
            let plan = (again.mask.iter())
                .flat_map(|m| m.plans.iter())
                .find(|p| {
                    matches!(&p.source, ResultSource::Prepares(n) if name_key(n) == name_key(name))
                })
                .cloned();
            plans.push(plan);
        }
        self.prepared.sql_prepared_rejudged(name, snapshot);
        // Which of several texts the server holds is unknown: no plan then (a masked role's
        // EXECUTE masks every column of it).
        let plan = match plans.len() {
            1 => plans.pop().flatten(),
            _ => None,
        };
        self.masking.recorded_again(false, name, plan);
        Ok(None)
    }

    /// SQL `PREPARE` of a name past the client's bounds: refused, so that every statement
    /// SQL can run by name is one pgward can judge again; past the process-wide budget for
    /// kept statements (its text, `text_len` bytes at most, is kept), 53200.
    pub(super) fn sql_prepare_refusal(
        &mut self,
        decision: &Decision,
        text_len: usize,
    ) -> Option<PgError> {
        use super::prepared::names::{SQL_NAMES_KEPT, SQL_TEXT_BYTES};
        let mut prepares = (decision.statements.iter())
            .filter(|s| s.kind == StatementKind::Prepare)
            .filter_map(|s| s.state.name.as_deref())
            .peekable();
        prepares.peek()?;
        let over = prepares.any(|name| !self.prepared.sql_prepare_fits(name));
        if !over {
            return self.prepared.room_for_sql(text_len).refusal();
        }
        over.then(|| {
            PgError::error(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                "pgward: too many SQL-prepared statements on this connection",
            )
            .with_detail(format!(
                "pgward keeps at most {SQL_NAMES_KEPT} of them or {} MiB of their text per client",
                SQL_TEXT_BYTES >> 20
            ))
            .with_hint("DEALLOCATE statements the client no longer uses")
        })
    }
}

fn cannot_tell(name: &str) -> PgError {
    PgError::error(
        sqlstate::INSUFFICIENT_PRIVILEGE,
        format!("pgward: cannot tell which statement \"{name}\" is on the server"),
    )
    .with_detail("rule: prepared statements are judged by their text")
    .with_hint("DEALLOCATE it and PREPARE it again")
}
