//! Proptests over the session's pure core through `model.rs`: arbitrary pipelines with
//! failures anywhere, in any interleaving with the server's answers, and arbitrary server
//! bytes (bounded budget; `fuzz/` runs the same model longer).

use proptest::prelude::*;

use super::model::{self, Op, QueryKind};

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..3, prop::bool::weighted(0.3)).prop_map(|(name, fails)| Op::Parse { name, fails }),
        (0u8..3).prop_map(|name| Op::Bind { name }),
        (0u8..3).prop_map(|name| Op::Close { name }),
        Just(Op::Sync),
        prop_oneof![
            Just(QueryKind::Begin),
            Just(QueryKind::Commit),
            Just(QueryKind::Plain),
            Just(QueryKind::Fails),
        ]
        .prop_map(Op::Query),
        Just(Op::Serve),
        Just(Op::Serve),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    // PROPTEST_CASES raises the budget for a longer run (see `fuzz/README.md`).
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Whatever the pipeline (simple Queries and transaction blocks among extended batches)
    /// and wherever it fails, a statement name means to pgward what it means to the server
    /// when the server gets there, and the server is given back only idle and clean.
    #[test]
    fn names_mean_what_the_server_has(ops in prop::collection::vec(op(), 0..60)) {
        if let Err(e) = model::run(ops) {
            prop_assert!(false, "{}", e);
        }
    }

    /// Arbitrary server bytes against an arbitrary queue: no panic, nothing grows.
    #[test]
    fn arbitrary_server_messages(
        sent in prop::collection::vec(any::<u8>(), 0..20),
        tags in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        prop_assert!(model::arbitrary_server(&sent, &tags));
    }

    /// Fuzz inputs decode to operations the model accepts.
    #[test]
    fn byte_encoded_pipelines(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Err(e) = model::run(model::ops_from_bytes(&bytes)) {
            prop_assert!(false, "{}", e);
        }
    }
}
