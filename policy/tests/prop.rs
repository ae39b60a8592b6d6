//! Property tests: decide() never panics, and what it allows a read-only role is read-only as
//! PostgreSQL reads the text.

mod common;
use common::*;
use proptest::prelude::*;

fn corpus_strings() -> Vec<String> {
    let mut out = Vec::new();
    for f in ["readonly.toml", "writes.toml"] {
        out.extend(load(shared(f)).case.into_iter().map(|c| c.sql));
    }
    out
}

/// Whatever the text, decide() answers; and when it allows the text for a read-only role,
/// PostgreSQL's own reading of it (pg_query's summary, computed independently of pgward's
/// walk) neither writes nor calls a function with side effects.
fn check(sql: &str) {
    let engine = engine();
    for role in [readonly(), oncall(), admin()] {
        let d = decide(&engine, &role, sql);
        if role.name == readonly().name && d.is_allowed() {
            assert_read_only_as_postgres_reads(sql);
        }
    }
}

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
            ![
                "set_config",
                "nextval",
                "setval",
                "pg_terminate_backend",
                "lo_import",
                "dblink_exec"
            ]
            .contains(&base.as_str()),
            "allowed {f} for a read-only role: {sql:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(s in "\\PC{0,80}") {
        check(&s);
    }

    #[test]
    fn sql_ish_strings(s in "(SELECT|DELETE|UPDATE|SET|BEGIN|WITH|;|'|\"|\\$\\$|--|/\\*|\\*/|\\r|\\n| |x|1|=|\\(|\\)|,|E'|U&\"|\\\\)*") {
        check(&s);
    }

    #[test]
    fn mutated_corpus(idx in 0usize..1000, pos in 0usize..400, insert in "(;|'|\"|\\$\\$|--|/\\*|\\r|\\\\| DELETE FROM t|x)") {
        let corpus = corpus_strings();
        let base = &corpus[idx % corpus.len()];
        let mut cut = pos.min(base.len());
        while !base.is_char_boundary(cut) { cut -= 1; }
        let s = format!("{}{}{}", &base[..cut], insert, &base[cut..]);
        check(&s);
    }
}
