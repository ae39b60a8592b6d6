//! The queue's step: one server message against the front of what is owed (PostgreSQL
//! answers in order; after an error it skips to the next Sync).

use super::*;

impl ReplyQueue {
    /// Part of the front entry's reply came.
    fn started(&mut self) -> Step {
        self.front_started = true;
        Step::Continue
    }

    /// Advance by one server message.
    pub fn on_server(&mut self, tag: BackendTag) -> Step {
        use BackendTag as B;
        if tag.is_asynchronous() {
            return Step::Continue;
        }
        let front = self.entries.front().map(|e| &e.sent);
        match (tag, front) {
            (B::ParseComplete, Some(Sent::Parse(_)))
            | (B::BindComplete, Some(Sent::Bind(_)))
            | (B::CloseComplete, Some(Sent::Close(_)))
            | (B::RowDescription | B::NoData, Some(Sent::Describe)) => self.pop(),
            (B::ParameterDescription, Some(Sent::Describe)) => Step::Continue,
            (B::CommandComplete | B::EmptyQueryResponse, Some(Sent::Execute { .. })) => self.pop(),
            (B::PortalSuspended, Some(Sent::Execute { .. })) => match self.entries.pop_front() {
                Some(e) => Step::Suspended(e),
                None => Step::Unexpected,
            },
            // The COPY started: Syncs sent behind it while it started are ignored (a simple
            // Query's as much as an Execute's).
            (B::CopyInResponse, Some(Sent::Execute { .. } | Sent::Query)) => {
                self.front_started = true;
                let mut voided = 0;
                while self.entries.get(1).is_some_and(|e| e.in_copy) {
                    self.entries.remove(1);
                    voided += 1;
                }
                Step::CopyIn { voided }
            }
            (
                B::DataRow | B::CopyOutResponse | B::CopyBothResponse | B::CopyData | B::CopyDone,
                Some(Sent::Execute { .. } | Sent::Query),
            ) => self.started(),
            (
                B::RowDescription
                | B::CommandComplete
                | B::EmptyQueryResponse
                | B::ParseComplete
                | B::BindComplete
                | B::FunctionCallResponse,
                Some(Sent::Query),
            ) => self.started(),
            (B::ErrorResponse, Some(Sent::Query | Sent::Sync)) => {
                self.front_started = true;
                Step::ErrorWithin
            }
            // Unasked (a cancel landing between messages): a batch now skips to its Sync.
            (B::ErrorResponse, None) => {
                self.skipping_to_sync = self.extended_since_sync;
                Step::Unexpected
            }
            (B::ErrorResponse, Some(_)) => {
                let Some(failed) = self.entries.pop_front() else {
                    return Step::Unexpected;
                };
                let mut skipped = Vec::new();
                while self
                    .entries
                    .front()
                    .is_some_and(|e| !e.sent.is_sync_point() || e.conditional)
                {
                    if let Some(e) = self.entries.pop_front() {
                        skipped.push(e);
                    }
                }
                self.skipping_to_sync = self.entries.is_empty(); // no Sync owed: it skips on
                Step::Failed { failed, skipped }
            }
            (B::ReadyForQuery, Some(_)) => {
                let answers = |e: &Expected| e.sent.is_sync_point() && !e.doomed;
                let bare_query = !self.front_started
                    && (self.entries.front())
                        .is_some_and(|e| matches!(e.sent, Sent::Query) && !e.doomed);
                if bare_query || !self.entries.iter().any(answers) {
                    // Nothing sent that it could answer (a Query has its reply first).
                    return Step::Unexpected;
                }
                self.front_started = false;
                let mut skipped = Vec::new();
                let mut point = None;
                while let Some(e) = self.entries.pop_front() {
                    if answers(&e) {
                        point = Some(e);
                        break;
                    }
                    skipped.push(e);
                }
                Step::Ready { skipped, point }
            }
            _ => Step::Unexpected,
        }
    }
}
