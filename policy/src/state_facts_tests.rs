use super::*;
use crate::pg_facts::facts_of_text;

fn state(sql: &str) -> SessionState {
    let facts = facts_of_text(sql).unwrap_or_default();
    facts.first().map(of).unwrap_or_default()
}

#[test]
fn cursors_and_their_names() {
    let s = state("DECLARE c1 CURSOR WITH HOLD FOR SELECT 1");
    assert_eq!(s.name.as_deref(), Some("c1"));
    assert!(s.hold && s.may_pin);
    let s = state("declare \"My C\" no scroll cursor for select 1");
    assert_eq!(s.name.as_deref(), Some("My C"));
    assert!(!s.hold && !s.may_pin);
    assert_eq!(state("FETCH 10 FROM c1").name.as_deref(), Some("c1"));
    assert_eq!(state("MOVE ALL IN c1").name.as_deref(), Some("c1"));
    assert_eq!(state("CLOSE c1").name.as_deref(), Some("c1"));
    assert_eq!(state("CLOSE ALL").name, None);
}

#[test]
fn prepared_statements_channels_and_discard() {
    let s = state("PREPARE q(int) AS SELECT $1");
    assert_eq!(s.name.as_deref(), Some("q"));
    assert!(s.may_pin);
    assert_eq!(state("EXECUTE q(1)").name.as_deref(), Some("q"));
    let s = state("DEALLOCATE PREPARE q");
    assert_eq!(s.name.as_deref(), Some("q"));
    assert!(!s.drops_statements);
    assert!(state("DEALLOCATE ALL").drops_statements);
    assert!(state("LISTEN ch").may_pin);
    assert_eq!(state("UNLISTEN *").name, None);
    let all = state("DISCARD ALL");
    assert!(all.drops_statements && all.settings && all.releases);
    assert!(state("DISCARD TEMP").releases);
}

#[test]
fn user_code_may_change_settings() {
    for sql in [
        "SELECT my_explain('x')",
        "SELECT public.lower('x')",
        "SELECT a FROM t WHERE f(a)",
        "DO $$ BEGIN SET enable_seqscan = off; END $$",
        "CALL p()",
    ] {
        assert!(state(sql).settings, "{sql}");
    }
    for sql in [
        "SELECT lower('x'), now(), count(*) FROM t",
        "SELECT pg_catalog.upper(a) FROM t",
        "SELECT a FROM t WHERE id = $1",
    ] {
        assert!(!state(sql).settings, "{sql}");
    }
}

#[test]
fn sequence_state_readers() {
    for sql in [
        "SELECT currval('s')",
        "select pg_catalog.LASTVAL()",
        "INSERT INTO t VALUES (1) RETURNING currval('t_id_seq')",
        "SELECT x FROM t WHERE id = (SELECT currval(pg_get_serial_sequence('t', 'id')))",
        "UPDATE t SET a = 1 WHERE id = lastval()",
    ] {
        assert!(state(sql).reads_sequences, "{sql}");
    }
    for sql in [
        "SELECT nextval('s')",
        "SELECT setval('s', 1)",
        "SELECT last_value FROM s",
        "SELECT app.currval('s')",
        "SELECT 'currval(1)'",
    ] {
        assert!(!state(sql).reads_sequences, "{sql}");
    }
    for sql in [
        "SELECT nextval('s')",
        "INSERT INTO t (a) VALUES (1)",
        "UPDATE t SET a = DEFAULT WHERE id = 1",
        "COPY t FROM STDIN",
        "SELECT f(1)",
        "SELECT count(*) FROM t",
        "WITH w AS (INSERT INTO t DEFAULT VALUES RETURNING id) SELECT id FROM w",
        "SELECT 1 INTO t2",
        "FETCH 1 FROM c",
        "EXECUTE q(1)",
        "CALL p()",
        // Conservative: the cursor's query names a function.
        "DECLARE c CURSOR FOR SELECT nextval('s')",
    ] {
        assert!(state(sql).may_set_sequences, "{sql}");
    }
    for sql in [
        "SELECT a FROM t WHERE id = $1",
        "SET search_path = app",
        "BEGIN",
        "COMMIT",
        "SHOW TimeZone",
        "DECLARE c CURSOR FOR SELECT a FROM t",
    ] {
        assert!(!state(sql).may_set_sequences, "{sql}");
    }
}

#[test]
fn identity_changes_may_pin() {
    for sql in [
        "SET ROLE r",
        "RESET ROLE",
        "SET SESSION AUTHORIZATION r",
        "RESET SESSION AUTHORIZATION",
        "SELECT set_config('role', 'r', false)",
        "SELECT pg_catalog.set_config('SESSION_AUTHORIZATION', 'r', false)",
    ] {
        let s = state(sql);
        assert!(s.may_pin && s.settings, "{sql}: {s:?}");
    }
    for sql in [
        "SET LOCAL ROLE r",
        "SELECT set_config('role', 'r', true)",
        "SET work_mem = '8MB'",
    ] {
        assert!(!state(sql).may_pin, "{sql}");
    }
}

#[test]
fn temporary_objects_and_session_locks_may_pin() {
    for sql in [
        "CREATE TEMP TABLE t (a int)",
        "create temporary table t as select 1",
        "CREATE TEMP VIEW v AS SELECT 1",
        "CREATE TEMP SEQUENCE s",
        "CREATE TABLE pg_temp.foo (a int)",
        "CREATE TYPE pg_temp.inventory_item AS (name text)",
        "CREATE DOMAIN pg_temp.posint AS int CHECK (VALUE > 0)",
        "CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE VIEW PG_TEMP.v AS SELECT 1",
        "SELECT pg_advisory_lock(1)",
        "select pg_catalog.pg_try_advisory_lock(1, 2)",
        "DO $$ BEGIN END $$",
    ] {
        assert!(state(sql).may_pin, "{sql}");
    }
    for sql in [
        "CREATE TABLE t (a int)",
        "SELECT pg_advisory_xact_lock(1)",
        "SELECT 1",
    ] {
        assert!(!state(sql).may_pin, "{sql}");
    }
}

#[test]
fn session_settings() {
    for sql in [
        "SET work_mem = '8MB'",
        "SET SESSION statement_timeout TO 1000",
        "RESET work_mem",
        "RESET ALL",
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SELECT set_config('work_mem', '8MB', false)",
    ] {
        assert!(state(sql).settings, "{sql}");
    }
    for sql in [
        "SET LOCAL work_mem = '8MB'",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SELECT set_config('work_mem', '8MB', true)",
        "SHOW work_mem",
    ] {
        assert!(!state(sql).settings, "{sql}");
    }
}

#[test]
fn databases_that_must_be_free_of_sessions() {
    let dbs = |sql: &str| state(sql).databases;
    assert_eq!(
        dbs("CREATE DATABASE x TEMPLATE template0"),
        vec!["template0"]
    );
    assert_eq!(
        dbs("CREATE DATABASE x WITH TEMPLATE = \"My T\""),
        vec!["My T"]
    );
    assert_eq!(dbs("CREATE DATABASE x"), vec!["template1"]);
    assert_eq!(dbs("DROP DATABASE IF EXISTS old_db"), vec!["old_db"]);
    assert_eq!(dbs("DROP DATABASE old_db WITH (FORCE)"), vec!["old_db"]);
    assert!(dbs("SELECT 1").is_empty());
}

#[test]
fn custom_settings_are_named_and_opaque_ones_flagged() {
    for sql in [
        "SET app.Tenant = '42'",
        "RESET app.tenant",
        "SELECT set_config('App.tenant', '42', false)",
    ] {
        let s = state(sql);
        assert_eq!(s.custom_settings, vec!["app.tenant".to_string()], "{sql}");
        assert!(!s.opaque_settings, "{sql}");
    }
    for sql in [
        "SET LOCAL app.tenant = '42'",
        "SELECT set_config('app.tenant', '42', true)",
        "SET work_mem = '1MB'",
    ] {
        assert!(state(sql).custom_settings.is_empty(), "{sql}");
    }
    assert!(state("SELECT set_config($1, '42', false)").opaque_settings);
    assert!(state("SELECT set_config(name, 'x', false) FROM t").opaque_settings);
    assert!(!state("SELECT set_config($1, '42', true)").opaque_settings);
}

#[test]
fn statements_used_by_name() {
    assert_eq!(state("EXECUTE q(1)").statement_used.as_deref(), Some("q"));
    assert_eq!(state("DEALLOCATE q").statement_used.as_deref(), Some("q"));
    assert_eq!(state("DEALLOCATE ALL").statement_used, None);
    assert_eq!(
        state("EXPLAIN ANALYZE EXECUTE q(1)")
            .statement_used
            .as_deref(),
        Some("q")
    );
    assert_eq!(
        state("CREATE TEMP TABLE t AS EXECUTE q")
            .statement_used
            .as_deref(),
        Some("q")
    );
    assert!(state("EXPLAIN EXECUTE q").user_code);
    assert_eq!(state("SELECT 1").statement_used, None);
}

#[test]
fn discard_plans_keeps_prepared_statements() {
    assert!(!state("DISCARD PLANS").drops_statements);
    assert!(state("DISCARD ALL").drops_statements);
}
