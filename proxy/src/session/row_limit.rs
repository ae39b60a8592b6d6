//! `max_result_rows` as a plain value: rows are counted per result of a simple Query, per
//! portal across all its pages (whatever Describes or other Executes come between, since each
//! Execute of the portal continues the same result), and per SQL cursor across every FETCH of
//! it (and Execute of it as a portal), a WITH HOLD cursor's past its transaction. The session
//! performs what it says (cancel upstream, drop, answer 54000).

use std::collections::VecDeque;

use crate::fast_hash::{HashMap, HashSet};

use super::prepared::name_key;
use super::prepared::portals::DeclaredCursor;

/// The SQL cursor a statement FETCHes from (the first, in a string of several): its rows count
/// with the cursor's.
pub fn fetched_cursor(decision: &pgward_policy::Decision) -> Option<String> {
    decision
        .statements
        .iter()
        .find(|s| s.kind == pgward_policy::StatementKind::Fetch)
        .and_then(|s| s.state.name.clone())
}

/// Which reply a result frame belongs to, from the reply queue.
#[derive(Clone, Copy, Debug)]
pub enum ResultOf<'a> {
    /// A simple Query's (each RowDescription starts a new result).
    Query,
    /// An Execute of this portal's.
    Portal(&'a str),
    /// A FETCH of this SQL cursor (by Query or Execute): one result of many from the cursor.
    Cursor(&'a str),
    /// Anything else (a Describe's RowDescription, say).
    Other,
}

/// What to do with a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum RowStep {
    Forward,
    /// Drop it (a row past the limit).
    Drop,
    /// Drop it and cancel the statement upstream (the first row past the limit).
    DropAndCancel,
    /// The cut result ended here: answer 54000 in its place; a portal that was cut must not
    /// be read further.
    Cut,
}

#[derive(Debug, Default)]
pub struct RowCounter {
    query_rows: u64,
    /// Rows read so far per portal or SQL cursor (a cursor is a portal by its name).
    paged: HashMap<String, u64>,
    cut: bool,
    /// WITH HOLD cursors: their counts outlive the transaction.
    held: HashSet<String>,
    /// SQL cursors (DECLAREd): a SCROLL one read to its end by an Execute can be moved back
    /// and read again, so its count stays until CLOSE or its transaction's end.
    cursors: HashSet<String>,
    /// DECLAREs and CLOSEs sent, with the sync point that answers them: each takes effect at
    /// its CommandComplete, as on the server (one that fails or is skipped changes nothing).
    pending: VecDeque<(u64, CursorChange)>,
}

#[derive(Debug)]
enum CursorChange {
    /// `made`: the portal entry the DECLARE makes (passed back at its CommandComplete).
    Declared {
        name: String,
        hold: bool,
        made: Option<Box<DeclaredCursor>>,
    },
    Closed(Option<String>),
}

impl RowCounter {
    /// One server frame of a result (`tag`), for a limit of `limit` rows (0 = none).
    pub fn on_frame(&mut self, tag: u8, of: ResultOf<'_>, limit: u64) -> RowStep {
        match (tag, of) {
            // A new result of a simple Query (COPY TO STDOUT sends one CopyData per row).
            (b'T' | b'H', ResultOf::Query) => {
                self.query_rows = 0;
                RowStep::Forward
            }
            (b'D' | b'd', _) if limit > 0 => {
                let rows = match of {
                    // PostgreSQL names a portal by its first 63 bytes, however it is spelled.
                    ResultOf::Portal(p) | ResultOf::Cursor(p) => {
                        match self.paged.get_mut(name_key(p).as_ref()) {
                            Some(n) => {
                                *n += 1;
                                *n
                            }
                            None => {
                                self.paged.insert(name_key(p).into_owned(), 1);
                                1
                            }
                        }
                    }
                    _ => {
                        self.query_rows += 1;
                        self.query_rows
                    }
                };
                if rows <= limit {
                    RowStep::Forward
                } else if self.cut {
                    RowStep::Drop
                } else {
                    self.cut = true;
                    RowStep::DropAndCancel
                }
            }
            // The end of a result, or of one page of a portal's.
            (b'C' | b'E' | b's' | b'I', _) => {
                match of {
                    // A cut portal keeps its count: Executes of it already on their way (a
                    // pipeline with a Sync after each page) read on past the limit, and are
                    // dropped and answered 54000 in turn.
                    ResultOf::Portal(p)
                        if tag != b's' && !self.cursors.contains(name_key(p).as_ref()) =>
                    {
                        self.paged.remove(name_key(p).as_ref());
                    }
                    // A FETCH's end is not its cursor's.
                    ResultOf::Portal(_) | ResultOf::Cursor(_) | ResultOf::Other => {}
                    ResultOf::Query => self.query_rows = 0,
                }
                if !self.cut || tag == b'I' {
                    return RowStep::Forward;
                }
                self.cut = false;
                RowStep::Cut
            }
            _ => RowStep::Forward,
        }
    }

    /// Portals and cursors end with their transaction, WITH HOLD cursors excepted.
    pub fn clear(&mut self) {
        let held = std::mem::take(&mut self.held);
        let mut paged = std::mem::take(&mut self.paged);
        paged.retain(|name, _| held.contains(name));
        let cursors = held.clone();
        *self = RowCounter {
            paged,
            held,
            cursors,
            ..RowCounter::default()
        };
    }

    /// A DECLARE was sent, answered by sync point `batch`; `made` is given back when it ran.
    pub fn declare_sent(
        &mut self,
        name: &str,
        hold: bool,
        batch: u64,
        made: Option<Box<DeclaredCursor>>,
    ) {
        let name = name.to_string();
        let change = CursorChange::Declared { name, hold, made };
        self.pending.push_back((batch, change));
    }

    /// A CLOSE was sent (`None`: CLOSE ALL), answered by sync point `batch`.
    pub fn close_sent(&mut self, name: Option<&str>, batch: u64) {
        let name = name.map(str::to_string);
        self.pending.push_back((batch, CursorChange::Closed(name)));
    }

    /// `n` Syncs were ignored (a COPY FROM STDIN started ahead of them); `sent`: the sync
    /// points sent, those counted out. What was sent before them is still answered by the
    /// next real one (`sent + 1`); what was sent after them was numbered `n` too high.
    pub fn sync_points_voided(&mut self, sent: u64, n: u64) {
        for (point, _) in &mut self.pending {
            if *point > sent + n {
                *point -= n;
            }
        }
    }

    /// A CommandComplete of the sync point after `answered` (those answered so far). The
    /// statements of a sync point complete in order, and none after one that fails: the first
    /// change still owed is this one.
    /// A DECLARE that ran gives back what it made (its cursor's name and portal entry).
    pub fn on_command_complete(
        &mut self,
        body: &[u8],
        answered: u64,
    ) -> Option<(String, Box<DeclaredCursor>)> {
        let declare = body.starts_with(b"DECLARE CURSOR");
        if !declare && !body.starts_with(b"CLOSE CURSOR") {
            return None;
        }
        while self.pending.front().is_some_and(|(b, _)| *b <= answered) {
            self.pending.pop_front();
        }
        match self.pending.pop_front() {
            Some((_, CursorChange::Declared { name, hold, made })) if declare => {
                self.declared(&name, hold);
                return made.map(|m| (name, m));
            }
            Some((_, CursorChange::Closed(name))) if !declare => self.closed(name.as_deref()),
            _ => {}
        }
        None
    }

    /// DECLARE (also seen again when the cursor is run as a portal: its count stays; a
    /// cursor's name is free again only after CLOSE or its transaction): `hold` keeps it past
    /// the transaction.
    fn declared(&mut self, name: &str, hold: bool) {
        let name = name_key(name).into_owned();
        // A new cursor under the name (one rolled back or closed left it free): new rows.
        self.paged.remove(&name);
        if hold {
            self.held.insert(name.clone());
        } else {
            self.held.remove(&name);
        }
        self.cursors.insert(name);
    }

    /// CLOSE of a cursor (`None`: CLOSE ALL).
    fn closed(&mut self, name: Option<&str>) {
        match name {
            Some(n) => {
                let n = name_key(n);
                self.paged.remove(n.as_ref());
                self.held.remove(n.as_ref());
                self.cursors.remove(n.as_ref());
            }
            None => {
                self.paged.clear();
                self.held.clear();
                self.cursors.clear();
            }
        }
    }
}

#[cfg(test)]
#[path = "row_limit_tests.rs"]
mod tests;
