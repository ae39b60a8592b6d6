//! Messages from the client: the decision point for everything that can run SQL, and the
//! bookkeeping of sync points that lets replies keep PostgreSQL's order.

use super::audit_trail::AuditKind;
use super::prepared::kept::parse_weight;
use super::prepared::{Change, Space};
use super::session_state::PrepareOrigin;
use super::statement_text::Text;
use super::*;
use crate::protocol::decode;
use crate::protocol::frontend;
use crate::protocol::Frame;
use crate::sqlstate::ToPg;

impl Session {
    /// One client message, read by the relay at `now`.
    pub(super) async fn on_client(&mut self, frame: Frame, now: Instant) -> Result<Flow, PgError> {
        self.now = now;
        self.timers.touch(now);
        self.flush_asked_at_limit = false;
        // PostgreSQL would swallow these without a ReadyForQuery (as a COPY protocol error, or
        // while skipping to Sync), which would leave pgward's count of sync points wrong; no
        // driver sends them, so they end the session instead.
        if self.copy_in && !matches!(frame.tag(), b'd' | b'c' | b'f' | b'H' | b'S') {
            return Err(PgError::fatal(
                sqlstate::PROTOCOL_VIOLATION,
                format!(
                    "unexpected message type {} during COPY FROM STDIN",
                    frame.tag()
                ),
            ));
        }
        // PostgreSQL runs a Query that follows extended-protocol messages without a Sync (as
        // the end of their implicit transaction), and skips it when one of them failed: the
        // reply queue enters it as conditional (see `replies.rs`). A FunctionCall there is
        // refused like any other.
        if self.sync.unsynced && frame.tag() == b'F' {
            return Err(PgError::fatal(
                sqlstate::PROTOCOL_VIOLATION,
                "FunctionCall inside an unfinished extended-query batch: send Sync first",
            ));
        }
        // A Sync or Flush with contents is PostgreSQL's 08P01, which would leave its batch
        // skipped and pgward's count of sync points wrong: it ends the session.
        if matches!(frame.tag(), b'S' | b'H') {
            decode::empty(frame.body())
                .map_err(|e| PgError::fatal(sqlstate::PROTOCOL_VIOLATION, e.to_string()))?;
        }
        match frame.tag() {
            b'Q' => self.on_query(frame).await,
            b'P' => self.on_parse(frame).await,
            b'B' | b'E' | b'D' | b'C' | b'H' => self.on_extended(frame).await,
            b'S' => self.on_sync(frame).await,
            // COPY data only means something while the server is in COPY IN.
            b'd' | b'c' | b'f' => {
                if frame.tag() != b'd' {
                    self.copy_in = false;
                    self.copy_from_started = false;
                }
                if let Some(s) = self.server.as_mut() {
                    s.server.conn.queue(frame.raw());
                }
                Ok(Flow::Continue)
            }
            b'X' => Ok(Flow::Stop),
            b'F' => self.on_function_call(frame).await,
            other => Err(PgError::fatal(
                sqlstate::PROTOCOL_VIOLATION,
                format!("invalid frontend message type {other}"),
            )),
        }
    }

    async fn on_query(&mut self, frame: Frame) -> Result<Flow, PgError> {
        if self.skipping {
            return Ok(Flow::Continue);
        }
        let text = decode::query_bytes(frame.body())
            .map_err(|e| PgError::error(sqlstate::PROTOCOL_VIOLATION, e.to_string()))
            .and_then(|b| self.statement_text(b));
        let (sql, rewritten) = match text {
            Ok(Text::Judge(sql, rewritten)) => (sql, rewritten),
            Ok(Text::Unreadable(sql, decision)) => {
                self.refuse_denied_query(&frame, &sql, decision).await;
                return Ok(Flow::Continue);
            }
            Err(e) => {
                self.refuse_simple(e, None).await;
                return Ok(Flow::Continue);
            }
        };
        let sql = sql.as_ref();
        // The server gets the text as judged (see `statement_text.rs`).
        let rebuilt = rewritten.map(|bytes| super::statement_text::query_frame(&bytes));
        let frame = rebuilt.as_ref().unwrap_or(&frame);
        let decision = self.decide_fresh(sql).await?;
        if decision.denial().is_some() {
            self.refuse_denied_query(frame, sql, decision).await;
            return Ok(Flow::Continue);
        }
        // What an SQL PREPARE in it keeps (the judging below may read a newer snapshot).
        let origin = PrepareOrigin {
            text: sql,
            snapshot: self.judged_now().snapshot,
            portal: None,
        };
        let has_txn_control = decision
            .statements
            .iter()
            .any(|s| s.kind == pgward_policy::StatementKind::Transaction);
        // Answered without a server: the name is checked against this client's own table.
        if let Some(err) = self.statement_refusal(&decision, origin.text.len())? {
            self.refuse_simple(err, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        if self.needs_guard(&decision) && decision.statements.len() > 1 && has_txn_control {
            // A guard around the whole string could not stop the string's own COMMIT: run it
            // one statement at a time, each write under its own guard.
            // The pieces are sent as UTF-8: only text that reads the same in the client's
            // encoding (ASCII) is split.
            let pieces = pgward_policy::split_statements(sql)
                .filter(|p| p.len() == decision.statements.len())
                .filter(|_| sql.is_ascii() || self.client_is_utf8());
            let Some(mut pieces) = pieces else {
                let err = PgError::error(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    "pgward: could not analyze statement boundaries for max_affected_rows",
                )
                .with_detail("rule: max_affected_rows")
                .with_hint("send BEGIN, the write and COMMIT as separate statements");
                self.refuse_simple(err, Some(decision.clone())).await;
                return Ok(Flow::Continue);
            };
            let first = pieces.remove(0);
            self.script = pieces.into();
            self.script_failed = false;
            return self.run_script_piece(&first).await;
        }
        if let Some(name) = self.deallocates_kept_statement(&decision) {
            return self.deallocate_kept(decision, &name, frame.raw()).await;
        }
        self.run_query(decision, frame.raw(), Some(origin)).await
    }

    /// Forward an allowed Query (raw bytes; `origin`: the text judged and when, which an SQL
    /// PREPARE in it keeps) with its guard and audit.
    pub(super) async fn run_query(
        &mut self,
        decision: Arc<Decision>,
        raw: &[u8],
        origin: Option<PrepareOrigin<'_>>,
    ) -> Result<Flow, PgError> {
        self.run_query_as(decision, raw, Handling::Forward, origin)
            .await
    }

    pub(super) async fn run_query_as(
        &mut self,
        decision: Arc<Decision>,
        raw: &[u8],
        handling: Handling,
        origin: Option<PrepareOrigin<'_>>,
    ) -> Result<Flow, PgError> {
        self.want_sequence_server(&decision);
        if let Err(e) = self.attach().await {
            self.script.clear();
            self.refuse_simple(e, None).await;
            return Ok(Flow::Continue);
        }
        if let Some(err) = self
            .unguardable(&decision)
            .or_else(|| self.session_state_refusal(&decision))
        {
            self.script.clear();
            self.refuse_simple(err, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        if let Err(e) = self.claim_sql_names(&decision).await {
            self.script.clear();
            self.refuse_simple(e, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        if !self.settle_declared(&decision).await? {
            self.script.clear();
            self.refuse_simple(super::lost_meanwhile(), None).await;
            return Ok(Flow::Continue);
        }
        if self.needs_guard(&decision) {
            match self.open_guard().await {
                Ok(super::guard::GuardOpened::Open) => {}
                // Skipped with the rest of its failed batch, unanswered.
                Ok(super::guard::GuardOpened::BatchFailed) => {
                    self.script.clear();
                    return Ok(Flow::Continue);
                }
                Err(e) => {
                    self.script.clear();
                    self.refuse_simple(e, None).await;
                    return Ok(Flow::Continue);
                }
            }
        }
        if let Err(e) = self.clear_foreign_sequences(&decision).await {
            self.script.clear();
            self.refuse_simple(e, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        self.apply_effects(&decision, origin);
        self.free_databases(&decision).await;
        self.copy_from_sent(&decision);
        let mask = decision.mask.clone().map(|d| super::masking::ReplyMask {
            decision: d,
            reply: super::masking::MaskedReply::Query,
        });
        let cursor = super::row_limit::fetched_cursor(&decision);
        self.begin_audit(decision, AuditKind::Query);
        if let Some(s) = self.server.as_mut() {
            s.server.conn.queue(raw);
            // A simple Query drops the unnamed statement.
            s.server.statements.unnamed = None;
        }
        // After extended-protocol messages with no Sync, the queue enters it as skipped with
        // the batch if one of them fails.
        self.replies.push_masked(Sent::Query, handling, mask);
        if let Some(c) = cursor {
            self.replies.set_last_cursor(&c);
        }
        self.sync.sent_sync_point();
        Ok(Flow::Continue)
    }

    /// The next statement of a string being run one statement at a time.
    pub(super) async fn run_script_piece(&mut self, sql: &str) -> Result<Flow, PgError> {
        // Judged again on its own: same verdict as within the whole (fail closed if not).
        let decision = self.decide_fresh(sql).await?;
        if let Some(d) = decision.denial() {
            self.script.clear();
            let err = denial_error(d);
            self.refuse_simple(err, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        let origin = PrepareOrigin {
            text: sql,
            snapshot: self.judged_now().snapshot,
            portal: None,
        };
        // Statements it runs by name are judged again as the whole string's were.
        if let Some(err) = self.statement_refusal(&decision, origin.text.len())? {
            self.script.clear();
            self.refuse_simple(err, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        let mut raw = BytesMut::new();
        frontend::query(sql, &mut raw);
        self.run_query(decision, &raw, Some(origin)).await
    }

    async fn on_parse(&mut self, frame: Frame) -> Result<Flow, PgError> {
        if self.skipping {
            return Ok(Flow::Continue);
        }
        let parsed = decode::parse_bytes(frame.body())
            .map_err(|e| e.to_pg())
            .and_then(|(name, bytes)| Ok((name, bytes, self.statement_text(bytes)?)));
        let (name, old_sql, (sql, rewritten)) = match parsed {
            Ok((name, old_sql, Text::Judge(sql, rewritten))) => (name, old_sql, (sql, rewritten)),
            Ok((name, _, Text::Unreadable(sql, decision))) => {
                // Never reaches the server; a later Bind of the name is refused here.
                let name = name.to_string();
                self.prepared.drop_statement(&name);
                self.refuse_denied_parse(&frame, &sql, decision).await;
                return Ok(Flow::Continue);
            }
            Err(e) => {
                self.refuse_extended(e, None).await;
                return Ok(Flow::Continue);
            }
        };
        // The server gets the text as judged (see `statement_text.rs`).
        let rebuilt = rewritten
            .map(|bytes| super::statement_text::parse_frame(frame.body(), name, old_sql, &bytes));
        let frame = rebuilt.as_ref().unwrap_or(&frame);
        let name = name.to_string();
        let decision = self.decide_fresh(sql.as_ref()).await?;
        let judged = self.judged_now();
        if decision.denial().is_some() {
            // Never reaches the server; a later Bind of the name is refused here.
            self.prepared.drop_statement(&name);
            self.refuse_denied_parse(frame, sql.as_ref(), decision)
                .await;
            return Ok(Flow::Continue);
        }
        let refusal = match self.reserved_name_refusal(&name) {
            Some(err) => Some(err),
            None => self.statement_refusal(&decision, sql.len())?,
        };
        if let Some(err) = refusal {
            self.refuse_extended(err, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        self.want_sequence_server(&decision);
        if let Err(e) = self.attach().await {
            self.refuse_extended(e, None).await;
            return Ok(Flow::Continue);
        }
        if let Some(err) = self
            .unguardable(&decision)
            .or_else(|| self.session_state_refusal(&decision))
        {
            self.refuse_extended(err, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        if let Err(e) = self.clear_foreign_sequences(&decision).await {
            self.refuse_extended(e, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        // A Parse over a name whose fate an earlier batch still decides waits for the server.
        if !self.settle(Space::Statement, &name).await? {
            self.refuse_extended(super::lost_meanwhile(), None).await;
            return Ok(Flow::Continue);
        }
        // Last, once the name's fate is known: nothing refused after it holds a charge.
        let scope = if self.replaying() {
            self.scope_len_now()
        } else {
            0
        };
        let weight = parse_weight(&decision, frame.body().len()).saturating_add(scope);
        if let Some(err) = self.prepared.room_for(&name, weight).refusal() {
            self.refuse_extended(err, Some(decision.clone())).await;
            return Ok(Flow::Continue);
        }
        if self.replaying() {
            // Only a statement it created (not one refused, or undone in a failed batch).
            if self.parse_replayed(frame, &name, decision).await
                && self.prepared.has_statement(&name)
            {
                self.prepared.judged_under(&name, &sql, judged);
            }
            return Ok(Flow::Continue);
        }
        // Session effects take hold at Execute: a Parse alone changes nothing.
        let Some(s) = self.server.as_mut() else {
            self.refuse_extended(super::lost_meanwhile(), None).await;
            return Ok(Flow::Continue);
        };
        // A named statement lives on this server only: never hand it to another client.
        if !name.is_empty() {
            s.server.dirty = true;
        }
        s.server.conn.queue(frame.raw());
        let masked = decision.mask.is_some();
        let change = self
            .prepared
            .create(Space::Statement, &name, decision, self.replies.batch());
        // A live name is the server's 42P05: the statement it holds keeps its text and plan.
        if let Change::Created { .. } = change {
            self.masking.on_parse(&name, masked);
            self.prepared.judged_under(&name, &sql, judged);
        }
        self.replies.push(Sent::Parse(change), Handling::Forward);
        self.sync.sent_in_batch();
        Ok(Flow::Continue)
    }

    async fn on_sync(&mut self, frame: Frame) -> Result<Flow, PgError> {
        self.skipping = false;
        // PostgreSQL ignores a Sync that arrives while it is in COPY FROM STDIN (drivers send
        // one right after the Execute): it gets no ReadyForQuery. Once the COPY is known to
        // run, such a Sync is not sent; one sent while it starts is entered as voided by the
        // COPY's start (see `ReplyQueue::push_copy_sync`).
        if self.copy_in {
            return Ok(Flow::Continue);
        }
        match self.server.as_mut() {
            Some(s) if self.copy_from_started => {
                s.server.conn.queue(frame.raw());
                self.replies.push_copy_sync();
                self.sync.sent_sync_point();
            }
            Some(s)
                if self.sync.unsynced
                    || self.sync.pending > 0
                    || self.mode == PoolMode::Session =>
            {
                s.server.conn.queue(frame.raw());
                self.replies.push(Sent::Sync, Handling::Forward);
                self.sync.sent_sync_point();
            }
            _ => {
                let mut out = BytesMut::new();
                backend::ready_for_query(self.sync.tx_status, &mut out);
                self.client.queue(&out);
                self.give_back_if_idle();
            }
        }
        Ok(Flow::Continue)
    }
}
