//! require_where: predicates true for every non-null row that the red team of stop 31 got
//! through, each a class: disjunctions of comparisons of one expression with constants that
//! between them keep every value (also under NOT), a truth value compared with constants
//! (`(id = 1) IN (true, false)`, `(id = 1)::int >= 0`), functions of nullness alone, and
//! a FROM subquery inside the filter whose column is the target's own.

mod common;
use common::*;

#[test]
fn disjunctions_that_keep_every_value_do_not_filter() {
    check_all(
        &oncall(),
        &[
            ("UPDATE t SET a = 1 WHERE NOT (id = 1 AND id = 2)", false),
            ("UPDATE t SET a = 1 WHERE id <> 1 OR id <> 2", false),
            ("UPDATE t SET a = 1 WHERE id != 1 OR 2 <> id", false),
            ("DELETE FROM t WHERE id < 5 OR id > 3", false),
            ("DELETE FROM t WHERE NOT (id >= 5 AND id <= 3)", false),
            ("DELETE FROM t WHERE id <> 1 OR id IN (1, 2)", false),
            (
                "DELETE FROM t WHERE id NOT IN (1, 2) OR id = 1 OR id = 2",
                false,
            ),
            (
                "DELETE FROM t WHERE id NOT BETWEEN 1 AND 5 OR id > 0",
                false,
            ),
            ("DELETE FROM t WHERE id <= -1 OR id > -2", false),
            ("DELETE FROM t WHERE status <> 'a' OR status <> 'b'", false),
            (
                "DELETE FROM t WHERE NOT (status = 'a' AND status = 'b')",
                false,
            ),
            ("DELETE FROM t WHERE (id <> 1 OR id <> 2) AND true", false),
            // Filters: some value is left out.
            ("DELETE FROM t WHERE id <> 1 OR id = 2", true),
            ("DELETE FROM t WHERE NOT (id = 1 OR id = 2)", true),
            ("DELETE FROM t WHERE id < 3 OR id > 5", true),
            ("DELETE FROM t WHERE id NOT BETWEEN 1 AND 5 OR id > 6", true),
            ("DELETE FROM t WHERE status <> 'a' OR status = 'b'", true),
            ("DELETE FROM t WHERE id = 1 OR a = 2", true),
            ("DELETE FROM t WHERE (id <> 1 OR id <> 2) AND a = 3", true),
            // Text under an order depends on the collation: not decided, judged as before.
            ("DELETE FROM t WHERE status < 'b' OR status > 'a'", true),
        ],
    );
}

#[test]
fn a_truth_value_compared_counts_only_as_its_condition() {
    check_all(
        &oncall(),
        &[
            ("UPDATE t SET a = 1 WHERE (id = 1) IN (true, false)", false),
            ("UPDATE t SET a = 1 WHERE (id = 1) = (id = 1)", false),
            ("UPDATE t SET a = 1 WHERE (id = 1)::int >= 0", false),
            ("UPDATE t SET a = 1 WHERE (id = 1)::int = 1", false),
            ("UPDATE t SET a = 1 WHERE num_nulls(id, 1) = 0", false),
            ("UPDATE t SET a = 1 WHERE num_nonnulls(id) > 0", false),
            ("UPDATE t SET a = 1 WHERE (id = 1 OR id <> 1) = true", false),
            // As the condition itself.
            ("UPDATE t SET a = 1 WHERE (id = 1) = true", true),
            ("UPDATE t SET a = 1 WHERE (id = 1) IN (true)", true),
            ("UPDATE t SET a = 1 WHERE (id = 1) <> false", true),
            ("UPDATE t SET a = 1 WHERE (id <> 1) = false", true),
            ("UPDATE t SET a = 1 WHERE NOT ((id = 1) = false)", true),
        ],
    );
}

#[test]
fn a_from_subquery_column_that_is_the_targets_own_is_the_target() {
    check_all(
        &oncall(),
        &[
            (
                "DELETE FROM t WHERE id IN (SELECT id FROM LATERAL (SELECT id) z)",
                false,
            ),
            (
                "DELETE FROM t WHERE id IN (SELECT x FROM (SELECT id AS x) z)",
                false,
            ),
            (
                "DELETE FROM t WHERE id = (SELECT z.id FROM LATERAL (SELECT t.id) z)",
                false,
            ),
            // Another table's values: a filter.
            ("DELETE FROM t WHERE id IN (SELECT id FROM u)", true),
            (
                "DELETE FROM t WHERE id IN (SELECT x FROM (SELECT 1 AS x) z)",
                true,
            ),
        ],
    );
}
