//! Every case of `masking.toml` gives exactly the expected masked positions or refusal.

mod masking_support;
use masking_support::*;

#[derive(serde::Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    sql: String,
    #[serde(default)]
    masked: Option<Vec<usize>>,
    #[serde(default)]
    expect: Option<String>,
}

#[test]
fn masking_corpus() {
    let text = std::fs::read_to_string(corpus_file("masking.toml")).expect("masking.toml");
    let corpus: Corpus = toml::from_str(&text).expect("masking.toml parses");
    assert!(corpus.case.len() >= 15);
    let index = corpus_index();
    let mut failures = Vec::new();
    for case in &corpus.case {
        let got = plan(&index, &case.sql);
        match (&case.expect, &case.masked, got) {
            (Some(e), _, Err(_)) if e == "deny" => {}
            (None, Some(want), Ok(p)) if &p.masked_positions(p.columns.len()) == want => {}
            (_, _, got) => failures.push(format!(
                "{}\n  want {:?} {:?}\n  got  {:?}",
                case.sql, case.expect, case.masked, got
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
