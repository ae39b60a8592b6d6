//! The process-wide budget for kept statements (`prepared_kept.rs`): what passes each
//! client's free allowance is charged, refused with `Room::OutOfMemory` past the limit, and
//! given back when statements close, fail or the client leaves.

use std::sync::Arc;

use pgward_policy::Decision;

use super::super::{Change, Prepared, Space};
use super::{parse_weight, Kept, Room, FREE_KEPT_BYTES};
use crate::protocol::budget::Budget;

fn budget(mib: usize) -> &'static Budget {
    Box::leak(Box::new(Budget::new(mib << 20)))
}

fn client_of(budget: &'static Budget) -> Prepared {
    Prepared {
        kept: Kept::charged_to(budget),
        ..Default::default()
    }
}

/// A Parse of `name` as the session sends it: judged room, entered, its text recorded.
fn send_parse(p: &mut Prepared, name: &str, text: &str) -> Result<Change, Room> {
    let decision = Arc::new(Decision {
        verdict: pgward_policy::Verdict::Allow,
        fingerprint: 0,
        normalized: Arc::from(text),
        statements: Vec::new(),
        mask: None,
    });
    match p.room_for(name, parse_weight(&decision, text.len() + name.len() + 8)) {
        Room::Fits => {}
        refused => return Err(refused),
    }
    let c = p.create(Space::Statement, name, decision, 0);
    p.judged_under(name, text, Default::default());
    Ok(c)
}

fn keep(p: &mut Prepared, name: &str, text: &str) -> Room {
    match send_parse(p, name, text) {
        Ok(c) => {
            p.confirm(&c);
            Room::Fits
        }
        Err(refused) => refused,
    }
}

/// Statements of `text` kept under names a0, a1, ... until the budget refuses one; how many.
fn fill(p: &mut Prepared, text: &str) -> usize {
    let mut kept = 0;
    while keep(p, &format!("a{kept}"), text) == Room::Fits {
        kept += 1;
        assert!(kept < 100, "never refused");
    }
    kept
}

#[test]
fn clients_share_one_budget_past_their_free_allowance() {
    let budget = budget(8);
    let text = "x".repeat(256 << 10);
    let mut a = client_of(budget);
    let kept = fill(&mut a, &text);
    // Each holds its decision's text and the text it is judged again from (512 KiB); the
    // charge is the estimate (768 KiB each) or, counted again when refused, the truth.
    assert!((12..=18).contains(&kept), "{kept} kept");
    assert!(budget.used() <= 8 << 20);
    let mut b = client_of(budget);
    let mut fit = 0;
    while keep(&mut b, &format!("b{fit}"), &text) == Room::Fits {
        fit += 1;
        assert!(fit < 100, "never refused");
    }
    assert!(
        fit <= FREE_KEPT_BYTES / (512 << 10),
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
fn closed_and_failed_statements_give_their_charge_back() {
    let budget = budget(4);
    let mut p = client_of(budget);
    let text = "y".repeat(256 << 10);
    // 500 MiB of statements over time, never more than two at once.
    for i in 0..1000 {
        let name = format!("s{i}");
        assert_eq!(keep(&mut p, &name, &text), Room::Fits, "statement {i}");
        let c = p.close(Space::Statement, &name);
        p.confirm(&c);
        // A Parse the server fails leaves nothing either.
        let failed = send_parse(&mut p, "failed", &text).expect("room");
        p.undo(failed, false);
        assert!(
            budget.used() <= 2 << 20,
            "{i}: {} bytes charged",
            budget.used()
        );
    }
    // Closing is enough: an idle client that closed its statements holds no charge.
    for i in 0..5 {
        assert_eq!(keep(&mut p, &format!("c{i}"), &text), Room::Fits);
    }
    assert!(
        budget.used() >= (3 << 20) / 2,
        "{} bytes charged",
        budget.used()
    );
    for i in 0..5 {
        let c = p.close(Space::Statement, &format!("c{i}"));
        p.confirm(&c);
    }
    assert!(budget.used() <= 1 << 20, "{} bytes charged", budget.used());
    // The unnamed statement replaces itself: parsed again and again, it stays one.
    for i in 0..1000 {
        assert_eq!(keep(&mut p, "", &text), Room::Fits, "unnamed {i}");
    }
    assert!(budget.used() <= 2 << 20, "{} bytes charged", budget.used());
    // DEALLOCATE ALL forgets the named statements, and their charge.
    for i in 0..8 {
        assert_eq!(keep(&mut p, &format!("k{i}"), &text), Room::Fits);
    }
    assert!(budget.used() > 2 << 20);
    p.forget_named();
    assert!(budget.used() <= 1 << 20, "{} bytes charged", budget.used());
}

#[test]
fn sql_prepare_texts_are_charged_too() {
    let budget = budget(2);
    let mut p = client_of(budget);
    let text: Arc<str> = Arc::from("z".repeat(700 << 10));
    let mut kept = 0;
    while p.room_for_sql(text.len()) == Room::Fits {
        p.sql_prepared(&format!("q{kept}"), &[], Some(text.clone()), None);
        kept += 1;
        assert!(kept < 20, "never refused");
    }
    // 2 MiB charged past the free 1 MiB: four texts of 700 KiB.
    assert_eq!(kept, 4);
    assert_eq!(p.room_for_sql(text.len()), Room::OutOfMemory);
    drop(p);
    assert_eq!(budget.used(), 0);
}

#[test]
fn parses_the_full_budget_refuses_are_not_counted_again_each() {
    let budget = budget(4);
    let text = "x".repeat(256 << 10);
    let mut a = client_of(budget);
    assert!(fill(&mut a, &text) > 0, "nothing fitted the budget");
    let counts = a.kept.counts;
    for i in 0..50 {
        assert_eq!(keep(&mut a, &format!("r{i}"), &text), Room::OutOfMemory);
    }
    assert!(
        a.kept.counts <= counts + 1,
        "refused Parses counted again: {} counts",
        a.kept.counts - counts
    );
    // A statement closed since: the next refusal counts, and what it freed fits again.
    let c = a.close(Space::Statement, "a0");
    a.confirm(&c);
    assert_eq!(keep(&mut a, "again", &text), Room::Fits);
}
