//! The session answers pipelines exactly as PostgreSQL does: scripted extended-protocol
//! batches with an error in the middle, simple Queries among them, and messages sent while
//! the server skips to the next Sync are run against PostgreSQL directly and through pgward
//! in both pool modes, and the replies must match message for message. Afterwards the
//! session must still be usable, must not be ended for idling in a transaction that
//! PostgreSQL does not have open, and (transaction pooling, one server) its server must be
//! back in the pool for another client: pgward's count of open batches and owed replies
//! is right.

use std::net::SocketAddr;
use std::time::Duration;

use pgward_e2e::proxy::{ALICE, DAVE};
use pgward_e2e::raw::{self, Msg, RawConn, ReadResult};
use pgward_e2e::upstream::{self, Upstream};
use pgward_e2e::wire::{self, bind, execute, flush, parse, sync};
use pgward_e2e::*;

const MODES: [&str; 2] = ["transaction", "session"];

fn query(sql: &str) -> Vec<u8> {
    raw::query_frame(sql)
}

/// Each script is a list of steps, each sent as one write and answered before the next.
fn scripts() -> Vec<(&'static str, Vec<Vec<Vec<u8>>>)> {
    let failing = || vec![parse("", "SELECT 1/0"), bind("", "", &[]), execute("", 0)];
    vec![
        (
            "two Queries after a failed Execute, then Sync",
            vec![[
                failing(),
                vec![query("SELECT 1"), query("SELECT 2"), sync()],
            ]
            .concat()],
        ),
        (
            "a Query after a failed Execute, then Sync",
            vec![[failing(), vec![query("SELECT 1"), sync()]].concat()],
        ),
        (
            "a failed Execute and Flush, then Parse/Query/Parse/Bind/Execute sent while the server skips, then Sync",
            vec![
                [failing(), vec![flush()]].concat(),
                vec![
                    parse("s1", "SELECT 1"),
                    query("SELECT 2"),
                    parse("s1", "SELECT 3"),
                    bind("", "s1", &[]),
                    execute("", 0),
                    sync(),
                ],
                vec![query("SELECT 4")],
            ],
        ),
        (
            "Queries inside a batch that succeeds",
            vec![vec![
                parse("", "SELECT 1"),
                bind("", "", &[]),
                execute("", 0),
                query("SELECT 2"),
                query("SELECT 3"),
                parse("", "SELECT 4"),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ]],
        ),
        // Malformed messages PostgreSQL refuses (08P01) and then skips to Sync.
        (
            "a Describe with bytes after its name, then Bind/Execute, Sync",
            vec![
                vec![
                    parse("s1", "SELECT 1"),
                    raw::frame(b'D', b"Ss1\0x"),
                    bind("", "s1", &[]),
                    execute("", 0),
                    sync(),
                ],
                vec![query("SELECT 2")],
            ],
        ),
        (
            "a Close of another kind than S or P, then Sync",
            vec![
                vec![parse("", "SELECT 1"), raw::frame(b'C', b"Q\0"), sync()],
                vec![query("SELECT 2")],
            ],
        ),
        (
            "a Close with bytes after its name, then Sync",
            vec![
                vec![raw::frame(b'C', b"Ss1\0\0"), sync()],
                vec![query("SELECT 2")],
            ],
        ),
    ]
}

/// The answer to one step as "tags/SQLSTATEs" (ParameterStatus and notices left out) and
/// its number of messages. PostgreSQL's (`expect` None) is everything it sends until quiet
/// for two seconds; pgward's is read up to as many messages as PostgreSQL sent (generous
/// time for each, whatever the machine's load), then anything more within half a second.
async fn answer(c: &mut RawConn, expect: Option<usize>) -> (String, usize) {
    let mut msgs: Vec<Msg> = Vec::new();
    let mut end = String::new();
    loop {
        let counted = msgs
            .iter()
            .filter(|m| !matches!(m.tag, b'S' | b'N'))
            .count();
        let read = match expect {
            Some(n) if counted < n => c.read_msg(20).await,
            Some(_) => match tokio::time::timeout(Duration::from_millis(500), c.read_msg(20)).await
            {
                Ok(r) => r,
                Err(_) => break,
            },
            None => match c.read_msg(2).await {
                ReadResult::TimedOut => break,
                r => r,
            },
        };
        match read {
            ReadResult::Msg(m) => msgs.push(m),
            other => {
                end = format!(" then {other:?}");
                break;
            }
        }
    }
    msgs.retain(|m| !matches!(m.tag, b'S' | b'N'));
    let text = format!(
        "{}/{}{end}",
        wire::tags(&msgs),
        wire::codes(&msgs).join(",")
    );
    (text, msgs.len())
}

/// Run the steps; with `expected` (PostgreSQL's answers), read as many messages per step.
async fn run(
    c: &mut RawConn,
    steps: &[Vec<Vec<u8>>],
    expected: Option<&[(String, usize)]>,
) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        c.send(&wire::batch(step)).await.expect("sending a step");
        let n = expected.and_then(|e| e.get(i)).map(|(_, n)| *n);
        out.push(answer(c, n).await);
    }
    out
}

async fn direct(up: &Upstream) -> RawConn {
    let addr: SocketAddr = ([127, 0, 0, 1], up.port()).into();
    RawConn::startup(
        addr,
        upstream::RO_USER,
        upstream::RO_PASSWORD,
        upstream::APP_DB,
        &[],
    )
    .await
    .unwrap_or_else(|e| panic!("direct startup refused: {:?}", e.message()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_with_errors_are_answered_as_postgresql_answers_them() {
    let up = upstream::shared();
    let mut expected = Vec::new();
    for (what, steps) in scripts() {
        let mut c = direct(up).await;
        expected.push((what, run(&mut c, &steps, None).await));
    }
    for mode in MODES {
        let mut builder = ProxyBuilder::new(up.port()).pool_mode(mode);
        if mode == "transaction" {
            // One server: a server not given back shows as another client waiting.
            builder = builder.set("pool", "size", 1);
        }
        let proxy = builder
            // Longer than a step's quiet second: an unsynced batch counts as open.
            .role("engineer", "idle_in_transaction_timeout", "3s")
            .start();
        for ((what, steps), (_, want)) in scripts().into_iter().zip(&expected) {
            let mut c = RawConn::startup(proxy.addr(), ALICE.0, ALICE.1, upstream::APP_DB, &[])
                .await
                .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()));
            let got = run(&mut c, &steps, Some(want.as_slice())).await;
            let texts =
                |v: &[(String, usize)]| v.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
            assert_eq!(
                texts(&got),
                texts(want),
                "{mode}: {what}: replies differ from PostgreSQL's"
            );
            // Nothing is open upstream: idling past idle_in_transaction_timeout is fine.
            tokio::time::sleep(Duration::from_millis(3_500)).await;
            let msgs = c.simple_query("SELECT 1").await;
            assert!(
                raw::first_error(&msgs).is_none(),
                "{mode}: {what}: session not usable afterwards: {}/{:?}",
                wire::tags(&msgs),
                wire::codes(&msgs)
            );
            if mode == "transaction" {
                let mut other =
                    RawConn::startup(proxy.addr(), DAVE.0, DAVE.1, upstream::APP_DB, &[])
                        .await
                        .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()));
                other
                    .send(&query("SELECT 1"))
                    .await
                    .expect("sending a query");
                let msgs = other.until_ready(15).await;
                assert!(
                    raw::first_error(&msgs).is_none(),
                    "{what}: the one server was not given back: {}/{:?}",
                    wire::tags(&msgs),
                    wire::codes(&msgs)
                );
            }
        }
    }
}
