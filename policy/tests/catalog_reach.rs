//! Catalog-aware judging: user code a statement reaches without naming a function (a domain's
//! CHECK, a cast, an operator found through search_path, a view's definition) is judged as a
//! call of that function for a read-only role; pg_catalog readers pass by their volatility.

mod common;
use std::sync::Arc;

use common::*;
use pgward_policy::catalog::{
    Cast, CastContext, Catalog, CatalogParts, Column, Function, FunctionKind, Operator, Relation,
    RelationKind, Schema, Type, TypeKind, Volatility,
};
use pgward_policy::{Engine, PolicyConfig};

fn function(oid: u32, schema: &str, name: &str, volatility: Volatility) -> Function {
    Function {
        oid,
        schema: schema.into(),
        name: name.into(),
        arg_types: vec![25],
        volatility,
        language: "plpgsql".into(),
        security_definer: false,
        returns_set: false,
        kind: FunctionKind::Function,
    }
}

fn ty(oid: u32, schema: &str, name: &str, kind: TypeKind) -> Type {
    Type {
        oid,
        schema: schema.into(),
        name: name.into(),
        kind,
        base_type: None,
        element_type: None,
        check_functions: vec![],
        io_functions: vec![],
    }
}

fn catalog() -> Catalog {
    let mut checked = ty(9001, "app", "checked", TypeKind::Domain);
    checked.base_type = Some(25);
    checked.check_functions = vec![7001];
    let mut outer = ty(9003, "app", "outer_dom", TypeKind::Domain);
    outer.base_type = Some(9001);
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
                name: "app".into(),
            },
        ],
        relations: vec![
            Relation {
                oid: 8001,
                schema: "app".into(),
                name: "report".into(),
                kind: RelationKind::View,
                columns: vec![],
                view_definition: Some(" SELECT app.noisy('x'::text) AS x;".into()),
                on_write: Default::default(),
            },
            Relation {
                oid: 8002,
                schema: "public".into(),
                name: "users".into(),
                kind: RelationKind::Table,
                columns: vec![Column {
                    name: "id".into(),
                    attnum: 1,
                    type_oid: 23,
                    not_null: true,
                }],
                view_definition: None,
                on_write: Default::default(),
            },
            Relation {
                oid: 8003,
                schema: "app".into(),
                name: "snapshot".into(),
                kind: RelationKind::MaterializedView,
                columns: vec![],
                view_definition: Some(" SELECT app.noisy('x'::text) AS x;".into()),
                on_write: Default::default(),
            },
        ],
        types: vec![
            ty(25, "pg_catalog", "text", TypeKind::Base),
            ty(23, "pg_catalog", "int4", TypeKind::Base),
            checked,
            ty(9002, "app", "tag", TypeKind::Composite),
            outer,
        ],
        casts: vec![Cast {
            oid: 6001,
            source: 25,
            target: 9002,
            function: Some(7002),
            context: CastContext::Explicit,
        }],
        operators: vec![Operator {
            oid: 5001,
            schema: "app".into(),
            name: "===".into(),
            left: Some(25),
            right: 25,
            function: 7003,
        }],
        functions: vec![
            function(7001, "app", "noisy", Volatility::Volatile),
            function(7002, "app", "to_tag", Volatility::Volatile),
            function(7003, "app", "eq3", Volatility::Volatile),
            function(
                7004,
                "pg_catalog",
                "pg_stat_get_xact_numscans",
                Volatility::Stable,
            ),
            function(7005, "pg_catalog", "shiny_new_reader", Volatility::Stable),
            function(7006, "pg_catalog", "shiny_new_writer", Volatility::Volatile),
        ],
    })
}

#[test]
fn user_code_reached_without_a_call_is_refused_for_read_only() {
    let engine = Engine::with_catalog(PolicyConfig::default(), Arc::new(catalog()));
    let role = readonly();
    let path = vec!["app".to_string(), "public".to_string()];
    let facts = pgward_policy::SessionFacts {
        role: &role,
        search_path: &path,
        in_transaction: false,
    };
    for sql in [
        "SELECT 'a'::app.checked",
        "SELECT 'a'::checked",
        "SELECT CAST('a' AS app.outer_dom)",
        "SELECT 'a'::text::app.tag",
        "SELECT 'a' === 'b'",
        "SELECT 'a' OPERATOR(app.===) 'b'",
        "SELECT * FROM app.report",
        "SELECT x FROM report",
        "SELECT shiny_new_writer()",
    ] {
        let d = engine.decide(sql, &facts);
        assert!(!d.is_allowed(), "allowed: {sql}");
        assert_eq!(d.denial().map(|d| d.sqlstate), Some("42501"));
    }
    for sql in [
        "SELECT id FROM users WHERE id = 1",
        "SELECT * FROM app.snapshot",
        "SELECT pg_stat_get_xact_numscans(1)",
        "SELECT pg_catalog.shiny_new_reader()",
        "SELECT 'a' = 'b'",
    ] {
        let d = engine.decide(sql, &facts);
        assert!(d.is_allowed(), "{sql}: {}", describe(&d));
    }
    // The same without a catalog: qualified user operators and types fail closed.
    let bare = common::engine();
    for sql in [
        "SELECT 'a' OPERATOR(app.===) 'b'",
        "SELECT 'a'::app.checked",
        "SELECT 'a'::checked",
        "SELECT 'a' === 'b'",
    ] {
        assert!(!decide(&bare, &role, sql).is_allowed(), "{sql}");
    }
}
