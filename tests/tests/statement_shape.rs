//! A prepared statement whose result shape changed under it (DDL after PREPARE) fails with
//! PostgreSQL's own 0A000 "cached plan must not change result type" on every server of a
//! transaction pool, including one pgward prepares it on again afterwards: a driver that
//! cached the Describe's columns never decodes rows of another shape. Preparing the text
//! again gives the new shape. Clients holding servers in open transactions steer the client
//! onto the server that lacks its statement.

use pgward_e2e::proxy::CAROL;
use pgward_e2e::upstream;
use pgward_e2e::*;
use tokio_postgres::Client;

fn pool_of_two() -> Proxy {
    ProxyBuilder::new(upstream::shared().port())
        .pool_mode("transaction")
        .pool_size(2)
        .start()
}

async fn pid(c: &Client) -> String {
    simple_value(c, "SELECT pg_backend_pid()").await
}

/// `change` (DDL on table `t`, one int column `a` with one row) run after `a` prepared
/// `SELECT * FROM t` on one server; `a` then runs it on the other server, which lacks it.
async fn changed_under_a_replayed_statement(tag: &str, change: &str, columns_after: usize) {
    let up = upstream::shared();
    let db = up.fresh_db(tag);
    let proxy = pool_of_two();
    let admin = connect(&proxy, CAROL.0, &db).await;
    admin
        .batch_execute("CREATE TABLE t (a int); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let a = connect(&proxy, CAROL.0, &db).await;
    let holder = connect(&proxy, CAROL.0, &db).await;
    let other = connect(&proxy, CAROL.0, &db).await;

    holder.simple_query("BEGIN").await.unwrap();
    let held = pid(&holder).await;
    // `a` prepares (and Describes) on the other server.
    let first = a.prepare("SELECT * FROM t").await.unwrap();
    assert_eq!(a.query(&first, &[]).await.unwrap()[0].len(), 1);
    admin.batch_execute(change).await.unwrap();
    // The server `a` prepared on is held now; the one it never used is free.
    other.simple_query("BEGIN").await.unwrap();
    assert_ne!(pid(&other).await, held, "{tag}");
    holder.simple_query("COMMIT").await.unwrap();

    for round in ["on the server that lacked it", "again"] {
        match a.query(&first, &[]).await {
            Err(e) => assert_eq!(sqlstate(&e), "0A000", "{tag} {round}: {}", describe(&e)),
            Ok(rows) => panic!("{tag} {round}: ran with {} columns", rows[0].len()),
        }
    }
    other.simple_query("COMMIT").await.unwrap();
    match a.query(&first, &[]).await {
        Err(e) => assert_eq!(sqlstate(&e), "0A000", "{tag} anywhere: {}", describe(&e)),
        Ok(rows) => panic!("{tag} anywhere: ran with {} columns", rows[0].len()),
    }
    let again = a.prepare("SELECT * FROM t").await.unwrap();
    let rows = a
        .query(&again, &[])
        .await
        .unwrap_or_else(|e| panic!("{tag} prepared again: {}", describe(&e)));
    assert_eq!(rows[0].len(), columns_after, "{tag}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_column_fails_a_statement_prepared_before_it() {
    changed_under_a_replayed_statement("shape_add", "ALTER TABLE t ADD COLUMN b int", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_widened_column_fails_a_statement_prepared_before_it() {
    // Binary int4 read from an int8 column would be garbage, not an error.
    changed_under_a_replayed_statement("shape_type", "ALTER TABLE t ALTER COLUMN a TYPE bigint", 1)
        .await;
}

/// Nothing changed: a statement prepared again on the server that lacked it runs (the check
/// costs no error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_statement_runs_on_the_server_that_lacked_it() {
    let up = upstream::shared();
    let db = up.fresh_db("shape_same");
    let proxy = pool_of_two();
    let admin = connect(&proxy, CAROL.0, &db).await;
    admin
        .batch_execute("CREATE TABLE t (a int); INSERT INTO t VALUES (1); CREATE TABLE u (x int)")
        .await
        .unwrap();
    let a = connect(&proxy, CAROL.0, &db).await;
    let holder = connect(&proxy, CAROL.0, &db).await;
    let other = connect(&proxy, CAROL.0, &db).await;
    holder.simple_query("BEGIN").await.unwrap();
    let held = pid(&holder).await;
    let first = a.prepare("SELECT * FROM t").await.unwrap();
    let prepared_on = pid(&a).await;
    assert_ne!(prepared_on, held);
    // DDL elsewhere in the schema: the statement's own shape stays.
    admin
        .batch_execute("ALTER TABLE u ADD COLUMN y int")
        .await
        .unwrap();
    other.simple_query("BEGIN").await.unwrap();
    assert_eq!(pid(&other).await, prepared_on);
    holder.simple_query("COMMIT").await.unwrap();
    let rows = a
        .query(&first, &[])
        .await
        .unwrap_or_else(|e| panic!("unchanged: {}", describe(&e)));
    assert_eq!(rows[0].get::<_, i32>(0), 1);
    other.simple_query("COMMIT").await.unwrap();
}

/// The statement cannot be prepared again at all (its column was dropped): the client gets
/// PostgreSQL's error once, its Sync still reaches the server, and the server is released
/// with nothing held (a later DDL on the table does not wait on a lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_that_cannot_be_prepared_again_fails_and_leaves_nothing_held() {
    let up = upstream::shared();
    let db = up.fresh_db("shape_drop");
    let proxy = pool_of_two();
    let admin = connect(&proxy, CAROL.0, &db).await;
    admin
        .batch_execute("CREATE TABLE t (a int, b int); INSERT INTO t VALUES (1, 2)")
        .await
        .unwrap();
    let a = connect(&proxy, CAROL.0, &db).await;
    let holder = connect(&proxy, CAROL.0, &db).await;
    let other = connect(&proxy, CAROL.0, &db).await;
    holder.simple_query("BEGIN").await.unwrap();
    let first = a.prepare("SELECT a FROM t").await.unwrap();
    admin
        .batch_execute("ALTER TABLE t DROP COLUMN a")
        .await
        .unwrap();
    other.simple_query("BEGIN").await.unwrap();
    holder.simple_query("COMMIT").await.unwrap();
    match a.query(&first, &[]).await {
        Err(e) => assert_eq!(sqlstate(&e), "42703", "{}", describe(&e)),
        Ok(_) => panic!("a statement on a dropped column ran"),
    }
    // The session goes on, and the server it used holds nothing.
    assert_eq!(simple_value(&a, "SELECT 7").await, "7");
    other.simple_query("COMMIT").await.unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        admin.batch_execute("ALTER TABLE t ADD COLUMN c int"),
    )
    .await
    .expect("DDL waited on a lock the failed statement left")
    .unwrap();
    assert_eq!(simple_value(&a, "SELECT count(*) FROM t").await, "1");
}

/// DDL straight on the database (a migration tool, not through pgward), then another client
/// prepares the same text on the server that lacked it: that server's statement has the new
/// shape, and the first client, told the old one, gets PostgreSQL's error there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_holding_the_new_shape_fails_a_client_told_the_old_one() {
    let up = upstream::shared();
    let db = up.fresh_db("shape_outside");
    let proxy = pool_of_two();
    let admin = connect(&proxy, CAROL.0, &db).await;
    admin
        .batch_execute("CREATE TABLE t (a int); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let a = connect(&proxy, CAROL.0, &db).await;
    let b = connect(&proxy, CAROL.0, &db).await;
    let holder = connect(&proxy, CAROL.0, &db).await;
    let other = connect(&proxy, CAROL.0, &db).await;
    holder.simple_query("BEGIN").await.unwrap();
    let held = pid(&holder).await;
    let old = a.prepare("SELECT * FROM t").await.unwrap();
    assert_eq!(a.query(&old, &[]).await.unwrap()[0].len(), 1);
    up.sql(&db, "ALTER TABLE t ADD COLUMN b int");
    other.simple_query("BEGIN").await.unwrap();
    assert_ne!(pid(&other).await, held);
    holder.simple_query("COMMIT").await.unwrap();
    // b prepares the same text on the server a never used: the new shape.
    let new = b.prepare("SELECT * FROM t").await.unwrap();
    assert_eq!(new.columns().len(), 2);
    assert_eq!(b.query(&new, &[]).await.unwrap()[0].len(), 2);
    match a.query(&old, &[]).await {
        Err(e) => assert_eq!(sqlstate(&e), "0A000", "{}", describe(&e)),
        Ok(rows) => panic!("the old statement ran with {} columns", rows[0].len()),
    }
    other.simple_query("COMMIT").await.unwrap();
    // Prepared again, on whichever server: the new shape.
    for _ in 0..3 {
        let again = a.prepare("SELECT * FROM t").await.unwrap();
        assert_eq!(again.columns().len(), 2);
        assert_eq!(a.query(&again, &[]).await.unwrap()[0].len(), 2);
    }
}

/// A prepared FETCH takes its shape from whatever cursor it names when it runs, and
/// PostgreSQL never holds it to an earlier one: a client keeps its prepared FETCH while
/// another client's cursor of another shape ran the same kept statement on the same server
/// (pool of one) in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_fetch_follows_its_cursor() {
    let up = upstream::shared();
    let db = up.fresh_db("shape_fetch");
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(1)
        .start();
    let a = connect(&proxy, CAROL.0, &db).await;
    let b = connect(&proxy, CAROL.0, &db).await;
    let mut kept: Option<tokio_postgres::Statement> = None;
    for (client, cursor, round) in [
        (&a, "SELECT 1 AS x", "a"),
        (&b, "SELECT 'y'::text AS y, 2 AS z", "b"),
        (&a, "SELECT 3 AS x", "a again"),
    ] {
        client
            .batch_execute(&format!("BEGIN; DECLARE c CURSOR FOR {cursor}"))
            .await
            .unwrap();
        let fetch = match (round, &kept) {
            ("a again", Some(fetch)) => fetch.clone(),
            _ => client.prepare("FETCH 1 FROM c").await.unwrap(),
        };
        let rows = client
            .query(&fetch, &[])
            .await
            .unwrap_or_else(|e| panic!("{round}: {}", describe(&e)));
        assert_eq!(rows.len(), 1, "{round}");
        assert_eq!(rows[0].len(), fetch.columns().len(), "{round}");
        client.batch_execute("COMMIT").await.unwrap();
        if round == "a" {
            kept = Some(fetch);
        }
    }
}
