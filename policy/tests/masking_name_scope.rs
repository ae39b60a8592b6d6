//! Column names resolve as PostgreSQL's parser resolves them (parse_clause.c, parse_relation.c):
//! which FROM items a function, a sub-SELECT in FROM, a join's sides and its ON clause see, and
//! what a FROM item whose columns pgward does not know may claim. A name PostgreSQL would take
//! from a masked outer column must never come back clear.

mod masking_support;
use masking_support::*;

use pgward_policy::mask::{MaskConfig, MaskIndex, RelationShape};

/// The corpus schema plus system relations listed without their columns, as the catalog
/// snapshot lists PostgreSQL's own relations.
fn index() -> MaskIndex {
    let schema = std::fs::read_to_string(corpus_file("schema.sql")).expect("schema.sql");
    let pii = pii_columns(&schema);
    let config = MaskConfig::new(
        &pii,
        Some("redact"),
        &[("*.*.email".into(), "partial".into())],
        b"test-key".to_vec(),
        &[],
    )
    .expect("config");
    let mut relations = relations(&schema);
    for (oid, (schema, name)) in (11_000u32..).zip([
        ("pg_catalog", "pg_am"),
        ("pg_catalog", "pg_class"),
        ("information_schema", "sql_features"),
    ]) {
        relations.push(RelationShape {
            oid,
            schema: schema.into(),
            name: name.into(),
            columns: vec![],
            view_definition: None,
        });
    }
    MaskIndex::build(config, relations, [], vec!["public".into()])
}

/// Each statement is refused, or comes back with (at least) these 1-based positions masked.
fn guarded(cases: &[(&str, &[usize])]) {
    let index = index();
    let mut failures = Vec::new();
    for (sql, positions) in cases {
        if let Some(got) = masked(&index, sql) {
            if !positions.iter().all(|p| got.contains(p)) {
                failures.push(format!("{sql}\n  want {positions:?} masked, got {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "leaks:\n{}", failures.join("\n"));
}

/// Each statement is allowed with exactly these positions masked.
fn exact(cases: &[(&str, &[usize])]) {
    let index = index();
    let mut failures = Vec::new();
    for (sql, want) in cases {
        let got = masked(&index, sql);
        if got.as_deref() != Some(*want) {
            let why = plan(&index, sql).err().map(|d| d.message);
            failures.push(format!("{sql}\n  want {want:?}\n  got  {got:?} {why:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn functions_in_from_see_earlier_items_without_lateral() {
    guarded(&[
        (
            "select (select x from users, unnest(array[ssn]) x where id=1) from (select 1 as ssn) o",
            &[1],
        ),
        (
            "select t.* from (select 1 as ssn) o, lateral (select id,x from users, unnest(array[ssn]) x) t",
            &[2],
        ),
        (
            "select (select g from users, generate_series(1, length(ssn)) g where id = 1) from (select 1 as ssn) o",
            &[1],
        ),
        (
            "select (select v from users, jsonb_array_elements_text(to_jsonb(array[ssn])) v where id = 1) from (select 1 as ssn) o",
            &[1],
        ),
        // A function on the right of a JOIN sees the left side, and the items before it.
        (
            "select (select x from users join unnest(array[ssn]) x on true where id = 1) from (select 1 as ssn) o",
            &[1],
        ),
        (
            "select (select x from users, organizations b join unnest(array[ssn]) x on true limit 1) from (select 1 as ssn) o",
            &[1],
        ),
        // Deeper: the function two levels down.
        (
            "select (select (select x from users, unnest(array[ssn]) x where id = 1) from organizations limit 1) from (select 1 as ssn) o",
            &[1],
        ),
    ]);
}

#[test]
fn join_sides_and_on_clauses_see_what_postgres_lets_them() {
    guarded(&[
        // A non-LATERAL subquery on a join's right skips the comma sibling `a`.
        (
            "select id, (select x from (select 1 as ssn) a, organizations b join (select ssn as x) s on true limit 1) from users limit 3",
            &[2],
        ),
        // ... and the join's left side, however deep the join nests.
        (
            "select id, (select x from (select 1 as ssn) a join (organizations b join (select ssn as x) s on true) on true limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select x from (select 1 as ssn) a join organizations b on true join (select ssn as x) s on true limit 1) from users limit 3",
            &[2],
        ),
        // Inside a LATERAL subquery: the levels above it are still visible.
        (
            "select id, t.x from users, lateral (select x from (select 1 as ssn) a, organizations b join (select ssn as x) s on true) t",
            &[2],
        ),
        // A non-LATERAL subquery after a comma sibling.
        (
            "select id, (select x from (select 1 as ssn) a, (select ssn as x) s limit 1) from users limit 3",
            &[2],
        ),
    ]);
    // The ON clause sees only the join's own items: `ssn` is users.ssn, which may not steer.
    let index = index();
    for sql in [
        "select id, (select b.name from (select 1 as ssn) a, organizations b join documents d on ssn like '1%' limit 1) from users",
        "select id, (select b.name from (select 1 as ssn) a join (organizations b join documents d on ssn > 'x') on true limit 1) from users",
    ] {
        assert!(masked(&index, sql).is_none(), "not refused: {sql}");
    }
    // What they may see still resolves there.
    exact(&[
        (
            "select s.x from users u, organizations b join lateral (select u.ssn as x) s on true",
            &[1],
        ),
        (
            "select s.x from (select 1 as ssn) a, organizations b join lateral (select ssn as x) s on true",
            &[],
        ),
        (
            "select x from users u join unnest(array[u.id]) x on true",
            &[],
        ),
        (
            "select b.name from (select 1 as ssn) a, organizations b join documents d on b.id = d.id where ssn = 1",
            &[],
        ),
    ]);
}

#[test]
fn items_of_unknown_columns_do_not_capture_outer_names() {
    guarded(&[
        (
            "select id, (select ssn from pg_catalog.pg_am limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select ssn from pg_am limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select ssn from information_schema.sql_features limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select ssn from jsonb_each('{\"a\":1}') limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select ssn from json_each_text('{\"a\":1}') limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select ssn from rows from (generate_series(1, 2), generate_series(3, 4)) limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select ssn from rows from (jsonb_to_record('{}') as (a int), generate_series(1, 2)) limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select ssn from public.some_function() limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select ssn from some_function() limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select ssn from table_not_in_snapshot limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select ssn from (select * from pg_am) s limit 1) from users limit 3",
            &[2],
        ),
        (
            "select id, (select ssn from organizations, pg_class limit 1) from users limit 3",
            &[2],
        ),
        // Deeper: two levels between the name and the masked column.
        (
            "select id, (select (select ssn from pg_am limit 1) from organizations limit 1) from users limit 3",
            &[2],
        ),
        // A name the unknown item may well have, and the masked outer column has too.
        (
            "select (select name from pg_am limit 1) from (select full_name as name from users) u",
            &[1],
        ),
        // A column name first, across every level, before a whole-row reference.
        (
            "select (select x from organizations x limit 1) from (select ssn as x from users) o",
            &[1],
        ),
    ]);
    exact(&[
        // The known columns are used: no outer PII, nothing masked.
        (
            "select id, (select amname from pg_am limit 1) from users limit 3",
            &[],
        ),
        (
            "select id, (select value from jsonb_each('{\"a\":1}') limit 1) from users limit 3",
            &[],
        ),
        (
            "select (select name from organizations limit 1) from (select full_name as name from users) u",
            &[],
        ),
        (
            "select id, (select key from jsonb_each('{\"a\":1}') limit 1), full_name from users",
            &[3],
        ),
        ("select id, name from organizations, pg_am", &[]),
        (
            "select t.a, t.b from rows from (generate_series(1, 2), unnest(array[1])) t(a, b)",
            &[],
        ),
        (
            "select x.key, x.value, ordinality from users u, jsonb_each(to_jsonb(u.id)) with ordinality x",
            &[],
        ),
        (
            "select * from users u, jsonb_each('{}')",
            &[2, 3, 4, 5, 6],
        ),
        (
            "select a, generate_series from rows from (jsonb_to_record('{}') as (a int), generate_series(1, 2))",
            &[],
        ),
    ]);
}
