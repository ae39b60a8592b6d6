//! The catalog snapshot follows DDL run through pgward: once a statement that changes the
//! catalog has run, the snapshot is reloaded at once (not at the 60 s periodic refresh), so
//! user code created a moment ago is judged as what it is.

use std::time::{Duration, Instant};

use pgward_e2e::proxy::{ALICE, BOB, CAROL};
use pgward_e2e::upstream::{self, OWNER_USER, RO_USER};
use pgward_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_through_pgward_reloads_the_catalog() {
    let up = upstream::shared();
    let db = up.fresh_db("catreload");
    up.sql(
        &db,
        &format!(
            "CREATE TABLE names (id int, name text); ALTER TABLE names OWNER TO {OWNER_USER}; \
             GRANT SELECT ON names TO {RO_USER}"
        ),
    );
    let proxy = ProxyBuilder::new(up.port()).start();
    let reader = connect(&proxy, ALICE.0, &db).await;
    simple_rows(&reader, "SELECT count(*) FROM names")
        .await
        .unwrap_or_else(|e| panic!("before: {}", describe(&e)));
    wait_for_catalog(&proxy).await;
    let loads = proxy.stderr().matches("catalog snapshot loaded").count();
    // A view over a user function, created through pgward: reading it runs user code, which
    // a read-only role may not, and only the catalog can tell.
    let admin = connect(&proxy, CAROL.0, &db).await;
    admin
        .batch_execute(&format!(
            "CREATE FUNCTION public.bump() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1'; \
             CREATE VIEW public.bumped AS SELECT public.bump() AS n; \
             GRANT SELECT ON public.bumped TO {RO_USER}"
        ))
        .await
        .unwrap_or_else(|e| panic!("CREATE VIEW: {}", describe(&e)));
    let query = "SELECT n FROM bumped";
    let started = Instant::now();
    loop {
        match simple_rows(&reader, query).await {
            Err(e) if sqlstate(&e) == "42501" => break,
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the catalog never learned of the new operator:\n{}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(proxy.stderr().matches("catalog snapshot loaded").count() > loads);
}

/// A configured login that cannot get in (a rotated password, a dropped role), first in the
/// configuration's order, does not leave every role judged without a catalog: the catalog
/// is read under the login of the pool in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_that_cannot_connect_does_not_cost_the_catalog() {
    let up = upstream::shared();
    let db = up.fresh_db("catlogin");
    let proxy = ProxyBuilder::new(up.port())
        .set("logins.aaa_rotated", "user", OWNER_USER)
        .set("logins.aaa_rotated", "password", "not-the-password")
        .start();
    let reader = connect(&proxy, ALICE.0, &db).await;
    simple_rows(&reader, "SELECT 1")
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    wait_for_catalog(&proxy).await;
    assert!(
        !proxy.stderr().contains("judging without it"),
        "{}",
        proxy.stderr()
    );
}

/// A role with `max_affected_rows` reading a relation the snapshot lacks waits for a fresh
/// snapshot; when none is read in time (an upstream too loaded to answer the catalog
/// reader) the statement is refused, not run unguarded: it may be a view over a writing
/// function (found by the guard tests on a loaded CI box).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relation_the_late_catalog_lacks_is_not_read_unguarded() {
    let up = upstream::shared();
    let db = up.fresh_db("catlate");
    up.sql(
        &db,
        &format!(
            "CREATE TABLE counted (v int); INSERT INTO counted VALUES (0); \
             ALTER TABLE counted OWNER TO {OWNER_USER}"
        ),
    );
    let proxy = ProxyBuilder::new(up.port()).start();
    let guarded = connect(&proxy, BOB.0, &db).await;
    simple_rows(&guarded, "SELECT 1")
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    wait_for_catalog(&proxy).await;
    up.sql(
        &db,
        &format!(
            "CREATE FUNCTION public.bump() RETURNS int LANGUAGE sql VOLATILE AS \
               'UPDATE public.counted SET v = v + 1 RETURNING v'; \
             CREATE VIEW public.bumped AS SELECT public.bump() AS n; \
             ALTER FUNCTION public.bump() OWNER TO {OWNER_USER}; \
             ALTER VIEW public.bumped OWNER TO {OWNER_USER}"
        ),
    );
    // The catalog reader cannot read while pg_class is locked.
    let locker = {
        let db = db.clone();
        std::thread::spawn(move || {
            upstream::shared().try_sql(
                &db,
                "BEGIN; LOCK TABLE pg_catalog.pg_class IN ACCESS EXCLUSIVE MODE; \
                 SELECT pg_catalog.pg_sleep(6); COMMIT",
            )
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    let read = simple_rows(&guarded, "SELECT n FROM bumped").await;
    locker.join().expect("locker").expect("lock");
    match read {
        Err(e) => {
            assert_eq!(sqlstate(&e), "42501", "{}", describe(&e));
            assert!(
                describe(&e).contains("no fresh snapshot"),
                "{}",
                describe(&e)
            );
        }
        Ok(rows) => panic!("read unguarded: {rows:?}"),
    }
    assert_eq!(up.sql(&db, "SELECT v FROM counted").trim(), "0");
}
