//! The session performing what `row_limit.rs` says for each server frame of a result:
//! forward, drop, cancel upstream, or cut the result with 54000 (a guarded write in the unit
//! is then rolled back, a paged portal closed and the rest of its batch swallowed).

use super::outbox::Event;
use super::prepared::Space;
use super::row_limit::{ResultOf, RowStep};
use super::*;

impl Session {
    /// `max_result_rows` (`row_limit.rs`): past the limit, cancel the statement upstream,
    /// drop the rest, and answer 54000 where the result ends. `answered` is the Execute this
    /// frame completed, if it completed one. Returns true when the frame was consumed.
    pub(super) fn count_result_row(
        &mut self,
        tag: u8,
        answered: Option<&replies::Expected>,
    ) -> bool {
        let limit = self.limits.max_result_rows;
        let completed;
        let of = match answered {
            Some(replies::Expected {
                cursor: Some(cursor),
                ..
            }) => {
                completed = cursor.to_string();
                ResultOf::Cursor(&completed)
            }
            Some(replies::Expected {
                sent: Sent::Execute { portal },
                ..
            }) => {
                completed = portal.clone();
                ResultOf::Portal(&completed)
            }
            Some(_) => ResultOf::Other,
            None => match self.replies.front() {
                Some(replies::Expected {
                    cursor: Some(cursor),
                    ..
                }) => ResultOf::Cursor(cursor),
                Some(replies::Expected {
                    sent: Sent::Execute { portal },
                    ..
                }) => ResultOf::Portal(portal),
                Some(replies::Expected {
                    sent: Sent::Query, ..
                }) => ResultOf::Query,
                _ => ResultOf::Other,
            },
        };
        let portal = match of {
            ResultOf::Portal(p) if tag != b'D' => Some(p.to_string()),
            _ => None,
        };
        match self.row_counter.on_frame(tag, of, limit) {
            RowStep::Forward => false,
            RowStep::Drop => true,
            RowStep::DropAndCancel => {
                if let Some(s) = self.server.as_ref() {
                    self.outbox
                        .push(Event::CancelUpstream(s.server.cancel.clone()));
                }
                true
            }
            RowStep::Cut => {
                // The unit failed for the client: a guarded write in it is rolled back (the
                // server went on, and its count may lie in what is not forwarded).
                self.trip_guard_of_answering_unit();
                if let Some(p) = &portal {
                    // The portal is only suspended upstream: its next page must not be read.
                    let _ = self.prepared.close(Space::Portal, p);
                    // The client sees the batch fail here, as after any error; the server
                    // goes on, so what it answers until the Sync is not forwarded.
                    self.replies.swallow_rest_of_batch();
                    self.skipping = self.sync.unsynced;
                }
                let err = PgError::error(
                    sqlstate::PROGRAM_LIMIT_EXCEEDED,
                    format!("pgward: result exceeds max_result_rows ({limit})"),
                )
                .with_detail("rule: max_result_rows")
                .with_hint("add a LIMIT or a narrower WHERE clause");
                let mut out = BytesMut::new();
                backend::error_response(&err, &mut out);
                self.client.queue(&out);
                self.note_error_for_audit(Some(sqlstate::PROGRAM_LIMIT_EXCEEDED.into()));
                true
            }
        }
    }
}
