//! The session's side of the audit log: statements in flight, matched to their results
//! (CommandComplete, errors, ReadyForQuery) to record rows, duration and SQLSTATE.

use super::outbox::{AuditEntry, Event};
use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum AuditKind {
    /// A simple Query: complete at ReadyForQuery.
    Query,
    /// An Execute: complete at its CommandComplete/error/suspension.
    Execute,
}

pub(super) struct PendingAudit {
    decision: Arc<Decision>,
    kind: AuditKind,
    started: Instant,
    rows: u64,
    sqlstate: Option<String>,
    sync_seq: u64,
}

impl Session {
    fn record(
        &self,
        decision: &Arc<Decision>,
        rows: u64,
        elapsed: Duration,
        sqlstate: Option<String>,
    ) -> AuditEntry {
        AuditEntry {
            application_name: self.application_name.clone(),
            decision: decision.clone(),
            rows,
            duration: elapsed,
            sqlstate,
        }
    }

    pub(super) fn audit_denied(&mut self, decision: &Arc<Decision>) {
        // Syntax errors and statements too complex to analyze are not a guardrail's refusal.
        if !self.shared.audit.enabled() || decision.denial().is_some_and(|d| !d.audited) {
            return;
        }
        let r = self.record(decision, 0, Duration::ZERO, None);
        self.outbox.push(Event::Audit(r));
    }

    pub(super) fn begin_audit(&mut self, decision: Arc<Decision>, kind: AuditKind) {
        if !self.shared.audit.enabled() {
            return;
        }
        self.audit.push_back(PendingAudit {
            decision,
            kind,
            started: self.now,
            rows: 0,
            sqlstate: None,
            sync_seq: self.sync.syncs_sent,
        });
    }

    pub(super) fn note_error_for_audit(&mut self, code: Option<String>) {
        if let Some(a) = self.audit.front_mut() {
            a.sqlstate = code;
            if a.kind == AuditKind::Execute {
                // An Execute ends with its error; the rest of the batch is skipped upstream.
                a.rows = 0;
            }
        }
        if self
            .audit
            .front()
            .is_some_and(|a| a.kind == AuditKind::Execute)
        {
            if let Some(a) = self.audit.pop_front() {
                self.completed.push(a);
            }
        }
    }

    pub(super) fn note_command_complete(&mut self, rows: Option<u64>) {
        match self.audit.front_mut() {
            Some(a) if a.kind == AuditKind::Query => a.rows += rows.unwrap_or(0),
            Some(a) => {
                a.rows = rows.unwrap_or(0);
                if let Some(a) = self.audit.pop_front() {
                    self.completed.push(a);
                }
            }
            None => {}
        }
    }

    /// ReadyForQuery ends a Query, and any Execute of the batch that never ran.
    pub(super) fn finish_audit_at_sync(&mut self) {
        let done = self.sync.syncs_done;
        while self.audit.front().is_some_and(|a| a.sync_seq < done) {
            if let Some(a) = self.audit.pop_front() {
                self.completed.push(a);
            }
        }
        let completed = std::mem::take(&mut self.completed);
        for a in completed {
            let r = self.record(
                &a.decision,
                a.rows,
                self.now.saturating_duration_since(a.started),
                a.sqlstate,
            );
            self.outbox.push(Event::Audit(r));
        }
    }

    /// The session ends with statements in flight: record them as cut off.
    pub(super) fn flush_audit_all(&mut self, sqlstate: &str) {
        let mut all = std::mem::take(&mut self.completed);
        all.extend(self.audit.drain(..).map(|mut a| {
            a.sqlstate.get_or_insert_with(|| sqlstate.to_string());
            a
        }));
        for a in all {
            let r = self.record(
                &a.decision,
                a.rows,
                self.now.saturating_duration_since(a.started),
                a.sqlstate,
            );
            self.outbox.push(Event::Audit(r));
        }
    }
}
