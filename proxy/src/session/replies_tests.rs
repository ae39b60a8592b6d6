//! Unit tests of `replies.rs`.

use super::*;
use BackendTag as B;

/// Views of the queue only tests need.
impl ReplyQueue {
    /// A Query inside an unsynced extended-protocol batch (as `push` enters one).
    pub fn push_conditional(
        &mut self,
        sent: Sent,
        handling: Handling,
        mask: Option<crate::session::masking::ReplyMask>,
    ) {
        self.push_entry(sent, handling, mask, None);
        if let Some(e) = self.entries.back_mut() {
            e.conditional = true;
        }
    }

    /// The portal whose Execute is answering now.
    pub fn executing_portal(&self) -> Option<&str> {
        match self.entries.front() {
            Some(Expected {
                sent: Sent::Execute { portal },
                ..
            }) => Some(portal),
            _ => None,
        }
    }

    /// A simple Query is answering now.
    pub fn in_query(&self) -> bool {
        matches!(
            self.entries.front(),
            Some(Expected {
                sent: Sent::Query,
                ..
            })
        )
    }

    /// Whether the reply now going on (the front entry's) is swallowed.
    pub fn front_swallowed(&self) -> bool {
        self.entries
            .front()
            .is_some_and(|e| e.handling == Handling::Swallow)
    }
}

fn queue(sent: &[Sent]) -> ReplyQueue {
    let mut q = ReplyQueue::default();
    for s in sent {
        q.push(s.clone(), Handling::Forward);
    }
    q
}

#[test]
fn extended_batch_in_order() {
    let mut q = queue(&[
        Sent::Parse(Change::None),
        Sent::Bind(Change::None),
        Sent::Describe,
        Sent::Execute { portal: "".into() },
        Sent::Sync,
    ]);
    assert_eq!(q.batch(), 1);
    assert!(matches!(q.on_server(B::ParseComplete), Step::Done(_)));
    assert!(matches!(q.on_server(B::BindComplete), Step::Done(_)));
    assert!(matches!(q.on_server(B::RowDescription), Step::Done(_)));
    assert_eq!(q.executing_portal(), Some(""));
    assert!(matches!(q.on_server(B::DataRow), Step::Continue));
    assert!(matches!(q.on_server(B::NoticeResponse), Step::Continue));
    assert!(matches!(q.on_server(B::CommandComplete), Step::Done(_)));
    assert!(matches!(q.on_server(B::ReadyForQuery), Step::Ready { .. }));
    assert!(!q.owes());
}

#[test]
fn an_error_skips_to_the_sync() {
    let mut q = queue(&[
        Sent::Parse(Change::None),
        Sent::Bind(Change::None),
        Sent::Execute { portal: "".into() },
        Sent::Sync,
        Sent::Parse(Change::None),
        Sent::Sync,
    ]);
    match q.on_server(B::ErrorResponse) {
        Step::Failed { failed, skipped } => {
            assert!(matches!(failed.sent, Sent::Parse(_)));
            assert_eq!(skipped.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(q.on_server(B::ReadyForQuery), Step::Ready { .. }));
    // The next batch is untouched.
    assert!(matches!(q.on_server(B::ParseComplete), Step::Done(_)));
}

#[test]
fn paged_execute_and_simple_query() {
    let mut q = queue(&[Sent::Execute { portal: "p".into() }, Sent::Query]);
    assert!(matches!(q.on_server(B::DataRow), Step::Continue));
    assert!(matches!(
        q.on_server(B::PortalSuspended),
        Step::Suspended(_)
    ));
    assert!(q.in_query());
    for t in [
        B::RowDescription,
        B::DataRow,
        B::CommandComplete,
        B::ErrorResponse,
    ] {
        assert!(!matches!(q.on_server(t), Step::Unexpected | Step::Done(_)));
    }
    assert!(matches!(q.on_server(B::ReadyForQuery), Step::Ready { .. }));
    assert!(matches!(q.on_server(B::ReadyForQuery), Step::Unexpected));
}

#[test]
fn replies_nobody_asked_for_are_unexpected() {
    let mut q = ReplyQueue::default();
    for t in [
        B::ParseComplete,
        B::DataRow,
        B::ErrorResponse,
        B::ReadyForQuery,
    ] {
        assert!(matches!(q.on_server(t), Step::Unexpected));
    }
    let mut q = queue(&[Sent::Describe]);
    assert!(matches!(
        q.on_server(B::ParameterDescription),
        Step::Continue
    ));
    assert!(matches!(q.on_server(B::NoData), Step::Done(_)));
}

#[test]
fn a_query_inside_a_failed_batch_is_skipped_with_it() {
    let mut q = queue(&[Sent::Parse(Change::None), Sent::Describe]);
    q.push_conditional(Sent::Query, Handling::Forward, None);
    q.push(Sent::Sync, Handling::Forward);
    match q.on_server(B::ErrorResponse) {
        Step::Failed { skipped, .. } => {
            assert_eq!(skipped.len(), 2);
            assert!(skipped[1].conditional);
        }
        other => panic!("{other:?}"),
    }
    // The Sync's ReadyForQuery is the only one.
    assert!(matches!(q.on_server(B::ReadyForQuery), Step::Ready { .. }));
    assert!(!q.owes());
    // Without a failure the Query is answered like any other.
    let mut q = queue(&[Sent::Parse(Change::None)]);
    q.push_conditional(Sent::Query, Handling::Forward, None);
    assert!(matches!(q.on_server(B::ParseComplete), Step::Done(_)));
    assert!(matches!(q.on_server(B::CommandComplete), Step::Continue));
    assert!(matches!(q.on_server(B::ReadyForQuery), Step::Ready { .. }));
    assert!(!q.owes());
}

#[test]
fn a_sync_sent_while_a_copy_starts_is_voided_when_it_starts() {
    // Execute of COPY FROM STDIN, then the driver's Sync before CopyInResponse came.
    let mut q = queue(&[Sent::Execute { portal: "".into() }]);
    q.push_copy_sync();
    assert!(matches!(
        q.on_server(B::CopyInResponse),
        Step::CopyIn { voided: 1 }
    ));
    // The client's CopyDone ends the COPY; the Sync after it is answered.
    q.push(Sent::Sync, Handling::Forward);
    assert!(matches!(q.on_server(B::CommandComplete), Step::Done(_)));
    assert!(matches!(
        q.on_server(B::ReadyForQuery),
        Step::Ready { point: Some(_), .. }
    ));
    assert!(!q.owes());
}

#[test]
fn a_copy_that_fails_before_starting_has_its_sync_answered() {
    let mut q = queue(&[Sent::Execute { portal: "".into() }]);
    q.push_copy_sync();
    assert!(matches!(q.on_server(B::ErrorResponse), Step::Failed { .. }));
    assert!(matches!(q.on_server(B::ReadyForQuery), Step::Ready { .. }));
    assert!(!q.owes());
}

#[test]
fn ready_for_query_names_the_sync_point_it_answers() {
    // The client's Sync, then the guard's closing statement.
    let mut q = queue(&[Sent::Parse(Change::None)]);
    q.push(Sent::Sync, Handling::Forward);
    for s in [
        Sent::Parse(Change::None),
        Sent::Bind(Change::None),
        Sent::Execute { portal: "".into() },
    ] {
        q.push(s, Handling::Quiet);
    }
    q.push(Sent::Sync, Handling::ClosesGuard);
    assert!(matches!(q.on_server(B::ParseComplete), Step::Done(_)));
    match q.on_server(B::ReadyForQuery) {
        Step::Ready {
            point: Some(p),
            skipped,
        } => {
            assert_eq!(p.handling, Handling::Forward);
            assert!(skipped.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // The COMMIT fails (a deferred constraint): its error is the client's, not hidden.
    assert!(q.front_hides(B::ParseComplete));
    assert!(!q.front_hides(B::ErrorResponse));
    assert!(matches!(q.on_server(B::ParseComplete), Step::Done(_)));
    assert!(matches!(q.on_server(B::BindComplete), Step::Done(_)));
    assert!(matches!(q.on_server(B::ErrorResponse), Step::Failed { .. }));
    match q.on_server(B::ReadyForQuery) {
        Step::Ready { point: Some(p), .. } => assert_eq!(p.handling, Handling::ClosesGuard),
        other => panic!("{other:?}"),
    }
    assert!(!q.owes());
}

#[test]
fn every_query_after_a_failed_extended_message_is_skipped_until_sync() {
    // Parse (fails), Query, Query, Sync: PostgreSQL skips both Queries, not just the first.
    let mut q = queue(&[
        Sent::Parse(Change::None),
        Sent::Query,
        Sent::Query,
        Sent::Sync,
    ]);
    match q.on_server(B::ErrorResponse) {
        Step::Failed { skipped, .. } => assert_eq!(skipped.len(), 2),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        q.on_server(B::ReadyForQuery),
        Step::Ready { point: Some(_), .. }
    ));
    assert!(!q.owes());
}

#[test]
fn what_is_sent_while_the_server_skips_to_sync_is_answered_by_nothing() {
    // Parse (fails) + Flush: nothing owed, but the server now skips to the next Sync.
    let mut q = queue(&[Sent::Parse(Change::None)]);
    assert!(matches!(q.on_server(B::ErrorResponse), Step::Failed { .. }));
    let batch = q.batch();
    q.push(Sent::Parse(Change::None), Handling::Forward);
    q.push(Sent::Query, Handling::Forward);
    q.push(Sent::Bind(Change::None), Handling::Forward);
    // Nothing earlier can be waited for: the server answers none of it.
    assert!(!q.owes_before(batch + 1));
    q.push(Sent::Sync, Handling::Forward);
    match q.on_server(B::ReadyForQuery) {
        Step::Ready {
            skipped,
            point: Some(p),
        } => {
            assert_eq!(skipped.len(), 3);
            assert!(matches!(p.sent, Sent::Sync));
        }
        other => panic!("{other:?}"),
    }
    assert!(!q.owes());
    // The next batch is answered as usual.
    q.push(Sent::Query, Handling::Forward);
    assert!(matches!(q.on_server(B::CommandComplete), Step::Continue));
    assert!(matches!(q.on_server(B::ReadyForQuery), Step::Ready { .. }));
}
