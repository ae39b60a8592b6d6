//! Unit tests of `prepared.rs`.

use super::*;

fn decision(tag: &str) -> Arc<Decision> {
    Arc::new(Decision {
        verdict: pgward_policy::Verdict::Allow,
        fingerprint: 0,
        normalized: Arc::from(tag),
        statements: Vec::new(),
        mask: None,
    })
}

fn found(l: Lookup) -> String {
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

/// SQL `PREPARE name` sent with `text`, judged under `snapshot`: the candidate it added.
fn prep(p: &mut Prepared, name: &str, path: &[String], text: &str, snapshot: u64) -> Option<u64> {
    p.sql_prepared(name, path, Some(Arc::from(text)), Some(snapshot))
}

fn texts(v: Option<Vec<Option<Arc<str>>>>) -> Option<Vec<Option<String>>> {
    v.map(|t| t.into_iter().map(|x| x.map(|s| s.to_string())).collect())
}

#[test]
fn an_sql_prepared_name_is_outdated_under_another_policy_snapshot() {
    let mut p = Prepared::default();
    let path = vec!["public".to_string()];
    prep(&mut p, "w", &path, "PREPARE w AS SELECT 1", 7);
    assert_eq!(texts(p.sql_prepared_outdated("w", 7)), None);
    // Names arrive as the parser left them: "W" is another name, never prepared.
    assert_eq!(texts(p.sql_prepared_outdated("W", 8)), None);
    assert_eq!(
        texts(p.sql_prepared_outdated("w", 8)),
        Some(vec![Some("PREPARE w AS SELECT 1".to_string())])
    );
    p.sql_prepared_rejudged("w", 8);
    assert_eq!(texts(p.sql_prepared_outdated("w", 8)), None);
    // The same text again, judged under the same snapshot (the server answers 42P05).
    prep(&mut p, "w", &path, "PREPARE w AS SELECT 1", 8);
    assert_eq!(texts(p.sql_prepared_outdated("w", 8)), None);
    assert!(!p.sql_prepared_stale("w", &path));
    assert!(p.sql_prepared_stale("w", &["other".to_string()]));
}

#[test]
fn every_text_a_name_was_prepared_with_is_judged_again() {
    let mut p = Prepared::default();
    let path = vec!["public".to_string()];
    // One of the two failed on the server (42P05, or an aborted transaction): which one is
    // unknown, so both are candidates, judged again together.
    prep(&mut p, "w", &path, "PREPARE w AS SELECT 1", 7);
    prep(&mut p, "w", &path, "PREPARE w AS DELETE FROM t", 7);
    assert_eq!(texts(p.sql_prepared_outdated("w", 7)), None);
    assert_eq!(
        texts(p.sql_prepared_outdated("w", 8)),
        Some(vec![
            Some("PREPARE w AS SELECT 1".to_string()),
            Some("PREPARE w AS DELETE FROM t".to_string())
        ])
    );
    // A candidate judged under another snapshot: all of them are judged again.
    prep(&mut p, "v", &path, "PREPARE v AS SELECT 1", 7);
    prep(&mut p, "v", &path, "PREPARE v AS SELECT 2", 8);
    assert_eq!(
        texts(p.sql_prepared_outdated("v", 8)).map(|t| t.len()),
        Some(2)
    );
    // A text pgward could not tell apart stays a candidate; past the bound all are unknown.
    p.sql_prepared("blind", &path, None, Some(7));
    assert_eq!(texts(p.sql_prepared_outdated("blind", 8)), Some(vec![None]));
    for i in 0..20 {
        let text = format!("PREPARE many AS SELECT {i}");
        prep(&mut p, "many", &path, text.as_str(), 7);
    }
    assert_eq!(texts(p.sql_prepared_outdated("many", 8)), Some(vec![None]));
}

#[test]
fn sql_prepared_names_are_bounded() {
    use super::names::SQL_NAMES_KEPT;
    let mut p = Prepared::default();
    for i in 0..SQL_NAMES_KEPT {
        let name = format!("s{i}");
        assert!(p.sql_prepare_fits(&name));
        prep(&mut p, &name, &[], "PREPARE x AS SELECT 1", 1);
    }
    assert!(!p.sql_prepare_fits("one_more"));
    assert!(p.sql_prepare_fits("s0"), "a recorded name always fits");
    let mut p = Prepared::default();
    let big: Arc<str> = Arc::from("x".repeat(super::names::SQL_TEXT_BYTES).as_str());
    p.sql_prepared("big", &[], Some(big), Some(1));
    assert!(!p.sql_prepare_fits("next"));
    // Nor does a recorded name take a text past the byte bound.
    assert!(!p.sql_prepare_fits("big"));
}

#[test]
fn a_portal_keeps_the_text_and_snapshot_of_the_statement_it_was_bound_from() {
    use super::portals::PortalJudged;
    let mut p = Prepared::default();
    let path: std::sync::Arc<[String]> = vec!["public".to_string()].into();
    let judged = super::names::JudgedUnder {
        path_epoch: 1,
        snapshot: 5,
    };
    let c = p.create(Space::Statement, "", decision("update"), 0);
    p.confirm(&c);
    p.judged_under("", "UPDATE t SET a = 1", judged);
    let c = p.bind("p", "", decision("update"), 0, &path, true);
    p.confirm(&c);
    let origin = p.portal_origin("p").expect("origin");
    assert_eq!(
        (origin.text.as_deref(), origin.snapshot),
        (Some("UPDATE t SET a = 1"), 5)
    );
    assert!(matches!(p.portal_judged("p", 5), PortalJudged::Current));
    // The statement parsed again: the portal's plan (and text) stay what it was bound from.
    let c = p.create(Space::Statement, "", decision("select"), 1);
    p.confirm(&c);
    p.judged_under("", "SELECT 1", judged);
    match p.portal_judged("p", 6) {
        PortalJudged::Stale(text, at) => assert_eq!((&*text, &*at), ("UPDATE t SET a = 1", &*path)),
        other => panic!("{other:?}"),
    }
    p.portal_rejudged("p", decision("update"), 6);
    assert!(matches!(p.portal_judged("p", 6), PortalJudged::Current));
    // A Close the server skips puts the portal back with its text.
    let close = p.close(Space::Portal, "p");
    assert!(
        matches!(p.portal_judged("p", 7), PortalJudged::Current),
        "no portal, nothing to judge"
    );
    p.undo(close, true);
    assert!(matches!(p.portal_judged("p", 7), PortalJudged::Stale(..)));
    // Bound from a statement whose text is not known: refused once the rules changed.
    let c = p.create(Space::Statement, "s", decision("select"), 1);
    p.confirm(&c);
    let c = p.bind("q", "s", decision("select"), 1, &path, true);
    p.confirm(&c);
    assert!(matches!(p.portal_judged("q", 5), PortalJudged::Unknown));
    // A cursor declared with its text and snapshot.
    let origin = super::portals::PortalOrigin {
        text: Some("DECLARE c CURSOR FOR SELECT 1".into()),
        snapshot: 5,
        path: path.clone(),
    };
    p.declare_cursor("c", decision("declare"), false, 1, Some(origin));
    assert!(matches!(p.portal_judged("c", 5), PortalJudged::Current));
    assert!(matches!(p.portal_judged("c", 6), PortalJudged::Stale(..)));
}

#[test]
fn a_deallocate_removes_only_the_texts_entered_before_it() {
    let mut p = Prepared::default();
    let path = vec!["public".to_string()];
    prep(&mut p, "w", &path, "PREPARE w AS SELECT 1", 7);
    prep(&mut p, "x", &path, "PREPARE x AS SELECT 1", 7);
    let at_deallocate = p.sql_seq();
    // PREPAREd again after the DEALLOCATE was sent, before it was answered.
    prep(&mut p, "w", &path, "PREPARE w AS SELECT 2", 7);
    p.sql_names_removed(Some("w"), at_deallocate);
    assert_eq!(
        texts(p.sql_prepared_outdated("w", 8)),
        Some(vec![Some("PREPARE w AS SELECT 2".to_string())])
    );
    assert!(p.owns_statement("x"));
    // DISCARD ALL sent before x's and w's latest texts: only x goes.
    p.sql_names_removed(None, at_deallocate);
    assert!(!p.owns_statement("x"));
    assert!(p.owns_statement("w"));
    p.sql_names_removed(None, p.sql_seq());
    assert!(!p.owns_statement("w"));
}

#[test]
fn texts_prepared_under_two_search_paths_are_always_stale() {
    let mut p = Prepared::default();
    let x = vec!["x".to_string()];
    let y = vec!["y".to_string()];
    prep(&mut p, "w", &x, "PREPARE w AS SELECT 1", 7);
    assert!(!p.sql_prepared_stale("w", &x));
    // DEALLOCATE w sent, not yet answered; PREPARE w under another path.
    prep(&mut p, "w", &y, "PREPARE w AS SELECT 2", 7);
    assert!(p.sql_prepared_stale("w", &x));
    assert!(p.sql_prepared_stale("w", &y));
}

#[test]
fn a_failed_prepare_leaves_no_candidate() {
    let mut p = Prepared::default();
    let path = vec!["public".to_string()];
    let first = prep(&mut p, "w", &path, "PREPARE w AS SELECT 1", 7);
    let second = prep(&mut p, "w", &path, "PREPARE w AS SELECT 2", 7);
    // The same text again adds no candidate: its failure (42P05) must not drop the first.
    let again = prep(&mut p, "w", &path, "PREPARE w AS SELECT 1", 7);
    assert_eq!(again, None);
    p.sql_prepare_failed("w", second.expect("a new candidate"));
    assert_eq!(
        texts(p.sql_prepared_outdated("w", 8)),
        Some(vec![Some("PREPARE w AS SELECT 1".to_string())])
    );
    // Its first PREPARE's number was moved on by the second one of the same text.
    p.sql_prepare_failed("w", first.expect("a new candidate"));
    assert!(p.owns_statement("w"));
    let only = prep(&mut p, "v", &path, "PREPARE v AS SELECT 1", 7);
    p.sql_prepare_failed("v", only.expect("a new candidate"));
    assert!(
        !p.owns_statement("v"),
        "a name whose every PREPARE failed is none"
    );
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
