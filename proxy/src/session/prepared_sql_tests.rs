//! Unit tests of `prepared.rs`: the names SQL PREPARE/EXECUTE/DEALLOCATE use and the texts
//! each may be judged again from.

use super::tests::decision;
use super::*;

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
