//! `max_result_rows` counted across pages, Describes, pipelined Executes and cursors.

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
    rows.declare_sent("before", false, 5, None); // sent with the COPY, before its Sync
    rows.declare_sent("after", false, 6, None); // sent after the Sync the COPY voids
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
