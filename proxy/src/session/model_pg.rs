//! The PostgreSQL half of the session model (`model.rs`): extended-query and simple-query
//! processing reduced to statement names, errors, skipping to Sync and transaction blocks.

use std::collections::{HashMap, VecDeque};

use super::model::QueryKind;
use crate::protocol::BackendTag;

/// What PostgreSQL receives.
pub(super) enum Msg {
    Parse { name: String, id: u64, fails: bool },
    Bind { name: String, judged_as: u64 },
    Close { name: String },
    Sync,
    Query(QueryKind),
}

/// One server message (the status byte for ReadyForQuery).
pub(super) type Reply = (BackendTag, u8);

/// PostgreSQL's extended-query processing, reduced to names and errors.
pub(super) struct Server {
    pub(super) inbox: VecDeque<Msg>,
    pub(super) statements: HashMap<String, u64>,
    pub(super) skipping: bool,
    /// The transaction block: 'I' (none), 'T' (open), 'E' (failed).
    pub(super) block: u8,
    pub(super) violation: Option<String>,
}

impl Default for Server {
    fn default() -> Server {
        Server {
            inbox: VecDeque::new(),
            statements: HashMap::new(),
            skipping: false,
            block: b'I',
            violation: None,
        }
    }
}

impl Server {
    /// An error: a block fails, an extended batch skips to its Sync.
    fn error(&mut self, extended: bool) -> Reply {
        if self.block == b'T' {
            self.block = b'E';
        }
        self.skipping = extended;
        (BackendTag::ErrorResponse, 0)
    }

    fn query(&mut self, kind: QueryKind) -> Vec<Reply> {
        let done = (BackendTag::CommandComplete, 0);
        let first = match (kind, self.block) {
            (QueryKind::Commit, _) => {
                self.block = b'I';
                done
            }
            (_, b'E') | (QueryKind::Fails, _) => self.error(false),
            (QueryKind::Begin, _) => {
                self.block = b'T';
                done
            }
            (QueryKind::Plain, _) => done,
        };
        vec![first, (BackendTag::ReadyForQuery, self.block)]
    }

    pub(super) fn step(&mut self) -> Vec<Reply> {
        let Some(msg) = self.inbox.pop_front() else {
            return Vec::new();
        };
        if self.skipping && !matches!(msg, Msg::Sync) {
            return Vec::new();
        }
        if self.block == b'E' && !matches!(msg, Msg::Sync | Msg::Query(_) | Msg::Close { .. }) {
            // A failed block runs nothing but its end.
            return vec![self.error(true)];
        }
        let tags = match msg {
            Msg::Parse { name, id, fails } => {
                if name.is_empty() {
                    self.statements.remove("");
                }
                if fails || self.statements.contains_key(&name) {
                    return vec![self.error(true)];
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
                None => return vec![self.error(true)],
            },
            Msg::Close { name } => {
                self.statements.remove(&name);
                vec![BackendTag::CloseComplete]
            }
            Msg::Sync => {
                self.skipping = false;
                return vec![(BackendTag::ReadyForQuery, self.block)];
            }
            Msg::Query(kind) => return self.query(kind),
        };
        tags.into_iter().map(|t| (t, 0)).collect()
    }

    /// Nothing left to read, nothing skipped, no transaction open.
    pub(super) fn idle_and_clean(&self) -> bool {
        self.inbox.is_empty() && !self.skipping && self.block == b'I'
    }
}
