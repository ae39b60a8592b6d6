//! A SQL `DECLARE` takes effect when it runs: what pgward keeps for a cursor (the decision
//! it is judged again from after a reload, its row count) follows the DECLAREs the server
//! ran, not a DECLARE whose name was closed and bound again since it was sent, nor a cursor
//! merely run again by a protocol Execute of its portal. Both pool modes.

use std::time::Duration;

use pgward_e2e::proxy::{ALICE, CAROL};
use pgward_e2e::raw::{first_error, query_frame, rows, RawConn};
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::wire::{batch, bind, close, execute, parse, sync, tags, until_ready_n};
use pgward_e2e::*;

const WAIT: Duration = Duration::from_secs(15);

fn reload(proxy: &Proxy, builder: &ProxyBuilder) {
    tokio::task::block_in_place(|| proxy.reload_with(builder, WAIT));
}

async fn login(proxy: &Proxy) -> RawConn {
    RawConn::startup(proxy.addr(), CAROL.0, CAROL.1, APP_DB, &[])
        .await
        .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()))
}

/// The role made read-only, `FETCH ALL FROM <portal>` (a write bound before) is refused and
/// `table` (row 1's `v` at 0) is unchanged once the block rolls back.
async fn fetch_refused_after_a_downgrade(
    proxy: &Proxy,
    c: &mut RawConn,
    portal: &str,
    table: &str,
    mode: &str,
) {
    let read_only = proxy.builder().role("admin", "access", "read-only");
    reload(proxy, &read_only);
    let fetched = c.simple_query(&format!("FETCH ALL FROM {portal}")).await;
    let code = first_error(&fetched).and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("42501"), "{mode}: {}", tags(&fetched));
    c.simple_query("ROLLBACK").await;
    let v = upstream::shared().sql(APP_DB, &format!("SELECT v FROM {table} WHERE id = 1"));
    assert_eq!(v.trim(), "0", "{mode}: the write bound to {portal} ran");
}

/// `DECLARE c; CLOSE c` and a write bound to portal `c`, pipelined: the DECLARE's answer,
/// read after the Bind was sent, must not put the closed cursor back over the write.
async fn a_declare_answered_late_does_not_replace_a_portal_bound_since(mode: &str) {
    let up = upstream::shared();
    let table = up.numbered_table(&format!("declare_late_{mode}"), 10);
    let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
    let mut c = login(&proxy).await;
    let update = format!("UPDATE {table} SET v = v + 1 WHERE id = 1 RETURNING v");
    let mut out = query_frame("BEGIN; DECLARE c CURSOR FOR SELECT 1; CLOSE c");
    out.extend(batch(&[parse("", &update), bind("c", "", &[]), sync()]));
    c.send(&out).await.expect("send");
    let answered = until_ready_n(&mut c, 2, 30).await;
    assert!(
        first_error(&answered).is_none(),
        "{mode}: {}",
        tags(&answered)
    );

    fetch_refused_after_a_downgrade(&proxy, &mut c, "c", &table, mode).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declare_answered_late_does_not_replace_a_portal_bound_since_transaction_mode() {
    a_declare_answered_late_does_not_replace_a_portal_bound_since("transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declare_answered_late_does_not_replace_a_portal_bound_since_session_mode() {
    a_declare_answered_late_does_not_replace_a_portal_bound_since("session").await;
}

/// A protocol Execute of cursor `b`, declared in one string with cursor `a`, runs `b`; it
/// declares nothing, so a later DECLARE's answer is not taken for a new `a` (whose row count
/// would start again).
async fn running_a_cursor_portal_declares_nothing(mode: &str) {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode(mode)
        .role("admin", "max_result_rows", 100)
        .start();
    let mut c = login(&proxy).await;
    c.simple_query("BEGIN").await;
    let declared = c
        .simple_query(
            "DECLARE a CURSOR FOR SELECT g FROM generate_series(1, 1000) g; \
             DECLARE b CURSOR FOR SELECT 1",
        )
        .await;
    assert!(
        first_error(&declared).is_none(),
        "{mode}: {}",
        tags(&declared)
    );
    let first = c.simple_query("FETCH 100 FROM a").await;
    assert_eq!(rows(&first).len(), 100, "{mode}: {}", tags(&first));
    c.send(&batch(&[
        execute("b", 0),
        parse("", "DECLARE z CURSOR FOR SELECT 1"),
        bind("", "", &[]),
        execute("", 0),
        sync(),
    ]))
    .await
    .expect("send");
    let ran = c.until_ready(30).await;
    assert!(first_error(&ran).is_none(), "{mode}: {}", tags(&ran));
    let second = c.simple_query("FETCH 100 FROM a").await;
    let code = first_error(&second).and_then(|e| e.code());
    assert_eq!(
        code.as_deref(),
        Some("54000"),
        "{mode}: cursor a's count started again: {} rows",
        rows(&second).len()
    );
    c.simple_query("ROLLBACK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_a_cursor_portal_declares_nothing_transaction_mode() {
    running_a_cursor_portal_declares_nothing("transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_a_cursor_portal_declares_nothing_session_mode() {
    running_a_cursor_portal_declares_nothing("session").await;
}

/// A protocol Execute of cursor `k`, declared after `CLOSE ALL` in one string, runs `k`: the
/// CLOSE ALL does not happen again, so a write portal bound since is still known, and judged
/// again after a downgrade.
async fn running_a_cursor_portal_closes_nothing(mode: &str) {
    let up = upstream::shared();
    let table = up.numbered_table(&format!("cursor_closes_nothing_{mode}"), 10);
    let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
    let mut c = login(&proxy).await;
    c.simple_query("BEGIN").await;
    let declared = c
        .simple_query("CLOSE ALL; DECLARE k CURSOR FOR SELECT 1 WHERE false")
        .await;
    assert!(
        first_error(&declared).is_none(),
        "{mode}: {}",
        tags(&declared)
    );
    let update = format!("UPDATE {table} SET v = v + 1 WHERE id = 1 RETURNING v");
    c.send(&batch(&[parse("", &update), bind("w", "", &[]), sync()]))
        .await
        .expect("send");
    let bound = c.until_ready(30).await;
    assert!(first_error(&bound).is_none(), "{mode}: {}", tags(&bound));
    c.send(&batch(&[execute("k", 0), sync()]))
        .await
        .expect("send");
    c.until_ready(30).await;
    fetch_refused_after_a_downgrade(&proxy, &mut c, "w", &table, mode).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_a_cursor_portal_closes_nothing_transaction_mode() {
    running_a_cursor_portal_closes_nothing("transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_a_cursor_portal_closes_nothing_session_mode() {
    running_a_cursor_portal_closes_nothing("session").await;
}

/// The cursor a DECLARE made is what pgward judges again after a reload, whatever else was
/// pipelined with it: a Close of its name the server skipped (an error before it), or a Bind
/// of its name that failed before the DECLARE was sent.
async fn the_cursor_a_declare_made_is_the_one_judged_again(mode: &str) {
    let up = upstream::shared();
    let db = up.fresh_db("declare_judged_again");
    up.sql(
        &db,
        "UPDATE users SET phone = '555-0123', ssn = '000-65-4321' WHERE id = 1",
    );
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode(mode)
        .masking_users("email")
        .start();
    let mut c = RawConn::startup(proxy.addr(), ALICE.0, ALICE.1, &db, &[])
        .await
        .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()));
    c.simple_query("SELECT 1").await;
    wait_for_catalog(&proxy).await;
    let leaky = "SELECT id, ssn || '' AS x FROM users WHERE id = 1";
    // A WITH HOLD cursor rolled back leaves its name free; DECLARE it again, then (pipelined)
    // an error and a Close of the name, which the server skips.
    c.simple_query("BEGIN").await;
    c.simple_query("DECLARE h CURSOR WITH HOLD FOR SELECT id, phone FROM users")
        .await;
    c.simple_query("ROLLBACK").await;
    let mut out = query_frame(&format!("DECLARE h CURSOR WITH HOLD FOR {leaky}"));
    out.extend(batch(&[
        parse("", "SELECT 1/0"),
        bind("", "", &[]),
        execute("", 0),
        close(b'P', "h"),
        sync(),
    ]));
    // A Bind of the name that fails, then a DECLARE of it.
    out.extend(batch(&[
        parse("", "SELECT $1::int"),
        bind("b", "", &[Some("x")]),
        sync(),
    ]));
    out.extend(query_frame(&format!(
        "DECLARE b CURSOR WITH HOLD FOR {leaky}"
    )));
    c.send(&out).await.expect("send");
    until_ready_n(&mut c, 4, 30).await;

    reload(
        &proxy,
        &ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .masking_users("ssn"),
    );
    for cursor in ["h", "b"] {
        let fetched = c.simple_query(&format!("FETCH ALL FROM {cursor}")).await;
        let got = rows(&fetched);
        assert_eq!(got.len(), 1, "{mode} {cursor}: {}", tags(&fetched));
        let x = got[0][1].clone().unwrap_or_default();
        assert!(
            !x.contains("65-4321"),
            "{mode} {cursor}: the ssn leaked: {got:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cursor_a_declare_made_is_the_one_judged_again_transaction_mode() {
    the_cursor_a_declare_made_is_the_one_judged_again("transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cursor_a_declare_made_is_the_one_judged_again_session_mode() {
    the_cursor_a_declare_made_is_the_one_judged_again("session").await;
}

/// A protocol Bind of the name of a WITH HOLD cursor that was rolled back: the server has no
/// such cursor any more and binds the portal; its rows are masked by the bound statement's
/// plan, not the dead cursor's.
async fn a_portal_bound_over_a_rolled_back_cursor_is_the_bound_statement(mode: &str) {
    let up = upstream::shared();
    let db = up.fresh_db("bind_over_dead_cursor");
    up.sql(&db, "UPDATE users SET ssn = '000-77-1234' WHERE id = 1");
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode(mode)
        .masking_users("ssn")
        .start();
    let mut c = RawConn::startup(proxy.addr(), ALICE.0, ALICE.1, &db, &[])
        .await
        .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()));
    c.simple_query("SELECT 1").await;
    wait_for_catalog(&proxy).await;
    c.simple_query("BEGIN").await;
    c.simple_query("DECLARE h CURSOR WITH HOLD FOR SELECT 1")
        .await;
    c.simple_query("ROLLBACK").await;
    c.send(&batch(&[
        parse("s", "SELECT ssn || '' AS x FROM users WHERE id = 1"),
        bind("h", "s", &[]),
        execute("h", 0),
        sync(),
    ]))
    .await
    .expect("send");
    let ran = c.until_ready(30).await;
    assert!(first_error(&ran).is_none(), "{mode}: {}", tags(&ran));
    let got = rows(&ran);
    assert_eq!(got.len(), 1, "{mode}: {}", tags(&ran));
    let x = got[0][0].clone().unwrap_or_default();
    assert!(!x.contains("77-1234"), "{mode}: the ssn leaked: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_bound_over_a_rolled_back_cursor_is_the_bound_statement_transaction_mode() {
    a_portal_bound_over_a_rolled_back_cursor_is_the_bound_statement("transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_bound_over_a_rolled_back_cursor_is_the_bound_statement_session_mode() {
    a_portal_bound_over_a_rolled_back_cursor_is_the_bound_statement("session").await;
}
