//! Statements that leave state on the server connection beyond their transaction must say so,
//! so the proxy resets a pooled server before another client gets it.

mod common;

use common::*;
use pgward_policy::SessionChange;

fn change(sql: &str) -> Option<SessionChange> {
    let d = decide(&engine(), &oncall(), sql);
    assert!(d.is_allowed(), "{sql}: {:?}", d.denial());
    d.statements.iter().find_map(|s| s.session_change.clone())
}

#[test]
fn session_level_side_effects_are_reported() {
    for sql in [
        "SELECT pg_advisory_lock(42)",
        "SELECT pg_catalog.pg_try_advisory_lock(1, 2)",
        "SELECT nextval('documents_id_seq')",
        "SET work_mem = '64MB'",
        "PREPARE q AS SELECT 1",
        "LISTEN events",
    ] {
        assert_eq!(change(sql), Some(SessionChange::Other), "{sql}");
    }
    assert_eq!(
        change("SET search_path TO app, public"),
        Some(SessionChange::SearchPath(vec![
            "app".into(),
            "public".into()
        ]))
    );
}

#[test]
fn plain_statements_leave_nothing_behind() {
    for sql in [
        "SELECT 1",
        "SELECT pg_advisory_xact_lock(1)",
        "UPDATE documents SET status = 'x' WHERE id = 1",
        "SELECT count(*) FROM users",
    ] {
        assert_eq!(change(sql), None, "{sql}");
    }
}
