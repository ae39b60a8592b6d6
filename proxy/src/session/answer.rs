//! What one server message means, decided purely: the reply queue is advanced and what it
//! settles is applied to the statement table (confirmations, failures, skips). The session's
//! async side and the model tests both go through [`advance`], so they cannot disagree.

use crate::protocol::backend::PgError;
use crate::protocol::BackendTag;

use super::prepared::Prepared;
use super::replies::{Expected, Handling, ReplyQueue, Sent, Step};
use crate::server_state::StatementKey;

/// The meaning of one server message.
#[derive(Debug, Default)]
pub struct Answer {
    /// The error the client sees instead of this one (a refused statement's stand-in).
    pub replace: Option<Box<PgError>>,
    /// The server's error answers a syntax error sent with its guard: pgward's own error
    /// and the client's text length in characters (`server_syntax::replacement` decides).
    pub syntax: Option<(Box<PgError>, u32)>,
    /// The message this one completed, when it completed one (for row limits and guards).
    pub answered: Option<Expected>,
    /// Nothing in the queue asked for it.
    pub unexpected: bool,
    /// Statements pgward prepared on the server whose Parse failed or was skipped.
    pub not_prepared: Vec<StatementKey>,
    /// Queries skipped with a failed batch: sync points that get no ReadyForQuery.
    pub skipped_queries: usize,
    /// Syncs the server ignored because a COPY FROM STDIN started.
    pub voided_syncs: usize,
    /// The handling of the sync point a ReadyForQuery answered.
    pub ready: Option<Handling>,
}

fn undo(e: Expected, skipped: bool, prepared: &mut Prepared, lost: &mut Vec<StatementKey>) {
    if let Some(key) = e.server_key {
        lost.push(key);
    }
    if let Sent::Parse(c) | Sent::Bind(c) | Sent::Close(c) = e.sent {
        prepared.undo(c, skipped);
    }
}

/// The front entries pgward answers itself, now that nothing of the server's is ahead of
/// them: each one's message type (0: none) in order, with its change confirmed.
pub fn take_local(replies: &mut ReplyQueue, prepared: &mut Prepared) -> Vec<u8> {
    let mut tags = Vec::new();
    while let Some((e, tag)) = replies.pop_local() {
        if let Sent::Parse(c) | Sent::Bind(c) | Sent::Close(c) = &e.sent {
            if tag == 0 {
                // Cut off with the rest of its batch: as if the server had skipped it.
                prepared.undo(c.clone(), true);
            } else {
                prepared.confirm(c);
            }
        }
        if tag != 0 {
            tags.push(tag);
        }
    }
    tags
}

fn syntax_of(handling: &Handling) -> Option<(Box<PgError>, u32)> {
    match handling {
        Handling::ServerSyntax { own, text_chars } => Some((own.clone(), *text_chars)),
        _ => None,
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
                _ => None,
            };
            let syntax = syntax_of(&failed.handling);
            let mut not_prepared = Vec::new();
            let skipped_queries = skipped.iter().filter(|e| e.conditional).count();
            // Undo the skipped ones last-first, then the failed one.
            for e in skipped.into_iter().rev() {
                undo(e, true, prepared, &mut not_prepared);
            }
            let answered = match &failed.sent {
                Sent::Execute { portal } => Some(Expected {
                    sent: Sent::Execute {
                        portal: portal.clone(),
                    },
                    handling: failed.handling.clone(),
                    batch: failed.batch,
                    mask: failed.mask.clone(),
                    server_key: None,
                    conditional: false,
                    in_copy: false,
                    doomed: false,
                    cursor: failed.cursor.clone(),
                    shape: None,
                }),
                _ => None,
            };
            undo(failed, false, prepared, &mut not_prepared);
            Answer {
                replace,
                syntax,
                answered,
                unexpected: false,
                not_prepared,
                skipped_queries,
                voided_syncs: 0,
                ready: None,
            }
        }
        Step::ErrorWithin => Answer {
            replace: match replies.front().map(|e| &e.handling) {
                Some(Handling::Replace(err)) => Some(err.clone()),
                _ => None,
            },
            syntax: replies.front().and_then(|e| syntax_of(&e.handling)),
            ..Answer::default()
        },
        Step::Ready { skipped, point } => {
            // Queries sent while the server skipped to this Sync.
            let skipped_queries = skipped.iter().filter(|e| e.conditional).count();
            let mut not_prepared = Vec::new();
            for e in skipped.into_iter().rev() {
                undo(e, true, prepared, &mut not_prepared);
            }
            Answer {
                not_prepared,
                skipped_queries,
                ready: point.map(|p| p.handling),
                ..Answer::default()
            }
        }
        Step::CopyIn { voided } => Answer {
            voided_syncs: voided,
            ..Answer::default()
        },
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
