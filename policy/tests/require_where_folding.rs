//! require_where, red team of stop 34: predicates true for every row that pgward counted as
//! filters. Two classes: a comparison whose target side folds many values into few
//! (`greatest(id, 1) >= 1`, `id ^ 2 >= 0`, `abs(id % 2) <= 1`, `cardinality(ARRAY[id]) = 1`,
//! a CASE, the row's text, `ctid`), and the array, IS DISTINCT FROM and IS [NOT] TRUE/FALSE
//! spellings of disjunctions that keep every value (`id <> ANY(ARRAY[1, 2])`). Also an
//! upsert whose source is the target itself (`INSERT INTO t SELECT ... FROM t ON CONFLICT
//! DO UPDATE`), which rewrites every row as an UPDATE without a WHERE would.

mod common;
use common::*;

#[test]
fn a_target_side_that_folds_values_does_not_filter() {
    check_all(
        &oncall(),
        &[
            ("UPDATE t SET a = 1 WHERE greatest(id, 1) >= 1", false),
            ("UPDATE t SET a = 1 WHERE least(id, 1) <= 1", false),
            ("UPDATE t SET a = 1 WHERE id ^ 2 >= 0", false),
            ("UPDATE t SET a = 1 WHERE power(id, 2) >= 0", false),
            ("UPDATE t SET a = 1 WHERE abs(id) + 1 > 0", false),
            ("UPDATE t SET a = 1 WHERE exp(id) > 0", false),
            ("UPDATE t SET a = 1 WHERE sign(id) >= -1", false),
            ("UPDATE t SET a = 1 WHERE cardinality(ARRAY[id]) = 1", false),
            ("UPDATE t SET a = 1 WHERE pg_column_size(id) > 0", false),
            ("UPDATE t SET a = 1 WHERE abs(id % 2) <= 1", false),
            ("UPDATE t SET a = 1 WHERE id % 2 IN (0, 1, -1)", false),
            (
                "UPDATE t SET a = 1 WHERE CASE WHEN id = 1 THEN 1 ELSE 0 END >= 0",
                false,
            ),
            ("UPDATE t SET a = 1 WHERE (id = 1)::int + 0 >= 0", false),
            ("UPDATE t SET a = 1 WHERE t::text <> ''", false),
            ("UPDATE t SET a = 1 WHERE to_jsonb(t) ? 'id'", false),
            ("UPDATE t SET a = 1 WHERE starts_with(status, '')", false),
            ("UPDATE t SET a = 1 WHERE ctid > '(0,0)'", false),
            (
                "UPDATE t SET a = 1 WHERE row(id, 1) <> row(0, 0) OR id = 0",
                false,
            ),
            // Filters: the target's column read as it is, or through what keeps values apart.
            ("UPDATE t SET a = 1 WHERE id = 7", true),
            ("UPDATE t SET a = 1 WHERE lower(status) = 'open'", true),
            ("UPDATE t SET a = 1 WHERE status::text = 'open'", true),
            ("UPDATE t SET a = 1 WHERE id + 1 = 8", true),
            ("UPDATE t SET a = 1 WHERE id > 100", true),
            ("UPDATE t SET a = 1 WHERE starts_with(status, 'x')", true),
            ("UPDATE t SET a = 1 WHERE (id, a) = (1, 2)", true),
            ("UPDATE t SET a = 1 WHERE (id, a) IN ((1, 2), (3, 4))", true),
            ("UPDATE t SET a = 1 WHERE coalesce(status, 'x') = 'y'", true),
            (
                "UPDATE t SET a = 1 WHERE date_trunc('day', created_at) = '2024-01-01'",
                true,
            ),
            ("UPDATE t SET a = 1 WHERE ctid = '(0,1)'", true),
        ],
    );
}

#[test]
fn array_distinct_and_truth_test_spellings_of_every_value_do_not_filter() {
    check_all(
        &oncall(),
        &[
            ("UPDATE t SET a = 1 WHERE id <> ANY(ARRAY[1, 2])", false),
            ("UPDATE t SET a = 1 WHERE id <> ANY('{1,2}'::int[])", false),
            (
                "UPDATE t SET a = 1 WHERE id = ANY(ARRAY[1, 2]) OR id <> ALL(ARRAY[1, 2])",
                false,
            ),
            (
                "UPDATE t SET a = 1 WHERE id = ANY(ARRAY[1]) OR id <> ANY(ARRAY[1])",
                false,
            ),
            (
                "UPDATE t SET a = 1 WHERE id IS DISTINCT FROM 1 OR id IS DISTINCT FROM 2",
                false,
            ),
            (
                "UPDATE t SET a = 1 WHERE id IN (1) OR id IS DISTINCT FROM 1",
                false,
            ),
            (
                "UPDATE t SET a = 1 WHERE (id > 1) IS NOT FALSE OR id <= 1",
                false,
            ),
            (
                "UPDATE t SET a = 1 WHERE (id = 1) IS NOT FALSE OR (id = 1) IS NOT TRUE",
                false,
            ),
            (
                "MERGE INTO t USING (SELECT 1 AS k) x ON t.id IS DISTINCT FROM 1 \
                 OR t.id IS DISTINCT FROM 2 WHEN MATCHED THEN UPDATE SET a = 1",
                false,
            ),
            // Filters.
            ("UPDATE t SET a = 1 WHERE id = ANY(ARRAY[1, 2])", true),
            ("UPDATE t SET a = 1 WHERE id = ANY($1)", true),
            ("UPDATE t SET a = 1 WHERE id <> ALL(ARRAY[1, 2])", true),
            ("UPDATE t SET a = 1 WHERE id IS DISTINCT FROM 1", true),
            ("UPDATE t SET a = 1 WHERE (id > 1) IS TRUE", true),
        ],
    );
}

#[test]
fn an_upsert_from_the_target_itself_needs_a_filter() {
    check_all(
        &oncall(),
        &[
            (
                "INSERT INTO t SELECT id, 2 FROM t ON CONFLICT (id) DO UPDATE SET a = 3",
                false,
            ),
            (
                "INSERT INTO t (id) SELECT id FROM t ON CONFLICT (id) \
                 DO UPDATE SET a = excluded.a WHERE true",
                false,
            ),
            (
                "WITH s AS (SELECT id FROM t) INSERT INTO t (id) SELECT id FROM s \
                 ON CONFLICT (id) DO UPDATE SET a = 3",
                false,
            ),
            // Filters: the source keeps some rows, the DO UPDATE's WHERE filters, or the
            // source names the rows (VALUES, another table).
            (
                "INSERT INTO t SELECT id, 2 FROM t WHERE id = 5 ON CONFLICT (id) DO UPDATE SET a = 3",
                true,
            ),
            (
                "INSERT INTO t SELECT id, 2 FROM t ON CONFLICT (id) DO UPDATE SET a = 3 \
                 WHERE t.id = 5",
                true,
            ),
            (
                "INSERT INTO t (id, a) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET a = 3",
                true,
            ),
            (
                "INSERT INTO t (id) SELECT id FROM other ON CONFLICT (id) DO NOTHING",
                true,
            ),
            ("INSERT INTO t SELECT id, 2 FROM t ON CONFLICT DO NOTHING", true),
        ],
    );
}
