//! "A role is refused only what its rules name": for each guardrail (docs/guardrails.md), what
//! it refuses is refused by a role that has it, with the guardrail's rule name, and allowed to
//! the same role without it. A role without restrictions runs everything PostgreSQL accepts,
//! except what the pins every role keeps refuse.

mod common;
use common::*;
use pgward_policy::{Access, RoleRules};

/// Read-write, DDL, no require_where, no limits.
fn unrestricted() -> RoleRules {
    RoleRules {
        name: "dba".into(),
        access: Access::ReadWrite,
        allow_ddl: true,
        ..Default::default()
    }
}

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
        ],
    },
    Guardrail {
        name: "require_where",
        with: || RoleRules {
            require_where: true,
            ..unrestricted()
        },
        rules: &["require_where", "opaque_code"],
        refuses: &[
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
        rules: &["ddl", "opaque_code"],
        refuses: &[
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
        rules: &["session.statement_timeout"],
        refuses: &[
            "SET statement_timeout = 0",
            "SET statement_timeout = '0.4'",
            "SET statement_timeout = '1h'",
            "SET LOCAL statement_timeout = '400us'",
            "SET lock_timeout = 0",
            "SET idle_in_transaction_session_timeout = '2h'",
            "SELECT set_config('statement_timeout', '1e-4s', false)",
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
];

/// Refused for every role: the pins (lexer settings, identity, replication role).
const PINNED: &[&str] = &[
    "SELECT set_config(name, 'off', false) FROM pg_settings WHERE name = 'standard_conforming_strings'",
    "SELECT set_config(name, 'off', false) FROM pg_settings WHERE name IN ('application_name', 'standard_conforming_strings')",
    "SELECT set_config(name, 'off', false) FROM pg_settings WHERE name LIKE 'standard%'",
    "SET standard_conforming_strings = off",
    "SET backslash_quote = on",
    "SET client_encoding = 'SJIS'",
    "SET ROLE postgres",
    "SET SESSION AUTHORIZATION postgres",
    "SET session_replication_role = replica",
];

/// Valid PostgreSQL an unrestricted role runs, sqlparser or not.
const UNRESTRICTED_RUNS: &[&str] = &[
    "CREATE DATABASE x TEMPLATE template0",
    "TABLE users LIMIT 3",
    "SELECT * FROM users TABLESAMPLE SYSTEM (10)",
    "SET SCHEMA 'public'",
    "SELECT * FROM users FOR NO KEY UPDATE",
    "SELECT 1 AS U&\"d\\0061t\"",
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
