//! Variants beyond the corpus for every class: a guard that passes by string matching fails here.

mod common;
use common::*;

#[test]
fn read_only_allows_reads_and_harmless_session_statements() {
    check_all(
        &readonly(),
        &[
            ("select ID, Status from USERS where id = 42", true),
            ("SELECT \"id\" FROM \"users\" -- trailing comment", true),
            ("/* lead */ SELECT 1 /* mid */ ; /* tail */", true),
            ("SELECT $$dollar ; DELETE FROM t$$ AS s", true),
            ("SELECT $tag$x$tag$ || E'it\\'s; DELETE FROM t' AS s", true),
            ("SELECT lower(email), pg_catalog.upper(full_name), \"pg_catalog\".\"lower\"(email) FROM users", true),
            ("SELECT count(*) FILTER (WHERE status = 'x') OVER (PARTITION BY organization_id ORDER BY id) FROM users", true),
            ("SELECT * FROM generate_series(1, 10) g LEFT JOIN LATERAL (SELECT g) s ON true", true),
            ("SELECT jsonb_build_object('a', 1)->>'a', array_agg(id ORDER BY id) FROM users", true),
            ("SELECT date_trunc('day', now()) - interval '1 day', extract(epoch from now())", true),
            ("SELECT public.my_report(1)", true),
            // Without a catalog snapshot `$user` cannot be resolved: it may define my_report.
            ("SELECT my_report(1)", false),
            ("SELECT public.my_report(1)", true),
            ("EXPLAIN ANALYZE SELECT * FROM users", true),
            ("EXPLAIN (FORMAT JSON) SELECT 1", true),
            ("SHOW search_path", true),
            ("SHOW ALL", true),
            ("SET search_path = public, \"$user\"", true),
            ("SET TIME ZONE 'UTC'", true),
            ("SET statement_timeout TO '30s'", true),
            ("SET statement_timeout = 5000", true),
            ("SET LOCAL statement_timeout = '1s'", true),
            ("SET work_mem = '64MB'", true),
            ("SET default_transaction_read_only = on", true),
            ("SET client_encoding = 'UTF8'", true),
            ("START TRANSACTION READ ONLY", true),
            ("BEGIN ISOLATION LEVEL SERIALIZABLE", true),
            ("SAVEPOINT a; RELEASE SAVEPOINT a; ROLLBACK TO SAVEPOINT a", true),
            ("DECLARE c CURSOR FOR SELECT * FROM users", true),
            ("DECLARE c CURSOR WITH HOLD FOR SELECT * FROM users", true),
            ("FETCH 10 FROM c", true),
            ("FETCH c", true),
            ("fetch next c", true),
            ("MOVE FORWARD 5 IN c", true),
            ("SELECT pg_sleep(1)", true),
            ("CLOSE c", true),
            ("PREPARE q AS SELECT * FROM users WHERE id = $1", true),
            ("EXECUTE q(1)", true),
            ("DEALLOCATE q", true),
            ("LISTEN chan", true),
            ("UNLISTEN *", true),
            ("DISCARD ALL", true),
            ("TABLE users", true),
            ("COPY users TO STDOUT", true),
            ("COPY users TO STDOUT WITH (FORMAT csv, FREEZE on)", true),
            ("", true),
        ],
    );
}

#[test]
fn read_only_refuses_writes_in_every_disguise() {
    check_all(
        &readonly(),
        &[
            ("delete from documents where id = 1", false),
            ("DeLeTe FrOm documents", false),
            ("-- c\rDELETE FROM documents", false),
            ("-- c\nDELETE FROM documents", false),
            ("SELECT 1 /* ; */; DELETE FROM documents", false),
            ("SELECT $$;$$; DELETE FROM documents", false),
            ("SELECT E'\\';'; DELETE FROM documents --'", false),
            ("WITH a AS (SELECT 1), b AS (UPDATE users SET status = 'x' RETURNING id) SELECT * FROM b", false),
            ("WITH a AS (WITH b AS (DELETE FROM users RETURNING id) SELECT * FROM b) SELECT * FROM a", false),
            ("SELECT * FROM (WITH x AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT * FROM x) s", false),
            ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", false),
            ("EXPLAIN ANALYZE UPDATE users SET status = 'x'", false),
            ("EXPLAIN (ANALYZE) DELETE FROM users", false),
            ("EXPLAIN (ANALYZE true, BUFFERS) INSERT INTO t VALUES (1)", false),
            ("EXPLAIN DELETE FROM users", false),
            ("CREATE TEMP TABLE t AS SELECT 1", false),
            ("SELECT 1 INTO TEMP t", false),
            ("PREPARE p AS UPDATE users SET status = 'x' WHERE id = $1", false),
            ("DECLARE c CURSOR FOR SELECT * FROM users FOR UPDATE", false),
            ("COPY users FROM STDIN", false),
            ("COPY users FROM STDIN WITH (FREEZE on)", false),
            ("COPY users TO '/tmp/x'", false),
            ("COPY (SELECT 1) TO '/tmp/x'", false),
            ("COPY users FROM PROGRAM 'id'", false),
            ("MERGE INTO users u USING documents d ON u.id = d.user_id WHEN MATCHED THEN DELETE", false),
            ("INSERT INTO users (id) VALUES (1) ON CONFLICT DO NOTHING", false),
            ("TRUNCATE TABLE ONLY users", false),
            ("CREATE VIEW v AS SELECT 1", false),
            ("DROP VIEW IF EXISTS user_directory", false),
            ("COMMENT ON TABLE users IS 'x'", false),
            ("REVOKE ALL ON users FROM PUBLIC", false),
            ("CREATE ROLE r", false),
            ("ALTER ROLE app_ro SET default_transaction_read_only = off", false),
            ("VACUUM ANALYZE users", false),
            ("VACUUM users", false),
            ("ANALYZE users", false),
            ("CHECKPOINT", false),
            ("REINDEX TABLE users", false),
            ("CLUSTER users", false),
            ("NOTIFY chan, 'x'", false),
            ("LOCK users", false),
            ("SELECT * FROM users FOR SHARE", false),
            ("SELECT * FROM users FOR NO KEY UPDATE", false),
            ("SELECT * FROM users FOR KEY SHARE", false),
            ("SELECT * FROM (SELECT * FROM users FOR UPDATE) s", false),
            ("SELECT (SELECT id FROM users FOR UPDATE LIMIT 1)", false),
            ("WITH l AS (SELECT * FROM users FOR UPDATE) SELECT * FROM l", false),
            ("DO $x$ BEGIN PERFORM 1; END $x$", false),
            ("CALL pg_catalog.some_proc()", false),
        ],
    );
}

#[test]
fn read_only_refuses_side_effect_functions_anywhere() {
    check_all(
        &readonly(),
        &[
            ("SELECT pg_catalog.nextval('s')", false),
            ("SELECT \"pg_catalog\".\"nextval\"('s')", false),
            ("SELECT NEXTVAL('s')", false),
            ("SELECT \"nextval\"('s')", false),
            ("SELECT id FROM users WHERE id = nextval('s')", false),
            ("SELECT * FROM users ORDER BY setval('s', 1)", false),
            (
                "SELECT * FROM users GROUP BY id HAVING pg_advisory_lock(id) IS NULL",
                false,
            ),
            ("SELECT * FROM (SELECT nextval('s')) x", false),
            (
                "WITH x AS (SELECT pg_terminate_backend(1)) SELECT * FROM x",
                false,
            ),
            ("SELECT * FROM pg_read_file('/etc/passwd')", false),
            ("SELECT * FROM users, LATERAL pg_ls_dir('.') d", false),
            ("SELECT lower(pg_read_file('/etc/passwd'))", false),
            ("SELECT coalesce(NULL, currval('s'))", false),
            ("SELECT CASE WHEN true THEN pg_advisory_lock(10) END", false),
            ("VALUES (nextval('s'))", false),
            ("SELECT ARRAY[lo_import('/x')]", false),
            ("SELECT (nextval('s'))::text", false),
            (
                "SELECT count(*) FILTER (WHERE pg_try_advisory_lock(1)) FROM users",
                false,
            ),
            (
                "SELECT row_number() OVER (ORDER BY nextval('s')) FROM users",
                false,
            ),
            (
                "SELECT EXISTS (SELECT set_config('a.b', 'c', false))",
                false,
            ),
            (
                "SELECT id IN (SELECT pg_cancel_backend(1)) FROM users",
                false,
            ),
            (
                "SELECT query_to_xml('DELETE FROM users', true, true, '')",
                false,
            ),
            (
                "SELECT * FROM dblink('x', 'DELETE FROM users') AS t(a int)",
                false,
            ),
            ("SELECT pg_reload_conf()", false),
            ("SELECT txid_current()", false),
            ("SELECT pg_notify('a', 'b')", false),
            ("SELECT public.lower('x')", false),
            ("SELECT my_udf()", false),
            ("SELECT public.wipe_everything()", false),
            (
                "SELECT 1 FROM users WHERE email OPERATOR(public.===) 'x'",
                false,
            ),
            ("EXECUTE q(nextval('s'))", false),
        ],
    );
}

#[test]
fn search_path_decides_unqualified_functions() {
    let engine = engine();
    let role = readonly();
    let decide_with = |path: &[&str], sql: &str| {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        let facts = pgward_policy::SessionFacts {
            role: &role,
            search_path: &path,
            in_transaction: false,
        };
        engine.decide(sql, &facts).is_allowed()
    };
    assert!(decide_with(&["public"], "SELECT lower('A')"));
    assert!(!decide_with(&["evil", "pg_catalog"], "SELECT lower('A')"));
    assert!(decide_with(&["pg_catalog", "evil"], "SELECT lower('A')"));
    assert!(!decide_with(&["evil"], "SELECT my_report()"));
}

#[test]
fn read_only_refuses_loosening_the_session() {
    check_all(
        &readonly(),
        &[
            ("begin read write", false),
            ("BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE", false),
            (
                "START TRANSACTION READ WRITE, ISOLATION LEVEL SERIALIZABLE",
                false,
            ),
            (
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
                false,
            ),
            ("SET transaction_read_only = off", false),
            ("SET transaction_read_only TO false", false),
            ("SET default_transaction_read_only = 'off'", false),
            ("SET default_transaction_read_only = 0", false),
            ("SET default_transaction_read_only TO DEFAULT", false),
            ("RESET default_transaction_read_only", false),
            ("RESET transaction_read_only", false),
            // Back to the session defaults: the pins pgward set on the upstream connection.
            ("RESET ALL", true),
            ("RESET ROLE", false),
            ("RESET SESSION AUTHORIZATION", false),
            ("SET ROLE NONE", false),
            ("SET LOCAL ROLE app_owner", false),
            ("SET SESSION AUTHORIZATION DEFAULT", false),
            ("SET statement_timeout = '0'", false),
            ("SET statement_timeout = '31s'", false),
            ("SET statement_timeout = '1h'", false),
            // Back to the role's pinned statement_timeout.
            ("SET statement_timeout TO DEFAULT", true),
            ("RESET statement_timeout", true),
            // The server reads these as 0: no limit.
            ("SET statement_timeout = '0.4'", false),
            ("SET statement_timeout = '400us'", false),
            ("SET statement_timeout = '1e-4s'", false),
            ("SET lock_timeout = '0'", false),
            ("SET idle_in_transaction_session_timeout = '1d'", false),
            (
                "SELECT set_config('statement_timeout', '0.2', false)",
                false,
            ),
            // Harmless: pgward sends no text whose reading depends on it.
            ("SET standard_conforming_strings = off", true),
            ("SET client_encoding = 'SJIS'", false),
            ("SET client_encoding TO 'big5'", false),
            ("SET NAMES 'GBK'", false),
            ("SET backslash_quote = on", false),
            ("SET session_replication_role = replica", false),
            ("SET allow_system_table_mods = on", false),
            ("SET my.custom = 'x'", false),
            ("SET LOCAL search_path = evil, pg_catalog", false),
            ("SELECT set_config('search_path', 'public', false)", true), // as SET search_path (pg_dump)
            (
                "SELECT pg_catalog.set_config('statement_timeout', '0', false)",
                false,
            ),
        ],
    );
}

#[test]
fn require_where_variants() {
    check_all(
        &oncall(),
        &[
            ("UPDATE documents SET status = 'x' WHERE id = 1", true),
            ("update DOCUMENTS set status = 'x' where ID = 1", true),
            ("UPDATE documents d SET status = 'x' WHERE d.id = 1", true),
            ("UPDATE public.documents SET status = 'x' WHERE documents.id = 1", true),
            ("DELETE FROM documents WHERE id = 1 OR id = 2", true),
            ("DELETE FROM documents WHERE id = 1 AND true", true),
            ("DELETE FROM documents WHERE false OR id = 1", true),
            ("DELETE FROM documents WHERE id IN (1, 2, 3)", true),
            ("DELETE FROM documents WHERE status IS NULL", true),
            ("DELETE FROM documents WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = documents.user_id)", true),
            ("UPDATE documents d SET status = 'x' FROM users u WHERE d.user_id = u.id", true),
            ("MERGE INTO documents d USING users u ON d.user_id = u.id WHEN MATCHED THEN UPDATE SET status = 'x'", true),
            ("MERGE INTO documents d USING users u ON true WHEN NOT MATCHED THEN INSERT (id) VALUES (1)", true),
            ("WITH x AS (DELETE FROM documents WHERE id = 1 RETURNING id) SELECT * FROM x", true),
            ("INSERT INTO documents (id) SELECT id FROM users", true),
            ("INSERT INTO documents (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET status = 'x'", true),
            ("SELECT nextval('documents_id_seq')", true),
            ("SELECT * FROM users FOR UPDATE", true),
            ("LOCK TABLE documents IN SHARE MODE", true),
            ("NOTIFY chan", true),
            ("COPY documents FROM STDIN", true),
            ("SELECT pg_catalog.set_config('search_path', '', false)", true),
            ("SET default_transaction_read_only = off", true),
            ("BEGIN READ WRITE", true),
            ("UPDATE documents SET status = 'x' WHERE 2 > 1", false),
            ("UPDATE documents SET status = 'x' WHERE id = id", false),
            ("UPDATE documents SET status = 'x' WHERE (id) = (id)", false),
            ("UPDATE documents SET status = 'x' WHERE id IS NOT DISTINCT FROM id", false),
            ("UPDATE documents SET status = 'x' WHERE true OR id = 1", false),
            ("UPDATE documents SET status = 'x' WHERE id = 1 OR true", false),
            ("UPDATE documents SET status = 'x' WHERE id = 1 OR 1 = 1", false),
            ("UPDATE documents SET status = 'x' WHERE NOT (1 = 2)", false),
            ("UPDATE documents SET status = 'x' WHERE (SELECT true)", false),
            ("UPDATE documents SET status = 'x' WHERE EXISTS (SELECT 1)", false),
            ("UPDATE documents SET status = 'x' WHERE EXISTS (SELECT 1 FROM users)", false),
            ("UPDATE documents SET status = 'x' WHERE $1", false),
            ("UPDATE documents SET status = 'x' WHERE random() < 2", false),
            ("UPDATE documents SET status = 'x' WHERE 'a' LIKE 'a'", false),
            ("UPDATE documents SET status = 'x' WHERE NULL IS NULL", false),
            ("UPDATE documents d SET status = 'x' FROM users u WHERE u.status = 'deleted'", false),
            ("UPDATE documents d SET status = 'x' FROM users u WHERE status = 'deleted'", false),
            ("DELETE FROM documents d USING users u WHERE u.id = 1", false),
            ("MERGE INTO documents d USING users u ON true WHEN MATCHED THEN DELETE", false),
            ("MERGE INTO documents d USING users u ON 1 = 1 WHEN MATCHED THEN UPDATE SET status = 'x'", false),
            ("WITH x AS (WITH y AS (DELETE FROM documents RETURNING id) SELECT * FROM y) SELECT * FROM x", false),
            ("WITH x AS (UPDATE documents SET status = 'x' WHERE 1 = 1 RETURNING id) SELECT * FROM x", false),
            ("EXPLAIN ANALYZE DELETE FROM documents", false),
            ("BEGIN; DELETE FROM documents; COMMIT", false),
            ("CREATE TABLE t (id int)", false),
            ("CREATE TABLE t AS SELECT 1", false),
            ("SELECT 1 INTO t", false),
            ("VACUUM ANALYZE documents", false),
            ("ALTER TABLE documents ADD PRIMARY KEY (id)", false),
            ("CREATE INDEX i ON documents (status)", false),
            ("GRANT SELECT ON documents TO PUBLIC", false),
            ("DO $$ BEGIN DELETE FROM documents; END $$", false),
            ("CALL cleanup()", false),
            ("SET ROLE postgres", false),
            ("SELECT pg_catalog.set_config('session_replication_role', 'replica', false)", false),
            ("SELECT set_config(current_setting('x'), 'y', false)", false),
            ("COPY documents FROM '/etc/passwd'", false),
        ],
    );
}

#[test]
fn admin_role_runs_ddl_and_maintenance() {
    check_all(
        &admin(),
        &[
            ("VACUUM ANALYZE pgbench_accounts", true),
            ("VACUUM (VERBOSE) documents", true),
            ("CHECKPOINT", true),
            ("ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid)", true),
            ("COPY pgbench_accounts FROM STDIN WITH (FREEZE ON)", true),
            ("CREATE TABLE t (id int); DROP TABLE t", true),
            ("TRUNCATE documents", true),
            ("DELETE FROM documents", true),
            ("DO $$ BEGIN END $$", true),
            // Server administration, the same class as ALTER SYSTEM: allowed with allow_ddl.
            ("COPY documents FROM '/etc/passwd'", true),
            ("SET session_replication_role = replica", true),
            // Identity changes need allow_set_role, which admin() does not have.
            ("SET ROLE postgres", false),
            ("SELECT set_config($1, $2, false)", false),
        ],
    );
}

#[test]
fn syntax_errors_are_postgres_own() {
    let engine = engine();
    for (sql, position) in [
        ("SELEC * FROM users", 1),
        ("SELECT 'unterminated", 8),
        ("SELECT * FROM users WHERE", 26),
        ("SELECT 1;; DELET FROM x", 12),
    ] {
        for role in [readonly(), oncall(), admin()] {
            let d = decide(&engine, &role, sql);
            let den = d.denial().unwrap_or_else(|| panic!("allowed: {sql}"));
            assert_eq!(den.sqlstate, "42601", "{sql}: {den:?}");
            assert_eq!(den.position, Some(position), "{sql}: {den:?}");
            assert!(!den.audited, "{sql}");
            assert!(
                den.message.contains("syntax error") || den.message.contains("unterminated"),
                "{sql}: {}",
                den.message
            );
        }
    }
    // Valid PostgreSQL sqlparser cannot read is judged from PostgreSQL's tree.
    assert!(decide(
        &engine,
        &readonly(),
        "SELECT * FROM ROWS FROM (generate_series(1,2))"
    )
    .is_allowed());
    assert!(!decide(&engine, &readonly(), "SELECT \u{0}").is_allowed());
    let d = decide(
        &engine,
        &readonly(),
        "SELECT 1 +* 'supersecretvalue-1234567890-abcdefghijklmnop'",
    );
    let den = d.denial().expect("denied");
    assert!(!den.detail.contains("supersecret"), "{}", den.detail);
    assert!(!d.normalized.contains("supersecret"));
    assert_eq!(
        decide(&engine, &readonly(), "SELECT 'unterminated")
            .normalized
            .as_ref(),
        pgward_policy::UNPARSED
    );
}

#[test]
fn statement_info_reports_kinds_writes_and_session_changes() {
    use pgward_policy::{SessionChange, StatementKind as K};
    let engine = engine();
    let d = decide(
        &engine,
        &readonly(),
        "SELECT 1; SET search_path = \"My\", public; SET application_name = 'x'",
    );
    assert!(d.is_allowed());
    let kinds: Vec<K> = d.statements.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, vec![K::Select, K::Set, K::Set]);
    assert_eq!(
        d.statements[1].session_change,
        Some(SessionChange::SearchPath(vec![
            "My".into(),
            "public".into()
        ]))
    );
    assert_eq!(d.statements[2].session_change, Some(SessionChange::Other));
    assert_eq!(d.statements[0].session_change, None);
    // A statement after the change would be read by PostgreSQL under the new path: refused
    // where the role's rules resolve names; SET, SHOW and transaction control may follow.
    for sql in [
        "SET search_path = shadow, public; SELECT lower('x')",
        "SELECT set_config('search_path', 'shadow', true); SELECT lower('x')",
        "RESET search_path; SELECT 1",
    ] {
        let d = decide(&engine, &readonly(), sql);
        assert_eq!(
            d.denial().map(|d| d.rule),
            Some("session.search_path"),
            "{sql}"
        );
    }
    let d = decide(
        &engine,
        &readonly(),
        "BEGIN; SET search_path TO public; ROLLBACK",
    );
    assert!(d.is_allowed());
    let d = decide(
        &engine,
        &readonly(),
        "SELECT set_config('search_path', 'shadow', true)",
    );
    assert_eq!(
        d.statements[0].session_change,
        Some(SessionChange::SearchPathUnknown)
    );
    let d = decide(&engine, &readonly(), "RESET search_path");
    assert_eq!(
        d.statements[0].session_change,
        Some(SessionChange::SearchPathDefault)
    );
    let d = decide(
        &engine,
        &oncall(),
        "UPDATE documents SET status = 'x' WHERE id = 1; LISTEN a; PREPARE p AS SELECT 1",
    );
    assert!(d.statements[0].writes);
    assert_eq!(d.statements[0].kind, K::Update);
    assert_eq!(d.statements[1].session_change, Some(SessionChange::Other));
    assert_eq!(d.statements[2].kind, K::Prepare);
    let d = decide(
        &engine,
        &admin(),
        "VACUUM ANALYZE t; TABLE t; COPY t FROM STDIN WITH (FREEZE on)",
    );
    let kinds: Vec<K> = d.statements.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, vec![K::Maintenance, K::Select, K::CopyFrom]);
}

#[test]
fn denials_have_plain_messages_rules_and_hints() {
    let engine = engine();
    let d = decide(
        &engine,
        &readonly(),
        "UPDATE documents SET status = 'x' WHERE id = 1",
    );
    let den = d.denial().expect("denied");
    assert_eq!(den.rule, "read_only.write");
    assert_eq!(den.message, "read-only role may not run UPDATE");
    assert_eq!(den.detail, "rule: read_only.write");
    assert!(den.hint.contains("read-write"));
    let d = decide(&engine, &oncall(), "UPDATE documents SET status = 'x'");
    let den = d.denial().expect("denied");
    assert_eq!(den.rule, "require_where");
    assert_eq!(den.message, "UPDATE without a WHERE that filters rows");
    assert!(den.hint.contains("WHERE"));
}
