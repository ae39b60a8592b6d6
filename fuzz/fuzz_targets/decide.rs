//! The differential property of `policy/tests/differential.rs`, for as long as you like: any
//! text decide() allows a read-only role is read-only as PostgreSQL itself reads it, and no
//! input crashes the engine. Run: `cargo +nightly fuzz run decide` (from the repository root).

#![no_main]

use libfuzzer_sys::fuzz_target;
use pgward_policy::{Access, Engine, PolicyConfig, RoleRules, SessionFacts};

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let engine = Engine::new(PolicyConfig::default());
    let role = RoleRules {
        name: "fuzz".into(),
        access: Access::ReadOnly,
        statement_timeout_ms: Some(30_000),
        ..Default::default()
    };
    let path = vec!["$user".to_string(), "public".to_string()];
    let facts = SessionFacts {
        role: &role,
        search_path: &path,
        in_transaction: false,
    };
    if !engine.decide(sql, &facts).is_allowed() {
        return;
    }
    let parsed = pg_query::parse(sql, 0).expect("allowed text must parse as PostgreSQL");
    assert!(parsed.dml_tables().is_empty(), "allowed a write: {sql:?}");
    for f in parsed.functions() {
        let base = f.rsplit('.').next().unwrap_or(&f);
        assert!(
            !["set_config", "nextval", "setval", "pg_terminate_backend", "lo_import"].contains(&base),
            "allowed {f}: {sql:?}"
        );
    }
});
