//! The differential property of `policy/tests/differential.rs`, for as long as you like: any
//! text decide() allows a read-only role is read-only as PostgreSQL itself reads it, and no
//! input crashes the engine. Run: `cargo +nightly fuzz run decide` (from the repository root).

#![no_main]

use libfuzzer_sys::fuzz_target;
use pg_query::protobuf::a_const;
use pg_query::{NodeEnum, NodeRef};
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
            !["nextval", "setval", "pg_terminate_backend", "lo_import"].contains(&base),
            "allowed {f}: {sql:?}"
        );
    }
    // set_config is allowed as the SET it amounts to: never one that loosens the session.
    for (node, _, _, _) in parsed.protobuf.nodes() {
        if let NodeRef::FuncCall(call) = node {
            let name: Vec<&str> = call
                .funcname
                .iter()
                .filter_map(|n| match &n.node {
                    Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                    _ => None,
                })
                .collect();
            if name.last() != Some(&"set_config") {
                continue;
            }
            let literal = |i: usize| match call.args.get(i).and_then(|a| a.node.as_ref()) {
                Some(NodeEnum::AConst(c)) => match &c.val {
                    Some(a_const::Val::Sval(s)) => Some(s.sval.to_ascii_lowercase()),
                    _ => None,
                },
                _ => None,
            };
            let setting = literal(0).unwrap_or_else(|| {
                panic!("allowed set_config of a name pgward cannot read: {sql:?}")
            });
            let value = literal(1).unwrap_or_default();
            let truthy = !value.is_empty()
                && ["true", "yes", "on", "1"]
                    .iter()
                    .any(|w| w.starts_with(value.trim()));
            let loosens = match setting.as_str() {
                "default_transaction_read_only"
                | "transaction_read_only"
                | "standard_conforming_strings" => !truthy,
                "role" | "session_authorization" | "session_replication_role" => true,
                "backslash_quote" => truthy,
                "client_encoding" => pgward_policy::is_unsafe_encoding(&value),
                _ => false,
            };
            assert!(!loosens, "allowed set_config({setting}, {value}): {sql:?}");
        }
    }
});
