//! The real session (decision point, reply queue, guard, row limit, timers, pool), driven
//! with arbitrary client frame sequences against a PostgreSQL that speaks the wire
//! (`wire_pg.rs`), whose answers the fuzz input perturbs (a statement fails, a notice or a
//! lost pin comes first, a statement sleeps), on tokio's paused clock. Used by
//! `wire_fuzz_tests.rs` (bounded proptests in `cargo test`) and the `session_wire` cargo-fuzz
//! target (feature `fuzzing`).
//!
//! What must hold whatever the input: the session never panics; a read-only role's write
//! never runs; a guarded write of more rows than `max_affected_rows` never commits; a server
//! is in the pool only idle and clean; every Sync is answered with ReadyForQuery (or the
//! session ends with an error), and the client's answers stay proportionate to what it sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::DuplexStream;

use super::scripted::{self, Scripted};
use super::scripted_frames as f;
use super::wire_pg::{messages::Next, WirePg, T_VALUE};
use crate::config::PoolMode;
use crate::protocol::FramedConn;

/// The statements a case draws from: reads, writes small and big, transaction control,
/// cursors, SQL prepared statements, COPY, settings, a failure, a syntax error, a sleep.
pub const VOCABULARY: &[&str] = &[
    "SELECT v FROM t",
    "SELECT v FROM t WHERE id = 1",
    "UPDATE t SET v = 1 WHERE id = 1",
    "UPDATE t SET v = 2 WHERE id > 0",
    "UPDATE t SET v = 3 WHERE id > 0 RETURNING v",
    "DELETE FROM t WHERE id = 2",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SELECT pg_sleep(30)",
    "SET statement_timeout = '2s'",
    "DECLARE c CURSOR WITH HOLD FOR SELECT v FROM t",
    "DECLARE c CURSOR FOR SELECT v FROM t",
    "FETCH 2 FROM c",
    "CLOSE c",
    "PREPARE q AS SELECT v FROM t",
    "PREPARE w AS UPDATE t SET v = 2 WHERE id > 0",
    "EXECUTE q",
    "EXECUTE w",
    "DEALLOCATE q",
    "SELECT 1/0",
    "SELEC 1",
    "SET LOCAL statement_timeout = '1s'",
    "COPY t FROM STDIN",
    "COPY t TO STDOUT",
    "SHOW statement_timeout",
    "DISCARD ALL",
    "INSERT INTO t SELECT v FROM t WHERE id > 0",
    "WITH x AS (SELECT v FROM t) SELECT v FROM x",
    "SELECT * FROM t",
    "MOVE 1 IN c",
    "CLOSE ALL",
    "SET search_path = public",
    "RESET ALL",
    "SELECT set_config('search_path', 'public', false)",
    "DECLARE c CURSOR WITH HOLD FOR SELECT id FROM t WHERE id = 1",
    "DEALLOCATE ALL",
    "DELETE FROM t WHERE id > 0 RETURNING v",
    "SELECT v || '' FROM t",
];

/// What [`Op::ServerJunk`] may send.
pub const JUNK: &[u8] = b"ZEA12C3sx";

/// One step of a case.
#[derive(Clone, Debug)]
pub enum Op {
    /// A simple Query of one or two statements.
    Query(u8, Option<u8>),
    Parse {
        name: u8,
        text: u8,
    },
    Bind {
        portal: u8,
        statement: u8,
    },
    Describe {
        statement: bool,
        name: u8,
    },
    Execute {
        portal: u8,
        max_rows: u8,
    },
    Close {
        statement: bool,
        name: u8,
    },
    Sync,
    Flush,
    CopyData,
    CopyDone,
    CopyFail,
    /// Virtual seconds pass with nothing sent.
    Wait(u8),
    /// The next statement the server runs fails (40001).
    FailNext,
    /// The server's next answer starts with a NoticeResponse.
    NoticeNext,
    /// The server's next answer reports `default_transaction_read_only` off.
    PinOff,
    /// A reload gives role `tester` these rules.
    Reload(Role),
    /// The server's next answer starts with a message nothing asked for (its tag: a
    /// ReadyForQuery, an error, a notification, ParseComplete, CommandComplete, an unknown one).
    ServerJunk(u8),
    /// The next op's messages follow at once, before anything is answered (pipelined).
    NoWait,
    /// Another client of the same role and pool runs `SELECT v FROM t WHERE id = 1`: it gets
    /// its own answer (a row, or an error), nothing of the first client's.
    Neighbour,
}

/// Who the client is: the rules role `tester` starts with (a reload may give it another
/// role's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Read-only, at most 2 rows a statement, both time limits.
    Reader,
    /// Read-write, writes guarded at 10 rows.
    Writer,
    /// Read-only, column `v` of table `t` masked (redacted).
    Masked,
    /// Read-only, nothing else.
    Plain,
    /// Read-write (COPY FROM allowed), writes guarded at 10 rows, column `v` of `t` masked.
    MaskedWriter,
    /// Read-write with no row guard, column `v` of `t` masked.
    MaskedCopier,
}

impl Role {
    pub(super) fn rules(self) -> &'static str {
        match self {
            Role::Reader => {
                "access = \"read-only\"\nmax_result_rows = 2\nstatement_timeout = \"5s\"\nidle_in_transaction_timeout = \"10s\"\n"
            }
            Role::Writer => {
                "access = \"read-write\"\nrequire_where = false\nmax_affected_rows = 10\n"
            }
            Role::Masked => "access = \"read-only\"\n[masking]\ncolumns = [\"public.t.v\"]\n",
            Role::Plain => "access = \"read-only\"\n",
            Role::MaskedCopier => {
                "access = \"read-write\"\nrequire_where = false\n[masking]\ncolumns = [\"public.t.v\"]\n"
            }
            Role::MaskedWriter => {
                "access = \"read-write\"\nrequire_where = false\nmax_affected_rows = 10\n[masking]\ncolumns = [\"public.t.v\"]\n"
            }
        }
    }

    pub(super) fn read_only(self) -> bool {
        !matches!(self, Role::Writer | Role::MaskedWriter | Role::MaskedCopier)
    }

    pub(super) fn masked(self) -> bool {
        matches!(self, Role::Masked | Role::MaskedWriter | Role::MaskedCopier)
    }

    /// Its writes may not commit past 10 rows (read-only roles' may not run at all).
    pub(super) fn guarded(self) -> bool {
        self != Role::MaskedCopier
    }

    fn from_byte(b: u8) -> Role {
        const ROLES: [Role; 6] = [
            Role::Reader,
            Role::Writer,
            Role::Masked,
            Role::Plain,
            Role::MaskedWriter,
            Role::MaskedCopier,
        ];
        ROLES[usize::from(b) % ROLES.len()]
    }
}

fn name(n: u8) -> &'static str {
    ["", "s1", "s2", "s3"][usize::from(n % 4)]
}

fn text(n: u8) -> &'static str {
    VOCABULARY[usize::from(n) % VOCABULARY.len()]
}

/// Pieces of a case read from fuzz bytes: two header bytes, then two bytes an op.
pub fn case_from_bytes(data: &[u8]) -> (PoolMode, Role, Vec<Op>) {
    let mode = match data.first().copied().unwrap_or(0) % 2 {
        0 => PoolMode::Transaction,
        _ => PoolMode::Session,
    };
    let role = Role::from_byte(data.get(1).copied().unwrap_or(0));
    let ops = data
        .get(2..)
        .unwrap_or_default()
        .chunks_exact(2)
        .take(160)
        .map(|c| op_from(c[0], c[1]))
        .collect();
    (mode, role, ops)
}

fn op_from(kind: u8, arg: u8) -> Op {
    match kind % 18 {
        0 | 1 => Op::Query(arg, (kind & 0x80 != 0).then_some(arg / 7)),
        2 | 3 => Op::Parse {
            name: arg % 4,
            text: arg / 4,
        },
        4 => Op::Bind {
            portal: arg % 3,
            statement: arg / 3,
        },
        5 => Op::Describe {
            statement: arg.is_multiple_of(2),
            name: arg / 2,
        },
        6 | 7 => Op::Execute {
            portal: arg % 3,
            max_rows: (arg / 3) % 4,
        },
        8 => Op::Close {
            statement: arg.is_multiple_of(2),
            name: arg / 2,
        },
        9 => Op::Sync,
        10 if arg & 1 == 0 => Op::Sync,
        10 => Op::NoWait,
        11 => Op::Flush,
        12 => Op::CopyData,
        13 => Op::CopyDone,
        14 => Op::CopyFail,
        15 => Op::Wait(arg % 40),
        16 => Op::FailNext,
        _ => match arg % 4 {
            0 => Op::NoticeNext,
            1 => Op::PinOff,
            3 => Op::Neighbour,
            _ if arg & 0x80 != 0 => Op::ServerJunk(JUNK[usize::from(arg) % JUNK.len()]),
            _ => Op::Reload(Role::from_byte(arg / 3)),
        },
    }
}

/// The client bytes of `op` (none for the server's perturbations and waits).
fn client_bytes(op: &Op) -> Option<BytesMut> {
    Some(match op {
        Op::Query(a, b) => match b {
            Some(b) => f::query(&format!("{}; {}", text(*a), text(*b))),
            None => f::query(text(*a)),
        },
        Op::Parse { name: n, text: t } => f::parse(name(*n), text(*t)),
        Op::Bind { portal, statement } => f::bind(name(*portal), name(*statement)),
        Op::Describe { statement, name: n } => {
            f::describe(if *statement { b'S' } else { b'P' }, name(*n))
        }
        Op::Execute { portal, max_rows } => f::execute(name(*portal), i32::from(*max_rows)),
        Op::Close { statement, name: n } => {
            f::close(if *statement { b'S' } else { b'P' }, name(*n))
        }
        Op::Sync => f::sync(),
        Op::Flush => f::flush(),
        Op::CopyData => f::copy_data(b"7\n"),
        Op::CopyDone => f::copy_done(),
        Op::CopyFail => f::copy_fail(),
        Op::Wait(_)
        | Op::FailNext
        | Op::NoticeNext
        | Op::PinOff
        | Op::Reload(_)
        | Op::ServerJunk(_)
        | Op::NoWait
        | Op::Neighbour => return None,
    })
}

/// Run one case on a paused clock; `Err` names the first property that failed.
pub fn run(mode: PoolMode, role: Role, ops: Vec<Op>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(drive(mode, role, ops))
}

#[path = "wire_fuzz_drive.rs"]
pub(super) mod drive_impl;
#[path = "wire_fuzz_neighbour.rs"]
mod neighbour;
use drive_impl::drive;
