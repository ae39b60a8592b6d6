//! The process-wide budget for kept statements (`prepared_names.rs`, `Kept`): what passes
//! each client's free allowance is charged, refused with `Room::OutOfMemory` past the limit,
//! given back when a client leaves, and a client that closes what it parses holds no charge.

use std::sync::Arc;

use pgward_policy::Decision;

use super::super::{Prepared, Space};
use super::{Kept, Room, FREE_KEPT_BYTES};
use crate::protocol::budget::Budget;

fn client_of(budget: &'static Budget) -> Prepared {
    Prepared {
        kept: Kept::charged_to(budget),
        ..Default::default()
    }
}

fn keep(p: &mut Prepared, name: &str, text: &str) -> Room {
    let room = p.room_for(name, text.len());
    if room == Room::Fits {
        let decision = Arc::new(Decision {
            verdict: pgward_policy::Verdict::Allow,
            fingerprint: 0,
            normalized: Arc::from(text),
            statements: Vec::new(),
            mask: None,
        });
        let c = p.create(Space::Statement, name, decision, 0);
        p.confirm(&c);
        p.judged_under(name, text, Default::default());
    }
    room
}

#[test]
fn clients_share_one_budget_past_their_free_allowance() {
    let budget: &'static Budget = Box::leak(Box::new(Budget::new(8 << 20)));
    let text = "x".repeat(256 << 10);
    let mut a = client_of(budget);
    let mut kept = 0;
    while keep(&mut a, &format!("a{kept}"), &text) == Room::Fits {
        kept += 1;
        assert!(kept < 100, "never refused");
    }
    // Three copies of each text are counted, exactly once the estimate is in doubt: about
    // (8 MiB + the free 1 MiB) / (2 x 256 KiB) statements, never more than the budget holds.
    assert!((12..=36).contains(&kept), "{kept} kept");
    assert!(budget.used() <= 8 << 20);
    let mut b = client_of(budget);
    let mut fit = 0;
    while keep(&mut b, &format!("b{fit}"), &text) == Room::Fits {
        fit += 1;
        assert!(fit < 100, "never refused");
    }
    assert!(
        fit <= (FREE_KEPT_BYTES / text.len()) + 1,
        "{fit}: only the free allowance"
    );
    drop(a);
    assert_eq!(
        keep(&mut b, "after", &text),
        Room::Fits,
        "a client gone gives back"
    );
    drop(b);
    assert_eq!(budget.used(), 0);
}

#[test]
fn a_client_that_closes_what_it_parses_holds_no_charge() {
    let budget: &'static Budget = Box::leak(Box::new(Budget::new(4 << 20)));
    let mut p = client_of(budget);
    let text = "y".repeat(4 << 10);
    // 40 MiB of statements over time (120 MiB estimated), never more than one at once.
    for i in 0..10_000 {
        let name = format!("s{i}");
        assert_eq!(keep(&mut p, &name, &text), Room::Fits, "statement {i}");
        let c = p.close(Space::Statement, &name);
        p.confirm(&c);
    }
    assert!(budget.used() <= 64 << 10, "{} bytes charged", budget.used());
}
