//! Frames from the server: forwarded as the bytes they came in, except an injected statement's
//! error (swapped for pgward's own). ReadyForQuery drives the transaction status, the audit
//! trail and, in transaction mode, the server's return to the pool.

use super::outbox::Event;
use super::PathCheck;
use super::*;
use crate::protocol::decode;
use crate::protocol::{BackendTag, Frame};

impl Session {
    /// One server message, read by the relay at `now`. What it cannot do itself (a round
    /// trip, a write that must finish first) it leaves in the outbox for the relay.
    pub(super) fn on_server(&mut self, frame: Frame, now: Instant) -> Result<Flow, PgError> {
        self.now = now;
        let flow = self.on_server_frame(frame)?;
        // pgward's own answers waiting behind this reply go out after it (after the
        // ReadyForQuery held for a search_path read, once it is sent).
        if !self.outbox.holds_ready() {
            self.answer_local();
        }
        Ok(flow)
    }

    fn on_server_frame(&mut self, frame: Frame) -> Result<Flow, PgError> {
        // What the frame answers: decided before anyone consumes it, so the queue never
        // drifts from the server.
        let tag = BackendTag::from_byte(frame.tag());
        if let (b'Z', Some(s)) = (frame.tag(), self.server.as_mut()) {
            s.server.status = frame.body().first().copied().unwrap_or(b'E');
        }
        if frame.tag() == b'N' && self.guard_begin.is_some() {
            // pgward's BEGIN inside the client's batch: PostgreSQL warns (25001) when the batch
            // had already opened a block, and the warning is pgward's, not the client's.
            if decode::error_field(frame.body(), b'C').as_deref() == Some("25001") {
                self.guard_begin = Some(true);
                return Ok(Flow::Continue);
            }
        }
        if tag == BackendTag::CommandComplete {
            let answered = self.sync.syncs_done;
            if let Some((name, made)) = self.row_counter.on_command_complete(frame.body(), answered)
            {
                self.prepared.cursor_declared(&name, *made);
            }
            self.sql_effect_done(frame.body());
        }
        let swallow_now = !tag.is_asynchronous() && self.replies.front_hides(tag);
        let answer::Answer {
            replace,
            syntax,
            answered,
            ready,
            unexpected,
            ..
        } = self.advance_replies(frame.tag());
        // Out of step with the server: what it sends next cannot be told apart from another
        // statement's answer (or another client's), so the connection goes. An error may come
        // unasked (a cancel that reached the server between messages): it is the client's.
        if unexpected && tag != BackendTag::ErrorResponse {
            let why = format!("a message nothing asked for ('{}')", frame.tag() as char);
            self.server_lost(&why)?;
            return Ok(Flow::Continue);
        }
        self.timers.on_server(tag, self.replies.owes(), self.now);
        if let Some(note) = answered.as_ref().and_then(|e| e.shape.as_ref()) {
            self.on_shape_reply(note, frame.tag(), frame.body());
        }
        if swallow_now && tag != BackendTag::ReadyForQuery {
            return Ok(Flow::Continue);
        }
        if self.consumed_internally(&frame, answered.as_ref()) {
            return Ok(Flow::Continue);
        }
        let frame = self.mask_frame(frame, answered.as_ref());
        let frame = match (frame.tag(), self.replies.front().map(|e| &e.handling)) {
            (b'I', Some(replies::Handling::Complete(tag))) => {
                let mut out = BytesMut::new();
                let mut body = tag.as_bytes().to_vec();
                body.push(0);
                backend::raw_message(b'C', &body, &mut out);
                Frame::from_raw(out.freeze())
            }
            // A notification this client's own server sent carries the pid the client knows
            // (BackendKeyData's), as straight against PostgreSQL.
            (b'A', _) => self.own_notification(frame),
            _ => frame,
        };
        match frame.tag() {
            b'Z' => {
                let status = frame.body().first().copied().unwrap_or(b'I');
                self.sync.ready(status);
                self.copy_in = false;
                if ready == Some(replies::Handling::ClosesGuard) {
                    // pgward's verdict is in; the client gets this ReadyForQuery.
                    self.guard = None;
                }
                if status == b'I' && self.sync.pending == 0 && !self.sync.unsynced {
                    // Portals end with their transaction.
                    self.prepared.clear_portals();
                    let prepared = &self.prepared;
                    (self.masking).retain_portals(|name| prepared.has_portal(name));
                    self.row_counter.clear();
                }
                if let Some(next) = self.script.pop_front() {
                    if !self.script_failed && status != b'E' {
                        // Not the string's last statement: its ReadyForQuery is not the client's.
                        self.finish_audit_at_sync();
                        self.outbox.push(Event::RunScriptPiece(next));
                        return Ok(Flow::Continue);
                    }
                    self.script.clear();
                }
                // Also when a block that changed it ends, however: COMMIT ends a SET LOCAL.
                let block_ended = self.path_check == PathCheck::OnRollback && status == b'I';
                let owed = matches!(
                    self.path_check,
                    PathCheck::AfterUnit | PathCheck::AfterCode | PathCheck::UnknownInBatch
                );
                if (owed || block_ended) && self.sync.pending == 0 && !self.sync.unsynced {
                    // The path is read on the server before the client hears it is ready.
                    self.outbox.push(Event::ReadPathThenReady {
                        status,
                        ready: frame,
                    });
                    return Ok(Flow::Continue);
                }
                self.send_ready(frame, status);
            }
            b'E' if is_fatal(frame.body()) => {
                // The server ends the session (terminated by an administrator, shutting down):
                // the client hears PostgreSQL's own words, and its session ends with it.
                self.note_error_for_audit(decode::error_field(frame.body(), b'C'));
                self.client.queue(frame.raw());
                self.outbox.push(Event::FlushClient);
                return Ok(Flow::Stop);
            }
            b'E' => {
                let body = frame.body();
                let code = decode::error_field(body, b'C');
                if code.as_deref() == Some(sqlstate::FEATURE_NOT_SUPPORTED)
                    && decode::error_field(body, b'M')
                        .is_some_and(|m| m.starts_with("cached plan must not change result type"))
                {
                    // The schema changed under a kept statement: the client prepares again,
                    // and must get a fresh one, not the stale shared one.
                    crate::server_state::new_statement_epoch();
                }
                let ours = code.as_deref() == Some(sqlstate::SYNTAX_ERROR)
                    && decode::error_field(body, b'M').is_some_and(|m| m.contains(DENIED_MARKER));
                if let Some((own, text_chars)) = syntax {
                    // PostgreSQL's own syntax error, unless it is the guard's.
                    use super::server_syntax::{reply, SyntaxReply};
                    let mut out = BytesMut::new();
                    match reply(body, &own, text_chars) {
                        SyntaxReply::Forward => out.extend_from_slice(frame.raw()),
                        SyntaxReply::Trimmed(b) => backend::raw_message(b'E', &b, &mut out),
                        SyntaxReply::Own(err) => backend::error_response(&err, &mut out),
                    }
                    self.client.queue(&out);
                } else if let (true, Some(err)) = (ours, replace) {
                    let mut out = BytesMut::new();
                    backend::error_response(&err, &mut out);
                    self.client.queue(&out);
                } else if self.timers.fired() && code.as_deref() == Some(sqlstate::QUERY_CANCELED) {
                    // pgward's own cancel: say why, as the server's timeout would.
                    self.timers.progressed();
                    let err = PgError::error(
                        sqlstate::QUERY_CANCELED,
                        "canceling statement due to statement timeout",
                    )
                    .with_detail("rule: statement_timeout (enforced by pgward)");
                    let mut out = BytesMut::new();
                    backend::error_response(&err, &mut out);
                    self.client.queue(&out);
                    self.note_error_for_audit(code);
                    self.script_failed = true;
                    self.copy_ended();
                } else {
                    self.note_error_for_audit(code);
                    self.script_failed = true;
                    self.client.queue(frame.raw());
                    self.copy_ended();
                }
            }
            b'S' => {
                self.watch_pins(frame.body())?;
                if let Some(s) = self.server.as_mut() {
                    s.server.note_parameter(frame.body());
                }
                self.on_parameter_status(&frame);
            }
            b'C' => {
                // ROLLBACK (TO) undoes a change; COMMIT (AND CHAIN, whose block goes on) ends a
                // SET LOCAL.
                let body = frame.body();
                if self.path_check == PathCheck::OnRollback
                    && (body.starts_with(b"ROLLBACK") || body.starts_with(b"COMMIT"))
                {
                    self.path_check = PathCheck::AfterUnit;
                }
                self.note_command_complete(decode::command_rows(frame.body()));
                self.client.queue(frame.raw());
            }
            b'G' => {
                // The COPY started (a Sync sent after its Execute is ignored by the server,
                // and the queue has dropped it).
                self.copy_in = true;
                self.client.queue(frame.raw());
            }
            b'I' | b's' => {
                self.note_command_complete(None);
                self.client.queue(frame.raw());
            }
            _ => self.client.queue(frame.raw()),
        }
        if self.client.queued() >= crate::protocol::conn::FLUSH_THRESHOLD {
            self.outbox.push(Event::FlushClient);
        }
        Ok(Flow::Continue)
    }

    /// The client's ReadyForQuery goes out: the unit's audit records are due, the idle clock
    /// starts, and an idle server is settled (and in transaction mode given back).
    pub(super) fn send_ready(&mut self, frame: Frame, status: u8) {
        self.client.queue(frame.raw());
        self.finish_audit_at_sync();
        self.timers.touch(self.now);
        let idle = self.sync.at_rest() && !self.replies.owes();
        if idle && status == b'I' && std::mem::take(&mut self.unit.catalog) {
            let _ = self.shared.catalog_changed();
            crate::server_state::new_statement_epoch();
        }
        if self.mode == PoolMode::Session && idle && status == b'I' && self.unit.settings {
            // Settings changed: what RESET returned to PostgreSQL's defaults goes back
            // to the client's startup values.
            self.outbox.push(Event::SettleUnit { release: false });
        }
        if self.mode == PoolMode::Transaction && self.sync.releasable(self.replies.owes()) {
            self.outbox.push(Event::SettleUnit { release: true });
        }
    }
}

impl Session {
    /// Advance the reply queue by one server frame and apply what it settles to the statement
    /// table. Returns what the frame means (the error that replaces it, when it answers a
    /// refused statement's stand-in or a syntax error sent with its guard).
    pub(super) fn advance_replies(&mut self, tag: u8) -> answer::Answer {
        let mut a = answer::advance(
            &mut self.replies,
            &mut self.prepared,
            BackendTag::from_byte(tag),
        );
        if let Some(s) = self.server.as_mut() {
            for key in a.not_prepared.drain(..) {
                s.server.statements.remove(key);
            }
        }
        if a.skipped_queries > 0 {
            // The batch ends at this ReadyForQuery, or at a Sync already sent.
            let ends = a.ready.is_some() || self.replies.sync_owed();
            self.skip_sync_points(a.skipped_queries, ends);
        }
        if tag == b'G' {
            self.sync.voided_at_copy = a.voided_syncs;
        }
        if a.voided_syncs > 0 {
            // The COPY started: the Syncs sent meanwhile were ignored.
            let by_execute = !matches!(self.replies.front().map(|e| &e.sent), Some(Sent::Query));
            self.sync.voided(a.voided_syncs, by_execute);
            self.sync_points_voided(a.voided_syncs as u64);
        }
        a
    }

    /// NotificationResponse: the sender's pid becomes the client's own when the sender is
    /// the server it is using.
    fn own_notification(&self, frame: Frame) -> Frame {
        let Some(s) = self.server.as_ref() else {
            return frame;
        };
        let body = frame.body();
        match body.get(..4) {
            Some(pid) if pid == s.server.cancel.pid.to_be_bytes() => {
                let mut rewritten = self.cancel.pid.to_be_bytes().to_vec();
                rewritten.extend_from_slice(&body[4..]);
                let mut out = BytesMut::new();
                backend::raw_message(b'A', &rewritten, &mut out);
                Frame::from_raw(out.freeze())
            }
            _ => frame,
        }
    }

    /// A COPY FROM STDIN failed (before or during the copy): the server skips on to the
    /// next Sync it reads (one sent while the COPY was starting, if it never started: the
    /// queue has it).
    /// A statement sent that may start a COPY FROM STDIN: a Sync the client sends behind it
    /// before the COPY is known to run is one the server ignores if it does.
    pub(super) fn copy_from_sent(&mut self, d: &Decision) {
        if d.statements
            .iter()
            .any(|s| s.kind == pgward_policy::StatementKind::CopyFrom)
        {
            self.copy_from_started = true;
        }
    }

    fn copy_ended(&mut self) {
        self.copy_in = false;
        self.copy_from_started = false;
    }

    /// Frames the write guard or the result-row limit take over.
    fn consumed_internally(&mut self, frame: &Frame, answered: Option<&replies::Expected>) -> bool {
        let tag = frame.tag();
        // A guarded write's RETURNING rows paged by a row limit: PostgreSQL ran it whole and
        // owes its count until the last page.
        let suspended_write = tag == b's'
            && self.guard.is_some()
            && match answered {
                Some(replies::Expected {
                    sent: replies::Sent::Execute { portal },
                    ..
                }) => self.portal_writes(portal),
                _ => false,
            };
        if self.guard_on_frame(tag, frame.body(), suspended_write) {
            return true;
        }
        self.count_result_row(tag, answered)
    }
}

/// An ErrorResponse whose severity ends the server's session.
fn is_fatal(body: &[u8]) -> bool {
    let severity = decode::error_field(body, b'V').or_else(|| decode::error_field(body, b'S'));
    matches!(severity.as_deref(), Some("FATAL" | "PANIC"))
}

/// Reported settings that belong to the client's session (others, like
/// `session_authorization`, describe pgward's upstream login).
pub(super) fn is_client_setting(name: &str) -> bool {
    [
        "application_name",
        "client_encoding",
        "DateStyle",
        "IntervalStyle",
        "TimeZone",
        "standard_conforming_strings",
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(name))
}
