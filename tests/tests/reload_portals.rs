//! Portals and SQL cursors across a policy reload: PostgreSQL runs a portal's plan at every
//! Execute or FETCH, so one bound or declared before the role's rules changed is judged again
//! from its own text under the new rules (a write portal bound by a role made read-only is
//! refused; a cursor's rows are masked as the new masking says), in both pool modes.

use std::time::Duration;

use pgward_e2e::proxy::{ALICE, CAROL};
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::*;

const WAIT: Duration = Duration::from_secs(15);

fn reload(proxy: &Proxy, builder: &ProxyBuilder) {
    tokio::task::block_in_place(|| proxy.reload_with(builder, WAIT));
}

async fn write_portal_bound_before_a_downgrade_is_refused_after_it(mode: &str) {
    let up = upstream::shared();
    let table = up.numbered_table(&format!("reload_portal_{mode}"), 10);
    let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
    let mut c = connect(&proxy, CAROL.0, APP_DB).await;
    let tx = c.transaction().await.expect("BEGIN");
    let update = format!("UPDATE {table} SET v = v + 1 WHERE id = 1 RETURNING v");
    let write = tx
        .bind(update.as_str(), &[])
        .await
        .expect("Bind the UPDATE");
    let read = (tx
        .bind(format!("SELECT v FROM {table} WHERE id = 1").as_str(), &[])
        .await)
        .expect("Bind the SELECT");

    let read_only = proxy.builder().role("admin", "access", "read-only");
    reload(&proxy, &read_only);
    // What the new rules allow still runs.
    let rows = tx.query_portal(&read, 0).await.expect("the SELECT portal");
    assert_eq!(rows.len(), 1);
    let e = tx
        .query_portal(&write, 0)
        .await
        .expect_err("a write portal bound before the role became read-only ran after it");
    assert_eq!(sqlstate(&e), "42501", "{mode}: {}", describe(&e));
    assert!(!describe(&e).contains("cannot judge"), "{}", describe(&e));
    let _ = tx.commit().await;
    assert_usable(&c, "after the refusal").await;
    let v = up.sql(APP_DB, &format!("SELECT v FROM {table} WHERE id = 1"));
    assert_eq!(v.trim(), "0", "{mode}: the refused Execute wrote");

    // A row-locking cursor declared before the downgrade: FETCH judged by its DECLARE now.
    simple_rows(&c, "BEGIN").await.expect("BEGIN");
    let writer = proxy.builder();
    reload(&proxy, &writer);
    simple_rows(
        &c,
        &format!("DECLARE l CURSOR FOR SELECT v FROM {table} FOR UPDATE"),
    )
    .await
    .expect("DECLARE while read-write");
    reload(&proxy, &read_only);
    let e = simple_rows(&c, "FETCH 1 FROM l")
        .await
        .expect_err("a FOR UPDATE cursor declared before the downgrade was fetched after it");
    assert_eq!(sqlstate(&e), "42501", "{mode} FETCH: {}", describe(&e));
    simple_rows(&c, "ROLLBACK").await.expect("ROLLBACK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_portal_bound_before_a_downgrade_is_refused_after_it_transaction_mode() {
    write_portal_bound_before_a_downgrade_is_refused_after_it("transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_portal_bound_before_a_downgrade_is_refused_after_it_session_mode() {
    write_portal_bound_before_a_downgrade_is_refused_after_it("session").await;
}

async fn cursor_declared_before_masking_changed_is_masked_after_it(mode: &str) {
    let up = upstream::shared();
    let db = up.fresh_db("reload_cursor_mask");
    let clear = "lee.cursor@leakcheck.test";
    up.sql(
        &db,
        &format!("UPDATE users SET email = '{clear}', phone = '555-0101' WHERE id = 1"),
    );
    let masking = |column: &str| {
        ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .masking_users(column)
    };
    let proxy = masking("phone").start();
    let c = connect(&proxy, ALICE.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    let query = "SELECT email, id, phone FROM users WHERE id = 1";
    simple_rows(&c, "BEGIN").await.expect("BEGIN");
    simple_rows(&c, &format!("DECLARE cur SCROLL CURSOR FOR {query}"))
        .await
        .expect("DECLARE");
    let before = simple_rows(&c, "FETCH FIRST FROM cur")
        .await
        .expect("FETCH");
    assert_eq!(before[0][0].as_deref(), Some(clear));
    assert_ne!(before[0][2].as_deref(), Some("555-0101"), "phone in clear");
    let parsed = c.prepare(query).await.expect("Parse");

    reload(&proxy, &masking("email"));
    let after = simple_rows(&c, "FETCH FIRST FROM cur")
        .await
        .expect("FETCH after");
    let email = after[0][0].clone().unwrap_or_default();
    assert!(
        !email.contains("lee.cursor"),
        "{mode}: the cursor leaked after the reload: {email}"
    );
    // The cursor's own plan under the new rules, not every column masked for want of one.
    assert_eq!(after[0][1].as_deref(), Some("1"), "{mode}: {after:?}");
    assert_eq!(
        after[0][2].as_deref(),
        Some("555-0101"),
        "{mode}: {after:?}"
    );
    simple_rows(&c, "COMMIT").await.expect("COMMIT");
    // A statement parsed before the reload is judged again too (its own path).
    let rows = c.query(&parsed, &[]).await.expect("Execute after");
    let email: String = rows[0].get(0);
    assert!(!email.contains("lee.cursor"), "{mode}: leaked: {email}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_declared_before_masking_changed_is_masked_after_it_transaction_mode() {
    cursor_declared_before_masking_changed_is_masked_after_it("transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_declared_before_masking_changed_is_masked_after_it_session_mode() {
    cursor_declared_before_masking_changed_is_masked_after_it("session").await;
}

/// A protocol portal over masked rows, bound before masking changed and run after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_bound_before_masking_changed_is_masked_after_it() {
    let up = upstream::shared();
    let db = up.fresh_db("reload_portal_mask");
    let clear = "ray.portal@leakcheck.test";
    up.sql(
        &db,
        &format!("UPDATE users SET email = '{clear}' WHERE id = 1"),
    );
    let masking = |column: &str| {
        ProxyBuilder::new(up.port())
            .pool_mode("transaction")
            .masking_users(column)
    };
    let proxy = masking("phone").start();
    let mut c = connect(&proxy, ALICE.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    let tx = c.transaction().await.expect("BEGIN");
    let portal = (tx
        .bind("SELECT email, id FROM users WHERE id = 1", &[])
        .await)
        .expect("Bind");
    reload(&proxy, &masking("email"));
    let rows = tx.query_portal(&portal, 0).await.expect("Execute after");
    let email: String = rows[0].get(0);
    assert!(!email.contains("ray.portal"), "the portal leaked: {email}");
    let id: i32 = rows[0].get(1);
    assert_eq!(id, 1);
    tx.commit().await.expect("COMMIT");
}

/// Protocol portals bound before a downgrade: a FETCH portal over a bound write portal runs
/// what it fetches, so both are judged again at its Execute; a Describe of the write portal
/// shows nothing of it either.
async fn fetch_portal_over_a_write_portal_is_refused_after_a_downgrade(mode: &str) {
    use pgward_e2e::raw::{first_error, RawConn};
    use pgward_e2e::wire::{batch, bind, describe, execute, parse, sync, tags};
    let up = upstream::shared();
    let table = up.numbered_table(&format!("reload_fetch_portal_{mode}"), 10);
    let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
    let mut c = RawConn::startup(proxy.addr(), CAROL.0, CAROL.1, APP_DB, &[])
        .await
        .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()));
    let update = format!("UPDATE {table} SET v = v + 1 WHERE id = 1 RETURNING v");
    c.simple_query("BEGIN").await;
    c.send(&batch(&[
        parse("", &update),
        bind("w", "", &[]),
        parse("", "FETCH ALL FROM w"),
        bind("f", "", &[]),
        sync(),
    ]))
    .await
    .expect("send");
    let bound = c.until_ready(30).await;
    assert!(first_error(&bound).is_none(), "{mode}: {}", tags(&bound));
    c.simple_query("SAVEPOINT s").await;

    let read_only = proxy.builder().role("admin", "access", "read-only");
    reload(&proxy, &read_only);
    c.send(&batch(&[describe(b'P', "w"), sync()]))
        .await
        .expect("send");
    let described = c.until_ready(30).await;
    let code = first_error(&described).and_then(|e| e.code());
    assert_eq!(
        code.as_deref(),
        Some("42501"),
        "{mode}: {}",
        tags(&described)
    );
    assert!(!tags(&described).contains('T'), "{mode}: columns shown");
    c.simple_query("ROLLBACK TO SAVEPOINT s").await;
    c.send(&batch(&[execute("f", 0), sync()]))
        .await
        .expect("send");
    let fetched = c.until_ready(30).await;
    let code = first_error(&fetched).and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("42501"), "{mode}: {}", tags(&fetched));
    c.simple_query("ROLLBACK TO SAVEPOINT s").await;
    c.simple_query("COMMIT").await;
    let v = up.sql(APP_DB, &format!("SELECT v FROM {table} WHERE id = 1"));
    assert_eq!(
        v.trim(),
        "0",
        "{mode}: the write ran through the FETCH portal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_portal_over_a_write_portal_is_refused_after_a_downgrade_transaction_mode() {
    fetch_portal_over_a_write_portal_is_refused_after_a_downgrade("transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_portal_over_a_write_portal_is_refused_after_a_downgrade_session_mode() {
    fetch_portal_over_a_write_portal_is_refused_after_a_downgrade("session").await;
}

/// A WITH HOLD cursor rolled back leaves its name free on the server: the cursor declared
/// under it again is the one judged again after a reload, not the one rolled back.
async fn cursor_declared_again_after_a_rollback_is_the_one_judged(mode: &str) {
    let up = upstream::shared();
    let db = up.fresh_db("reload_cursor_again");
    up.sql(
        &db,
        "UPDATE users SET phone = '555-0199', ssn = '000-12-3456' WHERE id = 1",
    );
    let masking = |column: &str| {
        ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .masking_users(column)
    };
    let proxy = masking("email").start();
    let c = connect(&proxy, ALICE.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    simple_rows(&c, "BEGIN").await.expect("BEGIN");
    let declare = "DECLARE h CURSOR WITH HOLD FOR SELECT id, phone FROM users WHERE id = 1";
    simple_rows(&c, declare).await.expect("DECLARE");
    simple_rows(&c, "ROLLBACK").await.expect("ROLLBACK");
    simple_rows(
        &c,
        "DECLARE h CURSOR WITH HOLD FOR SELECT id, ssn || '' AS x FROM users WHERE id = 1",
    )
    .await
    .expect("DECLARE again, the first one rolled back");
    reload(&proxy, &masking("ssn"));
    let rows = simple_rows(&c, "FETCH ALL FROM h").await.expect("FETCH");
    let x = rows[0][1].clone().unwrap_or_default();
    assert!(!x.contains("12-3456"), "{mode}: the ssn leaked: {rows:?}");
    simple_rows(&c, "CLOSE h").await.expect("CLOSE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_declared_again_after_a_rollback_is_the_one_judged_transaction_mode() {
    cursor_declared_again_after_a_rollback_is_the_one_judged("transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_declared_again_after_a_rollback_is_the_one_judged_session_mode() {
    cursor_declared_again_after_a_rollback_is_the_one_judged("session").await;
}
