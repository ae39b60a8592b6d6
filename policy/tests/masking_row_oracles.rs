//! Oracles that tell a masked value by which rows (or whether any) come back, or by whether
//! the statement fails, through clauses and constructs the red team of stop 34 found
//! unanalysed: a recursive CTE's CYCLE clause (the cycle check compares values), TABLESAMPLE's
//! arguments (the percentage chooses rows), a set operation or VALUES list that joins a
//! table's column to computed guesses (so the whole column passed for a plain copy), XML
//! parsing, and arrays whose shape follows the value (`string_to_array`). Each statement
//! below returned clear values (or an oracle that recovered them) on the code before.

mod masking_support;
use masking_support::*;

const DENY: Option<&[usize]> = None;

#[test]
fn a_recursive_ctes_cycle_clause_compares_its_columns() {
    check(&[
        (
            "SELECT (WITH RECURSIVE t(n, s) AS (SELECT 0, substr(x.full_name, 1, 1) FROM users x \
             WHERE x.id = 1 UNION ALL SELECT n + 1, chr(n + 32) FROM t WHERE n < 95) \
             CYCLE s SET is_cycle USING path SELECT count(*) FROM t)",
            DENY,
        ),
        (
            "WITH RECURSIVE t(n, s) AS (SELECT 0, ssn FROM users UNION ALL SELECT n + 1, s FROM t) \
             CYCLE s SET c USING p SELECT n FROM t",
            DENY,
        ),
        (
            "WITH RECURSIVE t(n, s) AS (SELECT 0, ssn FROM users UNION ALL SELECT n + 1, s FROM t \
             WHERE n < 3) SEARCH DEPTH FIRST BY s SET ord SELECT n FROM t ORDER BY ord",
            DENY,
        ),
    ]);
    // A cycle check on columns that are not masked stays allowed; a search column over a
    // masked one comes back masked.
    check(&[
        (
            "WITH RECURSIVE t(n, s) AS (SELECT id, ssn FROM users UNION ALL SELECT n + 1, s FROM t \
             WHERE n < 3) CYCLE n SET c USING p SELECT n, s FROM t",
            Some(&[2]),
        ),
        (
            "WITH RECURSIVE t(n, s) AS (SELECT id, ssn FROM users UNION ALL SELECT n + 1, s FROM t \
             WHERE n < 3) CYCLE n, s SET c USING p SELECT p FROM t",
            DENY,
        ),
        (
            "WITH RECURSIVE t(n, s) AS (SELECT id, ssn FROM users UNION ALL SELECT n + 1, s FROM t \
             WHERE n < 3) SEARCH BREADTH FIRST BY s SET ord SELECT n, ord FROM t",
            Some(&[2]),
        ),
    ]);
}

#[test]
fn tablesample_arguments_choose_rows() {
    check(&[
        (
            "SELECT u.id FROM users u, LATERAL (SELECT count(*) c FROM organizations \
             TABLESAMPLE bernoulli ((substr(u.email, 1, 1) = 'a')::int * 100)) s WHERE s.c > 0",
            DENY,
        ),
        (
            "SELECT u.id FROM users u, LATERAL (SELECT 1 FROM organizations TABLESAMPLE \
             system (100) REPEATABLE (length(u.ssn))) s",
            DENY,
        ),
        (
            "SELECT name FROM organizations TABLESAMPLE bernoulli (50) REPEATABLE (42)",
            Some(&[]),
        ),
    ]);
}

#[test]
fn a_set_of_guesses_beside_a_tables_column_is_still_a_set_of_guesses() {
    check(&[
        (
            "SELECT u.id, c.x FROM users u JOIN (SELECT name AS x FROM documents WHERE false \
             UNION ALL SELECT (100000000 + g)::text FROM generate_series(0, 2500000) g) c \
             ON u.ssn = c.x",
            DENY,
        ),
        (
            "SELECT u.id FROM users u JOIN (VALUES ((SELECT name FROM documents LIMIT 0)), \
             ('100007919'), ('100015838')) v(x) ON u.ssn = v.x",
            DENY,
        ),
        (
            "SELECT id FROM users WHERE ssn IN (SELECT name FROM documents WHERE false \
             UNION ALL SELECT g::text FROM generate_series(1, 10) g)",
            DENY,
        ),
        (
            "SELECT u.id FROM users u JOIN (SELECT 'user' || g || '@example.com' AS x \
             FROM generate_series(1, 500) g UNION ALL SELECT name FROM documents) c \
             ON c.x = u.email",
            DENY,
        ),
        (
            "SELECT u.id FROM users u JOIN (SELECT name FROM documents UNION ALL \
             SELECT '100007919') c(x) ON u.ssn = c.x",
            DENY,
        ),
        (
            "SELECT u.id FROM users u JOIN (SELECT g::text || left(o.name, 0) AS ssn \
             FROM generate_series(1, 10) g, organizations o) c USING (ssn)",
            DENY,
        ),
        (
            "SELECT u.id FROM users u JOIN (SELECT name AS ssn FROM documents UNION ALL \
             SELECT g::text FROM generate_series(1, 10) g) c USING (ssn)",
            DENY,
        ),
        (
            "SELECT u.id FROM users u JOIN ((SELECT name AS x FROM documents) d FULL JOIN \
             (SELECT g::text AS x FROM generate_series(1, 10) g) g USING (x)) ON u.ssn = x",
            DENY,
        ),
        (
            "WITH RECURSIVE c(x) AS (SELECT name FROM documents WHERE false UNION ALL \
             SELECT (x::int + 1)::text FROM c WHERE x::int < 10) \
             SELECT u.id FROM users u JOIN c ON u.ssn = c.x",
            DENY,
        ),
    ]);
    // Tables' columns on every branch are still a lookup against stored values.
    check(&[
        (
            "SELECT u.id FROM users u JOIN (SELECT name FROM documents UNION ALL \
             SELECT status FROM documents) c(x) ON u.email = c.x",
            Some(&[]),
        ),
        (
            "SELECT id, email FROM users UNION ALL SELECT id, email FROM users",
            Some(&[2]),
        ),
    ]);
}

#[test]
fn xml_parsing_of_a_masked_value_can_fail_on_it() {
    check(&[
        (
            "SELECT xmlparse(content '<a' || translate(substr(ssn, 1, 1), '1', '<') || '/>') \
             FROM users WHERE id = 3",
            DENY,
        ),
        ("SELECT xmlparse(document email) FROM users", DENY),
        ("SELECT xmlpi(name php, ssn) FROM users", DENY),
        (
            "SELECT xmlserialize(document xmlforest(nullif(ssn, '1') AS a, 'b' AS b) AS text) \
             FROM users",
            DENY,
        ),
        ("SELECT xmlelement(name a, ssn) FROM users", Some(&[1])),
        (
            "SELECT xmlserialize(content xmlelement(name a, ssn) AS text) FROM users",
            Some(&[1]),
        ),
    ]);
}

#[test]
fn arrays_shaped_by_a_masked_value_fail_when_combined() {
    check(&[
        (
            "SELECT array[string_to_array(substr(ssn, 1, 1), '1'), array['a', 'b']] \
             FROM users WHERE id = 1",
            DENY,
        ),
        (
            "SELECT array[['a', 'b']] || string_to_array(substr(ssn, 1, 1), '0') FROM users",
            DENY,
        ),
        (
            "SELECT array[regexp_split_to_array(ssn, '1'), array['a']] FROM users",
            DENY,
        ),
        (
            "SELECT array[regexp_match(ssn, '^1'), array['a']] FROM users",
            DENY,
        ),
    ]);
    check(&[
        (
            "WITH a AS (SELECT string_to_array(ssn, '1') AS x FROM users) \
             SELECT array[x, array['a']] FROM a",
            DENY,
        ),
        (
            "SELECT array_agg(x) FROM (SELECT string_to_array(ssn, '1') AS x FROM users) s",
            DENY,
        ),
        (
            "SELECT array_cat(string_to_array(ssn, '1'), array[['a']]) FROM users",
            DENY,
        ),
    ]);
    // Reading such an array stays allowed (and masked).
    check(&[
        ("SELECT array[ssn, email] FROM users", Some(&[1])),
        (
            "SELECT (string_to_array(email, '@'))[1] FROM users",
            Some(&[1]),
        ),
        (
            "SELECT array[(string_to_array(email, '@'))[1], 'x'] FROM users",
            Some(&[1]),
        ),
        (
            "SELECT array_to_string(string_to_array(phone, '-'), ''), \
             array_length(string_to_array(ssn, '1'), 1) FROM users",
            Some(&[1, 2]),
        ),
    ]);
}

/// Round two of stop 34's red team: a computed value's NULL-ness (see `masking_wire.rs`),
/// results whose size follows the value (out of memory), decoding under another encoding, a
/// width read from an argument, ARRAY(SELECT ...) of shaped arrays, guesses made by
/// `random()` per row, and a computed array of thousands of candidates under `= ANY`.
#[test]
fn second_round_oracles_are_refused() {
    check(&[
        (
            "SELECT length(replace(repeat('x', 1100), 'x', replace(repeat('x', 1000), 'x', \
             translate(substr(ssn, 1, 1), '023456789', '')))) FROM users WHERE id = 1",
            DENY,
        ),
        (
            "SELECT replace(ssn, '1', repeat('x', 100000000)) FROM users",
            DENY,
        ),
        (
            "SELECT regexp_replace(regexp_replace(ssn, '1', 'xxxxxxxxxxxxxxx', 'g'), 'x', \
             'yyyyyyyyyyyyyyy', 'g') FROM users",
            DENY,
        ),
        (
            "SELECT array_to_string(array_fill('a'::text, ARRAY[100000000]), ssn) FROM users",
            DENY,
        ),
        (
            "SELECT concat_ws(ssn, VARIADIC array_fill('a'::text, ARRAY[100000000])) FROM users",
            DENY,
        ),
        (
            "SELECT length(convert_to(replace(substr(ssn, 1, 1), '1', 'x'), 'UTF8'), 'EUC_JP') \
             FROM users WHERE id = 1",
            DENY,
        ),
        (
            "SELECT format('%*s', translate(substr(ssn, 1, 1), '1', 'x'), 'a') FROM users",
            DENY,
        ),
        (
            "SELECT array(SELECT string_to_array(substr(ssn, 1, 1), '2') FROM users WHERE id = 1 \
             UNION ALL SELECT array['a', 'b'])",
            DENY,
        ),
        (
            "SELECT count(*) FROM generate_series(1, 15460) g, LATERAL (SELECT u.id FROM users u \
             WHERE u.id = g - g + 137 AND u.email = 'user' || (floor(random() * 512))::int::text \
             || '@example.com' OFFSET 0) x",
            DENY,
        ),
        (
            "SELECT id FROM users WHERE ssn = ANY(string_to_array(regexp_replace('10000', \
             '([0-9]+)', '\\10,\\11', 'g'), ','))",
            DENY,
        ),
    ]);
    // Lookups by values written out, or passed as a parameter, stay allowed.
    check(&[
        (
            "SELECT id FROM users WHERE ssn = ANY('{1,2}'::text[])",
            Some(&[]),
        ),
        (
            "SELECT id FROM users WHERE ssn = ANY(ARRAY['1', '2'])",
            Some(&[]),
        ),
        ("SELECT id FROM users WHERE ssn = ANY($1)", Some(&[])),
        ("SELECT id FROM users WHERE ssn IN ('1', '2')", Some(&[])),
        (
            "SELECT format('%s!', email), length(ssn) FROM users",
            Some(&[1, 2]),
        ),
        (
            "SELECT replace(phone, '-', ''), regexp_replace(ssn, '1', 'xx', 'g') FROM users",
            Some(&[1, 2]),
        ),
    ]);
}

/// Round three of stop 34: comparisons that stop early (IN lists, BETWEEN, NOT IN, rows) beside
/// an operand that can fail, a scalar subquery (it fails on a second row) beside a masked
/// value, `x IN (SELECT guesses)` in a target list, EXPLAIN ANALYZE of a statement reading
/// masked columns (row counts, subqueries that ran, memory), and lengths that follow the
/// value (translate deleting, quote_literal doubling) grown until out of memory.
#[test]
fn third_round_oracles_are_refused() {
    check(&[
        (
            "SELECT right(left(ssn, 7), 1) IN ('6', (1 / (u.id - u.id))::text) FROM users u",
            DENY,
        ),
        (
            "SELECT ssn BETWEEN '100031676' AND (1 / (u.id - u.id))::text FROM users u",
            DENY,
        ),
        (
            "SELECT row(right(left(ssn, 7), 1), 1) = row('7', 1 / (u.id - u.id)) FROM users u",
            DENY,
        ),
        (
            "SELECT coalesce(nullif(right(left(ssn, 7), 1), '7'), (SELECT status FROM users)) \
             FROM users WHERE id = 3",
            DENY,
        ),
        (
            "SELECT u.ssn IN (SELECT g::text FROM generate_series(100000000, 100009999) g) \
             FROM users u",
            DENY,
        ),
        (
            "SELECT u.ssn NOT IN (SELECT g::text FROM generate_series(100000000, 100009999) g) \
             FROM users u",
            DENY,
        ),
        (
            "EXPLAIN (ANALYZE, COSTS OFF) SELECT coalesce(nullif(left(ssn, 1), '1'), \
             (SELECT status FROM users u2 WHERE u2.id = u.id)) FROM users u",
            DENY,
        ),
        ("EXPLAIN ANALYZE SELECT email FROM users", DENY),
        (
            "SELECT concat(translate(substr(ssn, 6, 1), '012345689', ''), 'x') FROM users",
            DENY,
        ),
        ("SELECT quote_literal(ssn) FROM users", DENY),
    ]);
    check(&[
        ("EXPLAIN SELECT email FROM users WHERE id = 1", Some(&[])),
        ("EXPLAIN ANALYZE SELECT id FROM documents", Some(&[])),
        ("SELECT translate(phone, '-', '.') FROM users", Some(&[1])),
        (
            "SELECT id IN (SELECT user_id FROM documents) FROM users",
            Some(&[]),
        ),
        ("SELECT email FROM users WHERE id IN (1, 2)", Some(&[1])),
    ]);
}

/// Round four of stop 34: PostgreSQL skips a strict function, operator or subscript on a NULL
/// argument, so a NULL the masked value decides (`nullif(x, '7')`) beside anything that can
/// fail (`substr(.., 1, -1)`, a pattern, a failing subscript) tells the value.
#[test]
fn a_null_the_value_decides_beside_what_can_fail_is_refused() {
    check(&[
        (
            "SELECT substr(nullif(right(left(ssn, 7), 1), '7'), 1, -1) FROM users WHERE id = 3",
            DENY,
        ),
        (
            "SELECT split_part(nullif(right(left(ssn, 7), 1), '7'), ',', 0) FROM users",
            DENY,
        ),
        ("SELECT nullif(right(left(ssn, 7), 1), '7') ~ '(' FROM users", DENY),
        (
            "SELECT (string_to_array(nullif(right(left(ssn, 7), 1), '7'), ','))[1 / (u.id - u.id)] \
             FROM users u WHERE id = 3",
            DENY,
        ),
        (
            "SELECT (to_jsonb(nullif(ssn, '1')))[1 / (u.id - u.id)] FROM users u",
            DENY,
        ),
    ]);
    check(&[
        (
            "SELECT nullif(email, ''), substr(ssn, 1, 3) FROM users",
            Some(&[1, 2]),
        ),
        (
            "SELECT (string_to_array(email, '@'))[1] FROM users",
            Some(&[1]),
        ),
    ]);
}
