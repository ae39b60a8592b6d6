//! Hostile review of issue 7's classes with variants the other tests do not hold: other dollar
//! tags around nested comments and U& strings (finding 1, judged against PostgreSQL's own
//! reading), other user code reached without a call (finding 3: a domain over a domain over a
//! domain, casts through functions in another schema, views over views), other tautologies
//! (finding 4, with the filters that must still pass) and other false positives (finding 7).

mod common;
use std::sync::Arc;

use common::*;
use pgward_policy::catalog::{
    Cast, CastContext, Catalog, CatalogParts, Column, Function, FunctionKind, Operator, Relation,
    RelationKind, Schema, Type, TypeKind, Volatility,
};
use pgward_policy::{Engine, PolicyConfig, SessionFacts};

const PAYLOAD: &str = "set_config('default_transaction_read_only','off',false)";

/// Finding 1: whatever decide() allows a read-only role is read-only as PostgreSQL reads it.
#[test]
fn lexer_variants_are_refused_or_harmless_as_postgres_reads_them() {
    let engine = engine();
    let role = readonly();
    let mut texts = vec![];
    for t in [
        "\u{100}",
        "\u{df}",
        "a\u{300}",
        "\u{200b}",
        "\u{fffd}",
        "x\u{e9}9",
        "\u{d55c}\u{ae00}",
        "_\u{80}",
        "\u{e9}_1",
        "A\u{1f600}b",
        "\u{3000}",
        "\u{85}",
        "\u{2028}",
        "\u{7f}",
    ] {
        for shape in [
            "SELECT ${T}$,'${T}$ , {P} AS x , ${T}$' AS z,${T}$",
            "SELECT /* ${T}$ */ 1, ${T}$ /* ${T}$ , {P} , /* */ ${T}$",
            "SELECT /* /* ${T}$ */ */ ${T}$ , {P} , ${T}$",
            "SELECT ${T}$ -- ${T}$\n, {P} , ${T}$",
            "SELECT 1 /* ${T}$ */, {P} /* ${T}$ */",
            "SELECT U&'${T}$' UESCAPE '!' , {P}, '${T}$'",
            "SELECT U&\"${T}$\" , {P}, 1 AS \"${T}$\"",
            "SELECT E'\\'${T}$' , {P} , '${T}$'",
            "SELECT $1${T}$ , {P} , ${T}$",
            "SELECT 1${T}$ , {P} , ${T}$",
            "SELECT x${T}$ , {P} , ${T}$ FROM (SELECT 1 AS x{T}) s",
            "SELECT ${T}$/*${T}$, {P}, ${T}$*/${T}$",
        ] {
            texts.push(shape.replace("{T}", t).replace("{P}", PAYLOAD));
        }
    }
    for u in [
        "SELECT U&'\\0027' , set_config('a','b',false)",
        "SELECT U&'!0027' UESCAPE '!', set_config('a','b',false)",
        "SELECT U&'d!0061t' UESCAPE '!' , nextval('s')",
        "SELECT U&\"a\"\"b\" , nextval('s')",
        "SELECT U&' \\+000027 ' , nextval('s')",
        "SELECT U&'x' UESCAPE '''' , nextval('s')",
        "SELECT U&'x'UESCAPE'!' , nextval('s')",
        "SELECT U&'x' /* c */ UESCAPE /* c */ '!' , nextval('s')",
        "SELECT U&'x' UESCAPE '!' /* $a$ */, $a$, nextval('s'), $a$",
    ] {
        texts.push(u.to_string());
    }
    let (mut allowed, mut hidden_calls_refused) = (0, 0);
    for sql in &texts {
        let runs_payload = pg_query::parse(sql, 0).is_ok_and(|p| {
            p.functions()
                .iter()
                .any(|f| f.ends_with("set_config") || f.ends_with("nextval"))
        });
        if !decide(&engine, &role, sql).is_allowed() {
            hidden_calls_refused += usize::from(runs_payload);
            continue;
        }
        allowed += 1;
        {
            let parsed = pg_query::parse(sql, 0).expect("allowed text parses as PostgreSQL");
            assert!(parsed.dml_tables().is_empty(), "allowed a write: {sql:?}");
            for f in parsed.functions() {
                let base = f.rsplit('.').next().unwrap_or(&f);
                assert!(
                    !["set_config", "nextval"].contains(&base),
                    "allowed {f}: {sql:?}"
                );
            }
        }
    }
    // Not vacuous: some texts are harmless strings to PostgreSQL too, many run the payload.
    assert!(
        allowed > 0 && hidden_calls_refused > 50,
        "{allowed} {hidden_calls_refused}"
    );
}

fn function(oid: u32, schema: &str, name: &str) -> Function {
    Function {
        oid,
        schema: schema.into(),
        name: name.into(),
        arg_types: vec![25],
        volatility: Volatility::Volatile,
        language: "plpgsql".into(),
        security_definer: false,
        returns_set: false,
        kind: FunctionKind::Function,
    }
}

fn ty(oid: u32, schema: &str, name: &str, kind: TypeKind, base: Option<u32>) -> Type {
    Type {
        oid,
        schema: schema.into(),
        name: name.into(),
        kind,
        base_type: base,
        element_type: None,
        check_functions: vec![],
        io_functions: vec![],
    }
}

fn view(oid: u32, schema: &str, name: &str, definition: &str) -> Relation {
    Relation {
        oid,
        schema: schema.into(),
        name: name.into(),
        kind: RelationKind::View,
        columns: vec![],
        view_definition: Some(definition.into()),
        on_write: Default::default(),
    }
}

/// User code in `app` and `util`, reachable only through types, casts, operators and views.
fn catalog() -> Catalog {
    let mut checked = ty(9001, "app", "checked", TypeKind::Domain, Some(25));
    checked.check_functions = vec![7001];
    let mut array = ty(9101, "app", "_checked", TypeKind::Base, None);
    array.element_type = Some(9001);
    let schema = |oid, name: &str| Schema {
        oid,
        name: name.into(),
    };
    Catalog::new(CatalogParts {
        schemas: vec![
            schema(11, "pg_catalog"),
            schema(2200, "public"),
            schema(3000, "app"),
            schema(3001, "util"),
        ],
        relations: vec![
            view(8001, "app", "report", " SELECT app.noisy('x'::text) AS x;"),
            view(
                8002,
                "app",
                "report_v2",
                " SELECT report.x FROM app.report;",
            ),
            view(
                8003,
                "util",
                "report_v3",
                " SELECT v.x FROM app.report_v2 v;",
            ),
            view(
                8004,
                "app",
                "by_domain",
                " SELECT ('a'::text)::app.deepest AS c;",
            ),
            view(
                8005,
                "app",
                "by_operator",
                " SELECT ('a'::text OPERATOR(app.===) 'b'::text) AS c;",
            ),
            Relation {
                oid: 8006,
                schema: "app".into(),
                name: "items".into(),
                kind: RelationKind::Table,
                columns: vec![Column {
                    name: "c".into(),
                    attnum: 1,
                    type_oid: 9003,
                    not_null: false,
                }],
                view_definition: None,
                on_write: Default::default(),
            },
        ],
        types: vec![
            ty(25, "pg_catalog", "text", TypeKind::Base, None),
            ty(23, "pg_catalog", "int4", TypeKind::Base, None),
            checked,
            ty(9002, "app", "middle", TypeKind::Domain, Some(9001)),
            ty(9003, "app", "deepest", TypeKind::Domain, Some(9002)),
            array,
            ty(9004, "app", "tagged", TypeKind::Composite, None),
            ty(9005, "util", "wrapped", TypeKind::Base, None),
        ],
        casts: vec![
            // A cast to app's type through a function in util.
            Cast {
                oid: 6001,
                source: 25,
                target: 9004,
                function: Some(7002),
                context: CastContext::Explicit,
            },
            Cast {
                oid: 6002,
                source: 23,
                target: 9005,
                function: Some(7004),
                context: CastContext::Assignment,
            },
        ],
        operators: vec![Operator {
            oid: 5001,
            schema: "app".into(),
            name: "===".into(),
            left: Some(25),
            right: 25,
            function: 7003,
        }],
        functions: vec![
            function(7001, "app", "noisy"),
            function(7002, "util", "to_tagged"),
            function(7003, "app", "eq3"),
            function(7004, "util", "wrap"),
        ],
    })
}

/// Finding 3: user code reached without a call, in shapes the other tests do not hold.
#[test]
fn user_code_variants_are_judged_as_calls() {
    let engine = Engine::with_catalog(PolicyConfig::default(), Arc::new(catalog()));
    let role = readonly();
    let path = vec!["app".to_string(), "public".to_string()];
    let facts = SessionFacts {
        role: &role,
        search_path: &path,
        in_transaction: false,
    };
    for sql in [
        // A domain over a domain over a domain whose CHECK calls noisy().
        "SELECT 'a'::app.deepest",
        "SELECT CAST('a' AS deepest)",
        "SELECT NULL::app.middle",
        "SELECT x::app.deepest FROM (VALUES ('a')) v(x)",
        "SELECT '{a}'::app.checked[]",
        "SELECT ARRAY['a']::app.deepest[]",
        "SELECT * FROM app.items WHERE c = 'x'",
        // Casts through a function in another schema.
        "SELECT 'a'::text::app.tagged",
        "SELECT CAST(CAST('a' AS text) AS tagged)",
        "SELECT 1::int4::util.wrapped",
        // Views over views, across schemas, and views reaching code through types/operators.
        "SELECT * FROM app.report_v2",
        "SELECT x FROM report_v2",
        "SELECT * FROM util.report_v3",
        "SELECT count(*) FROM util.report_v3 r JOIN app.report_v2 s ON true",
        "SELECT (SELECT x FROM util.report_v3 LIMIT 1)",
        "SELECT * FROM app.by_domain",
        "SELECT * FROM app.by_operator",
        "WITH w AS (SELECT * FROM util.report_v3) SELECT * FROM w",
    ] {
        let d = engine.decide(sql, &facts);
        assert!(!d.is_allowed(), "allowed: {sql}");
        assert_eq!(d.denial().map(|d| d.sqlstate), Some("42501"), "{sql}");
    }
    for sql in ["SELECT 'a'::text", "SELECT 1::int4", "SELECT ROW('a')"] {
        let d = engine.decide(sql, &facts);
        assert!(d.is_allowed(), "{sql}: {}", describe(&d));
    }
}

/// Finding 4: other tautologies, each refused for a role with require_where; the filters
/// next to them still pass.
#[test]
fn tautology_variants_do_not_satisfy_require_where() {
    let engine = engine();
    let role = oncall();
    let tautologies = [
        "id = id * 1",
        "coalesce(id, id) = id",
        "id BETWEEN id AND id",
        "(id, status) = (id, status)",
        "id = ANY(SELECT id)",
        "NOT (id <> id)",
        "CASE WHEN id = 1 THEN true ELSE true END",
        "true OR id = 1",
        "id >= id",
        "id = -(-id)",
        "lower(status) = lower(status)",
        "id = ALL(ARRAY[id])",
        "EXISTS (SELECT 1 FROM documents d2 WHERE d2.id = documents.id)",
        "EXISTS (SELECT FROM users WHERE documents.id = documents.id)",
        "EXISTS (SELECT FROM users u JOIN accounts a ON documents.id = documents.id)",
        "(id = id) IS TRUE",
        "(id = 1) IS NOT UNKNOWN",
        "NOT ((id = 1) IS UNKNOWN)",
        "id < 5 OR id >= 5",
        "status = 'a' OR status <> 'a'",
        "id = $1 OR true",
        "ROW(id) = ROW(id)",
        "id::text = id::text",
        "tableoid = 'documents'::regclass",
        "id IN (SELECT id FROM documents WHERE true)",
        "id IN (SELECT d.id FROM documents d)",
        "id IN (SELECT id FROM documents WHERE status IS NOT NULL)",
        "id IN (WITH c AS (SELECT id FROM documents) SELECT id FROM c)",
        "id * 0 = 0",
        "0 = 0 * id",
        "id % 1 = 0",
        "id - id = 0",
        "(id # id) = 0",
        "id ^ 0 = 1",
        "length(status) >= 0",
        "char_length(status) > -1",
        "abs(id) >= 0",
        "0 <= octet_length(status)",
        "NOT (abs(id) < 0)",
        "id * id >= 0",
        "@ id >= 0",
        "cardinality(ARRAY[id]) <> -1",
    ];
    for w in tautologies {
        for sql in [
            format!("DELETE FROM documents WHERE {w}"),
            format!("UPDATE documents SET status = 'x' WHERE {w}"),
        ] {
            let d = decide(&engine, &role, &sql);
            assert_eq!(
                d.denial().map(|d| d.rule),
                Some("require_where"),
                "{sql}: {}",
                describe(&d)
            );
        }
    }
    for sql in [
        "WITH t AS (SELECT id FROM documents) DELETE FROM documents WHERE id IN (SELECT id FROM t)",
        "WITH t AS (SELECT * FROM documents WHERE true) UPDATE documents SET status = 'x' FROM t WHERE documents.id = t.id",
        "MERGE INTO documents d USING documents s ON d.id = s.id WHEN MATCHED THEN DELETE",
        "DELETE FROM documents USING documents d2 WHERE documents.id = d2.id",
    ] {
        let d = decide(&engine, &role, sql);
        assert_eq!(d.denial().map(|d| d.rule), Some("require_where"), "{sql}");
    }
    let filters = [
        "id = 1",
        "length(status) > 3",
        "length(status) >= 1",
        "abs(id) >= 5",
        "id * 2 = 4",
        "id % 2 = 0",
        "id - 1 = 3",
        "id / 2 = 1",
        "(id = 1) IS TRUE",
        "(id = 1) IS NOT FALSE",
        "NOT ((id = 1) IS NOT TRUE)",
        "EXISTS (SELECT 1 FROM users u WHERE u.id = documents.owner_id)",
        "EXISTS (SELECT 1 FROM users u JOIN accounts a ON a.doc = documents.id)",
        "id IN (SELECT id FROM documents WHERE status = 'stale')",
        "id IN (SELECT doc_id FROM users)",
        "id NOT IN (SELECT 0)",
    ];
    for w in filters {
        let sql = format!("DELETE FROM documents WHERE {w}");
        let d = decide(&engine, &role, &sql);
        assert!(d.is_allowed(), "{sql}: {}", describe(&d));
    }
    for sql in [
        "WITH stale AS (SELECT id FROM documents WHERE status = 'processing') UPDATE documents SET status = 'failed' WHERE id IN (SELECT id FROM stale)",
        "WITH stale AS (SELECT id FROM documents WHERE status = 'processing') UPDATE documents SET status = 'failed' FROM stale WHERE documents.id = stale.id",
        "WITH t AS (SELECT id FROM users) DELETE FROM documents WHERE id IN (SELECT id FROM t)",
    ] {
        let d = decide(&engine, &role, sql);
        assert!(d.is_allowed(), "{sql}: {}", describe(&d));
    }
}

/// Finding 7: other shapes of the false positives an engineer hits.
#[test]
fn false_positive_variants_pass() {
    let engine = engine();
    let role = readonly();
    for sql in [
        "RESET lock_timeout",
        "SET lock_timeout TO DEFAULT",
        "SET statement_timeout = DEFAULT",
        "SET LOCAL statement_timeout TO DEFAULT",
        "RESET idle_in_transaction_session_timeout",
        "SELECT pg_stat_get_db_numbackends(1)",
        "SELECT pg_catalog.pg_stat_get_live_tuples(1)",
        "DISCARD ALL",
        "SET TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE, DEFERRABLE",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE",
        "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE",
        "LOCK TABLE users, documents IN ACCESS SHARE MODE",
        "LOCK users IN ACCESS SHARE MODE NOWAIT",
        "LOCK TABLE ONLY users IN ACCESS SHARE MODE",
        "SELECT set_config('search_path', 'public', true)",
        "SET search_path = ''",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    ] {
        let d = decide(&engine, &role, sql);
        assert!(d.is_allowed(), "{sql}: {}", describe(&d));
    }
    for (sql, position) in [
        ("SELECT * FORM users", 10),
        ("UPDAT users SET x = 1", 1),
        ("SELECT 1 +", 11),
        ("SELECT 'abc", 8),
    ] {
        let d = decide(&engine, &role, sql);
        let den = d.denial().expect("a syntax error");
        assert_eq!(den.sqlstate, "42601", "{sql}");
        assert_eq!(den.position, Some(position), "{sql}");
        assert!(!den.audited, "{sql}");
    }
}
