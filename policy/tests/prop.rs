//! Property tests: decide() never panics, and text sqlparser cannot parse is never allowed.

mod common;
use common::*;
use proptest::prelude::*;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

fn corpus_strings() -> Vec<String> {
    let mut out = Vec::new();
    for f in ["readonly.toml", "writes.toml"] {
        out.extend(load(shared(f)).case.into_iter().map(|c| c.sql));
    }
    out
}

fn check(sql: &str) {
    let engine = engine();
    for role in [readonly(), oncall(), admin()] {
        let d = decide(&engine, &role, sql);
        if d.is_allowed() && Parser::parse_sql(&PostgreSqlDialect {}, sql).is_err() {
            // Only the narrow pg_query forms may be allowed without sqlparser; none of them
            // is open to a read-only role except TABLE t and COPY t TO STDOUT.
            let upper = sql.trim_start().to_ascii_uppercase();
            let narrow = upper.starts_with("TABLE")
                || upper.starts_with("COPY")
                || upper.starts_with("VACUUM")
                || upper.starts_with("ANALYZE")
                || upper.starts_with("CHECKPOINT")
                || upper.starts_with("ALTER")
                || upper.starts_with("CREATE")
                || upper.starts_with("DROP")
                || upper.starts_with("TRUNCATE")
                || upper.starts_with("DO")
                || upper.starts_with("REINDEX")
                || upper.starts_with("CLUSTER");
            assert!(
                narrow,
                "unparseable text allowed for {}: {sql:?}",
                role.name
            );
        }
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
