//! Sequence state under transaction pooling: `currval` and `lastval` answer from what
//! `nextval` left on a server connection, which other clients share. A client reads its own
//! value when its server is the one its `nextval` ran on and nobody else's unit ran there
//! since, and otherwise PostgreSQL's own "not yet defined in this session" (55000): never
//! another client's value or a stale one of its own. Within one unit the value is always
//! the unit's own, on whatever server.

use pgward_e2e::proxy::CAROL;
use pgward_e2e::upstream;
use pgward_e2e::*;
use pgward_e2e::{raw, wire};
use tokio_postgres::Client;

/// The first row of a simple Query as text (NULL as ""), or its SQLSTATE.
async fn row_or_code(c: &Client, sql: &str) -> Result<Vec<String>, String> {
    match simple_rows(c, sql).await {
        Ok(rows) => Ok(rows
            .into_iter()
            .next()
            .map(|r| r.into_iter().map(Option::unwrap_or_default).collect())
            .unwrap_or_default()),
        Err(e) => Err(sqlstate(&e)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_never_reads_another_clients_sequence_values() {
    let up = upstream::shared();
    let db = up.fresh_db("seqs");
    // One server: every client's units run on it, one after another.
    let proxy = tx_proxy(1);
    let a = connect(&proxy, CAROL.0, &db).await;
    let b = connect(&proxy, CAROL.0, &db).await;
    a.simple_query("CREATE SEQUENCE s").await.unwrap();
    assert_eq!(
        row_or_code(&a, "SELECT nextval('s')").await,
        Ok(vec!["1".into()])
    );
    // Nobody else ran anything since: the client's own value, in a later transaction.
    assert_eq!(
        row_or_code(&a, "SELECT currval('s')").await,
        Ok(vec!["1".into()])
    );
    assert_eq!(
        row_or_code(&a, "SELECT lastval()").await,
        Ok(vec!["1".into()])
    );
    // b never called nextval: what PostgreSQL says in a session of its own, not a's value.
    assert_eq!(
        row_or_code(&b, "SELECT currval('s')").await,
        Err("55000".into())
    );
    assert_eq!(
        row_or_code(&b, "SELECT lastval()").await,
        Err("55000".into())
    );
    // The same through the extended protocol (Parse, Bind, Execute).
    let next: i64 = a
        .query_one("SELECT nextval('s')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 2);
    let err = b
        .query_one("SELECT currval('s') + 0", &[])
        .await
        .expect_err("b's currval");
    assert_eq!(sqlstate(&err), "55000", "{}", describe(&err));
    // After a reader in a transaction block, still PostgreSQL's answer.
    b.simple_query("BEGIN").await.unwrap();
    assert_eq!(
        row_or_code(&b, "SELECT 1 AS one, currval('s')").await,
        Err("55000".into())
    );
    b.simple_query("ROLLBACK").await.unwrap();
    // Within one unit the value is the unit's own, whoever used the server before.
    let both = row_or_code(&b, "SELECT nextval('s') AS n, currval('s') AS c").await;
    let both = both.expect("nextval and currval in one statement");
    assert_eq!(both[0], both[1]);
    a.simple_query("BEGIN").await.unwrap();
    let n = row_or_code(&a, "SELECT nextval('s')").await.unwrap();
    assert_eq!(row_or_code(&a, "SELECT currval('s')").await.unwrap(), n);
    a.simple_query("COMMIT").await.unwrap();
    let n: i64 = n[0].parse().unwrap();
    let values: Vec<String> =
        simple_rows(&b, "SELECT nextval('s'); SELECT currval('s'), lastval()")
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(Option::unwrap_or_default)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
    let m = n + 1;
    assert_eq!(values, vec![format!("{m}"), format!("{m},{m}")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_never_reads_its_own_stale_value_from_another_server() {
    let up = upstream::shared();
    let db = up.fresh_db("seqstale");
    let proxy = tx_proxy(2);
    let a = connect(&proxy, CAROL.0, &db).await;
    let h = connect(&proxy, CAROL.0, &db).await;
    a.simple_query("CREATE SEQUENCE s").await.unwrap();
    let first = row_or_code(&a, "SELECT nextval('s'), pg_backend_pid()")
        .await
        .unwrap();
    // h holds that server (the pool hands out the most recently released one first) ...
    h.simple_query("BEGIN").await.unwrap();
    let held = row_or_code(&h, "SELECT pg_backend_pid()").await.unwrap();
    assert_eq!(held[0], first[1], "h should hold a's last server");
    // ... so a's next value comes from the other server.
    let second = row_or_code(&a, "SELECT nextval('s'), pg_backend_pid()")
        .await
        .unwrap();
    assert_ne!(second[1], first[1], "a should be on the other server");
    h.simple_query("COMMIT").await.unwrap();
    // Back on the first server (released last): its value for a is stale.
    match row_or_code(&a, "SELECT currval('s')").await {
        Ok(v) => assert_eq!(v[0], second[0], "a read its stale value {first:?}"),
        Err(code) => assert_eq!(code, "55000"),
    }
    assert_usable(&a, "after currval").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_insert_then_currval_reads_its_own_value_and_a_leaver_leaves_nothing() {
    let up = upstream::shared();
    let db = up.fresh_db("seqleft");
    let proxy = tx_proxy(1);
    let a = connect(&proxy, CAROL.0, &db).await;
    let b = connect(&proxy, CAROL.0, &db).await;
    a.simple_query("CREATE SEQUENCE s; CREATE TABLE item (id serial, msg text)")
        .await
        .unwrap();
    assert_eq!(
        row_or_code(&a, "SELECT nextval('s')").await,
        Ok(vec!["1".into()])
    );
    // b's INSERT (its serial's nextval hidden in the default), then currval in its own
    // transaction, as PDO's lastInsertId does: b's value, on a server a used before.
    b.simple_query("INSERT INTO item (msg) VALUES ('x')")
        .await
        .unwrap();
    assert_eq!(
        row_or_code(&b, "SELECT currval('item_id_seq')").await,
        Ok(vec!["1".into()])
    );
    // a's value went with b's unit on that server: PostgreSQL's answer, not b's state.
    assert_eq!(
        row_or_code(&a, "SELECT currval('s')").await,
        Err("55000".into())
    );
    // A client that leaves inside a transaction leaves its value behind: not the next's.
    let c = connect(&proxy, CAROL.0, &db).await;
    c.simple_query("BEGIN").await.unwrap();
    assert_eq!(
        row_or_code(&c, "SELECT nextval('s')").await,
        Ok(vec!["2".into()])
    );
    drop(c);
    let d = connect(&proxy, CAROL.0, &db).await;
    assert_eq!(
        row_or_code(&d, "SELECT currval('s')").await,
        Err("55000".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_gets_the_server_its_value_is_on_when_it_is_idle() {
    let up = upstream::shared();
    let db = up.fresh_db("seqaff");
    let proxy = tx_proxy(2);
    let a = connect(&proxy, CAROL.0, &db).await;
    let h1 = connect(&proxy, CAROL.0, &db).await;
    let h2 = connect(&proxy, CAROL.0, &db).await;
    a.simple_query("CREATE SEQUENCE s").await.unwrap();
    // Both servers open.
    h1.simple_query("BEGIN").await.unwrap();
    h2.simple_query("BEGIN").await.unwrap();
    h1.simple_query("COMMIT").await.unwrap();
    h2.simple_query("COMMIT").await.unwrap();
    assert_eq!(
        row_or_code(&a, "SELECT nextval('s')").await,
        Ok(vec!["1".into()])
    );
    // h1 takes a's server (the most recently released), h2 the other; h2 gives its back
    // last, so the pool would hand out the other server next.
    h1.simple_query("BEGIN").await.unwrap();
    h2.simple_query("BEGIN").await.unwrap();
    h1.simple_query("COMMIT").await.unwrap();
    h2.simple_query("COMMIT").await.unwrap();
    // The reader is sent where a's value is.
    assert_eq!(
        row_or_code(&a, "SELECT currval('s')").await,
        Ok(vec!["1".into()])
    );
    assert_eq!(
        row_or_code(&a, "SELECT lastval()").await,
        Ok(vec!["1".into()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_keeps_the_protocol_state_of_the_client() {
    let up = upstream::shared();
    let db = up.fresh_db("seqproto");
    let proxy = tx_proxy(1);
    let a = connect(&proxy, CAROL.0, &db).await;
    a.simple_query("CREATE SEQUENCE s").await.unwrap();
    let mut r = proxy.raw_login(CAROL.0, &db).await;
    // A reader after a failed message of an unsynced batch: PostgreSQL skips it to the
    // Sync, and so does pgward (no round trip of its own that would wait forever).
    assert_eq!(
        row_or_code(&a, "SELECT nextval('s')").await,
        Ok(vec!["1".into()])
    );
    r.send(&wire::batch(&[
        wire::parse("", "SELECT 1/0"),
        wire::bind("", "", &[]),
        wire::execute("", 0),
        wire::flush(),
    ]))
    .await
    .unwrap();
    let mut before = Vec::new();
    loop {
        match r.read_msg(30).await {
            raw::ReadResult::Msg(m) if m.tag == b'E' => break,
            raw::ReadResult::Msg(m) => before.push(m.tag as char),
            other => panic!("expected the division's error after {before:?}: {other:?}"),
        }
    }
    assert_eq!(before.first(), Some(&'1'));
    r.send(&wire::batch(&[
        wire::parse("", "SELECT currval('s')"),
        wire::bind("", "", &[]),
        wire::execute("", 0),
        wire::sync(),
    ]))
    .await
    .unwrap();
    let got = r.until_ready(30).await;
    assert_eq!(wire::tags(&got), "Z", "{got:?}");
    // A suspended portal of the client's survives the clearing before a reader.
    assert_eq!(
        row_or_code(&a, "SELECT nextval('s')").await,
        Ok(vec!["2".into()])
    );
    r.send(&wire::batch(&[
        wire::parse("", "BEGIN"),
        wire::bind("", "", &[]),
        wire::execute("", 0),
        wire::parse("", "SELECT g FROM (VALUES (1), (2), (3), (4), (5)) v (g)"),
        wire::bind("", "", &[]),
        wire::execute("", 2),
        wire::sync(),
    ]))
    .await
    .unwrap();
    let got = r.until_ready(30).await;
    assert_eq!(wire::tags(&got), "12C12DDsZ", "{got:?}");
    // The clearing runs first (another client's value is there); the reader's own nextval
    // then gives the value its currval reads.
    r.send(&wire::batch(&[
        wire::parse("r", "SELECT nextval('s') = currval('s')"),
        wire::bind("rp", "r", &[]),
        wire::execute("rp", 0),
        wire::sync(),
    ]))
    .await
    .unwrap();
    let got = r.until_ready(30).await;
    assert_eq!(
        raw::rows(&got),
        vec![vec![Some("t".to_string())]],
        "{got:?}"
    );
    r.send(&wire::batch(&[wire::execute("", 2), wire::sync()]))
        .await
        .unwrap();
    let got = r.until_ready(30).await;
    assert_eq!(wire::tags(&got), "DDsZ", "{got:?}");
    assert_eq!(
        raw::rows(&got),
        vec![vec![Some("3".to_string())], vec![Some("4".to_string())]]
    );
}
