//! Round-4 attack on transaction pooling's settings: in transaction mode, with a pool smaller
//! than its clients, a client's session settings must read as they would straight against
//! PostgreSQL (startup values, SET, RESET in all its forms), and nothing of one client may
//! reach another. Each script runs through pgward and straight against PostgreSQL with the
//! same startup parameters, and the answers are compared.

use std::net::SocketAddr;
use std::time::Duration;

use pgward_e2e::proxy::CAROL;
use pgward_e2e::raw::{self, RawConn};
use pgward_e2e::upstream::{self, OWNER_PASSWORD, OWNER_USER};
use pgward_e2e::*;
use tokio_postgres::{Client, Config, NoTls};

/// Transaction mode, a pool of two.
fn pool_of_two() -> Proxy {
    ProxyBuilder::new(upstream::shared().port())
        .pool_mode("transaction")
        .pool_size(2)
        .checkout_timeout("30s")
        .start()
}

/// A tokio-postgres client straight to PostgreSQL (the login carol's role uses), with
/// `options`.
async fn direct_client(db: &str, options: &str) -> Client {
    let mut c = Config::new();
    c.host("127.0.0.1")
        .port(upstream::shared().port())
        .user(OWNER_USER)
        .password(OWNER_PASSWORD)
        .dbname(db)
        .application_name("pgward-e2e")
        .connect_timeout(Duration::from_secs(10));
    if !options.is_empty() {
        c.options(options);
    }
    let (client, conn) = c.connect(NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

async fn proxy_client(proxy: &Proxy, db: &str, options: &str) -> Client {
    let mut config = pg_config(proxy, CAROL.0, db);
    if !options.is_empty() {
        config.options(options);
    }
    connect_with(config).await.unwrap()
}

/// Each statement of `script` in turn (simple Query); the last row of each, as text.
async fn run_script(c: &Client, script: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for sql in script {
        let shown = match simple_rows(c, sql).await {
            Ok(rows) => rows
                .last()
                .map(|r| format!("{r:?}"))
                .unwrap_or_else(|| "-".into()),
            Err(e) => format!("error {}", describe(&e)),
        };
        out.push(format!("{sql} => {shown}"));
    }
    out
}

/// `script` through pgward (with two other clients of the same pool around) and straight
/// against PostgreSQL, both started with `options`: the answers must be the same.
async fn same_as_postgres(db: &str, options: &str, script: &[&str]) {
    let proxy = pool_of_two();
    let others = [
        proxy_client(&proxy, db, "").await,
        proxy_client(&proxy, db, "").await,
    ];
    for o in &others {
        o.simple_query("SELECT 1").await.unwrap();
    }
    let via = proxy_client(&proxy, db, options).await;
    let got = run_script(&via, script).await;
    let direct = direct_client(db, options).await;
    let want = run_script(&direct, script).await;
    assert_eq!(
        got, want,
        "pgward (left) vs PostgreSQL (right), options {options:?}"
    );
}

/// PostgreSQL applies repeated `-c` switches in order: the last one is the startup value,
/// and a later SET overrides it for good. pgward kept both startup entries (the read-back
/// overwrote only the first, and the next checkout's sync set the stale second one last:
/// the client's SET was undone on its very next statement); `startup.rs` now keeps the last
/// value of each setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_outlives_a_startup_setting_given_twice() {
    let db = upstream::shared().fresh_db("r4dup");
    same_as_postgres(
        &db,
        "-c work_mem=5MB -c work_mem=6MB",
        &["SHOW work_mem", "SET work_mem = '9MB'", "SHOW work_mem"],
    )
    .await;
}

/// RESET of a startup setting inside one unit (an implicit transaction of one Query, or a
/// block): PostgreSQL returns to the client's startup value at once. Through pgward the
/// server's reset value is the pooled connection's own startup value (pgward applies the
/// client's with set_config at checkout, `attach.rs` sync_params), so the rest of the unit
/// sees the pooled connection's DateStyle / application_name ('pgward'), and only the next
/// unit gets the client's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit: within the unit of a RESET the server's reset value is the pooled connection's; the client's startup value is back from its next unit"]
async fn a_reset_shows_the_startup_value_within_the_same_unit() {
    let db = upstream::shared().fresh_db("r4inunit");
    same_as_postgres(
        &db,
        "-c DateStyle=German",
        &[
            "SET DateStyle = 'ISO, YMD'; RESET DateStyle; SHOW DateStyle",
            "BEGIN; SET DateStyle TO DEFAULT; SELECT current_setting('DateStyle'); COMMIT",
            "RESET application_name; SHOW application_name",
            "SHOW application_name",
        ],
    )
    .await;
}

/// Cheap checks that pass: RESET forms and transaction outcomes, each in units of their
/// own, for startup values given in a text other than the server's canonical one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_across_units_return_to_startup_values() {
    let db = upstream::shared().fresh_db("r4units");
    same_as_postgres(
        &db,
        "-c DateStyle=iso -c work_mem=6MB -c IntervalStyle=postgres_verbose",
        &[
            "SHOW DateStyle",
            "SET DateStyle = 'German'",
            "SELECT set_config('DateStyle', NULL, false)",
            "SHOW DateStyle",
            "SET work_mem = '9MB'",
            "BEGIN; SAVEPOINT s; RESET work_mem; ROLLBACK TO s; COMMIT",
            "SHOW work_mem",
            "DO $$ BEGIN RESET work_mem; END $$",
            "SHOW work_mem",
            "SET IntervalStyle = 'postgres'",
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            "DISCARD ALL",
            "SELECT current_setting('IntervalStyle'), current_setting('transaction_isolation'), current_setting('DateStyle')",
        ],
    )
    .await;
}

/// A raw login with `extra` startup parameters, in this order.
async fn raw_login(
    addr: SocketAddr,
    user: &str,
    pw: &str,
    db: &str,
    extra: &[(&str, &str)],
) -> RawConn {
    match RawConn::startup(addr, user, pw, db, extra).await {
        Ok(c) => c,
        Err(e) => panic!("login: {:?}", e.fields()),
    }
}

async fn raw_value(c: &mut RawConn, sql: &str) -> String {
    let msgs = c.simple_query(sql).await;
    if let Some(e) = raw::first_error(&msgs) {
        return format!("error {:?}", e.fields());
    }
    format!("{:?}", raw::rows(&msgs))
}

/// A setting given both as a startup-packet parameter and in `options`: PostgreSQL applies
/// `options` first and the packet's parameters after (postinit.c process_startup_options),
/// whatever their order in the packet, so the packet's value wins. pgward applied them in
/// packet order, so `options` after the parameter won once the settings were read back, and
/// the value flipped from one unit to the next (PostgreSQL: 'SQL, DMY' throughout; pgward:
/// 'SQL, DMY', then 'German, DMY' after an unrelated SET); `startup.rs` now takes `options`
/// first, then the packet's parameters, and keeps the last value of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packet_parameter_wins_over_options_as_on_postgres() {
    let up = upstream::shared();
    let db = up.fresh_db("r4order");
    let proxy = pool_of_two();
    let extra = [
        ("DateStyle", "SQL, DMY"),
        ("options", "-c DateStyle=German"),
    ];
    let up_addr: SocketAddr = format!("127.0.0.1:{}", up.port()).parse().unwrap();
    let mut direct = raw_login(up_addr, OWNER_USER, OWNER_PASSWORD, &db, &extra).await;
    let mut via = raw_login(proxy.addr(), CAROL.0, &proxy.password(CAROL.0), &db, &extra).await;
    let script = [
        "SHOW DateStyle",
        "SELECT current_setting('DateStyle')",
        "SET work_mem = '3MB'",
        "SELECT current_setting('DateStyle')",
        "SHOW DateStyle",
    ];
    let mut got = Vec::new();
    let mut want = Vec::new();
    for sql in script {
        got.push(raw_value(&mut via, sql).await);
        want.push(raw_value(&mut direct, sql).await);
    }
    assert_eq!(got, want, "pgward (left) vs PostgreSQL (right)");
}

/// Nothing of a client that started with settings, SET more and RESET some reaches the
/// next clients of the pool (passes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_client_sees_none_of_the_first() {
    let db = upstream::shared().fresh_db("r4next");
    let proxy = pool_of_two();
    let probe = "SELECT current_setting('DateStyle'), current_setting('work_mem'), \
         current_setting('IntervalStyle'), current_setting('application_name'), \
         current_setting('TimeZone')";
    let baseline = simple_rows(&proxy_client(&proxy, &db, "").await, probe)
        .await
        .unwrap();
    {
        let a = proxy_client(
            &proxy,
            &db,
            "-c DateStyle=German -c work_mem=5MB -c work_mem=6MB",
        )
        .await;
        for sql in [
            "SET IntervalStyle = 'sql_standard'",
            "SET TimeZone = 'Asia/Tokyo'",
            "RESET DateStyle",
            "SET work_mem = '9MB'",
            "SET application_name = 'first'",
        ] {
            a.simple_query(sql).await.unwrap();
        }
    }
    for i in 0..6 {
        let c = proxy_client(&proxy, &db, "").await;
        let seen = simple_rows(&c, probe).await.unwrap();
        assert_eq!(seen, baseline, "client {i} saw the first client's settings");
    }
}

/// Startup with `extra` parameters; returns the connection and the ParameterStatus pairs.
async fn login_status(
    addr: SocketAddr,
    user: &str,
    password: &str,
    db: &str,
    extra: &[(&str, &str)],
) -> (RawConn, Vec<(String, String)>) {
    use bytes::BytesMut;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
    use postgres_protocol::message::frontend;
    let mut c = RawConn::connect(addr).await;
    let mut params = vec![("user", user), ("database", db)];
    params.extend_from_slice(extra);
    c.send(&raw::startup_packet(&params)).await.unwrap();
    let mut scram: Option<ScramSha256> = None;
    let mut status = Vec::new();
    loop {
        let m = match c.read_msg(20).await {
            raw::ReadResult::Msg(m) => m,
            other => panic!("during startup: {other:?}"),
        };
        match m.tag {
            b'E' => panic!("login: {:?}", m.fields()),
            b'S' => {
                let mut parts = m.body.split(|b| *b == 0);
                let k = String::from_utf8_lossy(parts.next().unwrap()).into_owned();
                let v = String::from_utf8_lossy(parts.next().unwrap()).into_owned();
                status.push((k, v));
            }
            b'R' => {
                let kind = i32::from_be_bytes(m.body[0..4].try_into().unwrap());
                let data = &m.body[4..];
                let mut buf = BytesMut::new();
                match kind {
                    0 => {}
                    10 => {
                        let s =
                            ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
                        frontend::sasl_initial_response("SCRAM-SHA-256", s.message(), &mut buf)
                            .unwrap();
                        scram = Some(s);
                    }
                    11 => {
                        let s = scram.as_mut().unwrap();
                        s.update(data).unwrap();
                        frontend::sasl_response(s.message(), &mut buf).unwrap();
                    }
                    12 => {
                        let mut s = scram.take().unwrap();
                        s.finish(data).unwrap();
                    }
                    other => panic!("unsupported authentication request {other}"),
                }
                if !buf.is_empty() {
                    c.send(&buf).await.unwrap();
                }
            }
            b'Z' => break,
            _ => {}
        }
    }
    status.sort();
    (c, status)
}

/// The greeting of a client that starts with settings spelled other than PostgreSQL spells
/// them, once the pool has servers (transaction mode greets from the pool's figures):
/// PostgreSQL reports DateStyle, TimeZone and IntervalStyle as it spells them ('ISO, MDY',
/// 'UTC'...), and the same values again after the first statement. pgward's greeting
/// (`mod.rs` greet: "the client's own values stand in") reports the client's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit: a greeting from the pool's figures reports the client's own spelling of DateStyle, TimeZone and IntervalStyle"]
async fn the_greeting_reports_settings_as_postgres_spells_them() {
    let up = upstream::shared();
    let db = up.fresh_db("r4greet");
    let proxy = pool_of_two();
    // The pool has connected: its figures are known.
    let warm = proxy_client(&proxy, &db, "").await;
    warm.simple_query("SELECT 1").await.unwrap();
    let extra = [
        ("DateStyle", "iso"),
        ("TimeZone", "utc"),
        ("IntervalStyle", "SQL_STANDARD"),
        ("client_encoding", "utf8"),
    ];
    let keep = |s: Vec<(String, String)>| -> Vec<(String, String)> {
        s.into_iter()
            .filter(|(k, _)| {
                ["DateStyle", "TimeZone", "IntervalStyle", "client_encoding"].contains(&k.as_str())
            })
            .collect()
    };
    let up_addr: SocketAddr = format!("127.0.0.1:{}", up.port()).parse().unwrap();
    let (_d, want) = login_status(up_addr, OWNER_USER, OWNER_PASSWORD, &db, &extra).await;
    let (_v, got) =
        login_status(proxy.addr(), CAROL.0, &proxy.password(CAROL.0), &db, &extra).await;
    assert_eq!(keep(got), keep(want), "pgward (left) vs PostgreSQL (right)");
}

/// A real setting's value with more than six significant digits: PostgreSQL keeps the value
/// the client SET (the planner costs with 1234567.4). pgward reads settings back with
/// `current_setting`, which prints reals with `%g` ('1.23457e+06'), and applies that text
/// at the next checkout on a server that lacks it (`server_state.rs` sync_sql): after
/// another client had the one server, the client plans with 1234570.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit: settings are read back as current_setting prints them, reals with six significant digits"]
async fn a_precise_real_setting_survives_another_client_on_the_server() {
    let up = upstream::shared();
    let db = up.fresh_db("r4real");
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(1)
        .checkout_timeout("30s")
        .start();
    let a = proxy_client(&proxy, &db, "").await;
    let b = proxy_client(&proxy, &db, "").await;
    let direct = direct_client(&db, "").await;
    a.batch_execute("CREATE TABLE t (n int)").await.unwrap();
    let explain = "EXPLAIN SELECT * FROM t";
    let mut got = Vec::new();
    let mut want = Vec::new();
    for c in [&a, &direct] {
        c.simple_query("SET seq_page_cost = 1234567.4")
            .await
            .unwrap();
    }
    b.simple_query("SELECT 1").await.unwrap();
    got.push(simple_value(&a, explain).await);
    want.push(simple_value(&direct, explain).await);
    assert_eq!(got, want, "pgward (left) vs PostgreSQL (right)");
}

/// A unit that both pins the client (a temporary table) and RESETs a startup setting: the
/// pinned client keeps its server, so no checkout's sync brings the startup value back; it
/// is restored once the pin is known (it was restored before the pin check, for unpinned
/// clients only, and the server's default stayed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_in_the_unit_that_pins_returns_to_the_startup_value() {
    let db = upstream::shared().fresh_db("r4pinreset");
    same_as_postgres(
        &db,
        "-c DateStyle=German",
        &[
            "SET DateStyle = 'ISO, YMD'",
            "CREATE TEMP TABLE tt (x int); RESET DateStyle",
            "SHOW DateStyle",
            "SELECT current_setting('DateStyle')",
        ],
    )
    .await;
}

/// Two `options` parameters in one startup packet: PostgreSQL reads the last only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_options_parameters_the_last_counts() {
    let up = upstream::shared();
    let db = up.fresh_db("r4options");
    let proxy = pool_of_two();
    let extra = [
        ("options", "-c DateStyle=German"),
        ("options", "-c work_mem=3MB"),
    ];
    let up_addr: SocketAddr = format!("127.0.0.1:{}", up.port()).parse().unwrap();
    let mut direct = raw_login(up_addr, OWNER_USER, OWNER_PASSWORD, &db, &extra).await;
    let mut via = raw_login(proxy.addr(), CAROL.0, &proxy.password(CAROL.0), &db, &extra).await;
    for sql in [
        "SHOW DateStyle",
        "SHOW work_mem",
        "SET work_mem = '4MB'",
        "SHOW DateStyle",
    ] {
        let want = raw_value(&mut direct, sql).await;
        assert_eq!(raw_value(&mut via, sql).await, want, "{sql}");
    }
}

/// A DateStyle that names only the style (`iso`) keeps the date order in force: on
/// PostgreSQL the server's default order, through pgward (a pool of one) the order the
/// previous client left on the shared server, unless the sync resets DateStyle first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_datestyle_does_not_take_another_clients_order() {
    let up = upstream::shared();
    let db = up.fresh_db("r4datestyle");
    let proxy = ProxyBuilder::new(up.port())
        .pool_mode("transaction")
        .pool_size(1)
        .start();
    let mut a = raw_login(
        proxy.addr(),
        CAROL.0,
        &proxy.password(CAROL.0),
        &db,
        &[("DateStyle", "ISO, DMY")],
    )
    .await;
    let mut b = raw_login(
        proxy.addr(),
        CAROL.0,
        &proxy.password(CAROL.0),
        &db,
        &[("DateStyle", "iso")],
    )
    .await;
    let up_addr: SocketAddr = format!("127.0.0.1:{}", up.port()).parse().unwrap();
    let mut direct = raw_login(
        up_addr,
        OWNER_USER,
        OWNER_PASSWORD,
        &db,
        &[("DateStyle", "iso")],
    )
    .await;
    let want = raw_value(&mut direct, "SHOW DateStyle").await;
    for _ in 0..2 {
        raw_value(&mut a, "SELECT 1").await;
        assert_eq!(raw_value(&mut b, "SHOW DateStyle").await, want);
        raw_value(&mut a, "SET work_mem = '5MB'").await;
        assert_eq!(
            raw_value(&mut b, "SELECT current_setting('DateStyle')").await,
            want
        );
    }
}
