//! A role without restrictions (read-write, `allow_ddl`) runs what PostgreSQL accepts, except
//! the pins every role keeps: found by running client libraries' own test suites through
//! pgward (`benches/peers/`), where such a role was refused statements no rule names.

mod common;
use common::*;

#[test]
fn server_side_copy_is_server_administration() {
    let engine = engine();
    for sql in [
        "COPY users FROM '/tmp/users.data'",
        "COPY users TO '/tmp/users.out'",
        "COPY (SELECT 1) TO PROGRAM 'cat > /dev/null'",
        "COPY users (id) FROM PROGRAM 'echo 1' WITH (FORMAT csv)",
    ] {
        assert!(!decide(&engine, &readonly(), sql).is_allowed(), "{sql}");
        let d = decide(&engine, &oncall(), sql);
        assert_eq!(
            d.denial().map(|d| d.rule),
            Some("copy.server_side"),
            "{sql}: {}",
            describe(&d)
        );
        let d = decide(&engine, &admin(), sql);
        assert!(d.is_allowed(), "{sql}: {}", describe(&d));
    }
    // To and from the client stays what it was.
    assert!(decide(&engine, &oncall(), "COPY users FROM STDIN").is_allowed());
    assert!(decide(&engine, &readonly(), "COPY users TO STDOUT").is_allowed());
}

#[test]
fn database_ddl_and_psql_joined_copies_are_read_alike() {
    let engine = engine();
    for sql in [
        "DROP DATABASE x",
        "DROP DATABASE IF EXISTS noexistdb",
        "DROP DATABASE IF EXISTS x WITH (FORCE)",
        "CREATE DATABASE x",
        "ALTER DATABASE x SET work_mem = '8MB'",
        // psql's `\;` joins statements into one Query; sqlparser's COPY reads the rest of the
        // string as its data.
        "select 0; copy users from stdin; copy users from stdin; select 1",
        "COPY users FROM STDIN; SELECT 2",
    ] {
        let d = decide(&engine, &admin(), sql);
        assert!(d.is_allowed(), "admin: {sql}: {}", describe(&d));
    }
    // Read by PostgreSQL's tree: the second COPY still counts for a read-only role.
    let d = decide(
        &engine,
        &readonly(),
        "select 0; copy users from stdin; select 1",
    );
    assert!(!d.is_allowed(), "{}", describe(&d));
}
