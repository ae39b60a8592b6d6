//! The in-place token array against pg_query's protobuf scan, over every corpus statement.

use super::raw_scan::{scan, RawToken, ScanFailure};

/// The same text through pg_query's protobuf entry point.
fn protobuf_scan(sql: &str) -> Result<Vec<RawToken>, ()> {
    pg_query::scan(sql)
        .map(|r| {
            r.tokens
                .iter()
                .map(|t| RawToken {
                    start: t.start,
                    end: t.end,
                    token: t.token,
                    keyword_kind: t.keyword_kind,
                })
                .collect()
        })
        .map_err(|_| ())
}

fn corpus_statements() -> Vec<String> {
    let mut out = Vec::new();
    for text in [
        include_str!("../tests/data/corpus/readonly.toml"),
        include_str!("../tests/data/corpus/writes.toml"),
        include_str!("../tests/data/corpus/masking.toml"),
    ] {
        let value: toml::Value = toml::from_str(text).expect("corpus parses");
        for case in value["case"].as_array().expect("cases") {
            if let Some(sql) = case.get("sql").and_then(|s| s.as_str()) {
                out.push(sql.to_string());
            }
        }
    }
    out
}

#[test]
fn every_corpus_statement_scans_as_the_protobuf_path_does() {
    let statements = corpus_statements();
    assert!(
        statements.len() > 100,
        "corpus too small: {}",
        statements.len()
    );
    for sql in &statements {
        assert_eq!(scan(sql).map_err(|_| ()), protobuf_scan(sql), "{sql}");
    }
}

#[test]
fn texts_with_no_token_scan_to_nothing() {
    for sql in ["", " ", "\n\t \r\x0c"] {
        assert_eq!(scan(sql), Ok(Vec::new()), "{sql:?}");
        assert_eq!(protobuf_scan(sql), Ok(Vec::new()), "{sql:?}");
    }
}

#[test]
fn unterminated_texts_fail_as_the_scanner_says() {
    for sql in ["SELECT 'open", "SELECT $$open", "/* open", "SELECT \"open"] {
        match scan(sql) {
            Err(ScanFailure::Scanner(m)) => assert!(m.contains("unterminated"), "{sql}: {m}"),
            other => panic!("{sql}: {other:?}"),
        }
        assert!(protobuf_scan(sql).is_err(), "{sql}");
    }
    assert_eq!(scan("SELECT 1\0"), Err(ScanFailure::Nul));
}

#[test]
fn comments_and_constants_keep_their_offsets() {
    let sql = "SELECT 'a''b', 1.5e3 -- c\n/* d */ FROM t";
    let tokens = scan(sql).expect("scans");
    assert_eq!(Ok(tokens.clone()), protobuf_scan(sql));
    let texts: Vec<&str> = tokens
        .iter()
        .map(|t| &sql[t.start as usize..t.end as usize])
        .collect();
    assert_eq!(
        texts,
        ["SELECT", "'a''b'", ",", "1.5e3", "-- c", "/* d */", "FROM", "t"]
    );
}
