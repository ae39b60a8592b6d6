//! SQL `PREPARE`d statements across a policy reload: PostgreSQL runs what was prepared, so an
//! `EXECUTE` after the role's rules changed is judged by the PREPARE's own text under the new
//! rules (a write prepared by a role made read-only is refused; a SELECT prepared before
//! masking applied is masked), whether the PREPARE came by the simple or the extended
//! protocol, in both pool modes.

use std::time::Duration;

use pgward_e2e::proxy::{ALICE, CAROL};
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::*;

const WAIT: Duration = Duration::from_secs(15);

fn reload(proxy: &Proxy, builder: &ProxyBuilder) {
    proxy.rewrite_config(builder);
    proxy.signal("HUP");
    tokio::task::block_in_place(|| proxy.wait_log(&["configuration reloaded"], WAIT));
}

async fn write_prepared_before_a_downgrade_is_refused_after_it(mode: &str) {
    let up = upstream::shared();
    let table = up.numbered_table(&format!("reload_prep_{mode}"), 10);
    let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
    let c = connect(&proxy, CAROL.0, APP_DB).await;
    let update = format!("UPDATE {table} SET v = v + 1 WHERE id = 1");
    // By the simple protocol, alone and in a string with another statement; and by the
    // extended protocol (the unnamed statement's text).
    simple_rows(&c, &format!("PREPARE w1 AS {update}"))
        .await
        .expect("PREPARE w1");
    simple_rows(&c, &format!("SELECT 1; PREPARE w2 AS {update}"))
        .await
        .expect("PREPARE w2");
    c.execute(&format!("PREPARE w3 AS {update}"), &[])
        .await
        .expect("PREPARE w3");
    simple_rows(&c, "PREPARE r1 AS SELECT 1")
        .await
        .expect("PREPARE r1");
    for name in ["w1", "w2", "w3"] {
        simple_rows(&c, &format!("EXECUTE {name}"))
            .await
            .unwrap_or_else(|e| panic!("EXECUTE {name} before the reload: {}", describe(&e)));
    }
    assert_eq!(up.changed_rows(&table), "1");
    let v = up.sql(APP_DB, &format!("SELECT v FROM {table} WHERE id = 1"));
    assert_eq!(v.trim(), "3");
    // A driver's cached statement over the EXECUTE, parsed before the reload, bound after.
    let cached = c.prepare("EXECUTE w1").await.expect("Parse EXECUTE w1");

    let read_only = proxy.builder().role("admin", "access", "read-only");
    reload(&proxy, &read_only);
    for name in ["w1", "w2", "w3"] {
        let e = simple_rows(&c, &format!("EXECUTE {name}"))
            .await
            .expect_err("a write prepared before the role became read-only ran after it");
        assert_eq!(sqlstate(&e), "42501", "{mode} {name}: {}", describe(&e));
        // Refused by the rule that refuses the write now, not for want of its text.
        assert!(
            !describe(&e).contains("cannot tell"),
            "{mode} {name}: {}",
            describe(&e)
        );
        let e = c
            .execute(&format!("EXECUTE {name}"), &[])
            .await
            .expect_err("extended EXECUTE ran");
        assert_eq!(
            sqlstate(&e),
            "42501",
            "{mode} {name} extended: {}",
            describe(&e)
        );
    }
    let e = c
        .execute(&cached, &[])
        .await
        .expect_err("a statement parsed before the reload ran the write after it");
    assert_eq!(sqlstate(&e), "42501", "{mode} cached: {}", describe(&e));
    // What the new rules allow still runs, and the session goes on.
    assert_eq!(simple_value(&c, "EXECUTE r1").await, "1");
    assert_usable(&c, "after the refusals").await;
    let rows = up.sql(APP_DB, &format!("SELECT v FROM {table} WHERE id = 1"));
    assert_eq!(rows.trim(), "3", "{mode}: the refused EXECUTEs wrote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_prepared_before_a_downgrade_is_refused_after_it_transaction_mode() {
    write_prepared_before_a_downgrade_is_refused_after_it("transaction").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_prepared_before_a_downgrade_is_refused_after_it_session_mode() {
    write_prepared_before_a_downgrade_is_refused_after_it("session").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_select_prepared_before_masking_applied_is_masked_after_it() {
    let up = upstream::shared();
    let db = up.fresh_db("reload_mask");
    let clear = "kim.reload@leakcheck.test";
    up.sql(
        &db,
        &format!("UPDATE users SET email = '{clear}' WHERE id = 1"),
    );
    let masked = ProxyBuilder::new(up.port())
        .set("masking", "columns", vec!["public.users.email".to_string()])
        .set("masking", "strategy", "redact")
        .pool_mode("session");
    let proxy = masked.clone().role("engineer", "unmasked", true).start();
    let c = connect(&proxy, ALICE.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    simple_rows(&c, "PREPARE m AS SELECT email, id FROM users WHERE id = 1")
        .await
        .expect("PREPARE m");
    // A second PREPARE of the name fails (42P05): its text is no candidate.
    simple_rows(&c, "PREPARE m AS SELECT id FROM users")
        .await
        .expect_err("PREPARE of a name the server has");
    let before = simple_rows(&c, "EXECUTE m")
        .await
        .expect("EXECUTE m before");
    assert_eq!(before[0][0].as_deref(), Some(clear));

    reload(&proxy, &masked);
    // The statement's own plan under the new rules: the email masked, the id as it is (not
    // every column masked for want of a plan).
    let after = simple_rows(&c, "EXECUTE m").await.expect("EXECUTE m after");
    let email = after[0][0].clone().unwrap_or_default();
    assert!(
        !email.contains("kim.reload"),
        "leaked after the reload: {email}"
    );
    assert_eq!(
        after[0][1].as_deref(),
        Some("1"),
        "the id was masked too: {after:?}"
    );
}

/// A PREPARE that failed (in an aborted transaction) and one of the same name that ran: the
/// server holds one of them, so both are judged again after a reload. Before it, the one that
/// ran runs (a mistyped PREPARE and its corrected one are ordinary psql use).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_text_a_name_was_prepared_with_is_judged_after_a_reload() {
    let up = upstream::shared();
    let table = up.numbered_table("reload_prep_twice", 10);
    let proxy = ProxyBuilder::new(up.port()).pool_mode("session").start();
    let c = connect(&proxy, CAROL.0, APP_DB).await;
    let update = format!("UPDATE {table} SET v = v + 1 WHERE id = 1");
    simple_rows(&c, "BEGIN").await.expect("BEGIN");
    simple_rows(&c, "SELECT 1/0")
        .await
        .expect_err("division by zero");
    simple_rows(&c, "PREPARE p AS SELECT 1")
        .await
        .expect_err("a PREPARE in an aborted transaction");
    simple_rows(&c, "ROLLBACK").await.expect("ROLLBACK");
    simple_rows(&c, &format!("PREPARE p AS {update}"))
        .await
        .expect("PREPARE p");
    simple_rows(&c, "PREPARE typo AS SELECT 'x'::int")
        .await
        .expect_err("a mistyped PREPARE");
    simple_rows(&c, "PREPARE typo AS SELECT 7")
        .await
        .expect("the corrected PREPARE");
    assert_eq!(simple_value(&c, "EXECUTE typo").await, "7");
    simple_rows(&c, "EXECUTE p").await.expect("EXECUTE p");
    assert_eq!(up.changed_rows(&table), "1");

    let read_only = proxy.builder().role("admin", "access", "read-only");
    reload(&proxy, &read_only);
    let e = simple_rows(&c, "EXECUTE p")
        .await
        .expect_err("a write among the texts of p ran after the downgrade");
    assert_eq!(sqlstate(&e), "42501", "{}", describe(&e));
    assert_eq!(simple_value(&c, "EXECUTE typo").await, "7");
    let v = up.sql(APP_DB, &format!("SELECT v FROM {table} WHERE id = 1"));
    assert_eq!(v.trim(), "1");
}

/// A DEALLOCATE or DISCARD ALL that failed leaves the statement on the server: its text is
/// still judged after a reload. One that succeeded takes the old text with it: the name's
/// new statement is judged alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_deallocate_that_succeeded_forgets_a_text() {
    let up = upstream::shared();
    let table = up.numbered_table("reload_prep_dealloc", 10);
    let proxy = ProxyBuilder::new(up.port()).pool_mode("session").start();
    let c = connect(&proxy, CAROL.0, APP_DB).await;
    let update = format!("UPDATE {table} SET v = v + 1 WHERE id = 1");
    for name in ["kept", "gone"] {
        simple_rows(&c, &format!("PREPARE {name} AS {update}"))
            .await
            .expect("PREPARE");
    }
    simple_rows(&c, "SELECT 1/0; DEALLOCATE kept")
        .await
        .expect_err("the string stops before its DEALLOCATE");
    simple_rows(&c, "BEGIN").await.expect("BEGIN");
    simple_rows(&c, "DISCARD ALL")
        .await
        .expect_err("DISCARD ALL inside a transaction block");
    simple_rows(&c, "ROLLBACK").await.expect("ROLLBACK");
    simple_rows(&c, "DEALLOCATE gone")
        .await
        .expect("DEALLOCATE gone");
    simple_rows(&c, "PREPARE gone AS SELECT 5")
        .await
        .expect("PREPARE gone again");

    let read_only = proxy.builder().role("admin", "access", "read-only");
    reload(&proxy, &read_only);
    let e = simple_rows(&c, "EXECUTE kept")
        .await
        .expect_err("a write whose DEALLOCATE failed ran after the downgrade");
    assert_eq!(sqlstate(&e), "42501", "{}", describe(&e));
    assert_eq!(simple_value(&c, "EXECUTE gone").await, "5");
    assert_eq!(up.changed_rows(&table), "0");
}
