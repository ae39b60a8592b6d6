//! Round-2 acceptance attacks on issue 8: write guard, row limit, timeouts, statement
//! identity and protocol fields, variants the first round (`attack_variants*.rs`) did not
//! cover. Each `finding_*` test fails against the round-2 base and must pass once fixed.

mod attack_common;

use attack_common::*;
use pgward_e2e::proxy::{ALICE, BOB};
use pgward_e2e::raw::{self, query_frame};
use pgward_e2e::upstream::{self, Upstream};
use pgward_e2e::wire::{bind, execute, parse, sync};

const MODES: [&str; 2] = ["session", "transaction"];

/// Rows in a table.
fn count(up: &Upstream, t: &str) -> String {
    up.sql(upstream::APP_DB, &format!("SELECT count(*) FROM {t}"))
        .trim()
        .to_string()
}

/// Run each (what, frames) as bob on a fresh session; report those after which `bad()`
/// says the upstream was changed beyond the limit. `setup` runs before each.
async fn probe(
    proxy: &pgward_e2e::Proxy,
    cases: Vec<(String, Vec<Vec<u8>>)>,
    setup: &dyn Fn(),
    bad: &dyn Fn() -> Option<String>,
) -> Vec<String> {
    let mut got = Vec::new();
    for (what, frames) in cases {
        setup();
        let mut c = login(proxy, BOB).await;
        let n = frames
            .iter()
            .filter(|f| matches!(f[0], b'S' | b'Q' | b'F'))
            .count();
        let msgs = exchange(&mut c, &frames, n).await;
        exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
        if let Some(b) = bad() {
            got.push(format!("{what}: {b} ({})", summary(&msgs)));
        }
    }
    got
}

fn q(sql: &str) -> (String, Vec<Vec<u8>>) {
    (format!("Query {sql:?}"), vec![query_frame(sql)])
}

fn ext(sql: &str) -> (String, Vec<Vec<u8>>) {
    (
        format!("extended {sql:?}"),
        vec![parse("", sql), bind("", "", &[]), execute("", 0), sync()],
    )
}

/// (what, (setting, value), frames).
type TimeoutCase<'a> = (&'a str, (&'a str, &'a str), Vec<Vec<u8>>);
/// (what, in a block, batches of frames).
type HoldCase<'a> = (&'a str, bool, Vec<Vec<Vec<u8>>>);

/// Holds (class 1/2): writes whose rows PostgreSQL's CommandComplete does not count: a
/// writable CTE under an INSERT/UPDATE/DELETE whose own count is small, or under a SELECT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writable_cte_under_a_small_write_is_refused() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_cte_{mode}"), 60);
        let s = table(up, &format!("r2g_cte_small_{mode}"), 3);
        let proxy = proxy(up, mode);
        let mut cases = Vec::new();
        for sql in [
            format!("WITH d AS (UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id) INSERT INTO {s} (id, v) SELECT 100, count(*) FROM d"),
            format!("WITH d AS (UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id) UPDATE {s} SET v = (SELECT count(*) FROM d) WHERE id = 1"),
            format!("WITH d AS (UPDATE {t} SET v = v + 1 WHERE id > 0) DELETE FROM {s} WHERE id = 1"),
            format!("WITH d AS (UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id) SELECT count(*) FROM d"),
            format!("WITH d AS (UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id) TABLE d"),
            format!("WITH d AS (UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id) VALUES (1)"),
        ] {
            cases.push(q(&sql));
            cases.push(ext(&sql));
        }
        let setup = || {
            reset(up, &t);
            up.sql(upstream::APP_DB, &format!("DELETE FROM {s} WHERE id > 3; INSERT INTO {s} (id) VALUES (1) ON CONFLICT DO NOTHING"));
        };
        let bad = || {
            let n = changed(up, &t);
            (n != "0").then(|| format!("{n} rows of the 60-row table changed"))
        };
        for g in probe(&proxy, cases, &setup, &bad).await {
            got.push(format!("{mode}: {g}"));
        }
    }
    report("writable CTE under a small write", &got);
}

/// Big table `t` (60 rows) and small `s` (3 rows) with, upstream: a SQL function
/// `{t}_w()` that updates every row of `t`; a trigger on `s` that updates `t` on every
/// UPDATE of `s`; a rule on view `{s}_v` that updates `t`; a child table `{t}_c` of 60 rows
/// whose parent row `{s}` id 1 cascades on DELETE.
fn side_effect_schema(up: &Upstream, t: &str, s: &str) {
    up.sql(
        upstream::APP_DB,
        &format!("DROP TABLE IF EXISTS {t}_c, {s}_x, {s}_a, {s}_st, {s}_df, {s} CASCADE"),
    );
    table(up, t, 60);
    table(up, s, 3);
    up.sql(
        upstream::APP_DB,
        &format!(
            "CREATE OR REPLACE FUNCTION {t}_w() RETURNS int LANGUAGE sql AS
               $$ UPDATE {t} SET v = v + 1 WHERE id > 0; SELECT 1 $$;
             ALTER FUNCTION {t}_w() OWNER TO {o};
             CREATE OR REPLACE FUNCTION {t}_trg() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN UPDATE {t} SET v = v + 1 WHERE id > 0; RETURN NEW; END $$;
             ALTER FUNCTION {t}_trg() OWNER TO {o};
             CREATE TABLE {s}_x (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
             INSERT INTO {s}_x SELECT g FROM generate_series(1, 3) g;
             ALTER TABLE {s}_x OWNER TO {o};
             CREATE TRIGGER {s}_x_trg AFTER UPDATE ON {s}_x FOR EACH ROW EXECUTE FUNCTION {t}_trg();
             CREATE VIEW {s}_v AS SELECT * FROM {s};
             ALTER VIEW {s}_v OWNER TO {o};
             CREATE RULE {s}_v_r AS ON UPDATE TO {s}_v DO INSTEAD
               (UPDATE {s} SET v = NEW.v WHERE id = OLD.id; UPDATE {t} SET v = v + 1 WHERE id > 0);
             CREATE VIEW {s}_v2 AS SELECT * FROM {s};
             ALTER VIEW {s}_v2 OWNER TO {o};
             CREATE RULE {s}_v2_r AS ON UPDATE TO {s}_v2 DO INSTEAD
               (UPDATE {t} SET v = v + 1 WHERE id > 0; UPDATE {s} SET v = NEW.v WHERE id = OLD.id);
             CREATE TABLE {s}_a (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
             INSERT INTO {s}_a SELECT g FROM generate_series(1, 3) g;
             ALTER TABLE {s}_a OWNER TO {o};
             CREATE RULE {s}_a_r AS ON UPDATE TO {s}_a DO ALSO UPDATE {t} SET v = v + 1 WHERE id > 0;
             CREATE OR REPLACE FUNCTION {t}_trg_io() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN UPDATE {t} SET v = v + 1 WHERE id > 0; RETURN NEW; END $$;
             ALTER FUNCTION {t}_trg_io() OWNER TO {o};
             CREATE VIEW {s}_iv AS SELECT * FROM {s};
             ALTER VIEW {s}_iv OWNER TO {o};
             CREATE TRIGGER {s}_iv_trg INSTEAD OF UPDATE ON {s}_iv FOR EACH ROW EXECUTE FUNCTION {t}_trg_io();
             CREATE TABLE {s}_st (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
             INSERT INTO {s}_st SELECT g FROM generate_series(1, 3) g;
             ALTER TABLE {s}_st OWNER TO {o};
             CREATE TRIGGER {s}_st_trg AFTER UPDATE ON {s}_st FOR EACH STATEMENT EXECUTE FUNCTION {t}_trg();
             CREATE TABLE {s}_df (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
             INSERT INTO {s}_df SELECT g FROM generate_series(1, 3) g;
             ALTER TABLE {s}_df OWNER TO {o};
             CREATE CONSTRAINT TRIGGER {s}_df_trg AFTER UPDATE ON {s}_df DEFERRABLE INITIALLY DEFERRED
               FOR EACH ROW EXECUTE FUNCTION {t}_trg();
             CREATE TABLE {t}_c (id int PRIMARY KEY, pid int REFERENCES {s} (id) ON DELETE CASCADE ON UPDATE CASCADE);
             INSERT INTO {t}_c SELECT g, 1 FROM generate_series(1, 60) g;
             ALTER TABLE {t}_c OWNER TO {o};",
            o = upstream::OWNER_USER
        ),
    );
}

/// Runs `sqls(t, s)` (simple and extended) as bob against [`side_effect_schema`] in both
/// modes; what got through (rows of `t` changed or child rows gone).
async fn reached_writes(tag: &str, sqls: &dyn Fn(&str, &str) -> Vec<String>) -> Vec<String> {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = format!("r2g_{tag}_{mode}");
        let s = format!("r2g_{tag}s_{mode}");
        side_effect_schema(up, &t, &s);
        let proxy = proxy(up, mode);
        let mut cases = Vec::new();
        for sql in sqls(&t, &s) {
            cases.push(q(&sql));
            cases.push(ext(&sql));
        }
        let setup = || side_effect_schema(up, &t, &s);
        let bad = || {
            let n = changed(up, &t);
            let c = up.sql(
                upstream::APP_DB,
                &format!("SELECT count(*) FROM {t}_c WHERE pid = 1"),
            );
            (n != "0" || c.trim() != "60")
                .then(|| format!("{n} rows of {t} changed, {} child rows left", c.trim()))
        };
        for g in probe(&proxy, cases, &setup, &bad).await {
            got.push(format!("{mode}: {g}"));
        }
    }
    got
}

/// FINDING F1 (class 1/2): a user function that writes, called from a SELECT, VALUES or a
/// one-row UPDATE: the CommandComplete says 1 row, 60 rows are committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_writes_through_user_functions_are_refused_or_counted() {
    let got = reached_writes("fn", &|t, s| {
        vec![
            format!("SELECT {t}_w()"),
            format!("SELECT * FROM {t}_w()"),
            format!("VALUES ({t}_w())"),
            format!("UPDATE {s} SET v = {t}_w() WHERE id = 1"),
            format!("INSERT INTO {s} (id, v) VALUES (100, {t}_w())"),
            format!("COPY (SELECT {t}_w()) TO STDOUT"),
            format!("WITH x AS (SELECT {t}_w()) SELECT * FROM x"),
            format!("SELECT 1 WHERE {t}_w() = 1"),
            format!("SELECT (SELECT {t}_w())"),
            format!("EXPLAIN ANALYZE SELECT {t}_w()"),
            format!("SELECT public.{t}_w()"),
        ]
    })
    .await;
    report("writes through a user function", &got);
}

/// FINDING F2 (class 1/2): a one-row write whose trigger, cascading foreign key or rule
/// (DO ALSO; DO INSTEAD whose last action is the small one) changes 60 rows elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_writes_through_triggers_and_cascades_are_refused_or_counted() {
    let got = reached_writes("trg", &|_t, s| {
        vec![
            format!("UPDATE {s}_x SET v = 1 WHERE id = 1"),
            format!("DELETE FROM {s} WHERE id = 1"),
            format!("UPDATE {s} SET id = 10 WHERE id = 1"),
            format!("UPDATE {s}_v2 SET v = 1 WHERE id = 1"),
            format!("UPDATE {s}_a SET v = 1 WHERE id = 1"),
            format!("UPDATE {s}_iv SET v = 1 WHERE id = 1"),
            format!("UPDATE {s}_st SET v = 1 WHERE id = 1"),
            format!("UPDATE {s}_df SET v = 1 WHERE id = 1"),
        ]
    })
    .await;
    report("writes through triggers and cascades", &got);
}

/// Holds: a DO INSTEAD rule on a view whose last action writes 60 rows (the count shown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_a_rule_are_counted() {
    let got = reached_writes("rule", &|_t, s| {
        vec![format!("UPDATE {s}_v SET v = 1 WHERE id = 1")]
    })
    .await;
    report("writes through a rule", &got);
}

/// Other write forms: COPY over a DELETE ... RETURNING, EXPLAIN ANALYZE, SQL PREPARE and
/// EXECUTE, ON CONFLICT DO UPDATE, COPY FROM STDIN, a SQL cursor FETCH through the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_write_forms_are_counted_or_refused() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_forms_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let mut cases = Vec::new();
        for sql in [
            format!("COPY ({upd} RETURNING id) TO STDOUT"),
            format!("COPY (DELETE FROM {t} WHERE id > 0 RETURNING *) TO STDOUT"),
            format!("EXPLAIN ANALYZE {upd}"),
            format!("EXPLAIN (ANALYZE, FORMAT JSON) {upd}"),
            format!("INSERT INTO {t} (id, v) SELECT id, 1 FROM {t} ON CONFLICT (id) DO UPDATE SET v = 1"),
            format!("INSERT INTO {t} (id, v) SELECT id, 1 FROM {t} WHERE id > 0 ON CONFLICT (id) DO UPDATE SET v = excluded.v RETURNING id"),
            format!("PREPARE r2p AS {upd}; EXECUTE r2p"),
            format!("MERGE INTO {t} USING (SELECT id FROM {t}) s ON s.id = {t}.id WHEN MATCHED THEN DELETE"),
        ] {
            cases.push(q(&sql));
            cases.push(ext(&sql));
        }
        // A COPY over a write, executed with a row limit.
        cases.push((
            "COPY (UPDATE RETURNING) TO STDOUT, Execute max_rows 1".into(),
            vec![
                parse("", &format!("COPY ({upd} RETURNING id) TO STDOUT")),
                bind("", "", &[]),
                execute("", 1),
                sync(),
            ],
        ));
        // PREPARE in one unit, EXECUTE (simple and extended) in the next.
        for exec in [query_frame("EXECUTE r2p"), parse("", "EXECUTE r2p")] {
            let mut frames = vec![query_frame(&format!("PREPARE r2p AS {upd}"))];
            frames.push(exec.clone());
            if exec[0] == b'P' {
                frames.extend([bind("", "", &[]), execute("", 0), sync()]);
            }
            cases.push(("PREPARE then EXECUTE".into(), frames));
        }
        // COPY FROM STDIN of 60 new rows, simple and extended.
        let data: String = (1001..=1060).map(|i| format!("{i}\t1\n")).collect();
        let copy_data = raw::frame(b'd', data.as_bytes());
        let copy_done = raw::frame(b'c', b"");
        cases.push((
            "Query COPY FROM STDIN".into(),
            vec![
                query_frame(&format!("COPY {t} FROM STDIN")),
                copy_data.clone(),
                copy_done.clone(),
            ],
        ));
        cases.push((
            "extended COPY FROM STDIN".into(),
            vec![
                parse("", &format!("COPY {t} FROM STDIN")),
                bind("", "", &[]),
                execute("", 0),
                copy_data.clone(),
                copy_done.clone(),
                sync(),
            ],
        ));
        let setup = || {
            up.sql(upstream::APP_DB, &format!("DEALLOCATE ALL; DELETE FROM {t} WHERE id > 60; INSERT INTO {t} (id) SELECT g FROM generate_series(1, 60) g ON CONFLICT DO NOTHING; UPDATE {t} SET v = 0"));
        };
        let bad = || {
            let n = changed(up, &t);
            let c = count(up, &t);
            (n != "0" || c != "60").then(|| format!("{n} rows changed, {c} rows"))
        };
        for g in probe(&proxy, cases, &setup, &bad).await {
            got.push(format!("{mode}: {g}"));
        }
    }
    report("other write forms", &got);
}

/// A FunctionCall ('F') frame: function `oid`, text arguments, text result.
fn function_call(oid: u32, args: &[&str]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&oid.to_be_bytes());
    b.extend_from_slice(&0u16.to_be_bytes());
    b.extend_from_slice(&(args.len() as u16).to_be_bytes());
    for a in args {
        b.extend_from_slice(&(a.len() as i32).to_be_bytes());
        b.extend_from_slice(a.as_bytes());
    }
    b.extend_from_slice(&0u16.to_be_bytes());
    raw::frame(b'F', &b)
}

/// Parse an untyped statement and run it with text parameters.
fn ext_params(sql: &str, params: &[&str]) -> (String, Vec<Vec<u8>>) {
    let p: Vec<Option<&str>> = params.iter().map(|v| Some(*v)).collect();
    (
        format!("extended {sql:?} with {params:?}"),
        vec![parse("", sql), bind("", "", &p), execute("", 0), sync()],
    )
}

/// The server's value of a setting as the session sees it.
async fn show(c: &mut pgward_e2e::raw::RawConn, name: &str) -> String {
    let msgs = exchange(c, &[query_frame(&format!("SHOW {name}"))], 1).await;
    raw::rows(&msgs)
        .first()
        .and_then(|r| r[0].clone())
        .unwrap_or_else(|| format!("? {}", summary(&msgs)))
}

/// Whether a timeout value is looser than 1 s (0 = none).
fn looser(v: &str) -> bool {
    !(v == "1s" || v == "1000ms" || (v.ends_with("ms") && v != "0ms"))
}

/// Holds (class 5): statement_timeout through set_config() with its value in a Bind
/// parameter, a FunctionCall argument or an expression, pg_settings updates, SET spellings.
/// (idle_in_transaction is pgward's own timer: `idle_in_transaction_*` tests below.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_cannot_be_loosened_through_parameters_or_fastpath() {
    let up = upstream::shared();
    let oid = up
        .sql(
            upstream::APP_DB,
            "SELECT 'pg_catalog.set_config(text,text,boolean)'::regprocedure::oid",
        )
        .trim()
        .parse::<u32>()
        .unwrap();
    let mut got = Vec::new();
    for mode in MODES {
        let proxy = builder(up, mode)
            .role("oncall", "idle_in_transaction_timeout", "1s")
            .role("engineer", "idle_in_transaction_timeout", "1s")
            .start();
        // The first client loads the catalog snapshot the fastpath needs.
        let mut c = login(&proxy, BOB).await;
        exchange(&mut c, &[query_frame("SELECT 1")], 1).await;
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        for name in ["statement_timeout"] {
            let mut cases = vec![
                ext_params("SELECT set_config($1, $2, false)", &[name, "0"]),
                ext_params(&format!("SELECT set_config('{name}', $1, false)"), &["0"]),
                ext_params(&format!("SELECT set_config('{name}', $1::text, false)"), &["0"]),
                ext_params("SELECT set_config($1::text, '0', false)", &[name]),
                ext_params(&format!("SELECT set_config('{name}', $1, $2)"), &["0", "false"]),
                ext_params("SELECT set_config(n, v, false) FROM (VALUES ($1, $2)) x(n, v)", &[name, "0"]),
                ext_params(&format!("SELECT set_config('{name}', current_setting($1), false)"), &["lock_timeout"]),
                ext_params(&format!("SELECT set_config('{name}', '0', false) WHERE $1 = 'x'"), &["x"]),
                q(&format!("SELECT set_config('{name}', v, false) FROM (VALUES ('0')) x(v)")),
                q(&format!("SELECT set_config('{name}', current_setting('lock_timeout'), false)")),
                q(&format!("SELECT set_config('{name}', (SELECT '0'), false)")),
                q(&format!("SELECT set_config('{name}', repeat('0', 1), false)")),
                q(&format!("SELECT set_config('{name}', 0::text, false)")),
                q(&format!("SELECT set_config('{name}', E'\\x30', false)")),
                q(&format!("SELECT set_config('{name}', U&'\\0030', false)")),
                q(&format!("SELECT set_config('{name}', $$0$$, false)")),
                q(&format!("SELECT set_config('{name}', '0'::varchar, false)")),
                q(&format!("SELECT set_config('{name}', '1h', false)")),
                q(&format!("UPDATE pg_catalog.pg_settings SET setting = '0' WHERE name = '{name}'")),
                q(&format!("UPDATE pg_settings s SET setting = '0' WHERE s.name = '{name}'")),
                q(&format!("UPDATE pg_settings SET setting = x.v FROM (VALUES ('0')) x(v) WHERE name = '{name}'")),
                q(&format!("UPDATE pg_settings SET setting = '0' WHERE name = lower('{}')", name.to_uppercase())),
                q(&format!("UPDATE pg_settings SET setting = '0' WHERE name LIKE '{}%'", &name[..8])),
                q(&format!("UPDATE pg_settings SET setting = '0' WHERE name IN (SELECT name FROM pg_settings WHERE name = '{name}')")),
                q(&format!("SET {name} = '1 min'")),
                q(&format!("SET {name} = '1e2s'")),
                q(&format!("SET {name} = '0x10s'")),
                q(&format!("SET {name} = ' 0 '")),
                q(&format!("SET {name} = '1e-3'")),
                q(&format!("SET {name} TO DEFAULT")),
                q(&format!("RESET {name}")),
                q(&format!("SET SESSION {name} = 0")),
                q(&format!("SET {} = 0", name.to_uppercase())),
                q(&format!("SET \"{name}\" = 0")),
                q(&format!("SET pg_catalog.{name} = 0")),
                q(&format!("SET {name} = '0'::int")),
                q(&format!("ALTER ROLE CURRENT_USER SET {name} = 0")),
            ];
            cases.push((
                format!("FunctionCall set_config({name}, 0)"),
                vec![function_call(oid, &[name, "0", "false"])],
            ));
            cases.push((
                format!("FunctionCall set_config({name}, 0) then Sync"),
                vec![function_call(oid, &[name, "0", "false"]), sync()],
            ));
            // bob: the read-write role that may call set_config and update pg_settings at
            // all (alice's read-only rules refuse more).
            for user in [BOB] {
                for (what, frames) in &cases {
                    let mut c = login(&proxy, user).await;
                    let n = frames
                        .iter()
                        .filter(|f| matches!(f[0], b'S' | b'Q' | b'F'))
                        .count();
                    let msgs = exchange(&mut c, frames, n).await;
                    let v = show(&mut c, name).await;
                    if looser(&v) {
                        got.push(format!(
                            "{mode} {}: {what}: server has {name} = {v} ({})",
                            user.0,
                            summary(&msgs)
                        ));
                    }
                }
            }
        }
    }
    report("timeouts loosened", &got);
}

/// Locks held on table `t` by sessions other than the checker's.
fn locks_on(up: &Upstream, t: &str) -> String {
    up.sql(
        upstream::APP_DB,
        &format!("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '{t}' AND l.pid <> pg_backend_pid()"),
    )
    .trim()
    .to_string()
}

/// Holds (class 5): idle-in-transaction after ways of opening or keeping a transaction
/// (an aborted block, a savepoint rolled back, RESET/DEFAULT/SET LOCAL of the setting, an
/// extended BEGIN, a row lock, a Describe only): each case holds a lock on its own table;
/// with idle_in_transaction_timeout 1s every lock is gone after 4 s. Cases run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_fires_however_the_transaction_is_held() {
    let up = upstream::shared();
    let mut got = Vec::new();
    let mut conns = Vec::new();
    let mut proxies = Vec::new();
    for mode in MODES {
        let proxy = builder(up, mode)
            .role("oncall", "idle_in_transaction_timeout", "1s")
            .role("engineer", "idle_in_transaction_timeout", "1s")
            .start();
        let tb = |i: usize| format!("r2g_idle_{mode}_{i}");
        let sel = |i: usize| format!("SELECT count(*) FROM {}", table(up, &tb(i), 5));
        let cases: Vec<TimeoutCase> = vec![
            (
                "aborted block",
                BOB,
                vec![
                    query_frame(&format!("BEGIN; {}", sel(0))),
                    query_frame("SELECT 1/0"),
                ],
            ),
            (
                "aborted block, one string",
                BOB,
                vec![query_frame(&format!("BEGIN; {}; SELECT 1/0", sel(1)))],
            ),
            (
                "aborted block, extended",
                ALICE,
                vec![
                    query_frame("BEGIN"),
                    parse("", &sel(2)),
                    bind("", "", &[]),
                    execute("", 0),
                    sync(),
                    parse("", "SELECT 1/0"),
                    bind("", "", &[]),
                    execute("", 0),
                    sync(),
                ],
            ),
            (
                "RESET then block",
                BOB,
                vec![
                    query_frame("RESET idle_in_transaction_session_timeout"),
                    query_frame(&format!("BEGIN; {}", sel(3))),
                ],
            ),
            (
                "SET TO DEFAULT then block",
                ALICE,
                vec![
                    query_frame("SET idle_in_transaction_session_timeout TO DEFAULT"),
                    query_frame(&format!("BEGIN; {}", sel(4))),
                ],
            ),
            (
                "SET pg_catalog. then block",
                BOB,
                vec![
                    query_frame("SET pg_catalog.idle_in_transaction_session_timeout = 0"),
                    query_frame(&format!("BEGIN; {}", sel(5))),
                ],
            ),
            (
                "SET LOCAL in block",
                BOB,
                vec![query_frame(&format!(
                    "BEGIN; SET LOCAL idle_in_transaction_session_timeout = 0; {}",
                    sel(6)
                ))],
            ),
            (
                "savepoint rolled back",
                BOB,
                vec![
                    query_frame(&format!("BEGIN; {}; SAVEPOINT a", sel(7))),
                    query_frame("SELECT 1/0"),
                    query_frame("ROLLBACK TO SAVEPOINT a"),
                ],
            ),
            (
                "block begun by extended BEGIN",
                ALICE,
                vec![
                    parse("", "BEGIN"),
                    bind("", "", &[]),
                    execute("", 0),
                    parse("", &sel(8)),
                    bind("", "", &[]),
                    execute("", 0),
                    sync(),
                ],
            ),
            (
                "START TRANSACTION ISOLATION",
                ALICE,
                vec![query_frame(&format!(
                    "START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY; {}",
                    sel(9)
                ))],
            ),
            (
                "row lock",
                BOB,
                vec![query_frame(&format!(
                    "BEGIN; SELECT * FROM {} WHERE id = 1 FOR UPDATE",
                    table(up, &tb(10), 5)
                ))],
            ),
            (
                "write in block",
                BOB,
                vec![query_frame(&format!(
                    "BEGIN; UPDATE {} SET v = 1 WHERE id = 1",
                    table(up, &tb(11), 5)
                ))],
            ),
            (
                "describe only",
                ALICE,
                vec![
                    query_frame("BEGIN"),
                    parse("d", &sel(12)),
                    pgward_e2e::wire::describe(b'S', "d"),
                    sync(),
                ],
            ),
            (
                "failed unsynced batch",
                BOB,
                vec![
                    parse("", &sel(13)),
                    bind("", "", &[]),
                    execute("", 0),
                    execute("nope", 0),
                    pgward_e2e::wire::flush(),
                ],
            ),
            (
                "failed unsynced batch in a block",
                ALICE,
                vec![
                    query_frame("BEGIN"),
                    parse("", &sel(14)),
                    bind("", "", &[]),
                    execute("", 0),
                    parse("", "SELECT 1/0"),
                    bind("", "", &[]),
                    execute("", 0),
                    pgward_e2e::wire::flush(),
                ],
            ),
        ];
        for (i, (what, user, frames)) in cases.iter().enumerate() {
            let mut c = login(&proxy, *user).await;
            exchange(&mut c, frames, sync_points(frames)).await;
            conns.push((format!("{mode}: {what} ({})", user.0), tb(i), c));
        }
        proxies.push(proxy);
    }
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    for (what, t, _c) in &conns {
        let locks = locks_on(up, t);
        if locks != "0" {
            got.push(format!("{what}: {locks} locks after 4 s under a 1 s limit"));
        }
    }
    up.sql("postgres", &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND usename <> current_user AND state LIKE 'idle in%' AND query LIKE '%r2g_idle_%'", upstream::APP_DB));
    drop(conns);
    report("idle in transaction", &got);
}

/// Rows (DataRow and CopyData) an answer carries.
fn rows_out(msgs: &[pgward_e2e::raw::Msg]) -> usize {
    msgs.iter().filter(|m| matches!(m.tag, b'D' | b'd')).count()
}

/// Holds (class 4): rows that come back through paths other than a plain SELECT's
/// DataRows: COPY TO STDOUT (text, CSV, binary; simple and extended), TABLE, SQL
/// PREPARE/EXECUTE, FETCH through extended Parse, a multi-statement string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_holds_on_other_result_paths() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_rows_{mode}"), 40);
        let proxy = proxy(up, mode);
        let sel = format!("SELECT id FROM {t}");
        let mut cases: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
        for sql in [
            format!("COPY ({sel}) TO STDOUT"),
            format!("COPY {t} TO STDOUT"),
            format!("COPY {t} (id) TO STDOUT WITH (FORMAT csv, HEADER)"),
            format!("COPY {t} TO STDOUT (FORMAT binary)"),
            format!("COPY (TABLE {t}) TO STDOUT"),
            format!("TABLE {t}"),
            "VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11), (12)".to_string(),
            format!("SELECT * FROM {t} UNION ALL SELECT * FROM {t}"),
            format!("PREPARE r2s AS {sel}; EXECUTE r2s"),
            format!("BEGIN; DECLARE r2c CURSOR FOR {sel}; FETCH ALL FROM r2c"),
            format!("BEGIN; DECLARE r2c SCROLL CURSOR FOR {sel}; FETCH 8 FROM r2c; MOVE ABSOLUTE 0 IN r2c; FETCH 8 FROM r2c"),
            format!("{sel} LIMIT 5; {sel} LIMIT 5; {sel} LIMIT 5"),
        ] {
            cases.push(q(&sql));
            if !sql.contains(';') {
                cases.push(ext(&sql));
            }
        }
        cases.push((
            "PREPARE, then extended EXECUTE".into(),
            vec![
                query_frame(&format!("PREPARE r2s AS {sel}")),
                parse("", "EXECUTE r2s"),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ],
        ));
        cases.push((
            "protocol Parse, then SQL EXECUTE".into(),
            vec![parse("ps", &sel), sync(), query_frame("EXECUTE ps")],
        ));
        cases.push((
            "protocol Parse, then extended SQL EXECUTE".into(),
            vec![
                parse("ps", &sel),
                sync(),
                parse("", "EXECUTE ps"),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ],
        ));
        cases.push((
            "DECLARE, then extended FETCH ALL".into(),
            vec![
                query_frame(&format!("BEGIN; DECLARE r2c CURSOR FOR {sel}")),
                parse("", "FETCH ALL FROM r2c"),
                bind("", "", &[]),
                execute("", 0),
                sync(),
            ],
        ));
        cases.push((
            "DECLARE, then FETCH 8 twice through Parse".into(),
            vec![
                query_frame(&format!("BEGIN; DECLARE r2c CURSOR FOR {sel}")),
                parse("f", "FETCH 8 FROM r2c"),
                bind("", "f", &[]),
                execute("", 0),
                bind("", "f", &[]),
                execute("", 0),
                sync(),
            ],
        ));
        cases.push((
            "COPY TO paged by Execute max_rows".into(),
            vec![
                parse("", &format!("COPY ({sel}) TO STDOUT")),
                bind("", "", &[]),
                execute("", 4),
                sync(),
            ],
        ));
        cases.push((
            "portal of a SQL cursor executed with max_rows".into(),
            vec![
                query_frame(&format!("BEGIN; DECLARE r2c CURSOR FOR {sel}")),
                execute("r2c", 8),
                execute("r2c", 8),
                sync(),
            ],
        ));
        for (what, frames) in cases {
            let mut c = login(&proxy, ALICE).await;
            let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
            let n = rows_out(&msgs);
            let limit = if what.contains("LIMIT 5") { 15 } else { 10 };
            if n > limit {
                got.push(format!("{mode}: {what}: {n} rows ({})", summary(&msgs)));
            }
        }
    }
    report("row limit", &got);
}

/// FINDING F3 (class 1/3): a portal created by Bind shares its namespace with SQL cursors:
/// in a block, Bind("p", UPDATE ... RETURNING) with no Execute, Sync, then a simple-Query
/// FETCH or MOVE on "p" runs the whole write (PORTAL_ONE_RETURNING), unguarded, and COMMIT
/// keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_a_bound_write_portal_cannot_be_run_by_fetch_or_move() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_fetchp_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id");
        for run in [
            "FETCH 1 FROM p",
            "FETCH ALL FROM p",
            "MOVE ALL IN p",
            "MOVE 1 IN p",
            "FETCH FORWARD 0 FROM p",
        ] {
            for extended_fetch in [false, true] {
                reset(up, &t);
                let mut c = login(&proxy, BOB).await;
                let mut frames = vec![
                    query_frame("BEGIN"),
                    parse("u", &upd),
                    bind("p", "u", &[]),
                    sync(),
                ];
                if extended_fetch {
                    frames.extend([parse("", run), bind("", "", &[]), execute("", 0), sync()]);
                } else {
                    frames.push(query_frame(run));
                }
                frames.push(query_frame("COMMIT"));
                let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
                let n = changed(up, &t);
                if n != "0" {
                    got.push(format!(
                        "{mode}: {run:?} (extended: {extended_fetch}): {n} rows committed ({})",
                        summary(&msgs)
                    ));
                }
            }
        }
    }
    report("write portal run by FETCH/MOVE", &got);
}

/// Holds (class 4): a protocol portal of a SELECT read in pages by SQL FETCH (or
/// alternating protocol Execute and SQL FETCH): rows past max_result_rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_counts_fetch_pages_of_a_bound_portal() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_fetchsel_{mode}"), 40);
        let proxy = proxy(up, mode);
        let sel = format!("SELECT id FROM {t} ORDER BY id");
        for alternate in [false, true] {
            let mut c = login(&proxy, ALICE).await;
            let mut frames = vec![
                query_frame("BEGIN"),
                parse("s", &sel),
                bind("p", "s", &[]),
                sync(),
            ];
            for i in 0..6 {
                if alternate && i % 2 == 1 {
                    frames.extend([execute("p", 4), sync()]);
                } else {
                    frames.push(query_frame("FETCH 4 FROM p"));
                }
            }
            let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
            let n = rows_out(&msgs);
            if n > 10 {
                got.push(format!(
                    "{mode} (alternate: {alternate}): {n} rows ({})",
                    summary(&msgs)
                ));
            }
        }
    }
    report("FETCH pages of a bound portal", &got);
}

/// FINDING F4 (class 1/3): EXPLAIN ANALYZE EXECUTE of a statement whose text (a protocol
/// Parse or a SQL PREPARE) is a write: the EXPLAIN's own text has no write in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_explain_analyze_execute_of_a_write_is_refused() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_explain_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        for prep in [
            vec![parse("u", &upd), sync()],
            vec![query_frame(&format!("PREPARE u AS {upd}"))],
        ] {
            for run in [
                "EXPLAIN ANALYZE EXECUTE u",
                "EXPLAIN (ANALYZE, COSTS OFF) EXECUTE u",
                "EXPLAIN (ANALYZE true, FORMAT JSON) EXECUTE u",
            ] {
                for extended in [false, true] {
                    reset(up, &t);
                    let mut c = login(&proxy, BOB).await;
                    let mut frames = prep.clone();
                    if extended {
                        frames.extend([parse("", run), bind("", "", &[]), execute("", 0), sync()]);
                    } else {
                        frames.push(query_frame(run));
                    }
                    let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
                    let n = changed(up, &t);
                    if n != "0" {
                        got.push(format!(
                            "{mode}: prepared by {}, {run:?} (extended: {extended}): {n} rows committed ({})",
                            if prep[0][0] == b'P' { "Parse" } else { "PREPARE" },
                            summary(&msgs)
                        ));
                    }
                }
            }
        }
    }
    report("EXPLAIN ANALYZE EXECUTE", &got);
}

/// Holds (class 1): inside the client's block, a savepoint taken after a tripped write
/// (in the same unit) and rolled back to afterwards would undo pgward's abort marker and
/// keep the write: ROLLBACK TO SAVEPOINT then COMMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoint_after_a_tripped_write_does_not_keep_it() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_sp_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let e = |sql: &str| vec![parse("", sql), bind("", "", &[]), execute("", 0)];
        let units: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "one string",
                vec![query_frame(&format!("{upd}; SAVEPOINT a"))],
            ),
            (
                "one string, SELECT between",
                vec![query_frame(&format!("{upd}; SELECT 1; SAVEPOINT a"))],
            ),
            (
                "extended then SAVEPOINT",
                [e(&upd), e("SAVEPOINT a"), vec![sync()]].concat(),
            ),
            (
                "extended, Query SAVEPOINT mid-batch",
                [e(&upd), vec![query_frame("SAVEPOINT a"), sync()]].concat(),
            ),
            (
                "extended, named statements",
                vec![
                    parse("sp", "SAVEPOINT a"),
                    parse("w", &upd),
                    bind("", "w", &[]),
                    execute("", 0),
                    bind("", "sp", &[]),
                    execute("", 0),
                    sync(),
                ],
            ),
        ];
        for (what, unit) in units {
            for (begin, end) in [
                ("BEGIN", "ROLLBACK TO SAVEPOINT a; COMMIT"),
                ("BEGIN; SAVEPOINT a", "ROLLBACK TO SAVEPOINT a; COMMIT"),
                ("BEGIN", "ROLLBACK TO a; RELEASE a; COMMIT"),
            ] {
                reset(up, &t);
                let mut c = login(&proxy, BOB).await;
                let mut frames = vec![query_frame(begin)];
                frames.extend(unit.clone());
                frames.push(query_frame(end));
                let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
                exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
                let n = changed(up, &t);
                if n != "0" {
                    got.push(format!(
                        "{mode}: {begin:?} + {what} + {end:?}: {n} rows committed ({})",
                        summary(&msgs)
                    ));
                }
            }
        }
    }
    report("savepoint after a tripped write", &got);
}

/// Holds (class 1): a batch that never reaches its Sync (the client sends Terminate or
/// closes the socket): PostgreSQL rolls the batch's implicit transaction back; pgward must
/// not commit it while settling the server (e.g. a Sync or COMMIT of its own, or the
/// guard's COMMIT), with or without a guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsynced_batch_is_not_committed_when_the_client_leaves() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_leave_{mode}"), 60);
        let proxy = proxy(up, mode);
        for user in [BOB, pgward_e2e::proxy::CAROL] {
            for (what, flush, term) in [
                ("Terminate", false, true),
                ("Flush, then close", true, false),
            ] {
                reset(up, &t);
                let mut c = login(&proxy, user).await;
                let mut frames = vec![
                    parse("", &format!("UPDATE {t} SET v = v + 1 WHERE id <= 3")),
                    bind("", "", &[]),
                    execute("", 0),
                ];
                if flush {
                    frames.push(pgward_e2e::wire::flush());
                }
                let _ = c.send(&pgward_e2e::wire::batch(&frames)).await;
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                if term {
                    let _ = c.send(&raw::frame(b'X', b"")).await;
                }
                drop(c);
                tokio::time::sleep(std::time::Duration::from_millis(700)).await;
                let n = changed(up, &t);
                if n != "0" {
                    got.push(format!("{mode} {}: {what}: {n} rows committed", user.0));
                }
            }
        }
    }
    report("unsynced batch committed", &got);
}

/// FINDING F5 (class 5): a COPY FROM STDIN kept alive by a client that trickles one byte of
/// an endless line every 300 ms: the server never reaches a row end (where it would act on
/// a cancel), the client is never silent long enough for the idle clock. bob has
/// statement_timeout 1s (and idle_in_transaction_timeout 1s); after 7 s the COPY must be
/// gone (its lock released). Also the same COPY started through the extended protocol and
/// left silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_statement_timeout_ends_a_trickled_copy_from_stdin() {
    let up = upstream::shared();
    let mut got = Vec::new();
    let mut conns = Vec::new();
    let mut proxies = Vec::new();
    for mode in MODES {
        let proxy = builder(up, mode)
            .role("oncall", "idle_in_transaction_timeout", "1s")
            .start();
        for (i, (what, extended, trickle)) in [
            ("simple, trickled", false, true),
            ("extended, trickled", true, true),
            ("extended, silent", true, false),
        ]
        .into_iter()
        .enumerate()
        {
            let t = table(up, &format!("r2g_trickle_{mode}_{i}"), 5);
            let c = login(&proxy, BOB).await;
            let sql = format!("COPY {t} FROM STDIN");
            let start = if extended {
                pgward_e2e::wire::batch(&[
                    parse("", &sql),
                    bind("", "", &[]),
                    execute("", 0),
                    sync(),
                ])
            } else {
                query_frame(&sql)
            };
            conns.push((format!("{mode}: {what}"), t, trickle, start, c));
        }
        proxies.push(proxy);
    }
    // Start every COPY only now, so none is silent before its trickle starts.
    for (_, _, _, start, c) in conns.iter_mut() {
        c.send(start).await.expect("sending");
    }
    let began = std::time::Instant::now();
    while began.elapsed() < std::time::Duration::from_secs(7) {
        for (_, _, trickle, _, c) in conns.iter_mut() {
            if *trickle {
                let _ = c.send(&raw::frame(b'd', b"1")).await;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    for (what, t, _, _, _) in &conns {
        let locks = locks_on(up, t);
        if locks != "0" {
            got.push(format!(
                "{what}: {locks} locks on {t} after 7 s under a 1 s limit"
            ));
            up.sql("postgres", &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'COPY {t} %'"));
        }
    }
    drop(conns);
    report("trickled COPY", &got);
}

/// FINDING F6 (class 5): a large result to a client that stops reading: the server blocks
/// writing (it acts on no cancel then) and holds its snapshot and locks. bob has
/// statement_timeout 1s; after 7 s of not reading, the statement must be gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_statement_timeout_ends_a_result_the_client_does_not_read() {
    let up = upstream::shared();
    let mut got = Vec::new();
    let mut conns = Vec::new();
    let mut proxies = Vec::new();
    for mode in MODES {
        let proxy = proxy(up, mode);
        for extended in [false, true] {
            let t = table(up, &format!("r2g_noread_{mode}_{extended}"), 5);
            let mut c = login(&proxy, BOB).await;
            let sql =
                format!("SELECT {t}.*, repeat('x', 2000), generate_series(1, 400000) FROM {t}");
            let frames = if extended {
                vec![parse("", &sql), bind("", "", &[]), execute("", 0), sync()]
            } else {
                vec![query_frame(&sql)]
            };
            c.send(&pgward_e2e::wire::batch(&frames))
                .await
                .expect("sending");
            conns.push((format!("{mode} (extended: {extended})"), t, c));
        }
        proxies.push(proxy);
    }
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    for (what, t, _) in &conns {
        let locks = locks_on(up, t);
        if locks != "0" {
            got.push(format!(
                "{what}: {locks} locks on {t} after 7 s unread under a 1 s limit"
            ));
            up.sql("postgres", &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT {t}.*%'"));
        }
    }
    drop(conns);
    report("unread result", &got);
}

/// Holds (class 3): in transaction mode the unnamed statement lives on the server, not
/// the client: carol Parses an UPDATE unnamed and Syncs (no Bind); with one server in the
/// pool, alice (read-only) or bob (guarded) then Binds the unnamed statement without a
/// Parse of their own: it must not run carol's write. Also after a server swap for the
/// same client (it must not run another statement than its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unnamed_statement_does_not_leak_across_clients() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_leak_{mode}"), 60);
        let proxy = builder(up, mode).pool_size(1).start();
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        for (user, keep_a) in [(ALICE, false), (BOB, false), (ALICE, true)] {
            reset(up, &t);
            let mut a = login(&proxy, pgward_e2e::proxy::CAROL).await;
            exchange(&mut a, &[parse("", &upd), sync()], 1).await;
            exchange(&mut a, &[parse("n", &upd), sync()], 1).await;
            if !keep_a {
                drop(a);
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            } else if mode == "session" {
                // session mode: a second client cannot share a server; skip.
                continue;
            }
            let mut b = login(&proxy, user).await;
            for stmt in ["", "n"] {
                let frames = [bind("", stmt, &[]), execute("", 0), sync()];
                let msgs = exchange(&mut b, &frames, 1).await;
                let n = changed(up, &t);
                if n != "0" {
                    got.push(format!(
                        "{mode}: {} Bind(\"\", {stmt:?}) ran carol's write: {n} rows ({})",
                        user.0,
                        summary(&msgs)
                    ));
                    reset(up, &t);
                }
            }
        }
    }
    report("unnamed statement across clients", &got);
}

/// Class 1/2 (cut variants): bob with max_result_rows 10 too: a result cut by the row limit
/// (SELECT, COPY TO, RETURNING, FETCH) followed in the same simple Query, or in a pipelined
/// Query/extended mix, by a 60-row write; the cut's cancel races the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_cut_does_not_hide_a_write_in_simple_queries() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_cutq_{mode}"), 60);
        let proxy = builder(up, mode)
            .role("oncall", "max_result_rows", 10)
            .start();
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let sel = format!("SELECT id FROM {t}");
        let e = |sql: &str| vec![parse("", sql), bind("", "", &[]), execute("", 0)];
        let cases: Vec<(String, Vec<Vec<u8>>)> = vec![
            q(&format!("{sel}; {upd}")),
            q(&format!("COPY ({sel}) TO STDOUT; {upd}")),
            q(&format!("BEGIN; {sel}; {upd}; COMMIT")),
            q(&format!(
                "BEGIN; DECLARE c CURSOR FOR {sel}; FETCH ALL FROM c; {upd}; COMMIT"
            )),
            (
                "pipelined Queries".into(),
                vec![query_frame(&sel), query_frame(&upd)],
            ),
            (
                "pipelined BEGIN, SELECT, UPDATE, COMMIT".into(),
                vec![
                    query_frame("BEGIN"),
                    query_frame(&sel),
                    query_frame(&upd),
                    query_frame("COMMIT"),
                ],
            ),
            (
                "extended COPY TO then write".into(),
                [e(&format!("COPY ({sel}) TO STDOUT")), e(&upd), vec![sync()]].concat(),
            ),
            (
                "extended SELECT, Query write".into(),
                [e(&sel), vec![sync(), query_frame(&upd)]].concat(),
            ),
        ];
        for (what, frames) in cases {
            for _ in 0..2 {
                reset(up, &t);
                let mut c = login(&proxy, BOB).await;
                let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
                exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
                let n = changed(up, &t);
                if n != "0" {
                    got.push(format!(
                        "{mode}: {what}: {n} rows committed ({})",
                        summary(&msgs)
                    ));
                    break;
                }
            }
        }
    }
    report("write after a cut", &got);
}

/// FINDING F1b (class 1/2, F1 by other paths): the writing function called by OID through
/// the protocol's FunctionCall, and reached through a column DEFAULT of a one-row INSERT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_writing_function_through_fastpath_or_a_default_is_refused() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = format!("r2g_fp_{mode}");
        let s = format!("r2g_fps_{mode}");
        side_effect_schema(up, &t, &s);
        up.sql(
            upstream::APP_DB,
            &format!(
                "CREATE TABLE {s}_d (id int, v int DEFAULT {t}_w()); ALTER TABLE {s}_d OWNER TO {}",
                upstream::OWNER_USER
            ),
        );
        let oid: u32 = up
            .sql(upstream::APP_DB, &format!("SELECT '{t}_w'::regproc::oid"))
            .trim()
            .parse()
            .unwrap();
        let proxy = proxy(up, mode);
        // The first client makes pgward load its catalog snapshot (OIDs to names).
        let mut c = login(&proxy, BOB).await;
        exchange(&mut c, &[query_frame("SELECT 1")], 1).await;
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let cases = vec![
            ("FunctionCall".into(), vec![function_call(oid, &[])]),
            (
                "FunctionCall, Sync".into(),
                vec![function_call(oid, &[]), sync()],
            ),
            q(&format!("INSERT INTO {s}_d (id) VALUES (100)")),
            ext(&format!("INSERT INTO {s}_d (id) VALUES (100)")),
        ];
        let bad = || {
            let n = changed(up, &t);
            (n != "0").then(|| format!("{n} rows of {t} changed"))
        };
        for g in probe(&proxy, cases, &|| reset(up, &t), &bad).await {
            got.push(format!("{mode}: {g}"));
        }
    }
    report("writing function via fastpath/default", &got);
}

/// Class 1 (inside the client's own block): a 60-row write followed in its unit by
/// something that ends the block: COMMIT / END / COMMIT AND CHAIN / RELEASE in the same
/// string, a Query COMMIT mid extended batch, PREPARE TRANSACTION.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tripped_write_in_the_clients_block_is_not_committed_by_its_unit() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_blk_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let e = |sql: &str| vec![parse("", sql), bind("", "", &[]), execute("", 0)];
        let units: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "string COMMIT",
                vec![query_frame(&format!("{upd}; COMMIT"))],
            ),
            ("string END", vec![query_frame(&format!("{upd}; END"))]),
            (
                "string COMMIT AND CHAIN",
                vec![query_frame(&format!("{upd}; COMMIT AND CHAIN"))],
            ),
            (
                "string RELEASE then COMMIT",
                vec![query_frame(&format!("{upd}; RELEASE SAVEPOINT a; COMMIT"))],
            ),
            (
                "string PREPARE TRANSACTION",
                vec![query_frame(&format!("{upd}; PREPARE TRANSACTION 'r2g'"))],
            ),
            (
                "Query COMMIT mid-batch",
                [e(&upd), vec![query_frame("COMMIT"), sync()]].concat(),
            ),
            (
                "extended COMMIT after",
                [e(&upd), e("COMMIT"), vec![sync()]].concat(),
            ),
            (
                "Flush, then COMMIT",
                [
                    e(&upd),
                    vec![pgward_e2e::wire::flush(), query_frame("COMMIT"), sync()],
                ]
                .concat(),
            ),
        ];
        for (what, unit) in units {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            let mut frames = vec![query_frame("BEGIN; SAVEPOINT a")];
            frames.extend(unit);
            let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
            exchange(&mut c, &[query_frame("COMMIT")], 1).await;
            exchange(&mut c, &[query_frame("COMMIT PREPARED 'r2g'")], 1).await;
            up.try_sql(upstream::APP_DB, "ROLLBACK PREPARED 'r2g'").ok();
            let n = changed(up, &t);
            if n != "0" {
                got.push(format!(
                    "{mode}: {what}: {n} rows committed ({})",
                    summary(&msgs)
                ));
            }
        }
    }
    report("tripped write in a block", &got);
}

/// Class 1/3: a write portal bound in one batch of the client's block and executed in a
/// later one (whole, paged, after a Describe, after a failed Bind over its name), then
/// COMMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_portal_executed_in_a_later_batch_is_guarded() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_later_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let ret = format!("{upd} RETURNING id");
        let cases: Vec<(&str, Vec<Vec<Vec<u8>>>)> = vec![
            (
                "whole",
                vec![
                    vec![parse("u", &upd), bind("p", "u", &[]), sync()],
                    vec![execute("p", 0), sync()],
                ],
            ),
            (
                "paged RETURNING",
                vec![
                    vec![parse("u", &ret), bind("p", "u", &[]), sync()],
                    vec![execute("p", 1), sync()],
                    vec![execute("p", 0), sync()],
                ],
            ),
            (
                "Describe first",
                vec![
                    vec![parse("u", &ret), bind("p", "u", &[]), sync()],
                    vec![
                        pgward_e2e::wire::describe(b'P', "p"),
                        execute("p", 0),
                        sync(),
                    ],
                ],
            ),
            (
                "failed re-Bind of p",
                vec![
                    vec![parse("u", &upd), bind("p", "u", &[]), sync()],
                    vec![parse("s", "SELECT 1"), bind("p", "s", &[]), sync()],
                    vec![execute("p", 0), sync()],
                ],
            ),
            (
                "Close of p with junk",
                vec![
                    vec![parse("u", &upd), bind("p", "u", &[]), sync()],
                    vec![raw::frame(b'C', b"Pp\0junk"), sync()],
                    vec![parse("s", "SELECT 1"), bind("p", "s", &[]), sync()],
                    vec![execute("p", 0), sync()],
                ],
            ),
            (
                "Close kind X",
                vec![
                    vec![parse("u", &upd), bind("p", "u", &[]), sync()],
                    vec![raw::frame(b'C', b"Xp\0"), sync()],
                    vec![execute("p", 0), sync()],
                ],
            ),
            (
                "Close S with junk, re-Parse",
                vec![
                    vec![parse("u", &upd), sync()],
                    vec![raw::frame(b'C', b"Su\0junk"), sync()],
                    vec![parse("u", "SELECT 1"), sync()],
                    vec![bind("", "u", &[]), execute("", 0), sync()],
                ],
            ),
        ];
        for (what, steps) in cases {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            exchange(&mut c, &[query_frame("BEGIN")], 1).await;
            let mut all = Vec::new();
            for step in &steps {
                all.extend(exchange(&mut c, step, sync_points(step)).await);
            }
            exchange(&mut c, &[query_frame("COMMIT")], 1).await;
            let n = changed(up, &t);
            if n != "0" {
                got.push(format!(
                    "{mode}: {what}: {n} rows committed ({})",
                    summary(&all)
                ));
            }
        }
    }
    report("write portal in a later batch", &got);
}

/// FINDING F7 (class 5 via user code): an existing user function whose body calls
/// set_config('statement_timeout', '0', false). bob calls it; the server's statement_timeout
/// must not end up looser than the role's 1 s (or the next statement must still be cut
/// near 1 s: pg_sleep(4) must fail within 3 s), and in transaction mode another client
/// (pool of one) must not inherit it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_user_function_cannot_loosen_statement_timeout() {
    let up = upstream::shared();
    up.sql(
        upstream::APP_DB,
        &format!(
            "CREATE OR REPLACE FUNCTION r2g_loosen() RETURNS text LANGUAGE sql AS
               $$ SELECT set_config('statement_timeout', '0', false) $$;
             ALTER FUNCTION r2g_loosen() OWNER TO {}",
            upstream::OWNER_USER
        ),
    );
    let mut got = Vec::new();
    for mode in MODES {
        let proxy = builder(up, mode).pool_size(1).start();
        let mut c = login(&proxy, BOB).await;
        let msgs = exchange(&mut c, &[query_frame("SELECT r2g_loosen()")], 1).await;
        let v = show(&mut c, "statement_timeout").await;
        if looser(&v) {
            got.push(format!(
                "{mode}: after SELECT r2g_loosen() ({}): server has statement_timeout {v}",
                summary(&msgs)
            ));
        }
        let began = std::time::Instant::now();
        let msgs = exchange(&mut c, &[query_frame("SELECT pg_sleep(4)")], 1).await;
        let took = began.elapsed();
        if took > std::time::Duration::from_secs(3) || raw::first_error(&msgs).is_none() {
            got.push(format!(
                "{mode}: pg_sleep(4) ran {took:?} ({})",
                summary(&msgs)
            ));
        }
        if mode == "transaction" {
            drop(c);
            let mut d = login(&proxy, BOB).await;
            let v = show(&mut d, "statement_timeout").await;
            if looser(&v) {
                got.push(format!(
                    "{mode}: the next client's server has statement_timeout {v}"
                ));
            }
        }
    }
    report("user function loosening statement_timeout", &got);
}

/// Class 4/6: the row limit against odd Execute row counts (negative, i32::MIN, huge),
/// pages asked for with Flush in separate writes, binary results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_holds_for_odd_execute_counts_and_flushed_pages() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_odd_{mode}"), 40);
        let proxy = proxy(up, mode);
        let sel = format!("SELECT id FROM {t} ORDER BY id");
        for max_rows in [-1, i32::MIN, i32::MAX, -40] {
            let mut c = login(&proxy, ALICE).await;
            let frames = [
                parse("", &sel),
                bind("", "", &[]),
                execute("", max_rows),
                sync(),
            ];
            let msgs = exchange(&mut c, &frames, 1).await;
            if rows_out(&msgs) > 10 {
                got.push(format!(
                    "{mode}: max_rows {max_rows}: {} rows",
                    rows_out(&msgs)
                ));
            }
        }
        // Binary results: result format code 1 for all columns.
        let mut c = login(&proxy, ALICE).await;
        let mut b = Vec::new();
        b.extend_from_slice(b"\0\0\0\0\0\0\x01\0\x01");
        let frames = [
            parse("", &sel),
            raw::frame(b'B', &b),
            execute("", 0),
            sync(),
        ];
        let msgs = exchange(&mut c, &frames, 1).await;
        if rows_out(&msgs) > 10 {
            got.push(format!("{mode}: binary: {} rows", rows_out(&msgs)));
        }
        // Flushed pages in separate writes, in a block and in an unsynced batch.
        for block in [true, false] {
            let mut c = login(&proxy, ALICE).await;
            if block {
                exchange(&mut c, &[query_frame("BEGIN")], 1).await;
            }
            let _ = c
                .send(&pgward_e2e::wire::batch(&[
                    parse("s", &sel),
                    bind("p", "s", &[]),
                ]))
                .await;
            let mut n = 0;
            let mut done = false;
            for _ in 0..10 {
                if done {
                    break;
                }
                let _ = c
                    .send(&pgward_e2e::wire::batch(&[
                        execute("p", 4),
                        pgward_e2e::wire::flush(),
                    ]))
                    .await;
                loop {
                    match c.read_msg(2).await {
                        raw::ReadResult::Msg(m) => {
                            n += usize::from(m.tag == b'D');
                            done |= matches!(m.tag, b'C' | b'E');
                            if matches!(m.tag, b's' | b'C' | b'E') {
                                break;
                            }
                        }
                        _ => {
                            done = true;
                            break;
                        }
                    }
                }
            }
            if n > 10 {
                got.push(format!("{mode}: flushed pages (block: {block}): {n} rows"));
            }
        }
    }
    report("row limit, odd counts", &got);
}

/// FINDING F8 (class 1/2): a role with allow_ddl and max_affected_rows 5 (carol's admin
/// role here): TRUNCATE removes every row with no row count, and is neither refused as
/// uncountable nor counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_ddl_role_with_max_affected_rows_cannot_truncate() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_trunc_{mode}"), 60);
        let proxy = builder(up, mode)
            .role("admin", "max_affected_rows", 5)
            .start();
        let cases = [
            q(&format!("TRUNCATE {t}")),
            ext(&format!("TRUNCATE {t}")),
            q(&format!("TRUNCATE TABLE ONLY {t} RESTART IDENTITY")),
            // Not here: ALTER TABLE ... TYPE ... USING rewrites every row, like DROP TABLE
            // removes them: DDL is `allow_ddl`'s to grant, outside max_affected_rows
            // (docs/guardrails.md).
        ];
        for (what, frames) in cases {
            up.sql(upstream::APP_DB, &format!("DELETE FROM {t}; INSERT INTO {t} (id) SELECT g FROM generate_series(1, 60) g; ALTER TABLE {t} ALTER COLUMN v TYPE int"));
            let mut c = login(&proxy, pgward_e2e::proxy::CAROL).await;
            let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
            let n = changed(up, &t);
            let k = count(up, &t);
            if n != "0" || k != "60" {
                got.push(format!(
                    "{mode}: {what}: {n} rows changed, {k} rows left ({})",
                    summary(&msgs)
                ));
            }
        }
    }
    report("DDL role with max_affected_rows", &got);
}

/// FINDING F1c (class 1/2, F1 without a call in the text): the writing function reached
/// through a view's definition, a domain's CHECK (a cast), a user operator, a user cast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_writing_function_reached_without_a_call_in_the_text() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = format!("r2g_hid_{mode}");
        let s = format!("r2g_hids_{mode}");
        side_effect_schema(up, &t, &s);
        up.sql(
            upstream::APP_DB,
            &format!(
                "CREATE OR REPLACE FUNCTION {t}_b(int) RETURNS boolean LANGUAGE sql AS
                   $$ UPDATE {t} SET v = v + 1 WHERE id > 0; SELECT true $$;
                 CREATE OR REPLACE FUNCTION {t}_op(int, int) RETURNS boolean LANGUAGE sql AS
                   $$ UPDATE {t} SET v = v + 1 WHERE id > 0; SELECT true $$;
                 DROP VIEW IF EXISTS {t}_view;
                 CREATE VIEW {t}_view AS SELECT {t}_w() AS x;
                 DROP DOMAIN IF EXISTS {t}_dom;
                 CREATE DOMAIN {t}_dom AS int CHECK ({t}_b(VALUE));
                 DROP OPERATOR IF EXISTS public.=== (int, int);
                 CREATE OPERATOR public.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = {t}_op);
                 ALTER VIEW {t}_view OWNER TO {o};",
                o = upstream::OWNER_USER
            ),
        );
        let proxy = proxy(up, mode);
        let cases = vec![
            q(&format!("SELECT * FROM {t}_view")),
            ext(&format!("SELECT * FROM {t}_view")),
            q(&format!("SELECT 1::{t}_dom")),
            ext(&format!("SELECT CAST(1 AS {t}_dom)")),
            q("SELECT 1 === 2"),
            ext("SELECT 1 OPERATOR(public.===) 2"),
        ];
        let bad = || {
            let n = changed(up, &t);
            (n != "0").then(|| format!("{n} rows of {t} changed"))
        };
        for g in probe(&proxy, cases, &|| reset(up, &t), &bad).await {
            got.push(format!("{mode}: {g}"));
        }
    }
    report("writing function reached without a call", &got);
}

/// Class 5: a client that stalls in the middle of a frame (a few bytes of the next message
/// sent, the rest never) while its block holds a lock: idle_in_transaction 1s must still
/// end it within 4 s. Also mid-frame inside an unsynced batch, and mid-CopyData.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_fires_while_a_frame_is_half_sent() {
    let up = upstream::shared();
    let mut got = Vec::new();
    let mut all = Vec::new();
    let mut proxies = Vec::new();
    for mode in MODES {
        let proxy = builder(up, mode)
            .role("oncall", "idle_in_transaction_timeout", "1s")
            .start();
        let tb = |i: usize| format!("r2g_half_{mode}_{i}");
        for i in 0..4 {
            let t = table(up, &tb(i), 5);
            let mut c = login(&proxy, BOB).await;
            let next = query_frame("SELECT 1");
            match i {
                0 => {
                    exchange(
                        &mut c,
                        &[query_frame(&format!("BEGIN; SELECT count(*) FROM {t}"))],
                        1,
                    )
                    .await;
                    let _ = c.send(&next[..3]).await;
                }
                1 => {
                    exchange(
                        &mut c,
                        &[query_frame(&format!("BEGIN; SELECT count(*) FROM {t}"))],
                        1,
                    )
                    .await;
                    let _ = c.send(&next[..next.len() - 2]).await;
                }
                2 => {
                    let frames = [
                        parse("", &format!("SELECT count(*) FROM {t}")),
                        bind("", "", &[]),
                        execute("", 0),
                        pgward_e2e::wire::flush(),
                    ];
                    let _ = c.send(&pgward_e2e::wire::batch(&frames)).await;
                    let _ = c.send(&next[..3]).await;
                }
                _ => {
                    exchange(&mut c, &[query_frame("BEGIN")], 1).await;
                    let _ = c.send(&query_frame(&format!("COPY {t} FROM STDIN"))).await;
                    let d = raw::frame(b'd', b"100\t1\n");
                    let _ = c.send(&d[..d.len() - 3]).await;
                }
            }
            all.push((format!("{mode}: case {i}"), tb(i), c));
        }
        proxies.push(proxy);
    }
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    for (what, t, _) in &all {
        let locks = locks_on(up, t);
        if locks != "0" {
            got.push(format!("{what}: {locks} locks after 5 s under a 1 s limit"));
        }
    }
    up.sql("postgres", &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND usename <> current_user AND query LIKE '%r2g_half_%'", upstream::APP_DB));
    drop(all);
    report("half-sent frame", &got);
}

/// Class 1: transaction control BEFORE the write in its own unit, ending the transaction
/// pgward's guard opened: the write then runs in a transaction of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_control_before_the_write_does_not_escape_the_guard() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_before_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let e = |sql: &str| vec![parse("", sql), bind("", "", &[]), execute("", 0)];
        let mut cases: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
        for ctl in [
            "COMMIT",
            "ROLLBACK",
            "END",
            "ABORT",
            "COMMIT AND CHAIN",
            "ROLLBACK AND CHAIN",
            "BEGIN; COMMIT",
            "SAVEPOINT a; RELEASE a; COMMIT",
            "START TRANSACTION; ROLLBACK",
            "SET TRANSACTION READ WRITE; COMMIT",
        ] {
            cases.push(q(&format!("{ctl}; {upd}")));
            cases.push(q(&format!("{ctl}; SELECT 1; {upd}; SELECT 2")));
            cases.push((
                format!("extended {ctl:?} then write"),
                [e(ctl.split(';').next().unwrap()), e(&upd), vec![sync()]].concat(),
            ));
            cases.push((
                format!("Query {ctl:?} then extended write, one batch"),
                [vec![query_frame(ctl)], e(&upd), vec![sync()]].concat(),
            ));
        }
        for (what, frames) in cases {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
            exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
            let n = changed(up, &t);
            if n != "0" {
                got.push(format!(
                    "{mode}: {what}: {n} rows committed ({})",
                    summary(&msgs)
                ));
            }
        }
    }
    report("transaction control before the write", &got);
}

/// Class 3 (transaction mode, shared server statements): a second bob session reads the
/// name under which pgward keeps the first one's SELECT on the shared server
/// (pg_prepared_statements), replaces it there with a write (DEALLOCATE + PREPARE under that
/// name, or DEALLOCATE ALL + PREPARE), then the first Binds its statement again: it must
/// not run the write (unguarded, as the SELECT's decision).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_server_statement_cannot_be_replaced_by_another_client() {
    let up = upstream::shared();
    let mut got = Vec::new();
    let t = table(up, "r2g_shared", 60);
    let proxy = builder(up, "transaction").pool_size(1).start();
    let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
    for how in [
        "DEALLOCATE {n}; PREPARE {n} AS {u}",
        "DEALLOCATE ALL; PREPARE {n} AS {u}",
        "PREPARE {n} AS {u}",
    ] {
        reset(up, &t);
        let mut a = login(&proxy, BOB).await;
        let sel = format!("SELECT count(*) FROM {t}");
        exchange(
            &mut a,
            &[parse("s", &sel), bind("", "s", &[]), execute("", 0), sync()],
            1,
        )
        .await;
        let mut b = login(&proxy, BOB).await;
        let msgs = exchange(
            &mut b,
            &[query_frame(
                "SELECT name FROM pg_prepared_statements WHERE statement LIKE '%r2g_shared%'",
            )],
            1,
        )
        .await;
        // Not on b's server (pgward reset it for b, or placed it elsewhere): nothing to aim at.
        let Some(name) = raw::rows(&msgs).first().and_then(|r| r[0].clone()) else {
            eprintln!("{how}: the name was not found ({})", summary(&msgs));
            continue;
        };
        eprintln!("shared name: {name}");
        let sql = how.replace("{n}", &name).replace("{u}", &upd);
        let msgs_b = exchange(&mut b, &[query_frame(&sql)], 1).await;
        eprintln!("{sql}: {}", summary(&msgs_b));
        drop(b);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let msgs = exchange(&mut a, &[bind("", "s", &[]), execute("", 0), sync()], 1).await;
        let n = changed(up, &t);
        if n != "0" {
            got.push(format!(
                "{sql:?} ({}): alice's Bind ran it: {n} rows ({})",
                summary(&msgs_b),
                summary(&msgs)
            ));
        }
    }
    report("shared statement replaced", &got);
}

/// Holds (class 5; "F9" retracted): with the server's statement_timeout switched off by user
/// code (F7), pgward's own backstop is the only limit: every path that runs a 4 s statement
/// is cut within 3 s (bob: statement_timeout 1s): simple, extended with Sync, with Flush
/// only, with nothing after Execute, FunctionCall, COPY TO, FETCH from a cursor, a block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backstop_cuts_every_path_once_the_server_timeout_is_off() {
    let up = upstream::shared();
    up.sql(
        upstream::APP_DB,
        &format!(
            "CREATE OR REPLACE FUNCTION r2g_loosen() RETURNS text LANGUAGE sql AS
               $$ SELECT set_config('statement_timeout', '0', false) $$;
             ALTER FUNCTION r2g_loosen() OWNER TO {}",
            upstream::OWNER_USER
        ),
    );
    let sleep_oid: u32 = up
        .sql(
            upstream::APP_DB,
            "SELECT 'pg_catalog.pg_sleep(double precision)'::regprocedure::oid",
        )
        .trim()
        .parse()
        .unwrap();
    let mut got = Vec::new();
    let mut conns = Vec::new();
    let mut proxies = Vec::new();
    for (m, mode) in MODES.into_iter().enumerate() {
        let proxy = proxy(up, mode);
        // The first client makes pgward load its catalog snapshot (for the FunctionCall).
        let mut c = login(&proxy, BOB).await;
        exchange(&mut c, &[query_frame("SELECT 1")], 1).await;
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let e = |sql: &str| vec![parse("", sql), bind("", "", &[]), execute("", 0)];
        // Each case sleeps a distinct duration so that pg_stat_activity tells them apart.
        let z = |i: usize| format!("pg_sleep(4.{m}{i})");
        let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
            ("simple", vec![query_frame(&format!("SELECT {}", z(0)))]),
            (
                "extended + Sync",
                [e(&format!("SELECT {}", z(1))), vec![sync()]].concat(),
            ),
            (
                "extended + Flush",
                [
                    e(&format!("SELECT {}", z(2))),
                    vec![pgward_e2e::wire::flush()],
                ]
                .concat(),
            ),
            ("extended, nothing after", e(&format!("SELECT {}", z(3)))),
            (
                "COPY TO",
                vec![query_frame(&format!("COPY (SELECT {}) TO STDOUT", z(4)))],
            ),
            (
                "cursor FETCH",
                vec![query_frame(&format!(
                    "BEGIN; DECLARE c CURSOR FOR SELECT {}; FETCH 1 FROM c",
                    z(5)
                ))],
            ),
            (
                "sleep in a block after BEGIN",
                vec![
                    query_frame("BEGIN"),
                    query_frame(&format!("SELECT {}", z(6))),
                ],
            ),
        ];
        for (i, (what, frames)) in cases.into_iter().enumerate() {
            let mut c = login(&proxy, BOB).await;
            exchange(&mut c, &[query_frame("SELECT r2g_loosen()")], 1).await;
            let v = show(&mut c, "statement_timeout").await;
            let _ = c.send(&pgward_e2e::wire::batch(&frames)).await;
            conns.push((format!("{mode}: {what} (server timeout {v})"), z(i), c));
        }
        let mut c = login(&proxy, BOB).await;
        exchange(&mut c, &[query_frame("SELECT r2g_loosen()")], 1).await;
        let _ = c.send(&function_call(sleep_oid, &["4.5"])).await;
        conns.push((format!("{mode}: FunctionCall"), "fastpath".into(), c));
        proxies.push(proxy);
    }
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    let fastpath = up.sql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'fastpath function call' AND wait_event = 'PgSleep'",
    );
    for (what, needle, _) in &conns {
        let running = if needle == "fastpath" {
            fastpath.trim().to_string()
        } else {
            up.sql(
                "postgres",
                // Still sleeping: after an error without Sync the backend stays 'active' with
                // the failed query's text until the Sync, though nothing runs.
                &format!("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND wait_event = 'PgSleep' AND query LIKE '%{needle}%' AND pid <> pg_backend_pid()"),
            ).trim().to_string()
        };
        if running != "0" {
            got.push(format!("{what}: still running 3 s in (limit 1 s)"));
        }
    }
    drop(conns);
    report("backstop", &got);
}

/// Class 1 (pipelined): the client's block, a 60-row write and its COMMIT sent in one
/// write, as separate units (simple and extended), so the COMMIT is already buffered when
/// the write's verdict comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_commit_after_a_tripped_write_does_not_keep_it() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_pipe_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let e = |sql: &str| vec![parse("", sql), bind("", "", &[]), execute("", 0), sync()];
        let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "simple",
                vec![
                    query_frame("BEGIN"),
                    query_frame(&upd),
                    query_frame("COMMIT"),
                ],
            ),
            ("extended", [e("BEGIN"), e(&upd), e("COMMIT")].concat()),
            (
                "mixed",
                [
                    vec![query_frame("BEGIN")],
                    e(&upd),
                    vec![query_frame("COMMIT")],
                ]
                .concat(),
            ),
            (
                "implicit, then COMMIT",
                [e(&upd), vec![query_frame("COMMIT")]].concat(),
            ),
            (
                "savepoint",
                vec![
                    query_frame("BEGIN"),
                    query_frame("SAVEPOINT a"),
                    query_frame(&upd),
                    query_frame("RELEASE a"),
                    query_frame("COMMIT"),
                ],
            ),
        ];
        for (what, frames) in cases {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
            exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
            let n = changed(up, &t);
            if n != "0" {
                got.push(format!(
                    "{mode}: {what}: {n} rows committed ({})",
                    summary(&msgs)
                ));
            }
        }
    }
    report("pipelined COMMIT", &got);
}

/// Class 1/2: an extended-protocol COPY FROM STDIN of 60 rows with Syncs where PostgreSQL
/// ignores them (before the data, between CopyData messages), and with Flush.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_copy_in_with_ignored_syncs_is_counted() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_copysync_{mode}"), 60);
        let proxy = proxy(up, mode);
        let half = |a: i32, b: i32| -> Vec<u8> {
            let d: String = (a..=b).map(|i| format!("{i}\t1\n")).collect();
            raw::frame(b'd', d.as_bytes())
        };
        let done = raw::frame(b'c', b"");
        let start = vec![
            parse("", &format!("COPY {t} FROM STDIN")),
            bind("", "", &[]),
            execute("", 0),
        ];
        let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "Sync before data",
                [
                    start.clone(),
                    vec![sync(), half(1001, 1060), done.clone(), sync()],
                ]
                .concat(),
            ),
            (
                "Sync between data",
                [
                    start.clone(),
                    vec![
                        half(1001, 1030),
                        sync(),
                        half(1031, 1060),
                        done.clone(),
                        sync(),
                    ],
                ]
                .concat(),
            ),
            (
                "Flush before data",
                [
                    start.clone(),
                    vec![
                        pgward_e2e::wire::flush(),
                        half(1001, 1060),
                        done.clone(),
                        sync(),
                    ],
                ]
                .concat(),
            ),
            (
                "Query COPY, Sync in data",
                vec![
                    query_frame(&format!("COPY {t} FROM STDIN")),
                    half(1001, 1030),
                    sync(),
                    half(1031, 1060),
                    done.clone(),
                ],
            ),
        ];
        for (what, frames) in cases {
            up.sql(upstream::APP_DB, &format!("DELETE FROM {t} WHERE id > 60"));
            let mut c = login(&proxy, BOB).await;
            // PostgreSQL ignores a Sync during copy-in: one ReadyForQuery.
            let msgs = exchange(&mut c, &frames, 1).await;
            exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
            let k = count(up, &t);
            if k != "60" {
                got.push(format!("{mode}: {what}: {k} rows ({})", summary(&msgs)));
            }
        }
    }
    report("extended COPY with Syncs", &got);
}

/// Class 3: a portal keeps the statement it was bound from, whatever happens to the
/// statement's name afterwards (unnamed re-Parse, Close, DEALLOCATE ALL, a simple Query that
/// drops the unnamed statement), in one batch or across batches of a block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_keeps_the_decision_of_the_statement_it_was_bound_from() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_pkeep_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let cases: Vec<(&str, Vec<Vec<Vec<u8>>>)> = vec![
            (
                "unnamed re-Parse",
                vec![vec![
                    parse("", &upd),
                    bind("p", "", &[]),
                    parse("", "SELECT 1"),
                    execute("p", 0),
                    sync(),
                ]],
            ),
            (
                "unnamed re-Parse, later batch",
                vec![
                    vec![parse("", &upd), bind("p", "", &[]), sync()],
                    vec![parse("", "SELECT 1"), sync()],
                    vec![execute("p", 0), sync()],
                ],
            ),
            (
                "Close S then Parse same name",
                vec![vec![
                    parse("u", &upd),
                    bind("p", "u", &[]),
                    pgward_e2e::wire::close(b'S', "u"),
                    parse("u", "SELECT 1"),
                    execute("p", 0),
                    sync(),
                ]],
            ),
            (
                "DEALLOCATE ALL between",
                vec![
                    vec![parse("u", &upd), bind("p", "u", &[]), sync()],
                    vec![query_frame("DEALLOCATE ALL")],
                    vec![parse("u", "SELECT 1"), sync()],
                    vec![execute("p", 0), sync()],
                ],
            ),
            (
                "Query drops unnamed",
                vec![
                    vec![parse("", &upd), bind("p", "", &[]), sync()],
                    vec![query_frame("SELECT 1")],
                    vec![execute("p", 0), sync()],
                ],
            ),
            (
                "unnamed portal re-Bind",
                vec![vec![
                    parse("", &upd),
                    bind("", "", &[]),
                    parse("s", "SELECT 1"),
                    bind("x", "s", &[]),
                    execute("", 0),
                    sync(),
                ]],
            ),
        ];
        for (what, steps) in cases {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            exchange(&mut c, &[query_frame("BEGIN")], 1).await;
            let mut all = Vec::new();
            for step in &steps {
                all.extend(exchange(&mut c, step, sync_points(step)).await);
            }
            exchange(&mut c, &[query_frame("COMMIT")], 1).await;
            let n = changed(up, &t);
            if n != "0" {
                got.push(format!(
                    "{mode}: {what}: {n} rows committed ({})",
                    summary(&all)
                ));
            }
        }
    }
    report("portal decision", &got);
}

/// Class 1/2: a 60-row COPY FROM STDIN in the client's block with its COMMIT pipelined
/// right behind the data (and a COMMIT smuggled as CopyData-adjacent Query before CopyDone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_in_the_clients_block_with_a_pipelined_commit_is_not_kept() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_copyblk_{mode}"), 60);
        let proxy = proxy(up, mode);
        let d: String = (1001..=1060).map(|i| format!("{i}\t1\n")).collect();
        let data = raw::frame(b'd', d.as_bytes());
        let done = raw::frame(b'c', b"");
        let copy = query_frame(&format!("COPY {t} FROM STDIN"));
        let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "COMMIT after CopyDone",
                vec![
                    query_frame("BEGIN"),
                    copy.clone(),
                    data.clone(),
                    done.clone(),
                    query_frame("COMMIT"),
                ],
            ),
            (
                "one string with COMMIT",
                vec![
                    query_frame(&format!("BEGIN; COPY {t} FROM STDIN; COMMIT")),
                    data.clone(),
                    done.clone(),
                ],
            ),
            (
                "implicit, string with COMMIT",
                vec![
                    query_frame(&format!("COPY {t} FROM STDIN; COMMIT")),
                    data.clone(),
                    done.clone(),
                ],
            ),
            (
                "Query before CopyDone",
                vec![
                    query_frame("BEGIN"),
                    copy.clone(),
                    data.clone(),
                    query_frame("COMMIT"),
                    done.clone(),
                    query_frame("COMMIT"),
                ],
            ),
        ];
        for (what, frames) in cases {
            up.sql(upstream::APP_DB, &format!("DELETE FROM {t} WHERE id > 60"));
            let mut c = login(&proxy, BOB).await;
            let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
            exchange(&mut c, &[query_frame("ROLLBACK")], 1).await;
            let k = count(up, &t);
            if k != "60" {
                got.push(format!("{mode}: {what}: {k} rows ({})", summary(&msgs)));
            }
        }
    }
    report("COPY with pipelined COMMIT", &got);
}

/// Class 3 (transaction mode, one server): two bob sessions use the same statement name
/// (and the unnamed statement) for different texts, interleaved: each Bind must run its own
/// session's statement (the first's SELECT must never run the second's write unguarded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_statement_name_in_two_sessions_on_one_server() {
    let up = upstream::shared();
    let mut got = Vec::new();
    let t = table(up, "r2g_samename", 60);
    let proxy = builder(up, "transaction").pool_size(1).start();
    let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
    for name in ["s", ""] {
        for close_b in [false, true] {
            reset(up, &t);
            let mut a = login(&proxy, BOB).await;
            let mut b = login(&proxy, BOB).await;
            exchange(&mut a, &[parse(name, "SELECT 1"), sync()], 1).await;
            exchange(&mut b, &[parse(name, &upd), sync()], 1).await;
            if close_b {
                drop(b);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            let msgs = exchange(&mut a, &[bind("", name, &[]), execute("", 0), sync()], 1).await;
            let n = changed(up, &t);
            if n != "0" {
                got.push(format!("name {name:?} (second closed: {close_b}): the first's Bind changed {n} rows ({})", summary(&msgs)));
            }
        }
    }
    report("same name in two sessions", &got);
}

/// Holds (class 1/2, built-in code that runs SQL text): query_to_xml and friends run a
/// query string through SPI; a DML with RETURNING runs as a write nobody counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_functions_that_run_sql_text_cannot_write_unguarded() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_spi_{mode}"), 60);
        let proxy = proxy(up, mode);
        let w = format!("UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING id");
        let lit = w.replace('\'', "''");
        let mut cases = Vec::new();
        for sql in [
            format!("SELECT query_to_xml('{lit}', true, false, '')"),
            format!("SELECT query_to_xml_and_xmlschema('{lit}', true, false, '')"),
            format!("SELECT query_to_xmlschema('{lit}', true, false, '')"),
            format!(
                "SELECT * FROM ts_stat('{}')",
                format!("UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING to_tsvector(''a'')")
                    .replace('\'', "''")
            ),
            format!(
                "SELECT ts_rewrite('a'::tsquery, '{}')",
                format!(
                    "UPDATE {t} SET v = v + 1 WHERE id > 0 RETURNING 'a'::tsquery, 'b'::tsquery"
                )
                .replace('\'', "''")
            ),
        ] {
            cases.push(q(&sql));
            cases.push(ext(&sql));
        }
        let bad = || {
            let n = changed(up, &t);
            (n != "0").then(|| format!("{n} rows of {t} changed"))
        };
        for g in probe(&proxy, cases, &|| reset(up, &t), &bad).await {
            got.push(format!("{mode}: {g}"));
        }
    }
    report("SQL-running built-ins", &got);
}

/// FINDING F10 (class 3/6): PostgreSQL keys prepared statements and portals by their first 63
/// bytes (NAMEDATALEN - 1; dynahash string keys), so two protocol names that share those
/// bytes are one object upstream but two for pgward. Statement: Parse(N1, SELECT) Sync;
/// Close(S, N2) (drops the server's N1) then Parse(N2, UPDATE) Sync; Bind(N1) runs the
/// UPDATE under the SELECT's decision. Portal (in a block): Bind(P1, SELECT) Sync;
/// Close(P, P2) + Bind(P2, UPDATE) Sync; Execute(P1) Sync; COMMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_long_names_that_postgresql_truncates_are_one_object() {
    let up = upstream::shared();
    let mut got = Vec::new();
    let base = "n".repeat(63);
    let (n1, n2) = (format!("{base}1"), format!("{base}2"));
    for mode in MODES {
        let t = table(up, &format!("r2g_long_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let cases: Vec<HoldCase> = vec![
            (
                "statement, Close + Parse",
                false,
                vec![
                    vec![parse(&n1, "SELECT 1"), sync()],
                    vec![pgward_e2e::wire::close(b'S', &n2), parse(&n2, &upd), sync()],
                    vec![bind("", &n1, &[]), execute("", 0), sync()],
                ],
            ),
            (
                "statement, DEALLOCATE + Parse",
                false,
                vec![
                    vec![parse(&n1, "SELECT 1"), sync()],
                    vec![query_frame(&format!("DEALLOCATE \"{n2}\""))],
                    vec![parse(&n2, &upd), sync()],
                    vec![bind("", &n1, &[]), execute("", 0), sync()],
                ],
            ),
            (
                "statement, one batch",
                false,
                vec![vec![
                    parse(&n1, "SELECT 1"),
                    pgward_e2e::wire::close(b'S', &n2),
                    parse(&n2, &upd),
                    bind("", &n1, &[]),
                    execute("", 0),
                    sync(),
                ]],
            ),
            (
                "portal, block",
                true,
                vec![
                    vec![
                        parse("s", "SELECT 1"),
                        parse("u", &upd),
                        bind(&n1, "s", &[]),
                        sync(),
                    ],
                    vec![
                        pgward_e2e::wire::close(b'P', &n2),
                        bind(&n2, "u", &[]),
                        sync(),
                    ],
                    vec![execute(&n1, 0), sync()],
                ],
            ),
        ];
        for (what, block, steps) in cases {
            reset(up, &t);
            let mut c = login(&proxy, BOB).await;
            if block {
                exchange(&mut c, &[query_frame("BEGIN")], 1).await;
            }
            let mut all = Vec::new();
            for step in &steps {
                all.extend(exchange(&mut c, step, sync_points(step)).await);
            }
            if block {
                exchange(&mut c, &[query_frame("COMMIT")], 1).await;
            }
            let n = changed(up, &t);
            if n != "0" {
                got.push(format!(
                    "{mode}: {what}: {n} rows committed ({})",
                    summary(&all)
                ));
            }
        }
    }
    report("names past 63 bytes", &got);
}

/// Class 1 (a COPY FROM STDIN the client abandons): the client sends 3 rows of a COPY and
/// closes the socket (or sends Terminate): PostgreSQL would roll the COPY back; nothing may
/// be committed, and the server (pool of one) must serve the next client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_copy_in_is_not_committed() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_abandon_{mode}"), 60);
        let proxy = builder(up, mode).pool_size(1).start();
        for (user, extended, terminate) in [
            (BOB, false, false),
            (BOB, true, true),
            (pgward_e2e::proxy::CAROL, false, true),
            (pgward_e2e::proxy::CAROL, true, false),
        ] {
            up.sql(upstream::APP_DB, &format!("DELETE FROM {t} WHERE id > 60"));
            let mut c = login(&proxy, user).await;
            let sql = format!("COPY {t} FROM STDIN");
            let mut frames = if extended {
                vec![parse("", &sql), bind("", "", &[]), execute("", 0), sync()]
            } else {
                vec![query_frame(&sql)]
            };
            frames.push(raw::frame(b'd', b"1001\t1\n1002\t1\n1003\t1\n"));
            if terminate {
                frames.push(raw::frame(b'X', b""));
            }
            let _ = c.send(&pgward_e2e::wire::batch(&frames)).await;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            drop(c);
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let k = count(up, &t);
            let mut d = login(&proxy, user).await;
            let msgs = exchange(&mut d, &[query_frame("SELECT 1")], 1).await;
            let ok = raw::rows(&msgs).len() == 1;
            if k != "60" || !ok {
                got.push(format!(
                    "{mode} {} (extended: {extended}, Terminate: {terminate}): {k} rows; next client: {}",
                    user.0,
                    summary(&msgs)
                ));
            }
        }
    }
    report("abandoned COPY", &got);
}

/// Class 5 (no false cut): six pipelined batches of a 0.4 s statement each (2.4 s owed
/// in all under a 1 s limit, simple and extended): every statement is under the limit, so
/// none may be cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_short_statements_are_not_cut_by_the_sum() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let proxy = proxy(up, mode);
        for extended in [false, true] {
            let mut c = login(&proxy, BOB).await;
            let mut frames = Vec::new();
            for _ in 0..6 {
                if extended {
                    frames.extend([
                        parse("", "SELECT pg_sleep(0.4)"),
                        bind("", "", &[]),
                        execute("", 0),
                        sync(),
                    ]);
                } else {
                    frames.push(query_frame("SELECT pg_sleep(0.4)"));
                }
            }
            let msgs = exchange(&mut c, &frames, 6).await;
            if raw::first_error(&msgs).is_some() || raw::rows(&msgs).len() != 6 {
                got.push(format!("{mode} (extended: {extended}): {}", summary(&msgs)));
            }
        }
    }
    report("pipelined short statements", &got);
}

/// Class 5 (transaction mode, pool of one): settings a client may change (a tighter
/// statement_timeout by SET, by set_config, by SET in a block that commits) do not follow
/// the server to the next client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_timeout_does_not_follow_the_server() {
    let up = upstream::shared();
    let mut got = Vec::new();
    let proxy = builder(up, "transaction").pool_size(1).start();
    for sql in [
        "SET statement_timeout = '500ms'",
        "SELECT set_config('statement_timeout', '500ms', false)",
        "BEGIN; SET statement_timeout = '500ms'; COMMIT",
        "SET statement_timeout = 500",
    ] {
        let mut a = login(&proxy, BOB).await;
        let msgs = exchange(&mut a, &[query_frame(sql)], 1).await;
        let mine = show(&mut a, "statement_timeout").await;
        drop(a);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut b = login(&proxy, BOB).await;
        let v = show(&mut b, "statement_timeout").await;
        if v != "1s" {
            got.push(format!(
                "{sql:?} ({}; the session saw {mine}): the next client has {v}",
                summary(&msgs)
            ));
        }
    }
    for extra in [
        vec![("statement_timeout", "500ms")],
        vec![("options", "-c statement_timeout=500ms")],
    ] {
        match pgward_e2e::raw::RawConn::startup(
            proxy.addr(),
            BOB.0,
            BOB.1,
            upstream::APP_DB,
            &extra,
        )
        .await
        {
            Err(_) => {}
            Ok(mut a) => {
                exchange(&mut a, &[query_frame("SELECT 1")], 1).await;
                drop(a);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                let mut b = login(&proxy, BOB).await;
                let v = show(&mut b, "statement_timeout").await;
                if v != "1s" {
                    got.push(format!("startup {extra:?}: the next client has {v}"));
                }
            }
        }
    }
    report("timeout following the server", &got);
}

/// Class 6: malformed or out-of-place frontend messages must be answered (an error, or the
/// session ended as PostgreSQL ends it), never wedge the session or the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_frontend_messages_do_not_wedge_the_session() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let proxy = proxy(up, mode);
        let junk: Vec<(&str, Vec<u8>)> = vec![
            ("Describe kind X", raw::frame(b'D', b"Xp\0")),
            ("Close kind X", raw::frame(b'C', b"Xp\0")),
            ("Close without terminator", raw::frame(b'C', b"Sabc")),
            (
                "Execute with trailing bytes",
                raw::frame(b'E', b"\0\0\0\0\0junk"),
            ),
            ("Sync with a body", raw::frame(b'S', b"x")),
            ("Flush with a body", raw::frame(b'H', b"x")),
            ("CopyData outside COPY", raw::frame(b'd', b"1\t2\n")),
            ("CopyDone outside COPY", raw::frame(b'c', b"")),
            ("CopyFail outside COPY", raw::frame(b'f', b"no\0")),
            ("password message after startup", raw::frame(b'p', b"pw\0")),
            ("Bind param length -2", {
                let mut b = b"\0\0\0\0\0\x01".to_vec();
                b.extend_from_slice(&(-2i32).to_be_bytes());
                b.extend_from_slice(b"\0\0");
                raw::frame(b'B', &b)
            }),
            ("Bind 2 param formats, 1 param", {
                let mut b = b"\0\0\0\x02\0\0\0\0\0\x01".to_vec();
                b.extend_from_slice(&1i32.to_be_bytes());
                b.extend_from_slice(b"1\0\0");
                raw::frame(b'B', &b)
            }),
            (
                "Query with NUL inside",
                raw::frame(b'Q', b"SELECT 1\0SELECT 2\0"),
            ),
            (
                "Parse with trailing bytes",
                raw::frame(b'P', b"\0SELECT 1\0\0\0junk"),
            ),
            (
                "FunctionCall of oid 0",
                raw::frame(b'F', b"\0\0\0\0\0\0\0\0\0\0"),
            ),
        ];
        for (what, frame) in junk {
            let mut c = login(&proxy, ALICE).await;
            let _ = c
                .send(&pgward_e2e::wire::batch(&[
                    frame,
                    sync(),
                    query_frame("SELECT 1"),
                ]))
                .await;
            // Until the Query's answer (its ReadyForQuery after a DataRow or an error), the
            // session's end, or 6 s of nothing.
            let mut answered = false;
            let mut trail = String::new();
            loop {
                match c.read_msg(6).await {
                    raw::ReadResult::Msg(m) => {
                        trail.push(m.tag_char());
                        if m.tag == b'D'
                            || (m.tag == b'E'
                                && m.code().as_deref().is_some_and(|c| c.starts_with("08")))
                        {
                            answered = true;
                        }
                        if m.tag == b'D' {
                            continue;
                        }
                    }
                    raw::ReadResult::Closed => {
                        answered = true;
                        break;
                    }
                    _ => break,
                }
                if answered && trail.ends_with('Z') {
                    break;
                }
            }
            if !answered && !trail.contains('E') {
                got.push(format!("{mode}: {what}: no answer in 6 s ({trail})"));
            }
        }
        let mut c = login(&proxy, ALICE).await;
        let msgs = exchange(&mut c, &[query_frame("SELECT 1")], 1).await;
        if raw::rows(&msgs).len() != 1 {
            got.push(format!(
                "{mode}: the proxy no longer serves ({})",
                summary(&msgs)
            ));
        }
    }
    report("odd messages", &got);
}

/// Class 3: DEALLOCATE / DISCARD run through the extended protocol inside the batch that
/// re-Parses the name as a write and binds it: pgward must know the new statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deallocate_inside_the_batch_that_reparses_the_name() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for mode in MODES {
        let t = table(up, &format!("r2g_dealloc_{mode}"), 60);
        let proxy = proxy(up, mode);
        let upd = format!("UPDATE {t} SET v = v + 1 WHERE id > 0");
        let e = |sql: &str| vec![parse("", sql), bind("", "", &[]), execute("", 0)];
        for ctl in [
            "DEALLOCATE u",
            "DEALLOCATE ALL",
            "DEALLOCATE PREPARE u",
            "DISCARD ALL",
        ] {
            for one_string in [false, true] {
                reset(up, &t);
                let mut c = login(&proxy, BOB).await;
                exchange(&mut c, &[parse("u", "SELECT 1"), sync()], 1).await;
                let mut frames = if one_string {
                    vec![query_frame(ctl)]
                } else {
                    e(ctl)
                };
                frames.extend([parse("u", &upd), bind("", "u", &[]), execute("", 0), sync()]);
                let msgs = exchange(&mut c, &frames, sync_points(&frames)).await;
                let msgs2 =
                    exchange(&mut c, &[bind("", "u", &[]), execute("", 0), sync()], 1).await;
                let n = changed(up, &t);
                if n != "0" {
                    got.push(format!(
                        "{mode}: {ctl:?} (Query: {one_string}): {n} rows ({} / {})",
                        summary(&msgs),
                        summary(&msgs2)
                    ));
                }
            }
        }
    }
    report("DEALLOCATE in the batch", &got);
}

/// Class 5: a DDL role (carol) changes the shared upstream login's or the database's
/// default statement_timeout (ALTER ROLE / ALTER DATABASE ... SET): bob's servers (same
/// login) must still run under bob's 1 s, on fresh server connections too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_and_database_defaults_do_not_loosen_another_roles_timeout() {
    let up = upstream::shared();
    let mut got = Vec::new();
    for sql in [
        "ALTER ROLE CURRENT_USER SET statement_timeout = 0",
        "ALTER DATABASE appdb SET statement_timeout = 0",
        "ALTER ROLE CURRENT_USER IN DATABASE appdb SET statement_timeout = 0",
    ] {
        let proxy = builder(up, "transaction").start();
        let mut c = login(&proxy, pgward_e2e::proxy::CAROL).await;
        let msgs = exchange(&mut c, &[query_frame(sql)], 1).await;
        // Fresh servers for bob: a new proxy.
        let proxy2 = builder(up, "transaction").start();
        let mut b = login(&proxy2, BOB).await;
        let v = show(&mut b, "statement_timeout").await;
        up.sql(
            upstream::APP_DB,
            &format!(
                "ALTER ROLE {o} RESET statement_timeout; ALTER DATABASE appdb RESET statement_timeout; ALTER ROLE {o} IN DATABASE appdb RESET statement_timeout",
                o = upstream::OWNER_USER
            ),
        );
        if v != "1s" {
            got.push(format!(
                "{sql:?} ({}): bob's fresh server has {v}",
                summary(&msgs)
            ));
        }
    }
    report("role/database defaults", &got);
}
