//! `$user` in search_path is the schema named like the session's current user when one
//! exists, as PostgreSQL resolves it (skipped when none does); the current user is the role's
//! upstream login. A `$user` pgward cannot resolve (no catalog snapshot, no login name, a role
//! that may SET ROLE) may be any schema: fails closed for read-only roles.

mod common;
use std::sync::Arc;

use common::*;
use pgward_policy::catalog::{
    Catalog, CatalogParts, Column, Function, FunctionKind, Relation, RelationKind, Schema,
    Volatility,
};
use pgward_policy::{Engine, PolicyConfig, RoleRules, SessionFacts};

fn function(oid: u32, schema: &str, name: &str) -> Function {
    Function {
        oid,
        schema: schema.into(),
        name: name.into(),
        arg_types: vec![],
        volatility: Volatility::Volatile,
        language: "plpgsql".into(),
        security_definer: false,
        returns_set: false,
        kind: FunctionKind::Function,
    }
}

fn relation(oid: u32, schema: &str, name: &str, view: Option<&str>) -> Relation {
    Relation {
        oid,
        schema: schema.into(),
        name: name.into(),
        kind: if view.is_some() {
            RelationKind::View
        } else {
            RelationKind::Table
        },
        columns: vec![Column {
            name: "id".into(),
            attnum: 1,
            type_oid: 23,
            not_null: true,
        }],
        view_definition: view.map(str::to_string),
        on_write: Default::default(),
    }
}

/// Schema `app_ro` (the read-only login's) shadows `public`: a function `report` and a view
/// `accounts` that calls a volatile function.
fn engine() -> Engine {
    let schema = |oid, name: &str| Schema {
        oid,
        name: name.into(),
    };
    let catalog = Catalog::new(CatalogParts {
        schemas: vec![
            schema(11, "pg_catalog"),
            schema(2200, "public"),
            schema(3000, "app_ro"),
        ],
        relations: vec![
            relation(8001, "public", "accounts", None),
            relation(
                8002,
                "app_ro",
                "accounts",
                Some(" SELECT app_ro.noisy() AS id;"),
            ),
        ],
        functions: vec![
            function(7001, "public", "report"),
            function(7002, "app_ro", "report"),
            function(7003, "app_ro", "noisy"),
        ],
        ..Default::default()
    });
    Engine::with_catalog(
        PolicyConfig {
            safe_functions: vec!["public.report".into()],
            ..Default::default()
        },
        Arc::new(catalog),
    )
}

fn reader(login: &str) -> RoleRules {
    RoleRules {
        upstream_user: login.into(),
        ..readonly()
    }
}

fn allowed(engine: &Engine, role: &RoleRules, path: &[&str], sql: &str) -> bool {
    let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
    let facts = SessionFacts {
        role,
        search_path: &path,
        in_transaction: false,
    };
    engine.decide(sql, &facts).is_allowed()
}

#[test]
fn user_names_the_login_schema_when_it_exists() {
    let e = engine();
    let path = ["$user", "public"];
    for sql in ["SELECT report()", "SELECT id FROM accounts"] {
        // app_ro's own schema comes first: its function and its view are what PostgreSQL runs.
        assert!(!allowed(&e, &reader("app_ro"), &path, sql), "app_ro: {sql}");
        // Another login has no schema of its name: `$user` is skipped, public decides.
        assert!(
            allowed(&e, &reader("analyst"), &path, sql),
            "analyst: {sql}"
        );
        // Named explicitly, the same schemas decide the same way.
        assert!(
            !allowed(&e, &reader("analyst"), &["app_ro", "public"], sql),
            "{sql}"
        );
        assert!(allowed(&e, &reader("app_ro"), &["public"], sql), "{sql}");
        // Quoted "$user" is the same placeholder (parse_search_path keeps it as `$user`).
        let parsed = pgward_policy::parse_search_path("\"$user\", public");
        let parsed: Vec<&str> = parsed.iter().map(String::as_str).collect();
        assert!(!allowed(&e, &reader("app_ro"), &parsed, sql), "{sql}");
    }
}

#[test]
fn an_unresolvable_user_fails_closed_for_read_only() {
    let e = engine();
    let path = ["$user", "public"];
    for sql in ["SELECT report()", "SELECT id FROM accounts"] {
        // No login name known.
        assert!(!allowed(&e, &reader(""), &path, sql), "{sql}");
        // The same text without `$user` in the path passes.
        assert!(allowed(&e, &reader(""), &["public"], sql), "{sql}");
    }
    // No catalog snapshot: a name outside pg_catalog may live in `$user`'s schema.
    let bare = Engine::new(PolicyConfig {
        safe_functions: vec!["public.report".into()],
        ..Default::default()
    });
    assert!(!allowed(&bare, &reader("app_ro"), &path, "SELECT report()"));
    assert!(allowed(
        &bare,
        &reader("app_ro"),
        &["public"],
        "SELECT report()"
    ));
    assert!(allowed(
        &bare,
        &reader("app_ro"),
        &path,
        "SELECT lower('A')"
    ));
}

/// The cache key carries the login: two roles alike but for it never share a decision.
#[test]
fn decisions_are_cached_per_login() {
    let e = engine();
    let path = ["$user", "public"];
    assert!(allowed(&e, &reader("analyst"), &path, "SELECT report()"));
    assert!(!allowed(&e, &reader("app_ro"), &path, "SELECT report()"));
    assert!(allowed(&e, &reader("analyst"), &path, "SELECT report()"));
}
