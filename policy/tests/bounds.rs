//! No input takes the engine down: long AND chains, deep parentheses and nesting, texts over
//! the size bound. Each is answered (allowed, or refused with 54001/42601) and the engine goes on.

mod common;
use common::*;

#[test]
fn huge_and_deep_texts_are_answered() {
    let engine = engine();
    let texts = [
        format!("SELECT 1 WHERE {}", vec!["true"; 100_000].join(" AND ")),
        format!("SELECT 1 WHERE {}", vec!["id = 1"; 20_000].join(" OR ")),
        format!("SELECT {}", vec!["1"; 100_000].join("+")),
        format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("SELECT {}1{}", "(SELECT ".repeat(2_000), ")".repeat(2_000)),
        format!("SELECT {}1{}", "ARRAY[".repeat(5_000), "]".repeat(5_000)),
        format!("SELECT {}", "NOT ".repeat(50_000) + "true"),
        format!("SELECT '{}'", "x".repeat(2 << 20)),
    ];
    for role in [readonly(), admin()] {
        for sql in &texts {
            let d = decide(&engine, &role, sql);
            if let Some(den) = d.denial() {
                assert!(
                    ["54001", "42601", "42501"].contains(&den.sqlstate),
                    "{}: {}",
                    &sql[..40],
                    den.sqlstate
                );
            }
        }
        assert!(decide(&engine, &role, "SELECT 1").is_allowed());
    }
    let too_large = format!("SELECT '{}'", "x".repeat(2 << 20));
    let d = decide(&engine, &readonly(), &too_large);
    assert_eq!(d.denial().map(|d| d.sqlstate), Some("54001"));
    // Deep but within what PostgreSQL parses: allowed (prost's 100-level limit is lifted).
    let deep = format!("SELECT {}", vec!["1"; 100].join("+"));
    assert!(decide(&engine, &admin(), &deep).is_allowed());
    let hundred_parens = format!("SELECT {}1{}", "(".repeat(100), ")".repeat(100));
    assert!(decide(&engine, &readonly(), &hundred_parens).is_allowed());
}
