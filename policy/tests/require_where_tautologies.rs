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

/// Round two: a name in a subquery over a function, VALUES list, subquery or CTE that does
/// not provide it is the target's (PostgreSQL looks outward), so comparing the target with
/// it filters nothing.
#[test]
fn a_name_a_subquerys_items_do_not_provide_is_the_targets() {
    check_all(
        &oncall(),
        &[
            ("UPDATE t SET a = 1 WHERE id IN (SELECT id FROM generate_series(1, 1) g)", false),
            ("UPDATE t SET a = 1 WHERE id IN (SELECT id FROM unnest(ARRAY[1]) u)", false),
            ("UPDATE t SET a = 1 WHERE id IN (SELECT id FROM (SELECT 1) z)", false),
            ("UPDATE t SET a = 1 WHERE id IN (SELECT id FROM (VALUES (1)) w(q))", false),
            ("UPDATE t SET a = 1 WHERE id IN (WITH c(x) AS (SELECT 1) SELECT id FROM c)", false),
            ("UPDATE t SET a = 1 WHERE id IN (SELECT id FROM ROWS FROM (generate_series(1, 2), unnest(ARRAY[1])) r)", false),
            ("UPDATE t SET a = 1 WHERE id IN (SELECT id FROM jsonb_each('{}') j)", false),
            // The items' own columns: filters.
            ("UPDATE t SET a = 1 WHERE id IN (SELECT g FROM generate_series(1, 3) g)", true),
            ("UPDATE t SET a = 1 WHERE id IN (SELECT x FROM unnest(ARRAY[1, 2]) AS u(x))", true),
            ("UPDATE t SET a = 1 WHERE id IN (SELECT q FROM (VALUES (1), (2)) w(q))", true),
            ("UPDATE t SET a = 1 WHERE id IN (SELECT column1 FROM (VALUES (1)) w)", true),
            ("UPDATE t SET a = 1 WHERE id IN (WITH c(x) AS (SELECT 1) SELECT x FROM c)", true),
            ("UPDATE t SET a = 1 WHERE id IN (SELECT n FROM (SELECT 1 AS n) z)", true),
        ],
    );
}

/// An OR too long to compare pairwise is not taken for a filter (its judging stays cheap).
#[test]
fn a_very_long_or_does_not_count() {
    let long: Vec<String> = (0..300).map(|i| format!("id = {i}")).collect();
    let sql = format!("DELETE FROM t WHERE {}", long.join(" OR "));
    check_all(&oncall(), &[(sql.as_str(), false)]);
    let short: Vec<String> = (0..200).map(|i| format!("id = {i}")).collect();
    let sql = format!("DELETE FROM t WHERE {}", short.join(" OR "));
    check_all(&oncall(), &[(sql.as_str(), true)]);
}

/// Review of round two: whole-number gaps, a reversed NOT BETWEEN, a system column of an
/// item that has none, an ON clause in a filter subquery (its own items), and large IN lists
/// judged in time.
#[test]
fn review_variants() {
    check_all(
        &oncall(),
        &[
            ("DELETE FROM t WHERE id <= 0 OR id >= 1", false),
            ("DELETE FROM t WHERE id < 1 OR id > 0", false),
            ("DELETE FROM t WHERE id NOT BETWEEN 5 AND 1", false),
            ("DELETE FROM t WHERE NOT (id BETWEEN 5 AND 1)", false),
            (
                "DELETE FROM t WHERE ctid IN (SELECT ctid FROM generate_series(1, 1) g)",
                false,
            ),
            ("DELETE FROM t WHERE id <= 0 OR id >= 2", true),
            ("DELETE FROM t WHERE id NOT BETWEEN 1 AND 5", true),
            (
                "DELETE FROM t WHERE id IN (SELECT u.id FROM u JOIN v ON v.x = u.id)",
                true,
            ),
        ],
    );
    // Past the bound on an OR's size it does not count (an IN list of all the values says
    // the same in one node); within it a long IN list is judged, quickly.
    let list: Vec<String> = (0..20_000).map(|i| i.to_string()).collect();
    let sql = format!("DELETE FROM t WHERE id IN ({}) OR id = -1", list.join(", "));
    check_all(&oncall(), &[(sql.as_str(), false)]);
    let list: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    let sql = format!("DELETE FROM t WHERE id IN ({}) OR id = -1", list.join(", "));
    check_all(&oncall(), &[(sql.as_str(), true)]);
}

/// The review's narrower variants: constants PostgreSQL reads as one value, integers past a
/// float's precision, values pgward cannot read beside a comparison that keeps all but one.
#[test]
fn constants_read_as_one_value_and_unreadable_ones() {
    check_all(
        &oncall(),
        &[
            ("DELETE FROM t WHERE id = '1' OR id <> '01'", false),
            ("DELETE FROM t WHERE id = '1' OR id <> 1", false),
            ("DELETE FROM t WHERE status = 'a' OR status <> 'a '", false),
            ("DELETE FROM t WHERE status = 'A' OR status <> 'a'", false),
            (
                "DELETE FROM t WHERE id <> 9007199254740993 OR id <> 9007199254740992",
                false,
            ),
            ("DELETE FROM t WHERE id <> $1 OR id <> $2", false),
            ("DELETE FROM t WHERE id = 1 OR id <> +1", false),
            ("DELETE FROM t WHERE id = 1 OR id <> 2 - 1", false),
            // Filters.
            ("DELETE FROM t WHERE id = $1 OR id = $2", true),
            ("DELETE FROM t WHERE status = 'a' OR status = 'b'", true),
            ("DELETE FROM t WHERE id IN (1, 2) OR id = 3", true),
            ("DELETE FROM t WHERE id = '1' OR id = '2'", true),
        ],
    );
}
