//! "A role is refused only what its rules name": for each guardrail (docs/guardrails.md), what
//! it refuses is refused by a role that has it, with the guardrail's rule name, and allowed to
//! the same role without it. A role without restrictions runs everything PostgreSQL accepts,
//! except what the pins every role keeps refuse.

mod common;
use common::*;
use pgward_policy::{Access, RoleRules};

/// Read-write, DDL, no require_where, no limits, unmasked, identity changes allowed: the
/// peer suites' DBA role (`benches/peers/pgward-up.sh`).
fn unrestricted() -> RoleRules {
    RoleRules {
        name: "dba".into(),
        access: Access::ReadWrite,
        allow_ddl: true,
        unmasked: true,
        allow_set_role: true,
        ..Default::default()
    }
}

/// set_config with a name or value pgward cannot read (psycopg's `set_config($1, $2, false)`
/// in the extended protocol): refused by every guardrail that depends on a setting
/// PostgreSQL does not report.
const OPAQUE_SET_CONFIG: &[&str] = &[
    "SELECT set_config($1, $2, false)",
    "SELECT pg_catalog.set_config($1, $2, true)",
    "SELECT set_config(name, setting, false) FROM pg_settings WHERE name LIKE 'enable%'",
];

struct Guardrail {
    name: &'static str,
    /// The unrestricted role with this one guardrail.
    with: fn() -> RoleRules,
    /// Rule names its refusals carry.
    rules: &'static [&'static str],
    refuses: &'static [&'static str],
}

const GUARDRAILS: &[Guardrail] = &[
    Guardrail {
        name: "access = read-only",
        with: || RoleRules {
            access: Access::ReadOnly,
            allow_ddl: false,
            ..unrestricted()
        },
        rules: &[
            "read_only.write",
            "read_only.function",
            "read_only.unknown_function",
            "read_only.row_lock",
            "read_only.setting",
            "read_only.loosen",
            "copy.server_side",
            "session.replication_role",
            "session.set_config",
        ],
        refuses: &[
            "UPDATE documents SET status = 'x' WHERE id = 1",
            "WITH w AS (DELETE FROM documents WHERE id = 1 RETURNING 1) SELECT * FROM w",
            "SELECT * INTO t2 FROM documents",
            "COPY documents FROM STDIN",
            "CREATE TABLE t2 (x int)",
            "SELECT nextval('documents_id_seq')",
            "SELECT public.my_udf()",
            "SELECT * FROM users WHERE id = 1 FOR NO KEY UPDATE",
            "LOCK TABLE users IN EXCLUSIVE MODE",
            "SET work_mem_typo_setting = 1",
            "BEGIN READ WRITE",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
            "SELECT 'a' OPERATOR(public.===) 'b'",
            // allow_ddl and allow_set_role have no effect on a read-only role.
            "COPY documents TO '/tmp/documents.out'",
            "COPY (SELECT 1) TO PROGRAM 'cat'",
            "SET session_replication_role = replica",
            "SET ROLE postgres",
            "RESET ROLE",
            "SET SESSION AUTHORIZATION postgres",
            "SELECT set_config('role', 'postgres', false)",
            "SELECT set_config($1, $2, false)",
            "SELECT set_config('application_name', $1, false)",
        ],
    },
    Guardrail {
        name: "require_where",
        with: || RoleRules {
            require_where: true,
            ..unrestricted()
        },
        rules: &["require_where", "opaque_code", "session.set_config"],
        refuses: &[
            "SELECT set_config($1, $2, false)",
            "SELECT set_config('search_path', $1, false)",
            "DELETE FROM documents",
            "UPDATE documents SET status = 'x' WHERE id IS NOT NULL",
            "UPDATE documents SET status = 'x' WHERE id = id",
            "WITH w AS (UPDATE documents SET status = 'x' WHERE true RETURNING 1) SELECT * FROM w",
            "MERGE INTO documents d USING users u ON true WHEN MATCHED THEN DELETE",
            "DO $$ BEGIN END $$",
        ],
    },
    Guardrail {
        name: "allow_ddl = false",
        with: || RoleRules {
            allow_ddl: false,
            ..unrestricted()
        },
        rules: &[
            "ddl",
            "opaque_code",
            "copy.server_side",
            "session.replication_role",
            "session.set_config",
        ],
        refuses: &[
            "COPY documents FROM '/tmp/documents.data'",
            "COPY documents TO '/tmp/documents.out'",
            "COPY (SELECT 1) TO PROGRAM 'cat > /dev/null'",
            "COPY documents (id) FROM PROGRAM 'echo 1' WITH (FORMAT csv)",
            "SET session_replication_role = replica",
            "SET LOCAL session_replication_role TO 'local'",
            "RESET session_replication_role",
            "SELECT set_config('session_replication_role', 'replica', false)",
            "SELECT set_config('session_replication_role', $1, false)",
            "SELECT set_config($1, $2, false)",
            "CREATE TABLE t2 (x int)",
            "CREATE DATABASE x TEMPLATE template0",
            "ALTER TABLE documents ADD COLUMN y int",
            "TRUNCATE documents",
            "VACUUM documents",
            "GRANT SELECT ON users TO PUBLIC",
            "CALL cleanup_documents()",
            "SELECT * INTO t3 FROM documents",
            "SELECT * INTO t3 FROM documents TABLESAMPLE SYSTEM (1)",
        ],
    },
    Guardrail {
        name: "statement_timeout",
        with: || RoleRules {
            statement_timeout_ms: Some(30_000),
            ..unrestricted()
        },
        rules: &["session.statement_timeout", "session.set_config"],
        refuses: &[
            "SELECT set_config('statement_timeout', $1, false)",
            "SELECT set_config($1, $2, false)",
            "SET statement_timeout = 0",
            "SET statement_timeout = '0.4'",
            "SET statement_timeout = '1h'",
            "SET LOCAL statement_timeout = '400us'",
            "SET lock_timeout = 0",
            "SET idle_in_transaction_session_timeout = '2h'",
            "SELECT set_config('statement_timeout', '1e-4s', false)",
            // pg_settings' update rule is set_config, row by row.
            "UPDATE pg_settings SET setting = '0' WHERE name = 'statement_timeout'",
            "UPDATE pg_catalog.pg_settings SET setting = reset_val WHERE name = 'statement_timeout'",
            "WITH w AS (UPDATE pg_settings SET setting = '0' WHERE name IN ('lock_timeout') RETURNING 1) SELECT * FROM w",
            "UPDATE pg_settings SET setting = '0' WHERE name LIKE '%timeout'",
        ],
    },
    Guardrail {
        name: "max_affected_rows",
        with: || RoleRules {
            max_affected_rows: 100,
            ..unrestricted()
        },
        rules: &["max_affected_rows"],
        refuses: &["WITH w AS (UPDATE documents SET status = 'x' WHERE id = 1 RETURNING 1) SELECT * FROM w"],
    },
    Guardrail {
        name: "allow_set_role = false",
        with: || RoleRules {
            allow_set_role: false,
            ..unrestricted()
        },
        rules: &["session.role", "session.set_config"],
        refuses: &[
            "SET ROLE postgres",
            "SET ROLE NONE",
            "SET LOCAL ROLE postgres",
            "RESET ROLE",
            "SET role TO DEFAULT",
            "SET SESSION AUTHORIZATION postgres",
            "SET SESSION AUTHORIZATION DEFAULT",
            "RESET SESSION AUTHORIZATION",
            "SELECT set_config('role', 'postgres', false)",
            "SELECT set_config('session_authorization', 'postgres', true)",
            "SELECT set_config('role', $1, false)",
            "SELECT set_config($1, $2, false)",
            "UPDATE pg_settings SET setting = 'postgres' WHERE name = 'role'",
        ],
    },
];

/// Refused for every role: the lexer pins (a value that would change how text is read, also
/// when the setting's name is not a literal). `standard_conforming_strings` is not one: pgward
/// sends no text whose reading depends on it (`string_syntax.rs`).
const PINNED: &[&str] = &[
    "SET backslash_quote = on",
    "SET client_encoding = 'SJIS'",
    "SELECT set_config(name, 'SJIS', false) FROM pg_settings WHERE name LIKE 'client%'",
];

/// Valid PostgreSQL an unrestricted role runs, sqlparser or not.
const UNRESTRICTED_RUNS: &[&str] = &[
    "CREATE DATABASE x TEMPLATE template0",
    "TABLE users LIMIT 3",
    "SELECT * FROM users TABLESAMPLE SYSTEM (10)",
    "SET SCHEMA 'public'",
    "SELECT * FROM users FOR NO KEY UPDATE",
    "SELECT 1 AS U&\"d\\0061t\"",
    "SET standard_conforming_strings = off",
    "SELECT set_config(name, 'off', false) FROM pg_settings WHERE name = 'standard_conforming_strings'",
    "SELECT set_config($1, 'off', false)",
    "SELECT set_config('application_name', current_setting('application_name'), false)",
    "LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
    "SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name IN ('restrict_nonsystem_relation_kind')",
    "SELECT set_config(name, 'x', false) FROM pg_catalog.pg_settings WHERE name = 'application_name'",
    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    "RESET ALL",
    "DO $$ BEGIN END $$",
    "DELETE FROM documents",
    "SELECT pg_advisory_unlock_all()",
    "ALTER SYSTEM SET work_mem = '8MB'",
    "SECURITY LABEL ON TABLE users IS 'x'",
    "CREATE PUBLICATION p FOR ALL TABLES",
    // allow_set_role
    "SET ROLE postgres",
    "SET LOCAL ROLE NONE",
    "RESET ROLE",
    "SET SESSION AUTHORIZATION postgres",
    "RESET SESSION AUTHORIZATION",
    "SELECT set_config('role', 'postgres', false)",
    "SELECT pg_catalog.set_config('session_authorization', 'postgres', false)",
    // server administration (allow_ddl)
    "COPY users FROM '/tmp/users.data'",
    "COPY users TO '/tmp/users.out' WITH (FORMAT csv)",
    "COPY (SELECT 1) TO PROGRAM 'cat > /dev/null'",
    "SET session_replication_role = replica",
    "SELECT set_config('session_replication_role', 'replica', false)",
    // set_config pgward cannot read: nothing of this role depends on a setting PostgreSQL
    // does not report
    "SELECT set_config($1, $2, false)",
    "SELECT set_config('search_path', $1, false)",
    "SELECT set_config(name, setting, false) FROM pg_settings WHERE name LIKE 'enable%'",
    "SELECT set_config($1, 'on', false)",
];

#[test]
fn each_guardrail_refuses_what_it_names_and_nothing_else_does() {
    let engine = engine();
    for g in GUARDRAILS {
        let with = (g.with)();
        for sql in g.refuses {
            let d = decide(&engine, &with, sql);
            let denial = d
                .denial()
                .unwrap_or_else(|| panic!("{}: allowed {sql}", g.name));
            assert!(
                g.rules.contains(&denial.rule),
                "{}: {sql} refused under rule {} ({})",
                g.name,
                denial.rule,
                denial.message
            );
            let without = decide(&engine, &unrestricted(), sql);
            assert!(
                without.is_allowed(),
                "{}: {sql} refused without the guardrail: {}",
                g.name,
                describe(&without)
            );
        }
    }
}

#[test]
fn pins_hold_for_every_role_and_an_unrestricted_role_runs_the_rest() {
    let engine = engine();
    for sql in PINNED {
        for role in [unrestricted(), readonly(), oncall()] {
            let d = decide(&engine, &role, sql);
            let denial = d
                .denial()
                .unwrap_or_else(|| panic!("{}: allowed {sql}", role.name));
            assert!(
                denial.rule.starts_with("session."),
                "{sql}: {}",
                denial.rule
            );
        }
    }
    for sql in UNRESTRICTED_RUNS {
        let d = decide(&engine, &unrestricted(), sql);
        assert!(d.is_allowed(), "{sql}: {}", describe(&d));
    }
}

/// Statements one key allows: for each, refused to the unrestricted role without that key
/// (with the rule named), allowed with it, and refused to a read-only role that has it.
type Gated = (&'static str, &'static str, fn(&mut RoleRules));
const GATED: &[Gated] = &[
    ("SET ROLE postgres", "session.role", |r| {
        r.allow_set_role = false
    }),
    ("RESET ROLE", "session.role", |r| r.allow_set_role = false),
    ("SET SESSION AUTHORIZATION postgres", "session.role", |r| {
        r.allow_set_role = false
    }),
    ("RESET SESSION AUTHORIZATION", "session.role", |r| {
        r.allow_set_role = false
    }),
    (
        "SELECT set_config('role', 'x', false)",
        "session.role",
        |r| r.allow_set_role = false,
    ),
    (
        "SELECT set_config('session_authorization', 'x', false)",
        "session.role",
        |r| r.allow_set_role = false,
    ),
    ("COPY users FROM '/tmp/u'", "copy.server_side", |r| {
        r.allow_ddl = false
    }),
    ("COPY users TO '/tmp/u'", "copy.server_side", |r| {
        r.allow_ddl = false
    }),
    ("COPY users TO PROGRAM 'cat'", "copy.server_side", |r| {
        r.allow_ddl = false
    }),
    ("COPY users FROM PROGRAM 'cat'", "copy.server_side", |r| {
        r.allow_ddl = false
    }),
    (
        "SET session_replication_role = replica",
        "session.replication_role",
        |r| r.allow_ddl = false,
    ),
    (
        "SET session_replication_role TO DEFAULT",
        "session.replication_role",
        |r| r.allow_ddl = false,
    ),
    (
        "SELECT set_config('session_replication_role', 'origin', false)",
        "session.replication_role",
        |r| r.allow_ddl = false,
    ),
];

#[test]
fn each_key_allows_what_it_names_and_read_only_roles_stay_refused() {
    let engine = engine();
    for (sql, rule, without) in GATED {
        let mut lacking = unrestricted();
        without(&mut lacking);
        let d = decide(&engine, &lacking, sql);
        assert_eq!(
            d.denial().map(|d| d.rule),
            Some(*rule),
            "without the key: {sql}: {}",
            describe(&d)
        );
        let d = decide(&engine, &unrestricted(), sql);
        assert!(d.is_allowed(), "with the key: {sql}: {}", describe(&d));
        let read_only = RoleRules {
            access: Access::ReadOnly,
            ..unrestricted()
        };
        let d = decide(&engine, &read_only, sql);
        assert!(!d.is_allowed(), "read-only with the key: {sql}");
    }
}

/// Masking depends on the session's search_path, which PostgreSQL does not report: a masked
/// role's set_config must be readable; the same role unmasked, or with no `[masking]`, runs it.
#[test]
fn masking_is_a_guardrail_of_set_config() {
    use pgward_policy::mask::MaskConfig;
    use pgward_policy::{Engine, PolicyConfig};
    let masking = MaskConfig::new(&["public.users.email".into()], None, &[], vec![], &[])
        .expect("masking config");
    let masked_engine = Engine::new(PolicyConfig {
        masking: Some(masking),
        ..Default::default()
    });
    let masked = RoleRules {
        unmasked: false,
        ..unrestricted()
    };
    for sql in [
        "SELECT set_config($1, $2, false)",
        "SELECT set_config('search_path', $1, false)",
    ] {
        let d = decide(&masked_engine, &masked, sql);
        assert_eq!(
            d.denial().map(|d| d.rule),
            Some("session.set_config"),
            "{sql}"
        );
        let d = decide(&masked_engine, &unrestricted(), sql);
        assert!(d.is_allowed(), "unmasked: {sql}: {}", describe(&d));
        // Without [masking], `unmasked = false` masks nothing.
        let d = decide(&engine(), &masked, sql);
        assert!(d.is_allowed(), "no [masking]: {sql}: {}", describe(&d));
    }
    // A setting no guardrail of the role reads passes with a value pgward cannot read.
    let d = decide(
        &masked_engine,
        &masked,
        "SELECT set_config('application_name', $1, false)",
    );
    assert!(d.is_allowed(), "{}", describe(&d));
}

/// Every guardrail that depends on a setting PostgreSQL does not report refuses a set_config
/// pgward cannot read; max_affected_rows (enforced on the row count) does not.
#[test]
fn set_config_pgward_cannot_read_is_refused_by_the_guardrails_that_need_it() {
    let engine = engine();
    for g in GUARDRAILS {
        let role = (g.with)();
        for sql in OPAQUE_SET_CONFIG {
            let d = decide(&engine, &role, sql);
            if g.name == "max_affected_rows" {
                assert!(d.is_allowed(), "{}: {sql}: {}", g.name, describe(&d));
            } else {
                assert_eq!(
                    d.denial().map(|d| d.rule),
                    Some("session.set_config"),
                    "{}: {sql}",
                    g.name
                );
            }
        }
    }
}
