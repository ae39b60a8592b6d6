//! `Decision::changes_catalog`: what the proxy reloads the catalog snapshot after.

mod common;
use common::*;

#[test]
fn ddl_and_code_that_may_run_ddl_change_the_catalog() {
    let engine = engine();
    for (sql, changes) in [
        ("CREATE TABLE x (a int)", true),
        ("ALTER TABLE users ADD COLUMN b int", true),
        ("DROP VIEW IF EXISTS user_directory", true),
        (
            "CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)",
            true,
        ),
        ("CREATE DOMAIN d AS int CHECK (VALUE > 0)", true),
        ("SELECT 1 INTO newt", true),
        ("DO $$ BEGIN EXECUTE 'CREATE TABLE y ()'; END $$", true),
        ("SELECT 1; CREATE INDEX ON users (id)", true),
        ("SELECT * FROM users", false),
        ("UPDATE users SET name = 'x' WHERE id = 1", false),
        ("SET search_path = public", false),
        ("BEGIN", false),
    ] {
        let d = decide(&engine, &admin(), sql);
        assert!(d.is_allowed(), "{sql}: {d:?}");
        assert_eq!(d.changes_catalog(), changes, "{sql}");
    }
    // A refused statement runs nothing.
    assert!(!decide(&engine, &readonly(), "CREATE TABLE z (a int)").changes_catalog());
}
