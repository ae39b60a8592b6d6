//! A small model of PostgreSQL's query processing (names, errors, transaction blocks; simple
//! and extended protocol) and of what the session does with each client message, driving
//! the pure core (reply queue, statement table, `answer::advance`, the sync-point
//! `Ledger`). Used by the proptests in `model_tests.rs` and by the cargo-fuzz targets in
//! `fuzz/` (feature `fuzzing`): every Bind pgward judges with a statement's decision must
//! reach a server holding exactly that statement (or none); whenever the session would give
//! the server back to the pool (`Ledger::releasable`), the server is idle ('I'), has nothing
//! left to read and skips nothing; nothing may grow without bound.

use std::sync::Arc;

use super::answer;
use super::ledger::Ledger;
use super::model_pg::{Msg, Server};
use super::prepared::{Lookup, Prepared, Space};
use super::replies::{Handling, ReplyQueue, Sent};
use crate::protocol::backend::PgError;
use crate::protocol::BackendTag;
use pgward_policy::{Decision, Verdict};

#[derive(Clone, Debug)]
pub enum Op {
    Parse {
        name: u8,
        fails: bool,
    },
    Bind {
        name: u8,
    },
    Close {
        name: u8,
    },
    Sync,
    /// A simple Query (inside an open batch: PostgreSQL runs it as the batch's end, or
    /// skips it with the batch).
    Query(QueryKind),
    Serve,
}

/// What a simple Query does to the transaction.
#[derive(Clone, Copy, Debug)]
pub enum QueryKind {
    Begin,
    Commit,
    Plain,
    Fails,
}

fn name(n: u8) -> String {
    // Name 0 is the unnamed statement.
    if n == 0 {
        String::new()
    } else {
        format!("s{n}")
    }
}

fn decision(id: u64) -> Arc<Decision> {
    Arc::new(Decision {
        verdict: Verdict::Allow,
        fingerprint: id,
        normalized: Arc::from(""),
        statements: Vec::new(),
        mask: None,
    })
}

/// pgward's side, doing what the session does with each client message.
#[derive(Default)]
pub struct Proxy {
    replies: ReplyQueue,
    prepared: Prepared,
    ledger: Ledger,
    server: Server,
    /// After a refusal: drop client messages until Sync, as PostgreSQL would.
    skipping: bool,
    next_id: u64,
    sent: usize,
    /// The queue and the server disagreed about what is owed.
    desync: bool,
    /// The session would have given back a server that was not idle and clean.
    bad_release: Option<String>,
    /// Times the session would have given the server back.
    releases: usize,
}

impl Proxy {
    pub fn serve(&mut self) {
        for (tag, status) in self.server.step() {
            // As `server.rs` does with each server message.
            let a = answer::advance(&mut self.replies, &mut self.prepared, tag);
            if a.skipped_queries > 0 {
                let ends = a.ready.is_some() || self.replies.sync_owed();
                self.ledger.skipped(a.skipped_queries, ends);
            }
            if tag == BackendTag::ReadyForQuery {
                self.ledger.ready(status);
                if self.ledger.releasable(self.replies.owes()) {
                    self.releases += 1;
                    if !self.server.idle_and_clean() && self.bad_release.is_none() {
                        self.bad_release = Some(format!(
                            "server released while {} messages unread, skipping {}, block {}",
                            self.server.inbox.len(),
                            self.server.skipping,
                            self.server.block as char
                        ));
                    }
                }
            }
        }
    }

    fn settle(&mut self, space: Space, n: &str) {
        while !self.prepared.settled(space, n, self.replies.batch())
            && self.replies.owes_before(self.replies.batch())
        {
            if self.server.inbox.is_empty() {
                // The queue owes replies the server will never send: a broken rule, reported
                // by `run`.
                self.desync = true;
                return;
            }
            self.serve();
        }
    }

    fn push(&mut self, sent: Sent, handling: Handling, msg: Msg) {
        match sent {
            Sent::Sync => self.ledger.sent_sync_point(),
            _ => self.ledger.sent_in_batch(),
        }
        self.replies.push(sent, handling);
        self.server.inbox.push_back(msg);
        self.sent += 1;
    }

    pub fn client(&mut self, op: Op) {
        if self.skipping && !matches!(op, Op::Sync | Op::Serve) {
            return;
        }
        match op {
            Op::Parse { name: n, fails } => {
                let n = name(n);
                self.settle(Space::Statement, &n);
                self.next_id += 1;
                let id = self.next_id;
                let change =
                    self.prepared
                        .create(Space::Statement, &n, decision(id), self.replies.batch());
                self.push(
                    Sent::Parse(change),
                    Handling::Forward,
                    Msg::Parse { name: n, id, fails },
                );
            }
            Op::Bind { name: n } => {
                let n = name(n);
                self.settle(Space::Statement, &n);
                match self
                    .prepared
                    .lookup(Space::Statement, &n, self.replies.batch())
                {
                    Lookup::Found(d) => {
                        let change = self.prepared.create(
                            Space::Portal,
                            "",
                            d.clone(),
                            self.replies.batch(),
                        );
                        self.push(
                            Sent::Bind(change),
                            Handling::Forward,
                            Msg::Bind {
                                name: n,
                                judged_as: d.fingerprint,
                            },
                        );
                    }
                    Lookup::Missing | Lookup::Unsettled => {
                        // Refused in line: a stand-in that fails, then skip to Sync.
                        let change = self.prepared.close(Space::Statement, "");
                        self.push(
                            Sent::Parse(change),
                            Handling::Replace(Box::new(PgError::error(
                                crate::sqlstate::INVALID_SQL_STATEMENT_NAME,
                                "missing",
                            ))),
                            Msg::Parse {
                                name: String::new(),
                                id: 0,
                                fails: true,
                            },
                        );
                        self.skipping = true;
                    }
                }
            }
            Op::Close { name: n } => {
                let n = name(n);
                let change = self.prepared.close(Space::Statement, &n);
                self.push(
                    Sent::Close(change),
                    Handling::Forward,
                    Msg::Close { name: n },
                );
            }
            Op::Sync => {
                self.skipping = false;
                self.push(Sent::Sync, Handling::Forward, Msg::Sync);
            }
            Op::Query(kind) => {
                // As `client.rs::run_query_as`.
                self.replies.push(Sent::Query, Handling::Forward);
                self.ledger.sent_sync_point();
                self.server.inbox.push_back(Msg::Query(kind));
                self.sent += 1;
            }
            Op::Serve => self.serve(),
        }
    }
}

/// Run client operations, then let the server answer everything; the first broken rule, if
/// any.
pub fn run(ops: impl IntoIterator<Item = Op>) -> Result<(), String> {
    let mut p = Proxy::default();
    for op in ops {
        p.client(op);
        if p.prepared.len() > 4 {
            return Err(format!("statement table grew to {}", p.prepared.len()));
        }
    }
    p.client(Op::Sync);
    p.client(Op::Query(QueryKind::Commit));
    if p.desync {
        return Err("replies owed that the server will never send (while settling)".into());
    }
    while p.replies.owes() {
        if p.server.inbox.is_empty() {
            return Err("replies owed that the server will never send".into());
        }
        p.serve();
    }
    if let Some(v) = p.server.violation.take() {
        return Err(v);
    }
    if let Some(v) = p.bad_release.take() {
        return Err(v);
    }
    if p.replies.entries_len() > 0 || !p.ledger.at_rest() {
        return Err(format!("not at rest at the end: {:?}", p.ledger));
    }
    if p.releases == 0 {
        return Err(format!(
            "the server was never given back at the end: {:?}",
            p.ledger
        ));
    }
    // At rest, every name pgward knows is the server's.
    for n in 0..3 {
        let n = name(n);
        if let Lookup::Found(d) = p.prepared.lookup(Space::Statement, &n, p.replies.batch()) {
            if p.server.statements.get(&n).copied() != Some(d.fingerprint) {
                return Err(format!(
                    "{n:?} is {} to pgward, {:?} upstream",
                    d.fingerprint,
                    p.server.statements.get(&n)
                ));
            }
        }
    }
    Ok(())
}

/// Client operations from arbitrary bytes (the fuzz target's input).
pub fn ops_from_bytes(bytes: &[u8]) -> Vec<Op> {
    bytes
        .iter()
        .map(|b| {
            let n = (b >> 4) % 3;
            match b & 0x0f {
                0..=2 => Op::Parse {
                    name: n,
                    fails: b & 0x80 != 0,
                },
                3 | 4 => Op::Bind { name: n },
                5 | 6 => Op::Close { name: n },
                7 | 8 => Op::Sync,
                9 => Op::Query(match b >> 6 {
                    0 => QueryKind::Begin,
                    1 => QueryKind::Commit,
                    2 => QueryKind::Plain,
                    _ => QueryKind::Fails,
                }),
                _ => Op::Serve,
            }
        })
        .collect()
}

/// Arbitrary server bytes against a queue of arbitrary sent messages: never panics; true when
/// nothing grew (the queue only shrinks, the table stays within its names).
pub fn arbitrary_server(sent: &[u8], tags: &[u8]) -> bool {
    let mut replies = ReplyQueue::default();
    let mut prepared = Prepared::default();
    let mut ledger = Ledger::default();
    for s in sent {
        let sent = match s % 7 {
            0 => Sent::Parse(prepared.create(Space::Statement, "a", decision(1), replies.batch())),
            1 => Sent::Bind(prepared.create(Space::Portal, "", decision(1), replies.batch())),
            2 => Sent::Describe,
            3 => Sent::Close(prepared.close(Space::Statement, "a")),
            4 => Sent::Execute {
                portal: String::new(),
            },
            5 => Sent::Sync,
            _ => Sent::Query,
        };
        match sent {
            Sent::Sync | Sent::Query => ledger.sent_sync_point(),
            _ => ledger.sent_in_batch(),
        }
        replies.push(sent, Handling::Forward);
    }
    let mut owed = replies.entries_len();
    for (i, t) in tags.iter().enumerate() {
        let tag = BackendTag::from_byte(*t);
        // As `server.rs` does with each server message, whatever the server sends.
        let a = answer::advance(&mut replies, &mut prepared, tag);
        if a.skipped_queries > 0 {
            ledger.skipped(a.skipped_queries, a.ready.is_some() || replies.sync_owed());
        }
        if tag == BackendTag::ReadyForQuery {
            ledger.ready(b"ITE"[i % 3]);
        }
        let now = replies.entries_len();
        if now > owed || prepared.len() > 2 {
            return false;
        }
        // Never given back while the queue says something is owed.
        if ledger.releasable(replies.owes()) && replies.owes() {
            return false;
        }
        owed = now;
    }
    true
}
