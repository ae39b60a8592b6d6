//! The one queue of expected replies: every message pgward sends to a server is entered here
//! with what its reply means, and every server message advances it. PostgreSQL answers in
//! order, and after an error skips everything up to the next Sync, so the queue always knows
//! which message a reply belongs to, which failed and which were skipped.
//!
//! Each entry carries a [`Handling`]: forward the reply as it came, replace its error with
//! pgward's own (a refused statement sent as `pgward_denied` to keep its place in line), keep
//! pgward's own message quiet (a statement prepared again on a new server: only its error is
//! the client's), answer locally in its place in line (a Parse the server already has), or
//! turn a stand-in's EmptyQueryResponse into a CommandComplete. A Query sent inside an
//! unsynced extended batch is *conditional*: skipped with the batch when an earlier message
//! fails, as PostgreSQL skips it. An Execute's entry names its portal (row limits, masking).
//! A reply no entry expects means pgward is out of step with the server (`Step::Unexpected`).

use std::collections::VecDeque;

use crate::protocol::backend::PgError;
use crate::protocol::BackendTag;

use super::prepared::Change;

/// What pgward sent.
#[derive(Clone, Debug)]
pub enum Sent {
    Parse(Change),
    Bind(Change),
    Describe,
    Close(Change),
    Execute { portal: String },
    Sync,
    Query,
}

impl Sent {
    /// Ends a batch: answered by ReadyForQuery.
    fn is_sync_point(&self) -> bool {
        matches!(self, Sent::Sync | Sent::Query)
    }
}

/// What the client sees of the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handling {
    /// As it came.
    Forward,
    /// Not at all: pgward answered for it (a batch's rest after pgward cut a result).
    Swallow,
    /// The reply is an error that stands for this one.
    Replace(Box<PgError>),
    /// The client's text pgward's parser rejected, sent with a guard (`server_syntax.rs`):
    /// the server's error is forwarded when its position lies within the client's
    /// `text_chars` characters, else replaced by `own`.
    ServerSyntax { own: Box<PgError>, text_chars: u32 },
    /// pgward's own message (a statement prepared again here, or evicted): its success is
    /// not the client's, its error is.
    Quiet,
    /// Never sent: pgward answers with this message (empty body) once the replies ahead of
    /// it are through (a Parse the server already has, a Close of a statement it keeps).
    Local(u8),
    /// A stand-in empty query: its EmptyQueryResponse becomes CommandComplete with this tag
    /// (a statement pgward carried out itself).
    Complete(&'static str),
    /// The Sync of the write guard's closing statement: its ReadyForQuery ends the guard.
    ClosesGuard,
}

#[derive(Clone, Debug)]
pub struct Expected {
    pub sent: Sent,
    pub handling: Handling,
    /// Sync points sent before this message (its batch).
    pub batch: u64,
    /// A Sync the server ignores if the COPY FROM STDIN ahead of it starts.
    pub in_copy: bool,
    /// Sent while the server skips to the next Sync: it gets no reply.
    pub doomed: bool,
    /// The masking of its results (a masked role's Query, Execute or Describe).
    pub mask: Option<super::masking::ReplyMask>,
    /// A Parse of a statement pgward keeps under this key (failed or skipped: not there).
    pub server_key: Option<crate::server_state::StatementKey>,
    /// A Query sent after extended-protocol messages with no Sync between: skipped (no
    /// ReadyForQuery) when one of those fails.
    pub conditional: bool,
    /// The SQL cursor whose rows this Query or Execute returns (a FETCH): `max_result_rows`
    /// counts them with the cursor's, not afresh.
    pub cursor: Option<Box<str>>,
    /// A Describe of a kept statement whose result shape pgward records or checks.
    pub shape: Option<Box<super::replay_shape::ShapeNote>>,
}

/// What a server message did to the queue.
#[derive(Debug)]
pub enum Step {
    /// An asynchronous message, or a part of a reply still going on.
    Continue,
    /// The front message completed.
    Done(Expected),
    /// PortalSuspended: the Execute's row limit was reached, the portal stays open.
    Suspended(Expected),
    /// The front message failed; the server skips `skipped` (up to its Sync).
    Failed {
        failed: Expected,
        skipped: Vec<Expected>,
    },
    /// An error inside a reply that goes on (a Query's, or a Sync's commit).
    ErrorWithin,
    /// ReadyForQuery: its sync point (`point`) is answered; the server never reached `skipped`.
    Ready {
        skipped: Vec<Expected>,
        point: Option<Expected>,
    },
    /// CopyInResponse to an Execute: the COPY started; the `voided` Syncs sent after it get
    /// no ReadyForQuery.
    CopyIn { voided: usize },
    /// A reply nothing in the queue asked for.
    Unexpected,
}

#[derive(Default)]
pub struct ReplyQueue {
    entries: VecDeque<Expected>,
    /// Sync points entered so far.
    sync_points: u64,
    /// Extended-protocol messages were sent since the last Sync: a Query sent now is
    /// skipped if one of them fails (PostgreSQL skips all but Sync after such an error).
    extended_since_sync: bool,
    /// The front entry has had part of its reply (a Query always has, before its
    /// ReadyForQuery).
    front_started: bool,
    /// A batch failed with no Sync owed: the server skips everything sent until the next
    /// Sync, so what is entered meanwhile is *doomed* (answered by nothing).
    skipping_to_sync: bool,
}

impl ReplyQueue {
    pub fn push(&mut self, sent: Sent, handling: Handling) {
        self.push_masked(sent, handling, None);
    }

    /// Like [`ReplyQueue::push`], with the masking of the message's results.
    pub fn push_masked(
        &mut self,
        sent: Sent,
        handling: Handling,
        mask: Option<super::masking::ReplyMask>,
    ) {
        self.push_entry(sent, handling, mask, None);
    }

    /// A Parse that prepares `key` on the server.
    pub fn push_keyed(
        &mut self,
        sent: Sent,
        handling: Handling,
        key: crate::server_state::StatementKey,
    ) {
        self.push_entry(sent, handling, None, Some(key));
    }

    fn push_entry(
        &mut self,
        sent: Sent,
        handling: Handling,
        mask: Option<super::masking::ReplyMask>,
        server_key: Option<crate::server_state::StatementKey>,
    ) {
        let point = sent.is_sync_point();
        let conditional = matches!(sent, Sent::Query) && self.extended_since_sync;
        let doomed = self.skipping_to_sync && !matches!(sent, Sent::Sync);
        match sent {
            Sent::Sync => {
                self.extended_since_sync = false;
                self.skipping_to_sync = false;
            }
            Sent::Query => {}
            _ => self.extended_since_sync = true,
        }
        self.entries.push_back(Expected {
            sent,
            handling,
            batch: self.sync_points,
            mask,
            server_key,
            conditional,
            in_copy: false,
            doomed,
            cursor: None,
            shape: None,
        });
        if point {
            self.sync_points += 1;
        }
    }

    /// A Sync sent after an Execute of COPY FROM STDIN whose COPY has not ended: ignored if
    /// the COPY starts, answered if it fails before starting.
    pub fn push_copy_sync(&mut self) {
        self.push(Sent::Sync, Handling::Forward);
        if let Some(e) = self.entries.back_mut() {
            e.in_copy = true;
        }
    }

    /// Entries owed (bounded by back-pressure on the client, `backpressure.rs`).
    pub fn entries_len(&self) -> usize {
        self.entries.len()
    }

    /// The batch the next message joins.
    pub fn batch(&self) -> u64 {
        self.sync_points
    }

    /// The server still owes an answer to a message of a batch before `batch` (only those
    /// can settle what a name holds for a message of `batch`).
    pub fn owes_before(&self, batch: u64) -> bool {
        // Doomed entries are answered by nothing before the Sync that ends their batch.
        self.entries
            .iter()
            .find(|e| !e.doomed)
            .is_some_and(|e| e.batch < batch)
    }

    /// A Parse placing `key` on the server is still unanswered.
    pub fn places(&self, key: crate::server_state::StatementKey) -> bool {
        self.entries.iter().any(|e| e.server_key == Some(key))
    }

    /// The server owes an answer to something pgward sent.
    pub fn owes(&self) -> bool {
        !self.entries.is_empty()
    }

    pub fn front(&self) -> Option<&Expected> {
        self.entries.front()
    }

    /// pgward ended the batch for the client while the server goes on: its replies up to
    /// the Sync are not the client's.
    pub fn swallow_rest_of_batch(&mut self) {
        for e in self.entries.iter_mut() {
            if e.sent.is_sync_point() {
                break;
            }
            // pgward's own answers stay pgward's (0: answered with nothing).
            e.handling = match e.handling {
                Handling::Local(_) => Handling::Local(0),
                _ => Handling::Swallow,
            };
        }
    }

    /// A reply of type `tag` to the front entry is kept from the client (swallowed; quiet).
    pub fn front_hides(&self, tag: BackendTag) -> bool {
        self.entries.front().is_some_and(|e| match e.handling {
            Handling::Swallow => true,
            Handling::Quiet => tag != BackendTag::ErrorResponse,
            _ => false,
        })
    }

    /// The front entry, when pgward answers it itself (with this message type; 0: none).
    pub fn pop_local(&mut self) -> Option<(Expected, u8)> {
        match self.entries.front().map(|e| (&e.handling, e.doomed)) {
            // Skipped by the server's error: answered with nothing, as the server would.
            Some((Handling::Local(_), true)) => self.entries.pop_front().map(|e| (e, 0)),
            Some((Handling::Local(tag), false)) => {
                let tag = *tag;
                self.entries.pop_front().map(|e| (e, tag))
            }
            _ => None,
        }
    }

    /// A message of the open batch failed: the server skips what is sent until its Sync.
    pub fn skipping_to_sync(&self) -> bool {
        self.skipping_to_sync
    }

    /// The message just entered returns the rows of this SQL cursor (a FETCH).
    pub fn set_last_cursor(&mut self, cursor: &str) {
        if let Some(e) = self.entries.back_mut() {
            e.cursor = Some(cursor.into());
        }
    }

    /// The Describe just entered records or checks a kept statement's result shape.
    pub fn set_last_shape(&mut self, shape: super::replay_shape::ShapeNote) {
        if let Some(e) = self.entries.back_mut() {
            e.shape = Some(Box::new(shape));
        }
    }

    /// A Sync is owed: a batch that failed ends there.
    pub fn sync_owed(&self) -> bool {
        self.entries.iter().any(|e| matches!(e.sent, Sent::Sync))
    }

    /// The connection is gone: everything owed is dropped.
    pub fn clear(&mut self) -> Vec<Expected> {
        self.extended_since_sync = false;
        self.skipping_to_sync = false;
        self.front_started = false;
        self.entries.drain(..).collect()
    }

    fn pop(&mut self) -> Step {
        self.front_started = false;
        match self.entries.pop_front() {
            Some(e) => Step::Done(e),
            None => Step::Unexpected,
        }
    }
}

#[path = "replies_step.rs"]
mod step;

#[cfg(test)]
#[path = "replies_tests.rs"]
mod tests;
