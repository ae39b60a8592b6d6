//! What one server message means, decided purely: the reply queue is advanced and what it
//! settles is applied to the statement table (confirmations, failures, skips). The session's
//! async side and the model tests both go through [`advance`], so they cannot disagree.

use crate::protocol::backend::PgError;
use crate::protocol::BackendTag;

use super::prepared::Prepared;
use super::replies::{Expected, Handling, ReplyQueue, Sent, Step};

/// The meaning of one server message.
#[derive(Debug, Default)]
pub struct Answer {
    /// The error the client sees instead of this one (a refused statement's stand-in).
    pub replace: Option<PgError>,
    /// The message this one completed, when it completed one (for row limits and guards).
    pub answered: Option<Expected>,
    /// Nothing in the queue asked for it.
    pub unexpected: bool,
}

fn undo(e: Expected, skipped: bool, prepared: &mut Prepared) {
    if let Sent::Parse(c) | Sent::Bind(c) | Sent::Close(c) = e.sent {
        prepared.undo(c, skipped);
    }
}

pub fn advance(replies: &mut ReplyQueue, prepared: &mut Prepared, tag: BackendTag) -> Answer {
    match replies.on_server(tag) {
        Step::Done(e) => {
            if let Sent::Parse(c) | Sent::Bind(c) | Sent::Close(c) = &e.sent {
                prepared.confirm(c);
            }
            Answer {
                answered: Some(e),
                ..Answer::default()
            }
        }
        Step::Failed { failed, skipped } => {
            let replace = match &failed.handling {
                Handling::Replace(err) => Some(err.clone()),
                Handling::Forward | Handling::Swallow => None,
            };
            // Undo the skipped ones last-first, then the failed one.
            for e in skipped.into_iter().rev() {
                undo(e, true, prepared);
            }
            let answered = match &failed.sent {
                Sent::Execute { portal } => Some(Expected {
                    sent: Sent::Execute {
                        portal: portal.clone(),
                    },
                    handling: failed.handling.clone(),
                    batch: failed.batch,
                    mask: failed.mask.clone(),
                }),
                _ => None,
            };
            undo(failed, false, prepared);
            Answer {
                replace,
                answered,
                unexpected: false,
            }
        }
        Step::ErrorWithin => Answer {
            replace: match replies.front().map(|e| &e.handling) {
                Some(Handling::Replace(err)) => Some(err.clone()),
                _ => None,
            },
            ..Answer::default()
        },
        Step::Ready { skipped } => {
            for e in skipped.into_iter().rev() {
                undo(e, true, prepared);
            }
            Answer::default()
        }
        Step::Suspended(e) => Answer {
            answered: Some(e),
            ..Answer::default()
        },
        Step::Continue => Answer::default(),
        Step::Unexpected => Answer {
            unexpected: true,
            ..Answer::default()
        },
    }
}
