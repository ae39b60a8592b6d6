//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use pgward_policy::{Access, Decision, Engine, PolicyConfig, RoleRules, SessionFacts};

#[derive(serde::Deserialize)]
pub struct Corpus {
    pub case: Vec<Case>,
}

#[derive(serde::Deserialize)]
pub struct Case {
    pub sql: String,
    #[serde(default)]
    pub expect: Option<String>,
}

pub fn load(path: PathBuf) -> Corpus {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "corpus file {} is missing or unreadable ({e}); the corpus lives in policy/tests/data/corpus",
            path.display()
        )
    });
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/corpus")
        .join(name)
}

pub fn local(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn readonly() -> RoleRules {
    RoleRules {
        name: "engineer".into(),
        access: Access::ReadOnly,
        statement_timeout_ms: Some(30_000),
        upstream_user: "app_ro".into(),
        ..Default::default()
    }
}

pub fn oncall() -> RoleRules {
    RoleRules {
        name: "oncall".into(),
        access: Access::ReadWrite,
        require_where: true,
        allow_ddl: false,
        upstream_user: "app_owner".into(),
        ..Default::default()
    }
}

pub fn admin() -> RoleRules {
    RoleRules {
        name: "admin".into(),
        access: Access::ReadWrite,
        require_where: false,
        allow_ddl: true,
        ..Default::default()
    }
}

pub fn engine() -> Engine {
    Engine::new(PolicyConfig {
        safe_functions: vec!["public.my_report".into()],
        denied_functions: vec!["public.wipe_everything".into()],
        ..Default::default()
    })
}

pub fn default_path() -> Vec<String> {
    vec!["$user".into(), "public".into()]
}

pub fn decide(engine: &Engine, role: &RoleRules, sql: &str) -> Decision {
    let path = default_path();
    let facts = SessionFacts {
        role,
        search_path: &path,
        in_transaction: false,
    };
    engine.decide_uncached(sql, &facts)
}

pub fn describe(d: &Decision) -> String {
    match d.denial() {
        Some(den) => format!("denied [{}] {} ({})", den.rule, den.message, den.detail),
        None => "allowed".into(),
    }
}

/// Asserts the verdicts of `cases` for `role`, reporting every failure at once.
pub fn check_all(role: &RoleRules, cases: &[(&str, bool)]) {
    let engine = engine();
    let mut failures = Vec::new();
    for (sql, allow) in cases {
        let d = decide(&engine, role, sql);
        if d.is_allowed() != *allow {
            failures.push(format!(
                "{} expected {}: {}\n    got {}",
                role.name,
                if *allow { "allow" } else { "deny" },
                sql,
                describe(&d)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
