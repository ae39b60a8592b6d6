//! The whole session (decision point, reply queue, guard, row limit, timers, pool) over
//! in-memory pipes on tokio's paused clock, driven with arbitrary client frame sequences
//! against a PostgreSQL that speaks the wire, whose answers the input perturbs: no panic, no
//! write of a read-only role, no guarded write past its limit committed, a server in the
//! pool only idle and clean, every Sync answered (`pgward::session::wire_fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgward::session::wire_fuzz;

fuzz_target!(|data: &[u8]| {
    let (mode, role, ops) = wire_fuzz::case_from_bytes(data);
    if let Err(e) = wire_fuzz::run(mode, role, ops) {
        panic!("{e}");
    }
});
