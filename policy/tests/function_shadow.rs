//! A built-in's name that a user function on the search path answers to (`public.crc32`
//! where this server's pg_catalog has no crc32, `public.lower(int)` beside
//! `pg_catalog.lower(text)`): the call may run the user function, so it is judged as one: a
//! read-only role is refused it unless listed safe, and for any role it is user code that may
//! change the session and write rows no CommandComplete counts.

mod common;
use std::sync::Arc;

use common::*;
use pgward_policy::catalog::{Catalog, CatalogParts, Function, FunctionKind, Schema, Volatility};
use pgward_policy::{Engine, PolicyConfig, SessionFacts};

fn function(oid: u32, schema: &str, name: &str, volatility: Volatility) -> Function {
    Function {
        oid,
        schema: schema.into(),
        name: name.into(),
        arg_types: vec![23],
        volatility,
        language: "plpgsql".into(),
        security_definer: false,
        returns_set: false,
        kind: FunctionKind::Function,
    }
}

/// A pg_catalog function of one text argument.
fn text_function(oid: u32, name: &str) -> Function {
    Function {
        arg_types: vec![25],
        ..function(oid, "pg_catalog", name, Volatility::Immutable)
    }
}

fn catalog() -> Catalog {
    Catalog::new(CatalogParts {
        schemas: vec![
            Schema {
                oid: 11,
                name: "pg_catalog".into(),
            },
            Schema {
                oid: 2200,
                name: "public".into(),
            },
            Schema {
                oid: 3000,
                name: "tools".into(),
            },
            Schema {
                oid: 3001,
                name: "app_ro".into(),
            },
        ],
        functions: vec![
            text_function(870, "lower"),
            text_function(871, "upper"),
            text_function(872, "md5"),
            function(16400, "public", "crc32", Volatility::Volatile),
            function(16401, "public", "lower", Volatility::Volatile),
            function(16402, "public", "erf", Volatility::Volatile),
            function(16403, "tools", "md5", Volatility::Volatile),
            function(16404, "public", "abs", Volatility::Immutable),
            function(16405, "app_ro", "upper", Volatility::Volatile),
        ],
        ..Default::default()
    })
}

fn engine(safe: &[&str]) -> Engine {
    Engine::with_catalog(
        PolicyConfig {
            safe_functions: safe.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        Arc::new(catalog()),
    )
}

fn decide_on(
    engine: &Engine,
    role: &pgward_policy::RoleRules,
    path: &[&str],
    sql: &str,
) -> pgward_policy::Decision {
    let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
    let facts = SessionFacts {
        role,
        search_path: &path,
        in_transaction: false,
    };
    (*engine.decide(sql, &facts)).clone()
}

#[test]
fn a_read_only_role_is_refused_a_builtin_name_a_user_function_answers_to() {
    let e = engine(&[]);
    let role = readonly();
    for sql in [
        "SELECT crc32('a')",
        "SELECT lower(5)",
        "SELECT erf('x')",
        "SELECT id FROM (SELECT 1 AS id) s WHERE crc32('a') = 1",
        "SELECT x FROM (SELECT lower(1) AS x) s",
    ] {
        let d = decide_on(&e, &role, &["public"], sql);
        let den = d.denial().map(|d| (d.rule, d.sqlstate));
        assert_eq!(
            den,
            Some(("read_only.unknown_function", "42501")),
            "{sql}: {}",
            describe(&d)
        );
    }
    // Only schemas PostgreSQL searches count, `$user` (the login's schema) among them.
    let md5 = "SELECT md5('a')";
    assert!(decide_on(&e, &role, &["public"], md5).is_allowed());
    assert!(!decide_on(&e, &role, &["public", "tools"], md5).is_allowed());
    let upper = "SELECT upper('a')";
    assert!(!decide_on(&e, &role, &["$user", "public"], upper).is_allowed());
    // Qualified to pg_catalog, or with no user function of the name: the built-in.
    for sql in [
        "SELECT pg_catalog.lower('A')",
        "SELECT upper('a')",
        "SELECT md5('a')",
    ] {
        let d = decide_on(&e, &role, &["public"], sql);
        assert!(d.is_allowed(), "{sql}: {}", describe(&d));
    }
    // What the administrator lists safe is safe under either name.
    let listed = engine(&["public.crc32"]);
    let d = decide_on(&listed, &role, &["public"], "SELECT crc32('a')");
    assert!(d.is_allowed(), "{}", describe(&d));
}

#[test]
fn a_builtin_name_a_user_function_answers_to_is_user_code_that_may_write() {
    let e = engine(&[]);
    let role = oncall();
    let d = decide_on(&e, &role, &["public"], "SELECT erf('RW-ALL')");
    assert!(d.is_allowed(), "{}", describe(&d));
    let st = &d.statements[0];
    assert!(st.code_may_write, "an unseen write must be uncountable");
    assert!(st.state.user_code, "user code may change the session");
    // So may an immutable one: PostgreSQL lets it call a volatile function that writes.
    let d = decide_on(&e, &role, &["public"], "SELECT abs(1)");
    assert!(d.statements[0].state.user_code);
    assert!(d.statements[0].code_may_write);
    // The built-in alone: neither.
    let d = decide_on(&e, &role, &["public"], "SELECT upper('a')");
    assert!(!d.statements[0].state.user_code);
    assert!(!d.statements[0].code_may_write);
}

#[test]
fn a_function_hidden_by_the_same_signature_earlier_in_the_path_is_not_reached() {
    // app.vetted() and public.vetted() take the same (no) arguments: the one earlier in the
    // path is the one PostgreSQL calls.
    let mut parts = CatalogParts {
        schemas: vec![
            Schema {
                oid: 2200,
                name: "public".into(),
            },
            Schema {
                oid: 3000,
                name: "app".into(),
            },
        ],
        functions: vec![
            function(16500, "app", "vetted", Volatility::Volatile),
            function(16501, "public", "vetted", Volatility::Volatile),
        ],
        ..Default::default()
    };
    parts.functions[0].arg_types = vec![];
    parts.functions[1].arg_types = vec![];
    let e = Engine::with_catalog(
        PolicyConfig {
            safe_functions: vec!["app.vetted".into()],
            ..Default::default()
        },
        Arc::new(Catalog::new(parts.clone())),
    );
    let role = readonly();
    let d = decide_on(&e, &role, &["app", "public"], "SELECT vetted()");
    assert!(d.is_allowed(), "{}", describe(&d));
    let d = decide_on(&e, &role, &["public", "app"], "SELECT vetted()");
    assert!(!d.is_allowed());
    // Other argument types hide nothing: public.vetted(int) may be the one called.
    parts.functions[1].arg_types = vec![23];
    let e = Engine::with_catalog(
        PolicyConfig {
            safe_functions: vec!["app.vetted".into()],
            ..Default::default()
        },
        Arc::new(Catalog::new(parts)),
    );
    let d = decide_on(&e, &role, &["app", "public"], "SELECT vetted()");
    assert!(!d.is_allowed());
}

/// A STABLE or IMMUTABLE user function may still write (PostgreSQL lets it call a volatile
/// one), and the built-ins that run a query given as text run whatever it calls: for
/// `max_affected_rows` all are writes no CommandComplete counts (red-team round two).
#[test]
fn non_volatile_user_functions_and_query_text_built_ins_may_write() {
    let mut parts = CatalogParts {
        schemas: vec![Schema {
            oid: 2200,
            name: "public".into(),
        }],
        functions: vec![
            function(16600, "public", "sw", Volatility::Stable),
            function(16601, "public", "sqlw", Volatility::Immutable),
        ],
        ..Default::default()
    };
    parts.functions[0].language = "plpgsql".into();
    let e = Engine::with_catalog(PolicyConfig::default(), Arc::new(Catalog::new(parts)));
    let role = oncall();
    for sql in [
        "SELECT sw(1)",
        "SELECT sqlw(1)",
        "SELECT query_to_xml('select public.w_big()', true, false, '')",
        "SELECT ts_stat('select to_tsvector(public.w_big()::text)')",
    ] {
        let d = decide_on(&e, &role, &["public"], sql);
        assert!(
            d.statements.iter().any(|s| s.code_may_write),
            "{sql}: {}",
            describe(&d)
        );
    }
}
