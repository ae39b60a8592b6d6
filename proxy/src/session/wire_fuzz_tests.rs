//! Bounded proptests of the whole session against the wire-level PostgreSQL model
//! (`wire_fuzz.rs`): arbitrary client frame sequences, server answers perturbed anywhere,
//! both pool modes, a read-only role with limits and a guarded writer. The `session_wire`
//! cargo-fuzz target runs the same driver without a bound (`fuzz/README.md`).

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

use super::wire_fuzz::{self, Op, Role, VOCABULARY};
use crate::config::PoolMode;

fn statement() -> impl Strategy<Value = u8> {
    0..VOCABULARY.len() as u8
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (statement(), prop::option::weighted(0.3, statement()))
            .prop_map(|(a, b)| Op::Query(a, b)),
        4 => (0u8..4, statement()).prop_map(|(name, text)| Op::Parse { name, text }),
        3 => (0u8..3, 0u8..4).prop_map(|(portal, statement)| Op::Bind { portal, statement }),
        1 => (any::<bool>(), 0u8..4).prop_map(|(statement, name)| Op::Describe { statement, name }),
        3 => (0u8..3, 0u8..3).prop_map(|(portal, max_rows)| Op::Execute { portal, max_rows }),
        1 => (any::<bool>(), 0u8..4).prop_map(|(statement, name)| Op::Close { statement, name }),
        3 => Just(Op::Sync),
        1 => Just(Op::Flush),
        1 => Just(Op::CopyData),
        1 => Just(Op::CopyDone),
        1 => Just(Op::CopyFail),
        1 => (0u8..40).prop_map(Op::Wait),
        1 => Just(Op::FailNext),
        1 => Just(Op::NoticeNext),
        1 => Just(Op::PinOff),
        1 => role().prop_map(Op::Reload),
        1 => prop::sample::select(wire_fuzz::JUNK).prop_map(Op::ServerJunk),
        2 => Just(Op::Neighbour),
        3 => Just(Op::NoWait),
    ]
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mode() -> impl Strategy<Value = PoolMode> {
    prop_oneof![Just(PoolMode::Transaction), Just(PoolMode::Session)]
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Reader),
        Just(Role::Writer),
        Just(Role::Masked),
        Just(Role::Plain),
        Just(Role::MaskedWriter),
        Just(Role::MaskedCopier)
    ]
}

proptest! {
    // A fixed seed here; WIRE_FUZZ_CASES and WIRE_FUZZ_SEED run it longer or elsewhere.
    #![proptest_config(ProptestConfig {
        cases: env_or("WIRE_FUZZ_CASES", 64),
        rng_seed: RngSeed::Fixed(env_or("WIRE_FUZZ_SEED", 0x7769_7265)),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the client sends and however the server answers: no panic, no write of a
    /// read-only role, no guarded write past its limit committed, a server in the pool only
    /// idle and clean, every Sync answered.
    #[test]
    fn the_session_holds_its_properties_under_arbitrary_frames(
        mode in mode(),
        role in role(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        if let Err(e) = wire_fuzz::run(mode, role, ops) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// `ops` keep every property, in both pool modes.
fn holds_in_both_modes(role: Role, ops: &[Op]) {
    for mode in [PoolMode::Transaction, PoolMode::Session] {
        if let Err(e) = wire_fuzz::run(mode, role, ops.to_vec()) {
            panic!("{e}");
        }
    }
}

/// A server reporting the read-only pin lost is never used again for the read-only role.
#[test]
fn a_lost_pin_is_survived() {
    let ops = vec![Op::PinOff, Op::Query(0, None), Op::Query(2, None), Op::Sync];
    holds_in_both_modes(Role::Reader, &ops);
}

/// The issue-8 findings as ops: a COMMIT bound after a guarded write in the same batch, and a
/// guarded write paged by Execute's row limit.
#[test]
fn the_guard_findings_hold_on_the_wire_model() {
    let commit_after = vec![
        Op::Parse { name: 1, text: 7 },
        Op::Parse { name: 2, text: 3 },
        Op::Bind {
            portal: 0,
            statement: 2,
        },
        Op::Execute {
            portal: 0,
            max_rows: 0,
        },
        Op::Bind {
            portal: 1,
            statement: 1,
        },
        Op::Execute {
            portal: 1,
            max_rows: 0,
        },
        Op::Sync,
    ];
    let paged = vec![
        Op::Parse { name: 0, text: 4 },
        Op::Bind {
            portal: 0,
            statement: 0,
        },
        Op::Execute {
            portal: 0,
            max_rows: 1,
        },
        Op::Sync,
    ];
    holds_in_both_modes(Role::Writer, &commit_after);
    holds_in_both_modes(Role::Writer, &paged);
}

/// pgward's BEGIN for the guard, inside the client's batch, fails: its error is the
/// client's, the batch is skipped to its Sync (the message that needed the guard too), and
/// the Sync is answered (pgward used to send a refusal the skipping server never answered).
#[test]
fn a_guard_whose_begin_fails_in_the_batch_skips_the_batch() {
    let ops = vec![
        Op::FailNext,
        Op::Parse { name: 0, text: 0 },
        Op::Query(27, None),
        Op::Query(6, Some(23)),
    ];
    holds_in_both_modes(Role::Writer, &ops);
}

/// A guarded unit's Query skipped by the server (an error earlier in its batch): the guard
/// ends at the batch's Sync and the client is read meanwhile (the server waits for that
/// Sync).
#[test]
fn a_guarded_unit_skipped_with_its_batch_ends_at_the_sync() {
    let ops = vec![
        Op::Parse { name: 1, text: 2 },
        Op::Query(0, None),
        Op::Query(9, None),
        Op::Bind {
            portal: 0,
            statement: 1,
        },
        Op::Parse { name: 1, text: 0 },
        Op::Query(0, None),
    ];
    holds_in_both_modes(Role::Writer, &ops);
}

/// A write portal bound before a reload that makes the role read-only is refused at its
/// Execute (the model records no write).
#[test]
fn a_write_portal_bound_before_a_demotion_is_refused() {
    let ops = vec![
        Op::Query(6, None),
        Op::Parse { name: 1, text: 2 },
        Op::Bind {
            portal: 1,
            statement: 1,
        },
        Op::Sync,
        Op::Reload(Role::Plain),
        Op::Execute {
            portal: 1,
            max_rows: 0,
        },
        Op::Sync,
        Op::Query(7, None),
    ];
    holds_in_both_modes(Role::Writer, &ops);
}

/// A server out of step (a reply nothing asked for: a ReadyForQuery, a ParseComplete, an
/// error before pgward's own BEGIN) is closed, never pooled, and the client is answered or
/// its session ends: no junk is forwarded as an answer, nothing hangs.
#[test]
fn a_server_out_of_step_is_closed() {
    let cases = [
        (
            Role::Writer,
            vec![
                Op::ServerJunk(b'Z'),
                Op::Query(0, None),
                Op::Query(0, Some(27)),
            ],
        ),
        (
            Role::Reader,
            vec![
                Op::Reload(Role::Writer),
                Op::Parse { name: 0, text: 0 },
                Op::ServerJunk(b'1'),
                Op::Query(9, Some(27)),
            ],
        ),
        (Role::Writer, vec![Op::ServerJunk(b'E'), Op::Query(2, None)]),
        // A ParseComplete taken for a Parse that then fails: its error comes unasked, and
        // the server skips the batch to its Sync.
        (
            Role::Reader,
            vec![
                Op::Parse { name: 3, text: 6 },
                Op::ServerJunk(b'1'),
                Op::Parse { name: 3, text: 0 },
                Op::Query(22, Some(32)),
            ],
        ),
        (
            Role::Reader,
            vec![
                Op::FailNext,
                Op::Close {
                    statement: false,
                    name: 0,
                },
                Op::ServerJunk(b'Z'),
                Op::Reload(Role::Writer),
                Op::Query(2, None),
            ],
        ),
    ];
    for (role, ops) in &cases {
        holds_in_both_modes(*role, ops);
    }
}

/// The vocabulary index of `text`.
fn statement_of(text: &str) -> u8 {
    VOCABULARY
        .iter()
        .position(|t| *t == text)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or_else(|| panic!("{text} is not in the vocabulary"))
}

/// A Sync pipelined behind a simple Query's COPY FROM STDIN is ignored by the server once
/// the COPY starts; pgward used to keep owing it an answer, so the queue fell one reply
/// behind and a later result was masked with an earlier statement's plan (an expression of
/// a masked column went out in clear).
#[test]
fn a_sync_behind_a_simple_copy_keeps_the_queue_in_step() {
    let ops = vec![
        Op::NoWait,
        Op::Query(statement_of("COPY t FROM STDIN"), None),
        Op::Sync,
        Op::CopyDone,
        Op::Query(statement_of("SELECT 1/0"), None),
        Op::Query(statement_of("SELECT v || '' FROM t"), None),
    ];
    holds_in_both_modes(Role::MaskedCopier, &ops);
}

/// A guarded write past its limit, then an Execute of COPY FROM STDIN and the batch's Sync,
/// pipelined: the server ignores the Sync once the COPY starts, and pgward ends the COPY
/// (the unit is rolled back); it sends the Sync again, or the client would wait for an
/// answer the server never owed.
#[test]
fn a_copy_the_guard_ends_does_not_swallow_the_sync() {
    let copy = statement_of("COPY t FROM STDIN");
    let mut ops = Vec::new();
    for op in [
        Op::Parse { name: 0, text: 3 },
        Op::Bind {
            portal: 0,
            statement: 0,
        },
        Op::Execute {
            portal: 0,
            max_rows: 0,
        },
        Op::Parse {
            name: 1,
            text: copy,
        },
        Op::Bind {
            portal: 1,
            statement: 1,
        },
        Op::Execute {
            portal: 1,
            max_rows: 0,
        },
    ] {
        ops.extend([Op::NoWait, op]);
    }
    ops.push(Op::Sync);
    holds_in_both_modes(Role::Writer, &ops);
}
