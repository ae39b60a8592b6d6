//! A small model of PostgreSQL's extended-query processing (names and errors only) and of
//! what the session does with each client message, driving the pure core (reply queue,
//! statement table, `answer::advance`). Used by the proptests in `model_tests.rs` and by the
//! cargo-fuzz target in `fuzz/` (feature `fuzzing`): every Bind pgward judges with a
//! statement's decision must reach a server holding exactly that statement (or none), and
//! nothing may grow without bound.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::answer;
use super::prepared::{Lookup, Prepared, Space};
use super::replies::{Handling, ReplyQueue, Sent};
use crate::protocol::backend::PgError;
use crate::protocol::BackendTag;
use pgward_policy::{Decision, Verdict};

#[derive(Clone, Debug)]
pub enum Op {
    Parse { name: u8, fails: bool },
    Bind { name: u8 },
    Close { name: u8 },
    Sync,
    Serve,
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

/// What PostgreSQL receives.
enum Msg {
    Parse { name: String, id: u64, fails: bool },
    Bind { name: String, judged_as: u64 },
    Close { name: String },
    Sync,
}

/// PostgreSQL's extended-query processing, reduced to names and errors.
#[derive(Default)]
struct Server {
    inbox: VecDeque<Msg>,
    statements: HashMap<String, u64>,
    skipping: bool,
    violation: Option<String>,
}

impl Server {
    fn step(&mut self) -> Vec<BackendTag> {
        let Some(msg) = self.inbox.pop_front() else {
            return Vec::new();
        };
        if self.skipping && !matches!(msg, Msg::Sync) {
            return Vec::new();
        }
        match msg {
            Msg::Parse { name, id, fails } => {
                if name.is_empty() {
                    self.statements.remove("");
                }
                if fails || self.statements.contains_key(&name) {
                    self.skipping = true;
                    return vec![BackendTag::ErrorResponse];
                }
                self.statements.insert(name, id);
                vec![BackendTag::ParseComplete]
            }
            Msg::Bind { name, judged_as } => match self.statements.get(&name) {
                Some(actual) => {
                    if *actual != judged_as {
                        self.violation = Some(format!(
                            "Bind of {name:?} judged as statement {judged_as}, server runs {actual}"
                        ));
                    }
                    vec![BackendTag::BindComplete]
                }
                None => {
                    self.skipping = true;
                    vec![BackendTag::ErrorResponse]
                }
            },
            Msg::Close { name } => {
                self.statements.remove(&name);
                vec![BackendTag::CloseComplete]
            }
            Msg::Sync => {
                self.skipping = false;
                vec![BackendTag::ReadyForQuery]
            }
        }
    }
}

/// pgward's side, doing what the session does with each client message.
#[derive(Default)]
pub struct Proxy {
    replies: ReplyQueue,
    prepared: Prepared,
    server: Server,
    /// After a refusal: drop client messages until Sync, as PostgreSQL would.
    skipping: bool,
    next_id: u64,
    sent: usize,
    /// The queue and the server disagreed about what is owed.
    desync: bool,
}

impl Proxy {
    pub fn serve(&mut self) {
        for tag in self.server.step() {
            answer::advance(&mut self.replies, &mut self.prepared, tag);
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
                            Handling::Replace(PgError::error(
                                crate::sqlstate::INVALID_SQL_STATEMENT_NAME,
                                "missing",
                            )),
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
                3..=5 => Op::Bind { name: n },
                6 | 7 => Op::Close { name: n },
                8 | 9 => Op::Sync,
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
        replies.push(sent, Handling::Forward);
    }
    let mut owed = replies.entries_len();
    for t in tags {
        answer::advance(&mut replies, &mut prepared, BackendTag::from_byte(*t));
        let now = replies.entries_len();
        if now > owed || prepared.len() > 2 {
            return false;
        }
        owed = now;
    }
    true
}
