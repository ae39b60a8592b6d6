//! Arbitrary client pipelines (Parse/Bind/Close/Sync and simple Queries that open, end or
//! fail transaction blocks; failures anywhere, any interleaving with the server's answers)
//! against the session's pure core and a model of PostgreSQL: a name must mean to pgward
//! what it means to the server, a server is given back to the pool only idle ('I') and
//! clean (nothing owed, nothing skipped, nothing unread), and nothing may grow without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = pgward::session::model::run(pgward::session::model::ops_from_bytes(data)) {
        panic!("{e}");
    }
});
