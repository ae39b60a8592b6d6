//! Hostile review of the judge (issue 7): each test is a class of bypass or false refusal
//! found by attacking `Engine::decide`, with the variants that showed it.

mod common;
use std::sync::Arc;

use common::*;
use pgward_policy::catalog::{
    Catalog, CatalogParts, Column, Function, FunctionKind, Operator, Relation, RelationKind,
    Schema, Type, TypeKind, Volatility,
};
use pgward_policy::{Engine, PolicyConfig, SessionFacts};

fn function(oid: u32, schema: &str, name: &str) -> Function {
    Function {
        oid,
        schema: schema.into(),
        name: name.into(),
        arg_types: vec![25, 25],
        volatility: Volatility::Volatile,
        language: "plpgsql".into(),
        security_definer: false,
        returns_set: false,
        kind: FunctionKind::Function,
    }
}

fn ty(oid: u32, name: &str) -> Type {
    Type {
        oid,
        schema: "pg_catalog".into(),
        name: name.into(),
        kind: TypeKind::Base,
        base_type: None,
        element_type: None,
        check_functions: vec![],
        io_functions: vec![],
    }
}

fn column(name: &str, attnum: i16, type_oid: u32) -> Column {
    Column {
        name: name.into(),
        attnum,
        type_oid,
        not_null: attnum == 1,
    }
}

/// A database where `public` holds user-defined comparison operators over text
/// (CVE-2018-1058 style: PostgreSQL picks them over pg_catalog's for a better type match).
fn shadowing_catalog() -> Catalog {
    let op = |oid, name: &str, function| Operator {
        oid,
        schema: "public".into(),
        name: name.into(),
        left: Some(25),
        right: 25,
        function,
    };
    let table = |oid, name: &str| Relation {
        oid,
        schema: "public".into(),
        name: name.into(),
        kind: RelationKind::Table,
        columns: vec![column("id", 1, 23), column("status", 2, 25)],
        view_definition: None,
        on_write: Default::default(),
    };
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
        ],
        relations: vec![table(8001, "t"), table(8002, "u")],
        types: vec![ty(25, "text"), ty(23, "int4")],
        casts: vec![],
        operators: vec![
            op(5001, "=", 7001),
            op(5002, ">=", 7002),
            op(5003, "<=", 7003),
            op(5004, "<", 7004),
            op(5005, ">", 7005),
        ],
        functions: vec![
            function(7001, "public", "evil_eq"),
            function(7002, "public", "evil_ge"),
            function(7003, "public", "evil_le"),
            function(7004, "public", "evil_lt"),
            function(7005, "public", "evil_gt"),
        ],
    })
}

fn verdicts(engine: &Engine, role: &pgward_policy::RoleRules, cases: &[(&str, bool)]) {
    let path = default_path();
    let facts = SessionFacts {
        role,
        search_path: &path,
        in_transaction: false,
    };
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(sql, allow)| {
            let d = engine.decide_uncached(sql, &facts);
            (d.is_allowed() != *allow).then(|| {
                format!(
                    "{} expected {}: {sql}\n    got {}",
                    role.name,
                    if *allow { "allow" } else { "deny" },
                    describe(&d)
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Class: operators PostgreSQL looks up through search_path although the text names none
/// (`CASE x WHEN`, `BETWEEN`, `JOIN ... USING`, `NATURAL JOIN`) reach user code.
#[test]
fn operators_implied_by_syntax_reach_user_code() {
    let engine = Engine::with_catalog(PolicyConfig::default(), Arc::new(shadowing_catalog()));
    verdicts(
        &engine,
        &readonly(),
        &[
            // The explicit form is refused today...
            ("SELECT status = 'x' FROM t", false),
            // ...the implied ones must be too.
            ("SELECT CASE status WHEN 'x' THEN 1 END FROM t", false),
            ("SELECT 1 FROM t WHERE status BETWEEN 'a' AND 'b'", false),
            (
                "SELECT 1 FROM t WHERE status NOT BETWEEN SYMMETRIC 'a' AND 'b'",
                false,
            ),
            ("SELECT 1 FROM t JOIN u USING (status)", false),
            ("SELECT 1 FROM t NATURAL JOIN u", false),
            (
                "SELECT 1 FROM t WHERE status IN (SELECT status FROM u)",
                false,
            ),
            (
                "SELECT 1 FROM t WHERE status NOT IN (SELECT status FROM u)",
                false,
            ),
            // int4 = int4 is pg_catalog's: no implicit cast from int4 to text makes
            // public.=(text, text) a candidate (see tests/operators.rs).
            ("SELECT 1 FROM t WHERE id = 1", true),
        ],
    );
}

/// Class: false refusal. Without a catalog `BETWEEN` is read as an operator named
/// "BETWEEN" that pgward cannot judge, so a read-only role cannot run plain range filters.
#[test]
fn between_is_not_an_unknown_operator() {
    check_all(
        &readonly(),
        &[
            ("SELECT 1 WHERE 2 BETWEEN 1 AND 3", true),
            ("SELECT 1 WHERE 2 NOT BETWEEN 1 AND 3", true),
            ("SELECT 1 WHERE 2 BETWEEN SYMMETRIC 3 AND 1", true),
            ("SELECT 1 WHERE 2 NOT BETWEEN SYMMETRIC 3 AND 1", true),
        ],
    );
}

/// Class: require_where is met by joining the target with itself through FROM / USING /
/// MERGE's source (a table, a subquery or a CTE over it): every row matches itself.
#[test]
fn self_join_through_from_does_not_filter() {
    check_all(
        &oncall(),
        &[
            ("UPDATE t SET a = 1 FROM t t2 WHERE t.id = t2.id", false),
            ("DELETE FROM t USING t t2 WHERE t.id = t2.id", false),
            ("DELETE FROM t USING public.t t2 WHERE t.id = t2.id", false),
            (
                "DELETE FROM t USING (SELECT * FROM t) s WHERE t.id = s.id",
                false,
            ),
            (
                "WITH s AS (SELECT * FROM t) DELETE FROM t USING s WHERE t.id = s.id",
                false,
            ),
            (
                "DELETE FROM t USING u JOIN t t2 ON true WHERE t.id = t2.id",
                false,
            ),
            (
                "MERGE INTO t USING t s ON t.id = s.id WHEN MATCHED THEN DELETE",
                false,
            ),
            (
                "MERGE INTO t USING (SELECT id FROM t) s ON t.id = s.id WHEN MATCHED THEN DELETE",
                false,
            ),
            // Real filters still count.
            ("DELETE FROM t USING u WHERE t.id = u.id", true),
            (
                "DELETE FROM t USING t t2 WHERE t.id = t2.id AND t2.id = 5",
                true,
            ),
            (
                "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE",
                true,
            ),
        ],
    );
}

/// Class: ORs whose branches cover every row, in forms the complement test misses
/// (operands swapped, overlapping ranges, DISTINCT pairs, BETWEEN pairs, IS TRUE pairs).
#[test]
fn covering_ors_do_not_filter() {
    check_all(
        &oncall(),
        &[
            ("DELETE FROM t WHERE id = 1 OR 1 <> id", false),
            ("DELETE FROM t WHERE id < 5 OR 5 <= id", false),
            ("DELETE FROM t WHERE id <= 5 OR id >= 5", false),
            (
                "DELETE FROM t WHERE id IS DISTINCT FROM 1 OR id IS NOT DISTINCT FROM 1",
                false,
            ),
            (
                "DELETE FROM t WHERE id BETWEEN 1 AND 5 OR id NOT BETWEEN 1 AND 5",
                false,
            ),
            (
                "DELETE FROM t WHERE (id = 1) IS TRUE OR (id = 1) IS NOT TRUE",
                false,
            ),
            ("DELETE FROM t WHERE (id = 1) IS NOT TRUE OR id = 1", false),
            ("DELETE FROM t WHERE id = 1 OR id = 2", true),
            ("DELETE FROM t WHERE id < 5 OR id > 5", true),
        ],
    );
}

/// Class: `IS NOT NULL` spelled `IS DISTINCT FROM NULL` (true for every row of a NOT NULL
/// column), and `tableoid`, the same constant for every row of a table.
#[test]
fn predicates_true_for_every_row() {
    check_all(
        &oncall(),
        &[
            ("DELETE FROM t WHERE id IS DISTINCT FROM NULL", false),
            (
                "DELETE FROM t WHERE NOT (id IS NOT DISTINCT FROM NULL)",
                false,
            ),
            ("UPDATE t SET a = 1 WHERE tableoid = 't'::regclass", false),
            ("DELETE FROM t WHERE tableoid <> 0", false),
            ("DELETE FROM t WHERE t.tableoid > 0", false),
            ("DELETE FROM t WHERE status SIMILAR TO '%'", false),
            ("DELETE FROM t WHERE status LIKE '%' ESCAPE '#'", false),
            ("DELETE FROM t WHERE id <> ALL ('{}')", false),
            ("DELETE FROM t WHERE id <> ALL (ARRAY[]::int[])", false),
            ("DELETE FROM t WHERE id < ALL ('{}'::int[])", false),
            ("DELETE FROM t WHERE id <> ALL ('{1}')", true),
            ("DELETE FROM t WHERE id IS DISTINCT FROM 3", true),
            ("DELETE FROM t WHERE status SIMILAR TO 'a%'", true),
        ],
    );
}

/// Class: a subquery without FROM (or a VALUES list, or one branch of a UNION) sees the
/// target's row, so `id IN (SELECT id)` is `id IN (id)`.
#[test]
fn in_subquery_returning_the_column_does_not_filter() {
    check_all(
        &oncall(),
        &[
            ("UPDATE t SET a = 1 WHERE id IN (SELECT id)", false),
            ("UPDATE t SET a = 1 WHERE id IN (VALUES (id))", false),
            (
                "UPDATE t SET a = 1 WHERE id IN (SELECT 1 UNION SELECT id)",
                false,
            ),
            ("UPDATE t SET a = 1 WHERE id = ANY (SELECT id)", false),
            ("UPDATE t SET a = 1 WHERE id IN (SELECT x FROM u)", true),
            (
                "UPDATE t SET a = 1 WHERE id IN (SELECT 1 UNION SELECT 2)",
                true,
            ),
        ],
    );
}

/// Class: `WHEN NOT MATCHED BY SOURCE THEN DELETE/UPDATE` touches the target's rows that
/// the ON condition does NOT match: the ON condition is no filter for them.
#[test]
fn merge_not_matched_by_source_needs_its_own_filter() {
    check_all(
        &oncall(),
        &[
            ("MERGE INTO t USING u ON t.id = u.id WHEN NOT MATCHED BY SOURCE THEN DELETE", false),
            (
                "MERGE INTO t USING u ON t.id = u.id WHEN NOT MATCHED BY SOURCE THEN UPDATE SET a = 1",
                false,
            ),
            (
                "MERGE INTO t USING u ON t.id = u.id WHEN NOT MATCHED BY SOURCE AND t.id = 3 THEN DELETE",
                true,
            ),
        ],
    );
}

/// Class: false refusal of valid DDL for an unrestricted role: PostgreSQL's node for
/// `ALTER ROLE/USER ... SET/RESET` was not in the DDL family, so the parsers "disagreed".
#[test]
fn alter_role_set_is_ddl() {
    check_all(
        &admin(),
        &[
            ("ALTER ROLE x SET search_path = a", true),
            ("ALTER USER x RESET ALL", true),
            ("ALTER ROLE x IN DATABASE d SET work_mem = '1MB'", true),
            ("ALTER ROLE ALL SET x.y = 1", true),
        ],
    );
    check_all(&oncall(), &[("ALTER ROLE x SET search_path = a", false)]);
}

/// Class: cache bypass. The decision cache keys on normalized text (literals replaced), but
/// `LIKE '%'`, `~ ''` and `SIMILAR TO '%'` are refused for their literal: once the same shape
/// with a real pattern is cached, the match-everything pattern is allowed through
/// `Engine::decide`.
#[test]
fn match_everything_patterns_are_not_cached_as_filters() {
    let engine = engine();
    let role = oncall();
    let path = default_path();
    let facts = SessionFacts {
        role: &role,
        search_path: &path,
        in_transaction: false,
    };
    for (filtering, everything) in [
        (
            "DELETE FROM t WHERE status LIKE 'a%'",
            "DELETE FROM t WHERE status LIKE '%'",
        ),
        (
            "DELETE FROM t WHERE status ILIKE 'a%'",
            "DELETE FROM t WHERE status ILIKE '%%'",
        ),
        (
            "DELETE FROM t WHERE status ~ 'a'",
            "DELETE FROM t WHERE status ~ ''",
        ),
        (
            "DELETE FROM t WHERE id <> ALL ('{1}')",
            "DELETE FROM t WHERE id <> ALL ('{}')",
        ),
        (
            "UPDATE t SET a = 1 WHERE status SIMILAR TO 'a%'",
            "UPDATE t SET a = 1 WHERE status SIMILAR TO '%'",
        ),
    ] {
        assert!(engine.decide(filtering, &facts).is_allowed(), "{filtering}");
        assert!(
            !engine.decide(everything, &facts).is_allowed(),
            "{everything}"
        );
    }
}

/// Class: false refusal (54001) of ordinary SQL. PostgreSQL runs these; pgward refused them
/// because prost decoded libpg_query's protobuf tree with a recursion limit of 100 messages
/// (about 50 chained binary operators, 25 nested CASEs, 30 nested subqueries). Variants:
/// every kind of nesting, short texts (analyzed on the caller's stack: the test thread's
/// 2 MiB) and long ones, for an unrestricted role and a read-only one. (Depths stay within
/// what libpg_query's own stack check accepts in a debug build on a stack segment.)
#[test]
fn moderately_nested_sql_is_not_too_complex() {
    let nest = |open: &str, inner: &str, close: &str, n: usize| {
        format!("SELECT {}{inner}{}", open.repeat(n), close.repeat(n))
    };
    let chain = |term: &str, op: &str, n: usize| format!("SELECT {}", vec![term; n].join(op));
    let texts = [
        chain("'a'", " || ", 60),
        chain("'a'", "||", 300),
        chain("1", "+", 120),
        chain("1", "+", 240),
        chain("1", "+", 500),
        chain("2", " * ", 150),
        nest("CASE WHEN true THEN ", "1", " END", 30),
        nest("CASE WHEN true THEN ", "1", " END", 200),
        nest("(SELECT ", "1", ")", 30),
        nest("(SELECT ", "1", ")", 100),
        nest("1 + (", "1", ")", 150),
        nest("1 + (", "1", ")", 300),
        nest("ARRAY[", "1", "]", 40),
        nest("ARRAY[", "1", "]", 200),
        nest("NOT ", "true", "", 200),
        nest("- ", "1", "", 240),
        nest("coalesce(", "1", ")", 100),
        nest("abs(", "1", ")", 300),
        format!("SELECT 1 WHERE 1 IN ({})", vec!["1"; 20_000].join(", ")),
        format!("SELECT ARRAY[{}]", vec!["1"; 20_000].join(", ")),
        format!("SELECT 1::int{}", "::int".repeat(200)),
        format!(
            "SELECT * FROM {}(SELECT 1 AS a) s0{}",
            "(SELECT * FROM ".repeat(60),
            ") s".repeat(60)
        ),
    ];
    let cases: Vec<(&str, bool)> = texts.iter().map(|t| (t.as_str(), true)).collect();
    check_all(&admin(), &cases);
    check_all(&readonly(), &cases);
}

/// Beyond what PostgreSQL's own parser accepts (its stack check), text is refused with
/// 54001 whatever its shape, and nothing crashes: a deep text of a few KiB and one near the
/// size bound, each on the caller's 2 MiB stack.
#[test]
fn nesting_beyond_postgres_is_refused_without_crashing() {
    let engine = engine();
    for sql in [
        format!(
            "SELECT {}1{}",
            "(SELECT ".repeat(20_000),
            ")".repeat(20_000)
        ),
        format!("SELECT {}", vec!["1"; 200_000].join("+")),
        format!(
            "SELECT {}1{}",
            "CASE WHEN true THEN ".repeat(10_000),
            " END".repeat(10_000)
        ),
        format!("SELECT {}1{}", "ARRAY[".repeat(50_000), "]".repeat(50_000)),
    ] {
        let d = decide(&engine, &admin(), &sql);
        assert_eq!(
            d.denial().map(|d| d.sqlstate),
            Some("54001"),
            "{}",
            &sql[..60]
        );
    }
    assert!(decide(&engine, &admin(), "SELECT 1").is_allowed());
}

/// Class: an unqualified column in a subquery that has a FROM is the outer target's when
/// the subquery's relations have no such column: `id IN (SELECT id FROM v)` with `v(x)` is
/// `id IN (SELECT t.id FROM v)` and PostgreSQL deletes every row (checked on PostgreSQL 15).
#[test]
fn outer_column_through_a_subquery_from_does_not_filter() {
    let v = Relation {
        oid: 8003,
        schema: "public".into(),
        name: "v".into(),
        kind: RelationKind::Table,
        columns: vec![column("x", 1, 23)],
        view_definition: None,
        on_write: Default::default(),
    };
    let catalog = Catalog::new(CatalogParts {
        schemas: vec![Schema {
            oid: 2200,
            name: "public".into(),
        }],
        relations: vec![
            Relation {
                oid: 8001,
                schema: "public".into(),
                name: "t".into(),
                kind: RelationKind::Table,
                columns: vec![column("id", 1, 23)],
                view_definition: None,
                on_write: Default::default(),
            },
            v,
            Relation {
                oid: 8004,
                schema: "public".into(),
                name: "u".into(),
                kind: RelationKind::Table,
                columns: vec![column("id", 1, 23)],
                view_definition: None,
                on_write: Default::default(),
            },
        ],
        types: vec![ty(23, "int4")],
        casts: vec![],
        operators: vec![],
        functions: vec![],
    });
    let engine = Engine::with_catalog(PolicyConfig::default(), Arc::new(catalog));
    verdicts(
        &engine,
        &oncall(),
        &[
            ("DELETE FROM t WHERE id IN (SELECT id FROM v)", false),
            ("DELETE FROM t WHERE id IN (SELECT x FROM v)", true),
            // Variants: other shapes, joins of relations lacking the column, scalar
            // subqueries, deeper nesting, EXISTS, and relations that do have the column.
            ("DELETE FROM t WHERE id IN (SELECT id FROM public.v)", false),
            (
                "UPDATE t SET id = 2 WHERE id = (SELECT id FROM v LIMIT 1)",
                false,
            ),
            (
                "DELETE FROM t WHERE id IN (SELECT id FROM v JOIN v v2 ON true)",
                false,
            ),
            ("DELETE FROM t WHERE id = ANY (SELECT id FROM v)", false),
            (
                "DELETE FROM t WHERE id IN (SELECT (SELECT id FROM v) FROM v)",
                false,
            ),
            ("DELETE FROM t WHERE EXISTS (SELECT t.id)", false),
            ("DELETE FROM t WHERE id IN (SELECT id FROM u)", true),
            (
                "DELETE FROM t WHERE id IN (SELECT u.id FROM u JOIN v ON true)",
                true,
            ),
            (
                "DELETE FROM t WHERE EXISTS (SELECT 1 FROM v WHERE v.x = t.id)",
                true,
            ),
            (
                "DELETE FROM t WHERE id IN (SELECT id FROM v AS w(id))",
                true,
            ),
        ],
    );
}
