//! Clients: tokio-postgres (plain and TLS), the real `psql` and `pgbench` binaries, and error
//! helpers.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::error::DbError;
use tokio_postgres::{Client, Config, NoTls};

use crate::proxy::Proxy;

/// tokio-postgres config for `user` through the proxy (plaintext, 10 s connect timeout).
pub fn pg_config(proxy: &Proxy, user: &str, db: &str) -> Config {
    let mut c = Config::new();
    c.host("127.0.0.1")
        .port(proxy.port())
        .user(user)
        .password(proxy.password(user))
        .dbname(db)
        .application_name("pgward-e2e")
        .connect_timeout(Duration::from_secs(10))
        .ssl_mode(tokio_postgres::config::SslMode::Disable);
    c
}

/// Connect through the proxy; the connection task is spawned on the current runtime.
pub async fn try_connect(
    proxy: &Proxy,
    user: &str,
    db: &str,
) -> Result<Client, tokio_postgres::Error> {
    connect_with(pg_config(proxy, user, db)).await
}

/// Connect with a config (plaintext); spawns the connection task.
pub async fn connect_with(config: Config) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio::time::timeout(Duration::from_secs(20), config.connect(NoTls))
        .await
        .expect("connect did not finish within 20s")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Connect through the proxy or panic with the error.
pub async fn connect(proxy: &Proxy, user: &str, db: &str) -> Client {
    match try_connect(proxy, user, db).await {
        Ok(c) => c,
        Err(e) => panic!("connect as {user} to {db} failed: {}", describe(&e)),
    }
}

/// A tokio-postgres TLS connector that trusts only `cert`.
pub fn tls_connector(cert: &crate::certs::TestCert) -> tokio_postgres_rustls::MakeRustlsConnect {
    tokio_postgres_rustls::MakeRustlsConnect::new(cert.client_config())
}

/// Connect over TLS (`sslmode=require`) trusting `cert`.
pub async fn connect_tls(
    proxy: &Proxy,
    user: &str,
    db: &str,
    cert: &crate::certs::TestCert,
) -> Result<Client, tokio_postgres::Error> {
    let mut c = pg_config(proxy, user, db);
    c.ssl_mode(tokio_postgres::config::SslMode::Require);
    let (client, conn) =
        tokio::time::timeout(Duration::from_secs(20), c.connect(tls_connector(cert)))
            .await
            .expect("TLS connect did not finish within 20s")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// The server error behind a tokio-postgres error, if any.
pub fn db_error(e: &tokio_postgres::Error) -> Option<&DbError> {
    e.as_db_error()
}

/// The SQLSTATE code of an error, or `"-----"` if it carries none (I/O, protocol, closed).
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| "-----".into())
}

/// One line describing an error: SQLSTATE, message, detail, hint.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!(
            "{} {}: {} (detail: {:?}, hint: {:?})",
            d.severity(),
            d.code().code(),
            d.message(),
            d.detail(),
            d.hint()
        ),
        None => format!("{e} ({e:?})"),
    }
}

/// Assert that `res` failed with `code`; returns the server error.
#[track_caller]
pub fn expect_sqlstate<T: std::fmt::Debug>(
    res: Result<T, tokio_postgres::Error>,
    code: &str,
    what: &str,
) -> DbError {
    match res {
        Ok(v) => panic!("{what}: expected SQLSTATE {code}, but it succeeded: {v:?}"),
        Err(e) => match e.as_db_error() {
            Some(d) if d.code().code() == code => d.clone(),
            _ => panic!("{what}: expected SQLSTATE {code}, got {}", describe(&e)),
        },
    }
}

/// Assert a pgward policy denial: 42501, message `pgward: ...`, a DETAIL and a HINT.
#[track_caller]
pub fn expect_denied<T: std::fmt::Debug>(
    res: Result<T, tokio_postgres::Error>,
    what: &str,
) -> DbError {
    let d = expect_sqlstate(res, "42501", what);
    assert!(
        d.message().starts_with("pgward: "),
        "{what}: denial message should start with `pgward: `: {:?}",
        d.message()
    );
    assert!(
        d.detail().is_some_and(|s| !s.trim().is_empty()),
        "{what}: denial has no DETAIL naming the rule (message: {:?})",
        d.message()
    );
    assert!(
        d.hint().is_some_and(|s| !s.trim().is_empty()),
        "{what}: denial has no HINT (message: {:?}, detail: {:?})",
        d.message(),
        d.detail()
    );
    d
}

/// Check that a client is alive and its session usable: `SELECT 1` answers 1.
pub async fn assert_usable(client: &Client, what: &str) {
    let r = tokio::time::timeout(Duration::from_secs(15), client.simple_query("SELECT 1")).await;
    match r {
        Ok(Ok(msgs)) => {
            let v = msgs.iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            });
            assert_eq!(v.as_deref(), Some("1"), "{what}: SELECT 1 answered {v:?}");
        }
        Ok(Err(e)) => panic!("{what}: session not usable: {}", describe(&e)),
        Err(_) => panic!("{what}: SELECT 1 did not answer within 15s"),
    }
}

/// Wait until the proxy has loaded the upstream's catalog snapshot (masking and catalog-aware
/// judging need it).
pub async fn wait_for_catalog(proxy: &Proxy) {
    let t = std::time::Instant::now();
    while !proxy.stderr().contains("catalog snapshot loaded") {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no catalog snapshot: {}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rows of a simple query as text (NULL as `None`).
pub async fn simple_rows(
    client: &Client,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, tokio_postgres::Error> {
    let msgs = tokio::time::timeout(Duration::from_secs(30), client.simple_query(sql))
        .await
        .unwrap_or_else(|_| panic!("simple query did not answer within 30s: {sql}"))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect())
}

/// First column of the first row of a simple query (empty without one), or the SQLSTATE it
/// failed with.
pub async fn value_or_sqlstate(client: &Client, sql: &str) -> Result<String, String> {
    match simple_rows(client, sql).await {
        Ok(rows) => Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
            .unwrap_or_default()),
        Err(e) => Err(sqlstate(&e)),
    }
}

/// First column of the first row of a simple query.
pub async fn simple_value(client: &Client, sql: &str) -> String {
    match simple_rows(client, sql).await {
        Ok(rows) => rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_else(|| panic!("no value from {sql}")),
        Err(e) => panic!("{sql}: {}", describe(&e)),
    }
}

/// Output of a finished command.
#[derive(Debug)]
pub struct CmdOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl CmdOutput {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// Panic with both streams unless the command succeeded.
    #[track_caller]
    pub fn assert_ok(&self, what: &str) -> &Self {
        assert!(
            self.status.success(),
            "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Run a command with optional stdin and a deadline: on timeout it is killed and the test
/// panics with what it printed.
pub fn run_with_timeout(
    mut cmd: Command,
    stdin: Option<&str>,
    limit: Duration,
    what: &str,
) -> CmdOutput {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    if let Some(input) = stdin {
        let mut si = child.stdin.take().unwrap();
        let input = input.to_owned();
        std::thread::spawn(move || {
            let _ = si.write_all(input.as_bytes());
        });
    }
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let out = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
            let err = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
            panic!(
                "{what}: did not finish within {limit:?}; killed.\nstdout:\n{out}\nstderr:\n{err}"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    CmdOutput {
        status,
        stdout: String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// A client binary (`psql`, `pgbench`): from PATH, else next to the server binaries.
pub fn client_binary(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    if let Ok(dir) = pgward::local_pg::find_server_binaries() {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} not found on PATH or next to the PostgreSQL server binaries (apt-get install -y postgresql-client)");
}

/// A command for a libpq client binary connecting through the proxy as `user` to `db`
/// (PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE set, sslmode=disable, no ~/.psqlrc).
pub fn libpq_command(proxy: &Proxy, bin: &str, user: &str, db: &str) -> Command {
    let mut cmd = Command::new(client_binary(bin));
    for var in [
        "PGSERVICE",
        "PGOPTIONS",
        "PGSSLROOTCERT",
        "PGPASSFILE",
        "PGAPPNAME",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PGHOST", "127.0.0.1")
        .env("PGPORT", proxy.port().to_string())
        .env("PGUSER", user)
        .env("PGPASSWORD", proxy.password(user))
        .env("PGDATABASE", db)
        .env("PGSSLMODE", "disable")
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PSQLRC", "/dev/null")
        .env("PAGER", "cat")
        .env("LC_ALL", "C")
        .current_dir(proxy.dir());
    cmd
}

/// Run `psql -X` through the proxy with extra args and optional stdin (60 s deadline).
pub fn psql(proxy: &Proxy, user: &str, db: &str, args: &[&str], stdin: Option<&str>) -> CmdOutput {
    let mut cmd = libpq_command(proxy, "psql", user, db);
    cmd.arg("-X").args(args);
    run_with_timeout(
        cmd,
        stdin,
        Duration::from_secs(60),
        &format!("psql {args:?}"),
    )
}

/// Run `pgbench` through the proxy (deadline `limit`).
pub fn pgbench(proxy: &Proxy, user: &str, db: &str, args: &[&str], limit: Duration) -> CmdOutput {
    let mut cmd = libpq_command(proxy, "pgbench", user, db);
    cmd.args(args);
    run_with_timeout(cmd, None, limit, &format!("pgbench {args:?}"))
}

/// Install a process-wide rustls crypto provider (ring) once, for code that asks for the
/// default provider.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Keep `Arc` in the public API surface simple for tests that share clients.
pub type SharedClient = Arc<Client>;
