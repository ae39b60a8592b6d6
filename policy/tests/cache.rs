//! The decision cache: shared per shape, never across texts PostgreSQL reads differently,
//! never for verdicts that depend on a literal's value.

mod common;
use common::*;
use pgward_policy::SessionFacts;

#[test]
fn texts_differing_only_in_literals_share_a_fingerprint_and_an_entry() {
    let engine = engine();
    let role = readonly();
    let path = default_path();
    let facts = SessionFacts {
        role: &role,
        search_path: &path,
        in_transaction: false,
    };
    let a = engine.decide(
        "SELECT * FROM users WHERE id = 42 AND email = 'a@x'",
        &facts,
    );
    let b = engine.decide(
        "SELECT * FROM users WHERE id = 7 AND email = 'secret@y'",
        &facts,
    );
    assert_eq!(a.fingerprint, b.fingerprint);
    assert!(
        std::sync::Arc::ptr_eq(&a, &b),
        "second text should be a cache hit"
    );
    assert_eq!(
        a.normalized.as_ref(),
        "SELECT * FROM users WHERE id = $1 AND email = $2"
    );
    assert!(!b.normalized.contains("secret"));
}

#[test]
fn literal_dependent_verdicts_are_not_shared() {
    let engine = engine();
    let role = readonly();
    let path = default_path();
    let facts = SessionFacts {
        role: &role,
        search_path: &path,
        in_transaction: false,
    };
    assert!(engine
        .decide("SET statement_timeout = '1s'", &facts)
        .is_allowed());
    assert!(!engine
        .decide("SET statement_timeout = 0", &facts)
        .is_allowed());
    assert!(!engine
        .decide("SET statement_timeout = '0'", &facts)
        .is_allowed());
    assert!(engine
        .decide("SET statement_timeout = '1s'", &facts)
        .is_allowed());
    assert!(engine
        .decide("SET default_transaction_read_only = 'on'", &facts)
        .is_allowed());
    assert!(!engine
        .decide("SET default_transaction_read_only = 'off'", &facts)
        .is_allowed());

    let rw = oncall();
    let facts = SessionFacts {
        role: &rw,
        search_path: &path,
        in_transaction: false,
    };
    assert!(engine
        .decide("SELECT set_config('search_path', '', false)", &facts)
        .is_allowed());
    assert!(!engine
        .decide(
            "SELECT set_config('session_replication_role', 'replica', false)",
            &facts
        )
        .is_allowed());
    assert!(!engine
        .decide("DELETE FROM t WHERE true OR id = 1", &facts)
        .is_allowed());
    assert!(engine
        .decide("DELETE FROM t WHERE false OR id = 1", &facts)
        .is_allowed());
    assert!(!engine
        .decide("DELETE FROM t WHERE true OR id = 1", &facts)
        .is_allowed());
}

#[test]
fn texts_postgres_reads_differently_never_share_an_entry() {
    let engine = engine();
    let role = readonly();
    let path = default_path();
    let facts = SessionFacts {
        role: &role,
        search_path: &path,
        in_transaction: false,
    };
    let pairs = [
        ("SELECT 'a' AS x", "SELECT \"a\" AS x"),
        ("SELECT $$x$$; SELECT 1", "SELECT $$x; SELECT 1$$"),
        ("SELECT 1 -- c\nFROM users", "SELECT 1 -- c FROM users"),
        (
            "SELECT lower(email) FROM users",
            "SELECT nextval(email) FROM users",
        ),
        ("SELECT * FROM users", "SELECT * FROM users FOR UPDATE"),
        ("SELECT E'\\'' AS a", "SELECT 'x' AS a; DELETE FROM t"),
    ];
    for (a, b) in pairs {
        let da = engine.decide(a, &facts);
        let db = engine.decide(b, &facts);
        assert!(
            !std::sync::Arc::ptr_eq(&da, &db),
            "{a} and {b} shared an entry"
        );
        assert_eq!(*engine.decide(a, &facts).normalized, *da.normalized);
    }
    // The same text for a different role or search_path is judged again.
    let rw = oncall();
    let facts_rw = SessionFacts {
        role: &rw,
        search_path: &path,
        in_transaction: false,
    };
    assert!(!engine
        .decide("DELETE FROM t WHERE id = 1", &facts)
        .is_allowed());
    assert!(engine
        .decide("DELETE FROM t WHERE id = 1", &facts_rw)
        .is_allowed());
    let evil = vec!["evil".to_string(), "pg_catalog".to_string()];
    let facts_evil = SessionFacts {
        role: &role,
        search_path: &evil,
        in_transaction: false,
    };
    assert!(engine.decide("SELECT lower('x')", &facts).is_allowed());
    assert!(!engine.decide("SELECT lower('x')", &facts_evil).is_allowed());
}

#[test]
fn cache_is_bounded() {
    let engine = pgward_policy::Engine::with_cache_capacity(Default::default(), 64);
    let role = readonly();
    let path = default_path();
    let facts = SessionFacts {
        role: &role,
        search_path: &path,
        in_transaction: false,
    };
    for i in 0..1000 {
        engine.decide(&format!("SELECT c{i} FROM t"), &facts);
    }
    assert!(
        engine.cached_decisions() <= 64,
        "{}",
        engine.cached_decisions()
    );
}

#[test]
fn concurrent_use_from_many_threads() {
    let engine = std::sync::Arc::new(engine());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let engine = std::sync::Arc::clone(&engine);
            std::thread::spawn(move || {
                let role = readonly();
                let path = default_path();
                let facts = SessionFacts {
                    role: &role,
                    search_path: &path,
                    in_transaction: false,
                };
                for i in 0..200 {
                    let d = engine.decide(&format!("SELECT {i} FROM users WHERE id = {t}"), &facts);
                    assert!(d.is_allowed());
                    assert!(!engine.decide("DELETE FROM users", &facts).is_allowed());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
}
