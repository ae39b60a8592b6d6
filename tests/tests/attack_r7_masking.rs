//! Round 7 attack on masking, both pool modes: plans recorded by SQL `DECLARE` and `PREPARE`
//! applied to rows they do not describe. A cursor declared as the second statement of a
//! string and run by a protocol Execute got the first statement's plan (nothing masked); a
//! protocol portal or statement under the name of a closed cursor or deallocated SQL
//! statement was read through `FETCH`/`EXECUTE` with the old plan. Each attempt reads the
//! seeded values with computed columns (which the RowDescription cross-check cannot catch)
//! and plain ones; no seeded value may come back. Found on the way: in transaction mode a
//! protocol Close of an SQL-prepared statement was answered by pgward and left it on the
//! server.

use pgward_e2e::proxy::ALICE;
use pgward_e2e::raw::{self, RawConn};
use pgward_e2e::wire::{bind, execute, parse, sync};
use pgward_e2e::*;

const SSN: &str = "987-65-4329";
const EMAIL: &str = "zelda.quux@leakcheck.test";

async fn setup(mode: &str) -> (Proxy, String) {
    let up = upstream::shared();
    let db = up.fresh_db("r7mask");
    up.sql(
        &db,
        &format!("UPDATE users SET ssn = '{SSN}', email = '{EMAIL}' WHERE id = 1"),
    );
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode(mode)
        .set(
            "masking",
            "columns",
            vec!["public.users.email", "public.users.ssn"],
        )
        .set("masking", "strategy", "redact")
        .start();
    let c = connect(&proxy, ALICE.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    (proxy, db)
}

/// Plays `steps` (each one write, answered up to its sync points) and returns every message
/// body the client got, as text.
async fn play(proxy: &Proxy, db: &str, steps: &[Vec<Vec<u8>>]) -> String {
    let mut c = match RawConn::startup(proxy.addr(), ALICE.0, ALICE.1, db, &[]).await {
        Ok(c) => c,
        Err(e) => panic!("login: {:?}", e.message()),
    };
    let mut seen = String::new();
    for step in steps {
        c.send(&wire::batch(step)).await.expect("send");
        let owed = step.iter().filter(|f| matches!(f[0], b'Q' | b'S')).count();
        for _ in 0..owed {
            for m in c.until_ready(30).await {
                seen.push_str(&String::from_utf8_lossy(&m.body));
                seen.push('\n');
            }
        }
    }
    seen
}

fn q(sql: &str) -> Vec<Vec<u8>> {
    vec![raw::query_frame(sql)]
}

fn assert_no_leak(seen: &str, what: &str) {
    for v in [SSN, EMAIL, "zelda"] {
        assert!(!seen.contains(v), "{what}: {v} came back:\n{seen}");
    }
}

const ROWS: &str = "SELECT ssn || '' AS a, upper(email) AS b, ssn, email FROM users WHERE id = 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_declared_after_another_statement_is_masked_when_executed() {
    for mode in ["transaction", "session"] {
        let (proxy, db) = setup(mode).await;
        let declare = format!("SELECT 1; DECLARE cc CURSOR FOR {ROWS}");
        let run = vec![execute("cc", 0), sync()];
        let seen = play(&proxy, &db, &[q("BEGIN"), q(&declare), run.clone()]).await;
        assert_no_leak(&seen, &format!("{mode}: BEGIN, then a string declaring cc"));
        let hold = format!("SELECT 1; DECLARE hh CURSOR WITH HOLD FOR {ROWS}");
        let seen = play(&proxy, &db, &[q(&hold), vec![execute("hh", 0), sync()]]).await;
        assert_no_leak(&seen, &format!("{mode}: a WITH HOLD cursor"));
        let again = format!(
            "BEGIN; DECLARE c2 CURSOR FOR SELECT 1; CLOSE c2; DECLARE c2 CURSOR FOR {ROWS}"
        );
        let seen = play(&proxy, &db, &[q(&again), vec![execute("c2", 0), sync()]]).await;
        assert_no_leak(&seen, &format!("{mode}: CLOSE then DECLARE in one string"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_under_a_closed_cursors_name_is_not_read_with_its_plan() {
    for mode in ["transaction", "session"] {
        let (proxy, db) = setup(mode).await;
        let steps = [
            q("BEGIN; DECLARE c CURSOR FOR SELECT 1 AS a, 2 AS b, 3 AS c, 4 AS d; COMMIT"),
            q("BEGIN"),
            vec![parse("s", ROWS), bind("c", "s", &[]), sync()],
            q("FETCH ALL c"),
            q("ROLLBACK"),
        ];
        let seen = play(&proxy, &db, &steps).await;
        assert_no_leak(&seen, &format!("{mode}: FETCH of a protocol portal"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_under_a_deallocated_name_is_not_run_with_its_plan() {
    for mode in ["transaction", "session"] {
        let (proxy, db) = setup(mode).await;
        let steps = [
            q("PREPARE p AS SELECT 1 AS a, 2 AS b, 3 AS c, 4 AS d"),
            q("DEALLOCATE p"),
            vec![parse("p", ROWS), sync()],
            q("EXECUTE p"),
        ];
        let seen = play(&proxy, &db, &steps).await;
        assert_no_leak(&seen, &format!("{mode}: EXECUTE of a protocol statement"));
    }
}

/// Transaction mode: a protocol Close of a statement SQL PREPARE made deallocates it on the
/// server, as PostgreSQL does (pgward answered it itself, and the name's next Parse failed
/// with 42P05).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_close_of_an_sql_prepared_statement_deallocates_it() {
    for mode in ["transaction", "session"] {
        let (proxy, db) = setup(mode).await;
        let steps = [
            q("PREPARE p AS SELECT 1 AS a"),
            vec![pgward_e2e::wire::close(b'S', "p"), sync()],
            vec![
                parse("p", "SELECT 'second' AS a"),
                bind("", "p", &[]),
                execute("", 0),
                sync(),
            ],
        ];
        let seen = play(&proxy, &db, &steps).await;
        assert!(!seen.contains("42P05"), "{mode}: {seen}");
        assert!(seen.contains("second"), "{mode}: {seen}");
    }
}
