//! Unit tests of `prepared.rs`.

use super::*;

pub(super) fn decision(tag: &str) -> Arc<Decision> {
    Arc::new(Decision {
        verdict: pgward_policy::Verdict::Allow,
        fingerprint: 0,
        normalized: Arc::from(tag),
        statements: Vec::new(),
        mask: None,
    })
}

pub(super) fn found(l: Lookup) -> String {
    match l {
        Lookup::Found(d) => d.normalized.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn failed_parse_leaves_nothing_and_a_reparse_takes_the_name() {
    let mut p = Prepared::default();
    let c = p.create(Space::Statement, "s1", decision("select"), 0);
    p.undo(c, false);
    assert_eq!(found(p.lookup(Space::Statement, "s1", 1)), "Missing");
    let c = p.create(Space::Statement, "s1", decision("update"), 1);
    p.confirm(&c);
    assert_eq!(found(p.lookup(Space::Statement, "s1", 2)), "update");
}

#[test]
fn reparse_of_a_live_name_keeps_the_old_statement() {
    let mut p = Prepared::default();
    let c = p.create(Space::Statement, "s1", decision("select"), 0);
    p.confirm(&c);
    assert!(matches!(
        p.create(Space::Statement, "s1", decision("update"), 1),
        Change::None
    ));
    assert_eq!(found(p.lookup(Space::Statement, "s1", 1)), "select");
    // The unnamed statement is replaced.
    p.create(Space::Statement, "", decision("a"), 1);
    p.create(Space::Statement, "", decision("b"), 1);
    assert_eq!(found(p.lookup(Space::Statement, "", 1)), "b");
}

#[test]
fn unconfirmed_from_an_earlier_batch_is_unsettled() {
    let mut p = Prepared::default();
    let first = p.create(Space::Statement, "s1", decision("select"), 0);
    assert_eq!(found(p.lookup(Space::Statement, "s1", 0)), "select");
    assert_eq!(found(p.lookup(Space::Statement, "s1", 1)), "Unsettled");
    p.undo(first, false);
    assert!(p.settled(Space::Statement, "s1", 1));
}

#[test]
fn a_later_creation_survives_the_failure_of_an_earlier_one() {
    let mut p = Prepared::default();
    let first = p.create(Space::Statement, "", decision("select"), 0);
    let second = p.create(Space::Statement, "", decision("update"), 1);
    p.undo(first, false);
    p.confirm(&second);
    assert_eq!(found(p.lookup(Space::Statement, "", 2)), "update");
}

#[test]
fn a_skipped_close_restores_only_what_the_server_has() {
    let mut p = Prepared::default();
    // Parse s1, Close s1 pipelined; the Parse succeeds, an error skips the Close.
    let parse = p.create(Space::Statement, "s1", decision("select"), 0);
    let close = p.close(Space::Statement, "s1");
    p.confirm(&parse);
    p.undo(close, true);
    assert_eq!(found(p.lookup(Space::Statement, "s1", 1)), "select");
    // Confirmed while closed: settled, not waiting for an answer that already came.
    assert!(p.settled(Space::Statement, "s1", 5));
    // The Parse failed: the skipped Close brings back nothing.
    let mut p = Prepared::default();
    let parse = p.create(Space::Statement, "s2", decision("update"), 0);
    let close = p.close(Space::Statement, "s2");
    p.undo(parse, false);
    p.undo(close, true);
    assert_eq!(found(p.lookup(Space::Statement, "s2", 1)), "Missing");
}

#[test]
fn skipped_close_restores_and_forget_drops_named() {
    let mut p = Prepared::default();
    let c = p.create(Space::Statement, "s1", decision("select"), 0);
    p.confirm(&c);
    let close = p.close(Space::Statement, "s1");
    assert_eq!(found(p.lookup(Space::Statement, "s1", 1)), "Missing");
    p.undo(close, true);
    assert_eq!(found(p.lookup(Space::Statement, "s1", 1)), "select");
    p.create(Space::Statement, "", decision("u"), 1);
    p.forget_named();
    assert_eq!(p.len(), 1);
}

#[test]
fn names_are_one_object_where_postgresql_compares_no_further() {
    let long = |tail: &str| format!("{}{tail}", "n".repeat(63));
    assert_eq!(name_key(&long("1")), name_key(&long("2")));
    assert_eq!(name_key("short"), "short");
    // A cut inside a character keeps the cut byte: é and ф differ in byte 63, é and è
    // (C3 A9, C3 A8) only after it.
    let cut = |c: &str| format!("{}{c}", "n".repeat(62));
    assert_ne!(name_key(&cut("é")), name_key(&cut("ф")));
    assert_eq!(name_key(&cut("é")), name_key(&cut("è")));
    let mut p = Prepared::default();
    p.create(Space::Statement, &long("1"), decision("select"), 0);
    assert!(p.has_statement(&long("2")));
}

#[test]
fn a_name_cut_inside_a_character_is_unsettled_until_its_parse_is_answered() {
    // Keyed once: keying the key again (its cut byte spelled out) finds nothing.
    let name = format!("{}é", "a".repeat(62));
    let mut p = Prepared::default();
    p.create(Space::Statement, &name, decision("select"), 0);
    assert!(!p.settled(Space::Statement, &name, 1));
    assert_eq!(found(p.lookup(Space::Statement, &name, 1)), "Unsettled");
}

#[test]
fn a_client_keeps_a_bounded_number_of_statements() {
    use super::kept::KEPT_STATEMENTS;
    let mut p = Prepared::default();
    let shared = decision("select");
    for i in 0..KEPT_STATEMENTS {
        let name = format!("s{i}");
        assert!(p.room_for(&name, 6).fits(), "{i}");
        let c = p.create(Space::Statement, &name, shared.clone(), 0);
        p.confirm(&c);
    }
    assert!(!p.room_for("one_more", 6).fits());
    // A live name (the server's 42P05) and the unnamed statement are no new entries.
    assert!(p.room_for("s1", 6).fits());
    assert!(p.room_for("", 6).fits());
    let c = p.close(Space::Statement, "s1");
    p.confirm(&c);
    assert!(p.room_for("one_more", 6).fits(), "a Close makes room");
}

#[test]
fn a_client_keeps_a_bounded_number_of_bytes_of_statements() {
    use super::kept::{Kept, KEPT_BYTES};
    // Its own unbounded process budget: a limit other tests set cannot make this one fail.
    let budget = Box::leak(Box::new(crate::protocol::budget::Budget::new(usize::MAX)));
    let mut p = Prepared {
        kept: Kept::charged_to(budget),
        ..Default::default()
    };
    let text = "x".repeat(1 << 20);
    let mut kept = 0;
    let weight = super::kept::parse_weight(&decision(&text), text.len());
    while p.room_for(&format!("s{kept}"), weight).fits() {
        let name = format!("s{kept}");
        let c = p.create(Space::Statement, &name, decision(&text), 0);
        p.confirm(&c);
        p.judged_under(&name, &text, Default::default());
        kept += 1;
        assert!(kept <= KEPT_BYTES >> 20, "{kept} MiB statements kept");
    }
    assert!(kept >= (KEPT_BYTES >> 20) / 3, "only {kept} kept");
    // Closing makes room again: the estimate is counted anew before refusing.
    for i in 0..kept {
        let c = p.close(Space::Statement, &format!("s{i}"));
        p.confirm(&c);
    }
    assert!(p.room_for("again", weight).fits());
}

#[test]
fn a_statement_is_stale_under_another_search_path_or_policy_snapshot() {
    use super::names::{Judged, JudgedUnder};
    let text = |j: Judged| match j {
        Judged::Stale(t) => Some(t.to_string()),
        Judged::Current => None,
        Judged::Unknown => Some("unknown".into()),
    };
    let mut p = Prepared::default();
    let c = p.create(Space::Statement, "s1", decision("select"), 0);
    p.confirm(&c);
    // A held statement whose text pgward does not have is not taken as judged.
    assert_eq!(
        text(p.judged_stale("s1", JudgedUnder::default())).as_deref(),
        Some("unknown")
    );
    let first = JudgedUnder {
        path_epoch: 1,
        snapshot: 7,
    };
    p.judged_under("s1", "SELECT 1", first);
    assert_eq!(text(p.judged_stale("s1", first)), None);
    let moved = JudgedUnder {
        path_epoch: 2,
        ..first
    };
    let reloaded = JudgedUnder {
        snapshot: 8,
        ..first
    };
    for now in [moved, reloaded] {
        assert_eq!(text(p.judged_stale("s1", now)).as_deref(), Some("SELECT 1"));
    }
    p.rejudged("s1", decision("again"), reloaded);
    assert_eq!(text(p.judged_stale("s1", reloaded)), None);
    assert_eq!(found(p.lookup(Space::Statement, "s1", 1)), "again");
}

#[test]
fn sql_close_finds_a_cursor_by_the_name_postgresql_keeps() {
    let mut p = Prepared::default();
    let long = format!("c{}", "x".repeat(70));
    p.declare_cursor(&long, decision("declare"), true, 0, None);
    assert!(p.has_portal(&long));
    // PostgreSQL compares the first 63 bytes: a CLOSE spelled longer still closes it.
    p.close_cursor(Some(&format!("{long}yz")));
    assert!(!p.has_portal(&long));
}

#[test]
fn two_skipped_closes_of_one_name_leave_it_where_it_was() {
    let mut p = Prepared::default();
    let c = p.create(Space::Portal, "c", decision("cursor"), 0);
    p.confirm(&c);
    let first = p.close(Space::Portal, "c");
    let second = p.close(Space::Portal, "c");
    // Skipped after an error earlier in their batch: undone last first.
    p.undo(second, true);
    p.undo(first, true);
    assert_eq!(found(p.lookup(Space::Portal, "c", 1)), "cursor");
    // The first answered, the second skipped: the portal is gone.
    let first = p.close(Space::Portal, "c");
    let second = p.close(Space::Portal, "c");
    p.confirm(&first);
    p.undo(second, true);
    assert!(!p.has_portal("c"));
}
