//! Arbitrary server messages (ReadyForQuery with any status, messages nothing asked for)
//! against an arbitrary queue of expected replies and the sync-point ledger: no panic, the
//! queue and the statement table never grow from what a server sends, and the server is
//! never releasable while the queue says something is owed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map(|b| usize::from(*b) % (data.len().max(1))).unwrap_or(0);
    let (sent, tags) = data.split_at(split);
    assert!(pgward::session::model::arbitrary_server(sent, tags));
});
