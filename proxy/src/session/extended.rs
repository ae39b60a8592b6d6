//! Bind, Execute, Describe, Close and Flush from the client: each names a statement or portal,
//! which must be one this session created (and pgward judged) exactly as the server has it.
//! Where an earlier batch still decides what a name holds, the message waits for the server's
//! answer (`settle`) instead of guessing.

use super::audit_trail::AuditKind;
use super::prepared::names::Judged;
use super::prepared::{Lookup, Space};
use super::replay_shape::{shape_changed, ShapeCheck};
use super::*;
use crate::protocol::{decode, Frame, FrontendTag};
use crate::sqlstate::ToPg;

impl Session {
    pub(super) async fn on_extended(&mut self, frame: Frame) -> Result<Flow, PgError> {
        if self.skipping {
            return Ok(Flow::Continue);
        }
        let tag = FrontendTag::from_byte(frame.tag());
        if tag == FrontendTag::Flush {
            if let Some(s) = self.server.as_mut() {
                s.server.conn.queue(frame.raw());
                self.sync.sent_flush();
            }
            return Ok(Flow::Continue);
        }
        let sent = match tag {
            FrontendTag::Bind => self.on_bind(frame.body()).await?,
            FrontendTag::Execute => self.on_execute(frame.body()).await?,
            FrontendTag::Describe => match decode::target(frame.body()) {
                Ok((kind, name)) => {
                    let space = if kind == b'S' {
                        Space::Statement
                    } else {
                        Space::Portal
                    };
                    let mut found = self.resolve(space, name).await?;
                    // A portal bound before the rules changed: not even its columns are
                    // shown if they refuse it now.
                    let mut refused = None;
                    if let (Some(_), Space::Portal) = (&found, space) {
                        match self.rejudge_portal(name)? {
                            Ok(again) => found = again.or(found),
                            Err(err) => refused = Some(err),
                        }
                    }
                    let shape = match (&found, space) {
                        (Some(_), Space::Statement) => self.check_kept_shape(name).await?,
                        _ => ShapeCheck::Holds,
                    };
                    match found {
                        Some(d) if refused.is_some() => {
                            Err((refused.unwrap_or_else(|| missing_portal(name)), Some(d)))
                        }
                        Some(_) if matches!(shape, ShapeCheck::Changed) => {
                            Err((shape_changed(), None))
                        }
                        Some(_) if matches!(shape, ShapeCheck::BatchFailed) => Err(skipped()),
                        Some(_) if matches!(shape, ShapeCheck::Lost) => {
                            Err((super::lost_meanwhile(), None))
                        }
                        Some(d) => match d.denial().map(super::denial_error) {
                            // Judged again into a refusal: not even its columns are shown.
                            Some(err) => Err((err, Some(d))),
                            None => {
                                self.next_mask = d.mask.clone().map(|m| masking::ReplyMask {
                                    decision: m,
                                    reply: masking::MaskedReply::Describe(space, name.to_string()),
                                });
                                Ok(Sent::Describe)
                            }
                        },
                        None if space == Space::Statement => Err((missing_statement(name), None)),
                        None => Err((missing_portal(name), None)),
                    }
                }
                Err(e) => Err((e.to_pg(), None)),
            },
            FrontendTag::Close => match decode::target(frame.body()) {
                // A statement SQL PREPARE made is the server's own (the client is pinned to
                // it): its Close goes there, as PostgreSQL's Close deallocates it.
                Ok((b'S', name)) if self.holds_sql_prepared(name) => {
                    self.name_may_change(Some(name));
                    self.masking.on_close(Space::Statement, name);
                    self.prepared.drop_statement(name);
                    self.prepared
                        .sql_names_removed(Some(name), self.prepared.sql_seq());
                    if let Some(r) = self.masking.records() {
                        r.forget_prepared(Some(name));
                    }
                    Ok(Sent::Close(self.prepared.close(Space::Statement, name)))
                }
                Ok((b'S', name)) if self.replaying() => {
                    self.name_may_change(Some(name));
                    self.masking.on_close(Space::Statement, name);
                    self.close_replayed(name);
                    return Ok(Flow::Continue);
                }
                Ok((kind, name)) => {
                    let space = if kind == b'S' {
                        Space::Statement
                    } else {
                        Space::Portal
                    };
                    self.masking.on_close(space, name);
                    Ok(Sent::Close(self.prepared.close(space, name)))
                }
                Err(e) => Err((e.to_pg(), None)),
            },
            _ => Err((
                PgError::error(sqlstate::PROTOCOL_VIOLATION, "unexpected message"),
                None,
            )),
        };
        let mask = self.next_mask.take();
        let sent = match sent {
            Ok(sent) => sent,
            // The client's batch failed upstream meanwhile: this message is skipped with it.
            Err(_) if self.skipping => return Ok(Flow::Continue),
            Err((err, decision)) => {
                self.refuse_extended(err, decision).await;
                return Ok(Flow::Continue);
            }
        };
        if let Err(e) = self.attach().await {
            self.refuse_extended(e, None).await;
            return Ok(Flow::Continue);
        }
        // Transaction mode: the statement under its server name, prepared there first if
        // this server lacks it.
        let statement = match (&sent, decode::target(frame.body())) {
            (Sent::Bind(_), _) => decode::bind(frame.body()).ok().map(|(_, stmt)| stmt),
            (Sent::Describe, Ok((b'S', name))) => Some(name),
            _ => None,
        };
        // Where the server calls it what the client does (the first client to prepare a
        // text names it), the message goes as it came.
        let renamed =
            statement.and_then(|stmt| self.ensure_statement(stmt).filter(|there| **there != *stmt));
        if let Some(s) = self.server.as_mut() {
            match renamed {
                Some(there) => replay::queue_renamed(&mut s.server.conn, &frame, &there),
                None => s.server.conn.queue(frame.raw()),
            }
        }
        // Only a row limit needs to know which SQL cursor an Execute FETCHes from.
        let cursor = match &sent {
            Sent::Execute { portal } if self.limits.max_result_rows > 0 => {
                match self
                    .prepared
                    .lookup(Space::Portal, portal, self.replies.batch())
                {
                    Lookup::Found(d) => super::row_limit::fetched_cursor(&d),
                    _ => None,
                }
            }
            _ => None,
        };
        let described = match (&sent, decode::target(frame.body())) {
            (Sent::Describe, Ok((b'S', name))) => Some(name.to_string()),
            _ => None,
        };
        self.replies.push_masked(sent, Handling::Forward, mask);
        if let Some(c) = cursor {
            self.replies.set_last_cursor(&c);
        }
        if let Some(name) = described {
            self.note_described(&name);
        }
        self.sync.sent_in_batch();
        Ok(Flow::Continue)
    }

    /// Bind: the guard opens here, where a statement starts to run.
    async fn on_bind(&mut self, body: &[u8]) -> Result<Refusable, PgError> {
        let (portal, stmt) = match decode::bind(body) {
            Ok(names) => names,
            Err(e) => return Ok(Err((e.to_pg(), None))),
        };
        let Some(d) = self.resolve(Space::Statement, stmt).await? else {
            return Ok(Err((missing_statement(stmt), None)));
        };
        // Judged again under a new search_path, and refused there.
        if let Some(denial) = d.denial() {
            return Ok(Err((super::denial_error(denial), Some(d))));
        }
        // An SQL PREPARE it runs, judged again if the rules changed since it was prepared
        // (the statement may have been parsed before they did).
        if let Some(err) = self.rejudge_used(&d)? {
            return Ok(Err((err, Some(d))));
        }
        // PostgreSQL analyses it again at Bind under a path pgward cannot follow.
        if let Some(err) = self.unknown_path_refusal(&d) {
            return Ok(Err((err, Some(d))));
        }
        // Transaction control bound while a guarded write is open would end its transaction.
        if let Some(err) = self.unguardable(&d) {
            return Ok(Err((err, Some(d))));
        }
        self.want_sequence_server(&d);
        if let Err(e) = self.attach().await {
            return Ok(Err((e, None)));
        }
        match self.check_kept_shape(stmt).await? {
            ShapeCheck::Holds => {}
            ShapeCheck::Changed => return Ok(Err((shape_changed(), None))),
            ShapeCheck::BatchFailed => return Ok(Err(skipped())),
            ShapeCheck::Lost => return Ok(Err((super::lost_meanwhile(), None))),
        }
        if self.needs_guard(&d) {
            match self.open_guard().await {
                Ok(super::guard::GuardOpened::Open) => {}
                // Skipped with the rest of its failed batch (`self.skipping`), unanswered.
                Ok(super::guard::GuardOpened::BatchFailed) => return Ok(Err(skipped())),
                Err(e) => return Ok(Err((e, None))),
            }
        }
        if let Err(e) = self.clear_foreign_sequences(&d).await {
            return Ok(Err((e, Some(d))));
        }
        // A bound `EXECUTE s1` runs what the server holds under s1 when it executes.
        if let Err(e) = self.claim_sql_names(&d).await {
            return Ok(Err((e, Some(d))));
        }
        self.masking.on_bind(stmt, portal);
        let batch = self.replies.batch();
        let known = !(self.path_check == PathCheck::UnknownInBatch && self.sync.unsynced);
        let change = (self.prepared).bind(portal, stmt, d, batch, &self.search_path, known);
        Ok(Ok(Sent::Bind(change)))
    }

    async fn on_execute(&mut self, body: &[u8]) -> Result<Refusable, PgError> {
        let (portal, _max_rows) = match decode::execute(body) {
            Ok(fields) => fields,
            Err(e) => return Ok(Err((e.to_pg(), None))),
        };
        let Some(mut d) = self.resolve(Space::Portal, portal).await? else {
            return Ok(Err((missing_portal(portal), None)));
        };
        // Bound before the rules changed: judged again as they are now, and so is what it
        // runs by name (a cursor it FETCHes, a statement it EXECUTEs).
        match self.rejudge_portal(portal)? {
            Ok(again) => d = again.unwrap_or(d),
            Err(err) => return Ok(Err((err, Some(d)))),
        }
        if let Some(err) = self.rejudge_used(&d)? {
            return Ok(Err((err, Some(d))));
        }
        // Transaction control while a guarded write is open. (A write paged with a row limit
        // runs: the guard trips if its rows come back suspended, without a count.)
        if let Some(err) = self.unguardable(&d) {
            return Ok(Err((err, Some(d))));
        }
        self.want_sequence_server(&d);
        if let Err(e) = self.attach().await {
            return Ok(Err((e, None)));
        }
        // A write portal bound in an earlier batch of the client's block runs here.
        if self.needs_guard(&d) {
            match self.open_guard().await {
                Ok(super::guard::GuardOpened::Open) => {}
                // Skipped with the rest of its failed batch (`self.skipping`), unanswered.
                Ok(super::guard::GuardOpened::BatchFailed) => return Ok(Err(skipped())),
                Err(e) => return Ok(Err((e, None))),
            }
        }
        self.copy_from_sent(&d);
        if let Err(e) = self.clear_foreign_sequences(&d).await {
            return Ok(Err((e, Some(d))));
        }
        if !self.portal_effects(portal, &d).await? {
            return Ok(Err((super::lost_meanwhile(), None)));
        }
        self.next_mask = d.mask.clone().map(|m| masking::ReplyMask {
            decision: m,
            reply: masking::MaskedReply::Execute(portal.to_string()),
        });
        self.begin_audit(d, AuditKind::Execute);
        Ok(Ok(Sent::Execute {
            portal: portal.to_string(),
        }))
    }

    /// The decision under a name once its fate is known; `None` when there is none.
    async fn resolve(
        &mut self,
        space: Space,
        name: &str,
    ) -> Result<Option<Arc<Decision>>, PgError> {
        // One lookup when the name is settled (the common case); else the server's answers
        // are read until it is, and it is looked up again.
        let found = match self.prepared.lookup(space, name, self.replies.batch()) {
            Lookup::Found(d) => d,
            Lookup::Missing => return Ok(None),
            Lookup::Unsettled => {
                if !self.settle(space, name).await? {
                    return Ok(None);
                }
                match self.prepared.lookup(space, name, self.replies.batch()) {
                    Lookup::Found(d) => d,
                    Lookup::Missing | Lookup::Unsettled => return Ok(None),
                }
            }
        };
        // The search_path changed since it was judged: PostgreSQL reads it again under the
        // new one (other functions, other relations), and so does pgward; and so after a new
        // policy snapshot (reload, catalog read).
        if space == Space::Statement {
            match self.prepared.judged_stale(name, self.judging_now()) {
                Judged::Current => {}
                Judged::Stale(text) => {
                    // As at a Parse: a guarded role waits for a catalog that lacks a relation.
                    let again = self.decide_fresh(&text).await?;
                    self.prepared
                        .rejudged(name, again.clone(), self.judged_now());
                    return Ok(Some(again));
                }
                // Nothing to judge it from: refused as a statement pgward does not know.
                Judged::Unknown => return Ok(None),
            }
        }
        Ok(Some(found))
    }

    /// Read the server's answers until what an earlier batch did to `name` is known. False
    /// when the server was lost meanwhile.
    pub(super) async fn settle(&mut self, space: Space, name: &str) -> Result<bool, PgError> {
        let settled = move |s: &Session| {
            let batch = s.replies.batch();
            s.prepared.settled(space, name, batch) || !s.replies.owes_before(batch)
        };
        if settled(self) {
            return Ok(true);
        }
        self.serve_until(settled, true).await
    }
}

/// What a client message becomes: sent (with its reply entry), or refused with this error
/// (and the decision to audit as denied).
type Refusable = Result<Sent, (PgError, Option<Arc<Decision>>)>;

fn missing_statement(name: &str) -> PgError {
    if name.is_empty() {
        PgError::error(
            sqlstate::INVALID_SQL_STATEMENT_NAME,
            "unnamed prepared statement does not exist",
        )
    } else {
        PgError::error(
            sqlstate::INVALID_SQL_STATEMENT_NAME,
            format!("prepared statement \"{name}\" does not exist"),
        )
    }
}

fn missing_portal(name: &str) -> PgError {
    PgError::error(
        sqlstate::INVALID_CURSOR_NAME,
        format!("portal \"{name}\" does not exist"),
    )
}

/// The refusal of a message skipped with its failed batch: never sent (the session is
/// skipping to Sync, as PostgreSQL is).
fn skipped() -> (PgError, Option<Arc<Decision>>) {
    (
        PgError::error(
            sqlstate::IN_FAILED_SQL_TRANSACTION,
            "skipped after an error earlier in the batch",
        ),
        None,
    )
}
