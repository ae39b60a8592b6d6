//! pgward judges function names with the search_path the server really has: after a SET that
//! was rolled back, or one prepared but never executed, the old path still applies.

use pgward_e2e::proxy::{ProxyBuilder, ALICE};
use pgward_e2e::upstream::{self, RO_USER};
use pgward_e2e::*;

async fn value(c: &tokio_postgres::Client, sql: &str) -> Result<String, String> {
    value_or_sqlstate(c, sql).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_resolve_with_the_servers_search_path() {
    let up = upstream::shared();
    let db = up.fresh_db("spath");
    up.sql(
        &db,
        &format!(
            "CREATE SCHEMA app; \
             CREATE FUNCTION app.vetted() RETURNS int LANGUAGE sql AS 'SELECT 1'; \
             CREATE FUNCTION public.vetted() RETURNS int LANGUAGE sql AS 'SELECT 2'; \
             GRANT USAGE ON SCHEMA app TO {RO_USER};"
        ),
    );
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .set("functions", "safe", vec!["app.vetted"])
            .start();
        let c = connect(&proxy, ALICE.0, &db).await;
        // Only app.vetted is vetted; with the default path vetted() is public.vetted.
        assert_eq!(
            value(&c, "SELECT vetted()").await,
            Err("42501".into()),
            "{mode}"
        );
        assert_eq!(
            value(&c, "SELECT app.vetted()").await,
            Ok("1".into()),
            "{mode}"
        );

        // A SET rolled back with its transaction leaves the default path in force.
        c.batch_execute("BEGIN; SET search_path TO app, public; ROLLBACK")
            .await
            .unwrap();
        assert_eq!(
            value(&c, "SELECT vetted()").await,
            Err("42501".into()),
            "{mode}: after rollback"
        );

        // A prepared (never executed) SET changes nothing either.
        let _ = c.prepare("SET search_path TO app, public").await.unwrap();
        assert_eq!(
            value(&c, "SELECT vetted()").await,
            Err("42501".into()),
            "{mode}: after prepare"
        );

        // A SET that holds makes app.vetted the one that runs, in later transactions too.
        c.batch_execute("SET search_path TO app, public")
            .await
            .unwrap();
        assert_eq!(
            value(&c, "SELECT vetted()").await,
            Ok("1".into()),
            "{mode}: after SET"
        );
        assert_eq!(
            value(&c, "SELECT vetted()").await,
            Ok("1".into()),
            "{mode}: next transaction"
        );
    }
}

/// User code that sets the search_path and then fails its block: pgward reads the path
/// again once the block is rolled back (a failed block runs no query, pgward's included),
/// and judges with the path the server has then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_code_that_fails_its_block_is_followed_after_the_rollback() {
    let up = upstream::shared();
    let db = up.fresh_db("spathfail");
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, pgward_e2e::proxy::CAROL.0, &db).await;
    c.batch_execute(
        "CREATE SCHEMA other; CREATE FUNCTION public.boom() RETURNS int LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_catalog.set_config('search_path', 'other', true); \
         RAISE EXCEPTION 'boom'; END $$",
    )
    .await
    .unwrap();
    c.batch_execute("BEGIN").await.unwrap();
    let failed = c.batch_execute("SELECT public.boom()").await;
    assert!(failed.is_err());
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        value(&c, "SHOW search_path").await.unwrap(),
        "\"$user\", public"
    );
    assert!(
        !proxy.stderr().contains("could not read search_path"),
        "{}",
        proxy.stderr()
    );
}

/// RESET search_path returns to the client's startup path, as on PostgreSQL, and pgward
/// judges with that path too: it judged with the default path while the server ran the
/// startup one again, so `lower` there reached a user function it had refused before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_returns_to_the_startup_path_and_is_judged_with_it() {
    let up = upstream::shared();
    let db = up.fresh_db("spreset");
    up.sql(
        &db,
        &format!(
            "CREATE SCHEMA shadow; \
             CREATE FUNCTION shadow.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'shadowed'::text $$; \
             GRANT USAGE ON SCHEMA shadow TO {RO_USER};"
        ),
    );
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let mut config = pg_config(&proxy, ALICE.0, &db);
        config.options("-c search_path=shadow,pg_catalog,public");
        let c = connect_with(config).await.unwrap();
        let before = value(&c, "SELECT lower('X')").await;
        assert_eq!(before, Err("42501".into()), "{mode}: before");
        c.batch_execute("SET search_path TO public").await.unwrap();
        assert_eq!(
            value(&c, "SELECT lower('X')").await,
            Ok("x".into()),
            "{mode}"
        );
        for reset in [
            "RESET search_path",
            "SET search_path TO DEFAULT",
            "RESET ALL",
        ] {
            c.batch_execute("SET search_path TO public").await.unwrap();
            c.batch_execute(reset).await.unwrap();
            // As PostgreSQL shows it: the startup text as given.
            assert_eq!(
                value(&c, "SHOW search_path").await,
                Ok("shadow,pg_catalog,public".into()),
                "{mode}: {reset}"
            );
            for _ in 0..2 {
                assert_eq!(
                    value(&c, "SELECT lower('X')").await,
                    Err("42501".into()),
                    "{mode}: {reset}"
                );
            }
        }
    }
}
