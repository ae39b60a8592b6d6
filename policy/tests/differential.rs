//! The differential test: texts full of lexer-sensitive constructs (dollar tags of every kind
//! of non-ASCII byte sequence, nested comments, E'' escapes, U& strings and identifiers with
//! UESCAPE, backslashes, form feeds and Unicode spaces, identifiers past 63 bytes, operators
//! containing `--` or `/*`, positional parameters next to dollar signs) wrapped around a
//! payload with side effects. Every text must be refused for a read-only role or be read-only
//! as PostgreSQL itself reads it. Fixed seed and bounded budget here; `cargo fuzz run decide`
//! (see fuzz/README.md) runs the same property for as long as you like.

mod common;
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

const TAG_CHARS: &[&str] = &[
    "\u{2605}",
    "\u{e9}",
    "\u{4e2d}",
    "\u{80}",
    "\u{7ff}",
    "\u{ffff}",
    "\u{1f600}",
    "\u{a0}",
    "\u{2003}",
    "\u{feff}",
    "a",
    "_",
    "Z",
    "9",
    "\u{10ffff}",
];

const PAYLOADS: &[&str] = &[
    "set_config('default_transaction_read_only','off',false)",
    "nextval('s')",
    "pg_catalog.set_config('transaction_read_only','off',true)",
    "(WITH w AS (UPDATE users SET name = 'x' RETURNING 1) SELECT 1 FROM w)",
    "public.wipe_everything()",
];

const NOISE: &[&str] = &[
    "/* /* nested */ still comment */",
    "-- line comment\n",
    "E'\\''",
    "E'\\\\'",
    "'it''s'",
    "U&'d\\0061t\\+000061'",
    "U&'d!0061t' UESCAPE '!'",
    "U&\"d\\0061t\"",
    "\\",
    "\u{c}",
    "\u{a0}",
    "\u{2003}",
    "\u{3000}",
    "\t",
    "\r\n",
    "+--",
    "*/*",
    "@-",
    "!=--",
    "$1",
    "$1$",
    "$$",
    "'",
    "\"",
    ",",
    "(",
    ")",
    "AS x",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "\"Quoted\"\"Ident\"",
];

fn tag() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TAG_CHARS), 0..4).prop_map(|v| v.concat())
}

fn noise() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(NOISE), 0..5).prop_map(|v| v.join(" "))
}

/// A text that hides (or does not hide) a payload behind lexer-sensitive constructs.
fn lexer_text() -> impl Strategy<Value = String> {
    (
        tag(),
        noise(),
        noise(),
        prop::sample::select(PAYLOADS),
        0..4usize,
    )
        .prop_map(|(t, a, b, payload, shape)| match shape {
            // The shape of issue 7: sqlparser sees a string where PostgreSQL sees a call.
            0 => format!("SELECT ${t}$,'${t}$ , {payload} AS x , ${t}$' AS z,${t}$"),
            1 => format!(
                "WITH a AS (SELECT ${t}$,'${t}$ AS c), b AS (UPDATE users SET name = 'n' RETURNING 1) SELECT ${t}$' AS z ) SELECT 1 AS q, ${t}$ FROM a"
            ),
            2 => format!("SELECT {a} {payload} {b}"),
            _ => format!("SELECT 1 {a}, ${t}$ {b} ${t}$, {payload}"),
        })
}

#[test]
fn lexer_sensitive_texts_are_refused_or_read_only_as_postgres_reads() {
    let engine = engine();
    let role = readonly();
    // PROPTEST_CASES runs it longer (the same seed, more cases).
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(0x7067_7761_7264),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    runner
        .run(&lexer_text(), |sql| {
            let d = decide(&engine, &role, &sql);
            if d.is_allowed() {
                assert_read_only_as_postgres_reads(&sql);
            }
            Ok(())
        })
        .expect("every lexer-sensitive text refused or read-only");
}

#[test]
fn the_issue_texts_are_refused() {
    let engine = engine();
    let role = readonly();
    for t in ["\u{2605}", "\u{e9}\u{e9}", "\u{1f600}x", "\u{80}"] {
        let sql = format!(
            "SELECT ${t}$,'${t}$ , set_config('default_transaction_read_only','off',false) AS x , ${t}$' AS z,${t}$"
        );
        assert!(!decide(&engine, &role, &sql).is_allowed(), "{sql}");
        let sql = format!(
            "WITH a AS (SELECT ${t}$,'${t}$ AS c), b AS (UPDATE users SET name = 'n' RETURNING 1) SELECT ${t}$' AS z ) SELECT 1 AS q, ${t}$ FROM a"
        );
        assert!(!decide(&engine, &role, &sql).is_allowed(), "{sql}");
    }
}

/// The read-only oracle: PostgreSQL's reading, summarized by pg_query itself.
fn assert_read_only_as_postgres_reads(sql: &str) {
    let Ok(parsed) = pg_query::parse(sql, 0) else {
        panic!("text PostgreSQL cannot parse was allowed: {sql:?}");
    };
    assert!(
        parsed.dml_tables().is_empty(),
        "allowed a write for a read-only role: {sql:?}"
    );
    for f in parsed.functions() {
        let base = f.rsplit('.').next().unwrap_or(&f).to_string();
        assert!(
            !["set_config", "nextval", "wipe_everything"].contains(&base.as_str()),
            "allowed {f} for a read-only role: {sql:?}"
        );
    }
}
