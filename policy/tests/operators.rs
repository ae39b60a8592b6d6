//! Operators are resolved by operand types, as PostgreSQL resolves them: a user-defined
//! operator in `public` (citext's, hstore's, anyone's) does not make a read-only role's
//! `id = 1` refused when PostgreSQL picks pg_catalog's; one PostgreSQL may really pick is
//! still judged as a call of its function, and an operand of unknown type fails closed.

mod common;
use std::sync::Arc;

use common::*;
use pgward_policy::catalog::{
    Catalog, CatalogParts, Column, Function, FunctionKind, Operator, Relation, RelationKind,
    Schema, Type, TypeKind, Volatility,
};
use pgward_policy::{Engine, PolicyConfig, SessionFacts};

const INT4: u32 = 23;
const TEXT: u32 = 25;
const CITEXT: u32 = 9101;
const HSTORE: u32 = 9201;

fn function(oid: u32, schema: &str, name: &str, language: &str) -> Function {
    Function {
        oid,
        schema: schema.into(),
        name: name.into(),
        arg_types: vec![],
        volatility: Volatility::Immutable,
        language: language.into(),
        security_definer: false,
        returns_set: false,
        kind: FunctionKind::Function,
    }
}

fn ty(oid: u32, schema: &str, name: &str) -> Type {
    Type {
        oid,
        schema: schema.into(),
        name: name.into(),
        kind: TypeKind::Base,
        base_type: None,
        element_type: None,
        check_functions: vec![],
        io_functions: vec![],
    }
}

fn op(oid: u32, schema: &str, name: &str, args: (Option<u32>, u32), function: u32) -> Operator {
    Operator {
        oid,
        schema: schema.into(),
        name: name.into(),
        left: args.0,
        right: args.1,
        function,
    }
}

fn column(name: &str, attnum: i16, type_oid: u32) -> Column {
    Column {
        name: name.into(),
        attnum,
        type_oid,
        not_null: false,
    }
}

/// citext and hstore installed in `public`, plus a user `=` over int4 pairs in schema `shadow`
/// (reached only with `shadow` before pg_catalog in search_path).
fn catalog() -> Catalog {
    Catalog::new(CatalogParts {
        schemas: ["pg_catalog", "public", "shadow"]
            .iter()
            .zip([11, 2200, 2300])
            .map(|(name, oid)| Schema {
                oid,
                name: (*name).into(),
            })
            .collect(),
        relations: vec![Relation {
            oid: 8001,
            schema: "public".into(),
            name: "t".into(),
            kind: RelationKind::Table,
            columns: vec![
                column("id", 1, INT4),
                column("email", 2, CITEXT),
                column("note", 3, TEXT),
                column("attrs", 4, HSTORE),
            ],
            view_definition: None,
            on_write: Default::default(),
        }],
        types: vec![
            ty(INT4, "pg_catalog", "int4"),
            ty(TEXT, "pg_catalog", "text"),
            ty(CITEXT, "public", "citext"),
            ty(HSTORE, "public", "hstore"),
        ],
        casts: vec![],
        operators: vec![
            op(96, "pg_catalog", "=", (Some(INT4), INT4), 65),
            op(97, "pg_catalog", "<", (Some(INT4), INT4), 66),
            op(98, "pg_catalog", "=", (Some(TEXT), TEXT), 67),
            op(5101, "public", "=", (Some(CITEXT), CITEXT), 7101),
            op(5102, "public", "<", (Some(CITEXT), CITEXT), 7102),
            op(5103, "public", "->", (Some(HSTORE), TEXT), 7201),
            op(5104, "public", "?", (Some(HSTORE), TEXT), 7202),
            op(5105, "public", "-", (None, HSTORE), 7203),
            op(5301, "shadow", "=", (Some(INT4), INT4), 7301),
        ],
        functions: vec![
            function(65, "pg_catalog", "int4eq", "internal"),
            function(66, "pg_catalog", "int4lt", "internal"),
            function(67, "pg_catalog", "texteq", "internal"),
            function(7101, "public", "citext_eq", "c"),
            function(7102, "public", "citext_lt", "c"),
            function(7201, "public", "fetchval", "c"),
            function(7202, "public", "exist", "c"),
            function(7203, "public", "hs_neg", "c"),
            function(7301, "shadow", "spy_eq", "plpgsql"),
        ],
    })
}

fn verdicts(path: &[&str], cases: &[(&str, bool)]) {
    let engine = Engine::with_catalog(PolicyConfig::default(), Arc::new(catalog()));
    let role = readonly();
    let path: Vec<String> = path.iter().map(|s| (*s).to_string()).collect();
    let facts = SessionFacts {
        role: &role,
        search_path: &path,
        in_transaction: false,
    };
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(sql, allow)| {
            let d = engine.decide_uncached(sql, &facts);
            (d.is_allowed() != *allow)
                .then(|| format!("{sql}: expected allowed={allow}, got {d:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn builtin_comparisons_are_not_blocked_by_extension_operators() {
    verdicts(
        &["$user", "public"],
        &[
            ("SELECT id FROM t WHERE id = 1", true),
            ("SELECT id FROM t WHERE id = '1'", true),
            ("SELECT id FROM t WHERE t.id < 10", true),
            ("SELECT id FROM t WHERE id IN (1, 2, 3)", true),
            ("SELECT id FROM t WHERE 1 = id AND id < 5", true),
            ("SELECT id FROM t WHERE id = 1::int", true),
            ("SELECT note FROM t WHERE note = 'a'", true),
            ("SELECT note FROM t WHERE note = 'a'::text", true),
            ("SELECT 1 WHERE 2 = 2", true),
        ],
    );
}

#[test]
fn user_operators_really_reached_are_still_judged() {
    verdicts(
        &["$user", "public"],
        &[
            // citext = citext: PostgreSQL picks public.= and runs citext_eq.
            ("SELECT id FROM t WHERE email = 'a@b'", false),
            ("SELECT id FROM t WHERE email < 'a'", false),
            ("SELECT 1 WHERE 'a'::citext = 'b'", false),
            ("SELECT attrs -> 'k' FROM t", false),
            ("SELECT id FROM t WHERE attrs ? 'k'", false),
            ("SELECT - attrs FROM t", false),
            ("SELECT id FROM t WHERE email IN ('a', 'b')", false),
            // Operands whose type the text does not tell: fail closed.
            ("SELECT id FROM t WHERE id = (SELECT 1)", false),
            (
                "SELECT x FROM (SELECT email AS x FROM t) s WHERE x = 'a'",
                false,
            ),
            (
                "WITH w AS (SELECT email AS id FROM t) SELECT 1 FROM w WHERE id = 'a'",
                false,
            ),
            ("SELECT id FROM t WHERE email = $1", false),
        ],
    );
}

#[test]
fn search_path_order_decides_between_exact_matches() {
    let cases = [("SELECT id FROM t WHERE id = 1", true)];
    // pg_catalog is searched first unless the path names it.
    verdicts(&["shadow", "public"], &cases);
    verdicts(
        &["shadow", "pg_catalog", "public"],
        &[("SELECT id FROM t WHERE id = 1", false)],
    );
}
