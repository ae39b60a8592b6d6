//! `Engine::decide` attaches mask plans for masked roles, refuses what cannot be masked, and
//! fails closed without a catalog snapshot.

use pgward_policy::mask::{MaskConfig, Strategy};
use pgward_policy::{Engine, PolicyConfig, RoleRules, SessionFacts, Verdict};

fn engine() -> Engine {
    let masking = MaskConfig::new(
        &["public.users.email".into(), "public.users.ssn".into()],
        None,
        &[],
        vec![],
        &[],
    )
    .expect("config");
    Engine::new(PolicyConfig {
        masking: Some(masking),
        ..Default::default()
    })
}

fn decide(e: &Engine, role: &RoleRules, sql: &str) -> std::sync::Arc<pgward_policy::Decision> {
    let path = vec!["$user".to_string(), "public".to_string()];
    e.decide(
        sql,
        &SessionFacts {
            role,
            search_path: &path,
            in_transaction: false,
        },
    )
}

#[test]
fn masked_role_gets_a_plan_per_statement() {
    let e = engine();
    let role = RoleRules {
        name: "engineer".into(),
        ..Default::default()
    };
    let d = decide(&e, &role, "SELECT 1; SELECT id, ssn FROM users");
    assert!(d.is_allowed());
    let mask = d.mask.as_ref().expect("mask plans");
    assert_eq!(mask.plans.len(), 2);
    assert_eq!(mask.plans[0].masked_positions(1), Vec::<usize>::new());
    assert_eq!(mask.plans[1].strategy_at(1), Some(Strategy::Redact));
    assert_eq!(mask.plans[1].strategy_at(0), None);
}

#[test]
fn without_a_catalog_unknown_shapes_are_masked_whole() {
    let e = engine();
    let role = RoleRules {
        name: "engineer".into(),
        ..Default::default()
    };
    let d = decide(&e, &role, "SELECT * FROM users");
    let plan = &d.mask.as_ref().expect("mask plans").plans[0];
    assert!(plan.masks_anything());
    assert_eq!(plan.strategy_at(0), Some(Strategy::Redact), "{plan:?}");
}

#[test]
fn refusals_of_the_mask_analysis_are_denials_and_unmasked_roles_skip_it() {
    let e = engine();
    let masked = RoleRules {
        name: "engineer".into(),
        ..Default::default()
    };
    let d = decide(&e, &masked, "SELECT id FROM users WHERE email LIKE 'a%'");
    match &d.verdict {
        Verdict::Deny(den) => assert!(den.rule.starts_with("masking."), "{den:?}"),
        Verdict::Allow => panic!("LIKE on a masked column allowed"),
    }
    let clear = RoleRules {
        name: "engineer".into(),
        unmasked: true,
        ..Default::default()
    };
    let d = decide(&e, &clear, "SELECT id FROM users WHERE email LIKE 'a%'");
    assert!(d.is_allowed());
    assert!(d.mask.is_none());
}

#[test]
fn a_masked_role_may_not_turn_planner_methods_off() {
    let e = engine();
    for access in [
        pgward_policy::Access::ReadOnly,
        pgward_policy::Access::ReadWrite,
    ] {
        let masked = RoleRules {
            name: "engineer".into(),
            access,
            ..Default::default()
        };
        assert_refused_by(
            &e,
            &masked,
            "masking.inference",
            &[
                "SET enable_hashagg = off",
                "SET LOCAL enable_hashjoin TO false",
                "SET enable_nestloop = 0",
                "SELECT set_config('enable_hashjoin', 'off', false)",
                // Costs pick a merge join as surely (the red team of stop 34 read names in
                // order through `random_page_cost`, `seq_page_cost`, `cpu_tuple_cost`).
                "SET random_page_cost = 0.001",
                "SET LOCAL seq_page_cost TO 100",
                "SELECT set_config('cpu_tuple_cost', '10', true)",
                "SET work_mem = '64kB'",
                "SET join_collapse_limit = 1",
                "SET plan_cache_mode = force_generic_plan",
            ],
        );
        assert!(decide(&e, &masked, "SET enable_hashjoin = on").is_allowed());
        assert!(decide(&e, &masked, "RESET random_page_cost").is_allowed());
        assert!(decide(&e, &masked, "SET statement_timeout = '5s'").is_allowed());
        let unmasked = RoleRules {
            unmasked: true,
            ..masked.clone()
        };
        assert!(
            decide(&e, &unmasked, "SET enable_hashagg = off").is_allowed(),
            "{access:?}"
        );
    }
}

/// Without the relation in the snapshot (here: no snapshot at all), DDL on a relation the
/// patterns may cover is judged as DDL on one with masked columns.
#[test]
fn ddl_on_a_relation_the_snapshot_lacks_is_judged_by_the_patterns() {
    let e = engine();
    let role = migrator();
    assert_refused_by(
        &e,
        &role,
        "masking.ddl",
        &[
            "ALTER TABLE users RENAME COLUMN ssn TO s",
            "ALTER TABLE public.users ADD COLUMN leak text GENERATED ALWAYS AS (ssn) STORED",
        ],
    );
    assert!(decide(&e, &role, "ALTER TABLE documents RENAME TO docs").is_allowed());
}

#[test]
fn planner_methods_stay_on_from_startup_too_and_reset_is_free() {
    let e = engine();
    let masked = RoleRules {
        name: "engineer".into(),
        ..Default::default()
    };
    for (name, value) in [
        ("enable_hashjoin", "off"),
        ("options", "-c enable_hashagg=off"),
        ("random_page_cost", "0.001"),
        ("options", "-c cpu_tuple_cost=10"),
    ] {
        assert!(
            matches!(
                e.check_startup_parameter(name, value, &masked),
                pgward_policy::StartupParamVerdict::Refuse(_)
            ),
            "{name}={value}"
        );
    }
    assert!(decide(&e, &masked, "RESET enable_seqscan").is_allowed());
    assert!(decide(&e, &masked, "SET enable_seqscan TO DEFAULT").is_allowed());
}

#[test]
fn an_index_that_tests_masked_values_is_refused() {
    let e = engine();
    let role = migrator();
    assert_refused_by(
        &e,
        &role,
        "masking.ddl",
        &[
            "CREATE UNIQUE INDEX t ON users ((true)) WHERE id = 1 OR (id = 42 AND ssn < 'm')",
            "CREATE INDEX t ON users ((1 / length(ssn)))",
        ],
    );
    assert!(decide(&e, &role, "CREATE INDEX t ON users (ssn)").is_allowed());
}

/// A masked read-write role that may run DDL.
fn migrator() -> RoleRules {
    RoleRules {
        name: "migrator".into(),
        access: pgward_policy::Access::ReadWrite,
        allow_ddl: true,
        ..Default::default()
    }
}

/// Each of `sqls` is refused for `role`, by `rule`.
fn assert_refused_by(e: &Engine, role: &RoleRules, rule: &str, sqls: &[&str]) {
    for sql in sqls {
        let d = decide(e, role, sql);
        assert_eq!(
            d.denial().map(|d| d.rule),
            Some(rule),
            "{:?}: {sql}",
            role.access
        );
    }
}
