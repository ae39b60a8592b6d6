//! Round-5 attack: pgward judging a statement under another session state (search_path
//! above all) than the one the server runs it under.
//!
//! Shared setup: schema `shadow` holds `shadow.lower(text)`, a user function (read-only
//! `engineer` may not call it: 42501 read_only.unknown_function) that answers 'shadowed'.
//! Whenever 'shadowed' comes back to alice, the server ran a function the judge refuses.
//!
//! The doc comment of each test says how it got through before the fixes (commit after
//! c65eba4): pgward now reads the search_path back after any change the text does not fully
//! show (SET LOCAL, `set_config`) and when its block ends, reads no client message while
//! that read-back is owed, refuses a string that resolves names after a search_path change
//! (to roles whose rules resolve names), and refuses EXECUTE of an SQL-prepared statement
//! judged under another path.

use pgward_e2e::proxy::{ProxyBuilder, ALICE, BOB};
use pgward_e2e::raw::{self, rows, RawConn};
use pgward_e2e::upstream::{self, OWNER_USER, RO_USER};
use pgward_e2e::wire;
use pgward_e2e::*;

const SHADOW: &str = "shadow, pg_catalog, public";

async fn value(c: &tokio_postgres::Client, sql: &str) -> Result<String, String> {
    value_or_sqlstate(c, sql).await
}

fn shadow_db(prefix: &str) -> String {
    let up = upstream::shared();
    let db = up.fresh_db(prefix);
    up.sql(
        &db,
        &format!(
            "CREATE SCHEMA shadow; \
             CREATE FUNCTION shadow.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'shadowed'::text $$; \
             CREATE FUNCTION shadow.vetted() RETURNS text LANGUAGE sql AS $$ SELECT 'shadowed'::text $$; \
             CREATE FUNCTION public.vetted() RETURNS text LANGUAGE sql AS $$ SELECT 'public'::text $$; \
             CREATE TABLE shadow.users (id int, email text); \
             INSERT INTO shadow.users VALUES (1, 'decoy@example.com'); \
             GRANT USAGE ON SCHEMA shadow TO {RO_USER}; \
             GRANT SELECT ON shadow.users TO {RO_USER};"
        ),
    );
    db
}

/// The masking setup: `public.users.email` masked (redact) for alice, whose row 1 holds a
/// recognisable address, `shadow.users` an unmasked decoy; the catalog loaded.
async fn masked_shadow(prefix: &str) -> (Proxy, tokio_postgres::Client) {
    let db = shadow_db(prefix);
    let up = upstream::shared();
    up.sql(
        &db,
        "UPDATE users SET email = 'zelda.quux@leakcheck.test' WHERE id = 1",
    );
    let proxy = ProxyBuilder::new(up.port())
        .set("masking", "columns", vec!["public.users.email"])
        .set("masking", "strategy", "redact")
        .start();
    let c = connect(&proxy, ALICE.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    (proxy, c)
}

/// Sanity of the setup: under the shadow path pgward refuses `lower` (it is shadow.lower).
async fn assert_refused_under_shadow(c: &tokio_postgres::Client, what: &str) {
    c.batch_execute(&format!("SET search_path TO {SHADOW}"))
        .await
        .unwrap();
    assert_eq!(
        value(c, "SELECT lower('X')").await,
        Err("42501".into()),
        "{what}: setup"
    );
    c.batch_execute("SET search_path TO DEFAULT").await.unwrap();
}

/// `SET LOCAL SCHEMA 'shadow'` (PostgreSQL's spelling of `SET LOCAL search_path TO
/// 'shadow'`): pgward refuses `SET LOCAL search_path` to a read-only role because it does not
/// follow a LOCAL path (`policy/src/classify.rs:260`), but the `SET SCHEMA` spelling passes
/// that check (sqlparser names it otherwise) and, being LOCAL, changes nothing pgward judges
/// with. `vetted()` is then shadow.vetted on the server (not in the safe list), while pgward
/// judges public.vetted (listed safe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_local_schema_is_not_followed() {
    let db = shadow_db("r5localschema");
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .set("functions", "safe", vec!["public.vetted"])
        .start();
    let c = connect(&proxy, ALICE.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    c.batch_execute("SET search_path TO public").await.unwrap();
    assert_eq!(value(&c, "SELECT vetted()").await, Ok("public".into()));
    assert_eq!(
        value(&c, "SELECT shadow.vetted()").await,
        Err("42501".into()),
        "setup"
    );
    c.batch_execute("BEGIN").await.unwrap();
    let set = c.batch_execute("SET LOCAL SCHEMA 'shadow'").await;
    let got = value(&c, "SELECT vetted()").await;
    let _ = c.batch_execute("ROLLBACK").await;
    assert!(set.is_ok(), "{set:?}");
    assert_ne!(
        got,
        Ok("shadowed".into()),
        "shadow.vetted ran after SET LOCAL SCHEMA"
    );
}

/// The same through `set_config('search_path', ..., true)` (transaction-local): judged
/// like the SET LOCAL it is, no session change recorded (`policy/src/pg_judge.rs:174`),
/// no re-read of the path (`policy/src/state_facts.rs:235`): the user function runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_config_local_search_path_is_not_followed() {
    let db = shadow_db("r5cfglocal");
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, ALICE.0, &db).await;
    assert_refused_under_shadow(&c, "set_config local").await;
    c.batch_execute("BEGIN").await.unwrap();
    let set = value(
        &c,
        &format!("SELECT set_config('search_path', '{SHADOW}', true)"),
    )
    .await;
    let got = value(&c, "SELECT lower('X')").await;
    let _ = c.batch_execute("ROLLBACK").await;
    assert!(set.is_ok(), "{set:?}");
    assert_eq!(
        got,
        Err("42501".into()),
        "user function ran after set_config(.., true)"
    );
}

/// One Query string `SET search_path ...; SELECT lower('X')`: PostgreSQL runs the SELECT
/// under the new path, pgward judges the whole string under the path in force before it
/// (`policy/src/lib.rs:291`, one `ctx.search_path` for every statement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_then_call_in_one_string_is_judged_under_the_old_path() {
    let db = shadow_db("r5multi");
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, ALICE.0, &db).await;
    assert_refused_under_shadow(&c, "one string").await;
    let got = value(
        &c,
        &format!("SET search_path TO {SHADOW}; SELECT lower('X')"),
    )
    .await;
    assert_eq!(
        got,
        Err("42501".into()),
        "user function ran in a SET; SELECT string"
    );
}

/// SQL `PREPARE p AS SELECT lower('X')` under the default path (allowed: pg_catalog.lower),
/// then `SET search_path` to the shadow path, then `EXECUTE p`: PostgreSQL re-analyses the
/// cached statement under the new path (plancache search_path check) and runs
/// shadow.lower. pgward re-judges only protocol statements (`judged_under` is called for
/// Parse only, `proxy/src/session/client.rs:362`; `rejudge_used` finds no origin for an SQL
/// PREPARE, `proxy/src/session/own_statements.rs:65`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_prepared_statement_is_not_judged_again_after_set() {
    let db = shadow_db("r5prep");
    let up = upstream::shared();
    for mode in ["session", "transaction"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let c = connect(&proxy, ALICE.0, &db).await;
        assert_refused_under_shadow(&c, mode).await;
        c.batch_execute("PREPARE p AS SELECT lower('X')")
            .await
            .unwrap();
        c.batch_execute(&format!("SET search_path TO {SHADOW}"))
            .await
            .unwrap();
        let got = value(&c, "EXECUTE p").await;
        assert_eq!(
            got,
            Err("42501".into()),
            "{mode}: EXECUTE p ran shadow.lower"
        );
    }
}

/// Pipelined simple queries: with the shadow path in force (pgward agrees, `lower` is
/// refused), the client sends `BEGIN; SET search_path TO public; ROLLBACK` and, without
/// waiting, `SELECT lower('X')`. pgward applies the SET when it forwards the first string
/// (`apply_effects`, `proxy/src/session/session_state.rs:255`) and judges the second
/// before the first's ReadyForQuery brings the re-read (`server.rs:87`): it judges with
/// `public`, while the server, the SET rolled back, runs shadow.lower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_query_after_a_rolled_back_set_is_judged_with_the_rolled_back_path() {
    let db = shadow_db("r5pipe");
    let up = upstream::shared();
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let mut c = RawConn::startup(proxy.addr(), ALICE.0, ALICE.1, &db, &[])
            .await
            .unwrap();
        c.simple_query(&format!("SET search_path TO {SHADOW}"))
            .await;
        let before = c.simple_query("SELECT lower('X')").await;
        assert_eq!(
            wire::codes(&before),
            vec!["42501".to_string()],
            "{mode}: setup"
        );
        let mut out = raw::query_frame("BEGIN; SET search_path TO public; ROLLBACK");
        out.extend(raw::query_frame("SELECT lower('X')"));
        c.send(&out).await.unwrap();
        let msgs = wire::until_ready_n(&mut c, 2, 20).await;
        let got = rows(&msgs);
        assert!(
            !got.iter()
                .flatten()
                .any(|v| v.as_deref() == Some("shadowed")),
            "{mode}: shadow.lower ran: {got:?} {:?}",
            wire::codes(&msgs)
        );
    }
}

/// The upstream login's own default path (`ALTER ROLE app_ro IN DATABASE db SET
/// search_path`, or `ALTER DATABASE ... SET`): the server starts every session with it.
/// pgward judged with `"$user", public` and never asked; it now reads each new server's
/// default once and judges a session that sets no path with it: the first client (greeted
/// through a checkout), later clients (greeted from the pool's figures), after RESET, in
/// both pool modes. The client sees the server's default, as straight against PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_default_search_path_is_what_pgward_judges_with() {
    let db = shadow_db("r5roledef");
    let up = upstream::shared();
    up.sql(
        &db,
        &format!("ALTER ROLE {RO_USER} IN DATABASE {db} SET search_path = {SHADOW}"),
    );
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        for n in 0..3 {
            let c = connect(&proxy, ALICE.0, &db).await;
            assert_eq!(
                value(&c, "SHOW search_path").await,
                Ok(SHADOW.into()),
                "{mode}, client {n}: the login's default is the session's"
            );
            assert_eq!(
                value(&c, "SELECT lower('X')").await,
                Err("42501".into()),
                "{mode}, client {n}: shadow.lower ran under the role's default path"
            );
            c.batch_execute("SET search_path TO public").await.unwrap();
            assert_eq!(value(&c, "SELECT lower('X')").await, Ok("x".into()));
            c.batch_execute("RESET search_path").await.unwrap();
            assert_eq!(
                value(&c, "SELECT lower('X')").await,
                Err("42501".into()),
                "{mode}, client {n}: after RESET the role's default is back"
            );
        }
    }
}

/// The login's default changes while servers are pooled: servers connected before keep the
/// old default, new ones start with the new. A client judged under the old default that is
/// handed a new server gets the path it was judged with (the checkout's sync sets it);
/// a client that logs in afterwards is judged with the new default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_path_changed_while_servers_are_pooled_is_followed() {
    let db = shadow_db("r5roledef2");
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .set("pool", "size", 4)
        .start();
    let a = connect(&proxy, ALICE.0, &db).await;
    assert_eq!(value(&a, "SELECT lower('X')").await, Ok("x".into()));
    up.sql(
        &db,
        &format!("ALTER ROLE {RO_USER} IN DATABASE {db} SET search_path = {SHADOW}"),
    );
    // The only pooled server (old default) is held in a block: `a` gets a new one.
    let b = connect(&proxy, ALICE.0, &db).await;
    b.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        value(&a, "SELECT lower('X')").await,
        Ok("x".into()),
        "judged as pg_catalog.lower, the server must run that"
    );
    b.batch_execute("COMMIT").await.unwrap();
    let c = connect(&proxy, ALICE.0, &db).await;
    assert_eq!(
        value(&c, "SELECT lower('X')").await,
        Err("42501".into()),
        "a new client starts with the new default"
    );
}

/// Masking: `public.users.email` is masked for alice; `shadow.users` (not configured) is
/// not. With `search_path = shadow, public` pgward and the server agree that `users` is the
/// decoy. `set_config('search_path', 'public', true)` in a block makes the server read
/// public.users while pgward still resolves `users` to shadow.users (the LOCAL change is not
/// followed, `policy/src/pg_judge.rs:174`): the masked column comes back in clear. (A bare
/// `email` is still caught by RowDescription's table oid, `policy/src/mask/wire.rs:71`; an
/// expression such as `email || ''` carries none, so only the mis-resolved plan decides.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_config_local_path_returns_a_masked_column_in_clear() {
    let (_proxy, c) = masked_shadow("r5mask").await;
    let masked = value(&c, "SELECT email || '' FROM public.users WHERE id = 1").await;
    assert_ne!(
        masked,
        Ok("zelda.quux@leakcheck.test".into()),
        "setup: masked"
    );
    c.batch_execute("SET search_path TO shadow, public")
        .await
        .unwrap();
    assert_eq!(
        value(&c, "SELECT email FROM users WHERE id = 1").await,
        Ok("decoy@example.com".into()),
        "setup: decoy"
    );
    c.batch_execute("BEGIN").await.unwrap();
    let set = value(&c, "SELECT set_config('search_path', 'public', true)").await;
    let got = value(&c, "SELECT email || '' FROM users WHERE id = 1").await;
    let _ = c.batch_execute("ROLLBACK").await;
    assert!(set.is_ok(), "{set:?}");
    assert_ne!(
        got,
        Ok("zelda.quux@leakcheck.test".into()),
        "masked column returned in clear"
    );
}

/// Masking through a one-string `SET search_path TO public; SELECT email FROM users`: judged
/// (and its mask plan computed, `policy/src/lib.rs:325`) under the path before the string,
/// where `users` is the unmasked decoy; the server reads public.users (`email || ''`: no
/// table oid in RowDescription to catch it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_then_select_in_one_string_returns_a_masked_column_in_clear() {
    let (_proxy, c) = masked_shadow("r5mask2").await;
    c.batch_execute("SET search_path TO shadow, public")
        .await
        .unwrap();
    let got = value(
        &c,
        "SET search_path TO public; SELECT email || '' FROM users WHERE id = 1",
    )
    .await;
    assert_ne!(
        got,
        Ok("zelda.quux@leakcheck.test".into()),
        "masked column returned in clear"
    );
}

/// max_affected_rows (bob: oncall, 1000 rows): `shadow.t` has a trigger that deletes 3000
/// rows of `big`; `public.t` has none. Under `SET search_path TO shadow, public` pgward
/// refuses `UPDATE t ... WHERE id = 1` (code that may write unseen). `SET LOCAL search_path`
/// is refused to read-only roles only (`policy/src/classify.rs:260`) and is not followed:
/// inside the block pgward judges `t` as public.t, guards a 1-row UPDATE, and the server
/// updates shadow.t, whose trigger deletes 3000 rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_local_path_lets_a_trigger_write_past_max_affected_rows() {
    let db = shadow_db("r5rows");
    let up = upstream::shared();
    up.sql(
        &db,
        &format!(
            "CREATE TABLE public.big (n int); INSERT INTO public.big SELECT generate_series(1, 3000); \
             CREATE TABLE public.t (id int, x int); INSERT INTO public.t VALUES (1, 0); \
             CREATE TABLE shadow.t (id int, x int); INSERT INTO shadow.t VALUES (1, 0); \
             CREATE FUNCTION shadow.wipe() RETURNS trigger LANGUAGE plpgsql AS \
               $$ BEGIN DELETE FROM public.big; RETURN NULL; END $$; \
             CREATE TRIGGER wipe AFTER UPDATE ON shadow.t FOR EACH ROW EXECUTE FUNCTION shadow.wipe(); \
             GRANT USAGE ON SCHEMA shadow TO {OWNER_USER}; \
             GRANT ALL ON ALL TABLES IN SCHEMA shadow, public TO {OWNER_USER};"
        ),
    );
    let proxy = ProxyBuilder::new(up.port()).start();
    let c = connect(&proxy, BOB.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    c.batch_execute("SET search_path TO shadow, public")
        .await
        .unwrap();
    let direct = c.batch_execute("UPDATE t SET x = 1 WHERE id = 1").await;
    assert!(direct.is_err(), "setup: the trigger's table is refused");
    c.batch_execute("SET search_path TO public").await.unwrap();
    c.batch_execute("BEGIN").await.unwrap();
    let set = c
        .batch_execute("SET LOCAL search_path TO shadow, public")
        .await;
    let upd = c.batch_execute("UPDATE t SET x = 1 WHERE id = 1").await;
    let _ = c.batch_execute("COMMIT").await;
    let left = up.sql(&db, "SELECT count(*) FROM public.big");
    assert!(
        left.contains("3000"),
        "set {set:?} update {upd:?}: big has {left} rows left (3000 deleted under a 1000-row limit)"
    );
}

/// Review of the fixes: `set_config('search_path', .., true)` inside an extended batch with
/// no Sync after it (the implicit block lasts to the Sync, so later statements of the batch
/// run under the local path). pgward cannot read it back before the Sync: what follows in
/// the batch and resolves names is refused; never shadow.lower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_path_set_inside_an_open_batch_stops_the_rest_of_the_batch() {
    let db = shadow_db("r5batch");
    let up = upstream::shared();
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let mut c = RawConn::startup(proxy.addr(), ALICE.0, ALICE.1, &db, &[])
            .await
            .unwrap();
        c.send(&wire::batch(&[
            wire::parse(
                "",
                &format!("SELECT set_config('search_path', '{SHADOW}', true)"),
            ),
            wire::bind("", "", &[]),
            wire::execute("", 0),
            wire::parse("", "SELECT lower('X')"),
            wire::bind("", "", &[]),
            wire::execute("", 0),
            wire::sync(),
        ]))
        .await
        .unwrap();
        let msgs = wire::until_ready_n(&mut c, 1, 20).await;
        let got = rows(&msgs);
        assert!(
            !got.iter()
                .flatten()
                .any(|v| v.as_deref() == Some("shadowed")),
            "{mode}: shadow.lower ran: {got:?}"
        );
        assert_eq!(wire::codes(&msgs), ["42501"], "{mode}: {msgs:?}");
        // After the Sync the path is the session's again, and read back.
        let after = c.simple_query("SELECT lower('X')").await;
        assert_eq!(rows(&after), vec![vec![Some("x".to_string())]], "{mode}");
    }
}

/// Review of the fixes: `COMMIT AND CHAIN` ends a SET LOCAL while the block goes on (status
/// 'T'): the path is read back at the COMMIT, not only when the block ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_chain_ends_a_local_path() {
    let db = shadow_db("r5chain");
    let up = upstream::shared();
    for mode in ["transaction", "session"] {
        let proxy = ProxyBuilder::new(up.port()).pool_mode(mode).start();
        let mut c = RawConn::startup(proxy.addr(), ALICE.0, ALICE.1, &db, &[])
            .await
            .unwrap();
        c.simple_query(&format!("SET search_path TO {SHADOW}"))
            .await;
        c.simple_query("BEGIN").await;
        c.simple_query("SELECT set_config('search_path', 'public', true)")
            .await;
        let inside = c.simple_query("SELECT lower('X')").await;
        assert_eq!(rows(&inside), vec![vec![Some("x".to_string())]], "{mode}");
        c.simple_query("COMMIT AND CHAIN").await;
        let chained = c.simple_query("SELECT lower('X')").await;
        assert!(
            !rows(&chained)
                .iter()
                .flatten()
                .any(|v| v.as_deref() == Some("shadowed")),
            "{mode}: shadow.lower ran"
        );
        assert_eq!(wire::codes(&chained), ["42501"], "{mode}");
        c.simple_query("ROLLBACK").await;
    }
}
