//! The shared corpus (a floor, not a ceiling) and the captured client queries.

mod common;
use common::*;

fn run_corpus(file: &str, role: &pgward_policy::RoleRules) {
    let corpus = load(shared(file));
    assert!(!corpus.case.is_empty(), "{file} has no cases");
    let cases: Vec<(&str, bool)> = corpus
        .case
        .iter()
        .map(|c| {
            let expect = c
                .expect
                .as_deref()
                .unwrap_or_else(|| panic!("case without expect: {}", c.sql));
            (c.sql.as_str(), expect == "allow")
        })
        .collect();
    check_all(role, &cases);
}

#[test]
fn readonly_corpus() {
    run_corpus("readonly.toml", &readonly());
}

#[test]
fn writes_corpus() {
    run_corpus("writes.toml", &oncall());
}

#[test]
fn psql_and_pgjdbc_catalog_queries_pass_for_read_only() {
    let corpus = load(local("catalog_clients.toml"));
    assert!(corpus.case.len() > 30);
    let cases: Vec<(&str, bool)> = corpus.case.iter().map(|c| (c.sql.as_str(), true)).collect();
    check_all(&readonly(), &cases);
}

#[test]
fn dbeaver_queries_pass_for_read_only() {
    let corpus = load(local("dbeaver.toml"));
    let cases: Vec<(&str, bool)> = corpus.case.iter().map(|c| (c.sql.as_str(), true)).collect();
    check_all(&readonly(), &cases);
}

#[test]
fn pgbench_passes_for_read_write_with_ddl() {
    let corpus = load(local("pgbench.toml"));
    let cases: Vec<(&str, bool)> = corpus.case.iter().map(|c| (c.sql.as_str(), true)).collect();
    check_all(&admin(), &cases);
}
