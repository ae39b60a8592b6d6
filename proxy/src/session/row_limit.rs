//! `max_result_rows` as a plain value: rows are counted per result of a simple Query, per
//! portal across all its pages (whatever Describes or other Executes come between, since each
//! Execute of the portal continues the same result), and per SQL cursor across every FETCH of
//! it (and Execute of it as a portal), a WITH HOLD cursor's past its transaction. The session
//! performs what it says (cancel upstream, drop, answer 54000).

use std::collections::VecDeque;

use crate::fast_hash::{HashMap, HashSet};

use super::prepared::name_key;

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
    Declared { name: String, hold: bool },
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

    /// A DECLARE was sent, answered by sync point `batch`.
    pub fn declare_sent(&mut self, name: &str, hold: bool, batch: u64) {
        let name = name.to_string();
        self.pending
            .push_back((batch, CursorChange::Declared { name, hold }));
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
    pub fn on_command_complete(&mut self, body: &[u8], answered: u64) {
        let declare = body.starts_with(b"DECLARE CURSOR");
        if !declare && !body.starts_with(b"CLOSE CURSOR") {
            return;
        }
        while self.pending.front().is_some_and(|(b, _)| *b <= answered) {
            self.pending.pop_front();
        }
        match self.pending.pop_front() {
            Some((_, CursorChange::Declared { name, hold })) if declare => {
                self.declared(&name, hold)
            }
            Some((_, CursorChange::Closed(name))) if !declare => self.closed(name.as_deref()),
            _ => {}
        }
    }

    /// DECLARE (also seen again when the cursor is run as a portal: its count stays; a
    /// cursor's name is free again only after CLOSE or its transaction): `hold` keeps it past
    /// the transaction.
    fn declared(&mut self, name: &str, hold: bool) {
        let name = name_key(name).into_owned();
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
mod tests {
    use super::*;
    use crate::protocol::BackendTag;
    use crate::session::prepared::Change;
    use crate::session::replies::{Handling, ReplyQueue, Sent, Step};

    /// Feed scripted server frames through the reply queue and the counter, as the session
    /// does; returns the steps of the frames that belong to results.
    fn run(sent: &[Sent], frames: &[u8], limit: u64) -> Vec<(char, RowStep)> {
        let mut q = ReplyQueue::default();
        for s in sent {
            q.push(s.clone(), Handling::Forward);
        }
        let mut rows = RowCounter::default();
        let mut out = Vec::new();
        for &tag in frames {
            if q.front_swallowed() && tag != b'Z' {
                // The session forwards nothing more of the batch after a cut portal.
                q.on_server(BackendTag::from_byte(tag));
                out.push((tag as char, RowStep::Drop));
                continue;
            }
            let step = q.on_server(BackendTag::from_byte(tag));
            let portal;
            let of = match &step {
                Step::Done(e) | Step::Suspended(e) => match &e.sent {
                    Sent::Execute { portal: p } => {
                        portal = p.clone();
                        ResultOf::Portal(&portal)
                    }
                    _ => ResultOf::Other,
                },
                _ => match q.front().map(|e| &e.sent) {
                    Some(Sent::Execute { portal: p }) => {
                        portal = p.clone();
                        ResultOf::Portal(&portal)
                    }
                    Some(Sent::Query) => ResultOf::Query,
                    _ => ResultOf::Other,
                },
            };
            let row_step = rows.on_frame(tag, of, limit);
            if row_step == RowStep::Cut && matches!(of, ResultOf::Portal(_)) {
                q.swallow_rest_of_batch();
            }
            out.push((tag as char, row_step));
        }
        out
    }

    fn forwarded_rows(steps: &[(char, RowStep)]) -> usize {
        steps
            .iter()
            .filter(|(t, s)| *t == 'D' && *s == RowStep::Forward)
            .count()
    }

    #[test]
    fn describe_between_pages_does_not_reset_the_count() {
        let exec = Sent::Execute { portal: "p".into() };
        let mut sent = Vec::new();
        let mut frames = Vec::new();
        for _ in 0..4 {
            sent.push(exec.clone());
            sent.push(Sent::Describe);
            frames.extend_from_slice(b"DDDDs");
            frames.extend_from_slice(b"T");
        }
        sent.push(Sent::Sync);
        frames.push(b'Z');
        let steps = run(&sent, &frames, 10);
        assert_eq!(forwarded_rows(&steps), 10);
        assert!(steps.iter().any(|(_, s)| *s == RowStep::DropAndCancel));
        assert!(steps.iter().any(|(t, s)| *t == 's' && *s == RowStep::Cut));
    }

    #[test]
    fn a_cut_portal_is_not_read_on_by_pages_after_the_next_sync() {
        // In a block, a page and a Sync, again and again, all sent before the first cut.
        let exec = Sent::Execute { portal: "p".into() };
        let mut sent = Vec::new();
        let mut frames = Vec::new();
        for _ in 0..6 {
            sent.push(exec.clone());
            sent.push(Sent::Sync);
            frames.extend_from_slice(b"DDDDsZ");
        }
        let steps = run(&sent, &frames, 10);
        assert_eq!(forwarded_rows(&steps), 10);
        let cuts = steps.iter().filter(|(_, s)| *s == RowStep::Cut).count();
        assert_eq!(cuts, 4, "each page past the limit is answered 54000");
    }

    #[test]
    fn fetches_of_a_cursor_count_together_and_a_held_one_past_its_transaction() {
        /// Rows forwarded by one FETCH of 4 rows.
        fn fetch(rows: &mut RowCounter, cursor: &str) -> usize {
            b"TDDDDC"
                .iter()
                .map(|&tag| (tag, rows.on_frame(tag, ResultOf::Cursor(cursor), 10)))
                .filter(|(tag, step)| *tag == b'D' && *step == RowStep::Forward)
                .count()
        }
        let mut rows = RowCounter::default();
        rows.declared("c", false);
        rows.declared("h", true);
        assert_eq!((0..3).map(|_| fetch(&mut rows, "c")).sum::<usize>(), 10);
        // The transaction ends: c is gone (a new c starts afresh), h goes on counting.
        rows.clear();
        assert_eq!(fetch(&mut rows, "c"), 4);
        let mut held = 0;
        for _ in 0..3 {
            held += fetch(&mut rows, "h");
            rows.clear();
        }
        assert_eq!(held, 10);
        rows.closed(Some("h"));
        assert_eq!(fetch(&mut rows, "h"), 4);
    }

    #[test]
    fn pipelined_executes_of_one_portal_count_together() {
        let exec = Sent::Execute { portal: "p".into() };
        let sent = vec![exec.clone(), exec.clone(), exec, Sent::Sync];
        let steps = run(&sent, b"DDDDsDDDDsDDDDsZ", 10);
        assert_eq!(forwarded_rows(&steps), 10);
    }

    #[test]
    fn a_voided_sync_renumbers_only_what_was_sent_after_it() {
        let mut rows = RowCounter::default();
        rows.declare_sent("before", false, 5); // sent with the COPY, before its Sync
        rows.declare_sent("after", false, 6); // sent after the Sync the COPY voids
        rows.sync_points_voided(4, 1);
        let points: Vec<u64> = rows.pending.iter().map(|(p, _)| *p).collect();
        assert_eq!(points, [5, 5]);
        // Both complete in the sync point after the 4 answered.
        rows.on_command_complete(b"DECLARE CURSOR\0", 4);
        rows.on_command_complete(b"DECLARE CURSOR\0", 4);
        assert!(rows.cursors.contains("before") && rows.cursors.contains("after"));
    }

    #[test]
    fn separate_results_count_separately() {
        // Two results of one simple Query, each within the limit.
        let steps = run(&[Sent::Query], b"TDDDCTDDDCZ", 5);
        assert_eq!(forwarded_rows(&steps), 6);
        assert!(steps.iter().all(|(_, s)| *s == RowStep::Forward));
        // A portal run to completion starts again with its next Bind.
        let exec = Sent::Execute { portal: "".into() };
        let sent = vec![
            Sent::Bind(Change::None),
            exec.clone(),
            Sent::Bind(Change::None),
            exec,
            Sent::Sync,
        ];
        let steps = run(&sent, b"2DDDC2DDDCZ", 5);
        assert_eq!(forwarded_rows(&steps), 6);
    }
}
