//! A session's first statement is judged with its database's catalog snapshot: a pgward that
//! has just started, or a database that has just come into use, reads the catalog before it
//! judges, so a built-in's name that a user function answers to (`public.crc32` where
//! PostgreSQL 15 has no crc32; `public.lower(int)` beside `pg_catalog.lower(text)`) is not
//! taken for the built-in. Before, the snapshot came up to two seconds after the first
//! client, and what that client ran in between was judged without it.

use pgward_e2e::proxy::{ProxyBuilder, ALICE};
use pgward_e2e::upstream;
use pgward_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_statement_is_judged_with_the_catalog() {
    let up = upstream::shared();
    let db = up.fresh_db("catfirst");
    up.sql(
        &db,
        "CREATE FUNCTION public.crc32(text) RETURNS bigint LANGUAGE sql AS $$ SELECT 7::bigint $$; \
         CREATE FUNCTION public.lower(int) RETURNS text LANGUAGE sql AS $$ SELECT 'shadowed'::text $$;",
    );
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, ALICE.0, &db).await;
    // No wait for the snapshot: the statement itself must wait for it.
    assert_eq!(
        value_or_sqlstate(&c, "SELECT crc32('a')").await,
        Err("42501".into()),
        "public.crc32 ran as if it were a built-in"
    );
    assert_eq!(
        value_or_sqlstate(&c, "SELECT lower(5)").await,
        Err("42501".into()),
        "public.lower(int) ran as if it were the built-in"
    );
    // A later client of the same database finds the snapshot in force.
    let later = connect(&proxy, ALICE.0, &db).await;
    assert_eq!(
        value_or_sqlstate(&later, "SELECT crc32('a')").await,
        Err("42501".into())
    );
    assert_eq!(
        value_or_sqlstate(&later, "SELECT upper('a')").await,
        Ok("A".into())
    );
}
