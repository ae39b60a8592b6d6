//! A masked value fed to a computation that can fail on it is an oracle even though the
//! result is masked: whether the statement fails tells the value (the red team of stop 31
//! recovered a whole SSN, digit by digit, from `1 / (substr(ssn, 1, 1)::int - 1)`). Such a
//! use is refused like a predicate on the value; total computations (text functions, casts
//! to text, concatenation, comparisons, collecting aggregates) stay allowed and masked.

mod masking_support;
use masking_support::*;

const DENY: Option<&[usize]> = None;

#[test]
fn computations_that_can_fail_on_a_masked_value_are_refused() {
    check(&[
        (
            "SELECT 1 / (substr(ssn, 1, 1)::int - 1) FROM users WHERE id = 1",
            DENY,
        ),
        ("SELECT ssn::int FROM users WHERE id = 1", DENY),
        ("SELECT CAST(email AS date) FROM users", DENY),
        ("SELECT email::jsonb FROM users", DENY),
        ("SELECT (ssn || '')::numeric FROM users", DENY),
        ("SELECT 1 / (length(email) - 10) FROM users", DENY),
        ("SELECT length(ssn) * 1000000000 FROM users", DENY),
        ("SELECT to_date(ssn, 'YYYYMMDD') FROM users", DENY),
        ("SELECT decode(ssn, 'base64') FROM users", DENY),
        ("SELECT convert_to(full_name, 'LATIN1') FROM users", DENY),
        ("SELECT 'abc' ~ email FROM users", DENY),
        ("SELECT 'abc' LIKE ssn FROM users", DENY),
        ("SELECT regexp_replace('abc', ssn, '') FROM users", DENY),
        ("SELECT format(email) FROM users", DENY),
        ("SELECT sum(length(ssn)::int) FROM users", DENY),
        ("SELECT id FROM users WHERE id = 1 AND ssn::int > 0", DENY),
        ("SELECT (SELECT ssn FROM users WHERE id = 1)::int", DENY),
    ]);
}

#[test]
fn total_computations_of_a_masked_value_stay_allowed() {
    check(&[
        (
            "SELECT lower(email), md5(ssn), reverse(phone) FROM users",
            Some(&[1, 2, 3]),
        ),
        (
            "SELECT email::varchar(3), ssn::text FROM users",
            Some(&[1, 2]),
        ),
        (
            "SELECT encode(convert_to(email, 'UTF8'), 'hex') FROM users",
            Some(&[1]),
        ),
        (
            "SELECT format('%s!', email), regexp_replace(email, '@.*', '') FROM users",
            Some(&[1, 2]),
        ),
        (
            "SELECT 'mail: ' || email, substr(ssn, 1, 3) FROM users",
            Some(&[1, 2]),
        ),
        (
            "SELECT string_agg(email, ','), count(ssn), max(phone) FROM users",
            Some(&[1, 2, 3]),
        ),
        ("SELECT length(email) FROM users", Some(&[1])),
        (
            "SELECT id, created_at::date FROM users WHERE email = 'a@b.c'",
            Some(&[]),
        ),
        ("SELECT id / 2, id::text FROM users", Some(&[])),
    ]);
}

/// Round two of the red team: functions total in their text but not in a position or a
/// key, AND/OR/COALESCE deciding whether a failing computation runs, and an equality with a
/// computed set of candidates (a dictionary in one statement, the matching guess unmasked).
#[test]
fn positions_keys_short_circuits_and_candidate_sets_are_refused() {
    check(&[
        ("SELECT split_part('a', ',', strpos(substr(ssn, 5, 1), '7')) FROM users", DENY),
        ("SELECT nth_value(id, strpos(substr(ssn, 5, 1), '7')) OVER () FROM users", DENY),
        ("SELECT ntile(length(ssn)) OVER () FROM users", DENY),
        ("SELECT json_object_agg(nullif(substr(ssn, 5, 1), '0'), 1) FROM users", DENY),
        ("SELECT json_build_object(nullif(substr(ssn, 5, 1), '0'), 1) FROM users", DENY),
        ("SELECT array_agg(string_to_array(ssn, '0')) FROM users", DENY),
        ("SELECT encode('x'::bytea, ssn) FROM users", DENY),
        ("SELECT lpad('x', ascii(ssn)) FROM users", DENY),
        ("SELECT substr('abc', 1, strpos(ssn, '7')) FROM users", DENY),
        ("SELECT format('%I', nullif(ssn, '100007919')) FROM users", DENY),
        ("SELECT coalesce(nullif(substr(ssn, 5, 1), '0'), (1 / (id - id))::text) FROM users", DENY),
        ("SELECT (substr(ssn, 5, 1) = '7') OR (1 / (id - id) = 1) FROM users", DENY),
        ("SELECT (email = 'a@b.c') AND (id / 0 = 1) FROM users", DENY),
        ("SELECT u.id, g.guess FROM users u JOIN (SELECT g::text AS guess FROM generate_series(1, 10) g) g ON u.ssn = g.guess", DENY),
        ("SELECT u.id, g.guess FROM users u, (SELECT g::text AS guess FROM generate_series(1, 10) g) g WHERE u.ssn = g.guess", DENY),
        ("SELECT id FROM users WHERE ssn IN (SELECT g::text FROM generate_series(1, 10) g)", DENY),
        ("SELECT u.id, v.x FROM users u JOIN (VALUES ('1'), ('2')) v(x) ON u.ssn = v.x", DENY),
        ("SELECT s.ssn FROM users u JOIN (SELECT g::text AS ssn FROM generate_series(1, 3) g) s USING (ssn)", DENY),
    ]);
}

#[test]
fn lookups_and_total_uses_stay_allowed_beside_them() {
    check(&[
        ("SELECT array_agg(ssn) FROM users", Some(&[1])),
        (
            "SELECT json_build_object('e', email), format('%s', email) FROM users",
            Some(&[1, 2]),
        ),
        (
            "SELECT coalesce(email, 'x'), (id = 1) OR (id / 2 = 0) FROM users",
            Some(&[1]),
        ),
        ("SELECT id FROM users WHERE email = 'a@b.c'", Some(&[])),
        (
            "SELECT id FROM users WHERE email IN ('a@b.c', 'd@e.f')",
            Some(&[]),
        ),
        (
            "SELECT id FROM users WHERE ssn IN (SELECT '100007919')",
            Some(&[]),
        ),
        (
            "SELECT d.id, u.email FROM documents d JOIN users u ON u.id = d.user_id",
            Some(&[2]),
        ),
        (
            "SELECT substr(ssn, 1, 3), split_part(email, '@', 2) FROM users",
            Some(&[1, 2]),
        ),
    ]);
}

#[test]
fn query_text_built_ins_are_refused() {
    check(&[
        ("SELECT ts_rewrite('a'::tsquery, 'select ''a''::tsquery, phraseto_tsquery(''simple'', email) from users where id = 1')", DENY),
        ("SELECT ts_stat('select to_tsvector(email) from users')", DENY),
    ]);
}

/// Review of round two: a candidate set disguised by a non-PII column, a set-returning
/// function in a subquery's select list, substring's pattern form, a cast to a domain of
/// another schema.
#[test]
fn review_variants() {
    check(&[
        ("SELECT u.id, c.v FROM users u JOIN (SELECT lpad(g::text, 9, '0') || left(d.status, 0) AS v FROM generate_series(0, 9) g, (SELECT status FROM documents LIMIT 1) d) c ON u.ssn = c.v", DENY),
        ("SELECT id FROM users WHERE id = 42 AND ssn IN (SELECT lpad(generate_series(0, 99)::text, 9, '0'))", DENY),
        ("SELECT substring('x', '()' || substr(ssn, 1, 1)) FROM users", DENY),
        ("SELECT email::app.text FROM users", DENY),
        ("SELECT email::pg_catalog.text, ssn::varchar(4) FROM users", Some(&[1, 2])),
        ("SELECT date_trunc('day', created_at), to_char(created_at, 'YYYY') FROM users WHERE email = 'a@b.c'", Some(&[])),
    ]);
}
