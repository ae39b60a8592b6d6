//! Runs the real `pgward` binary in front of an [`Upstream`](crate::Upstream).

use std::fs;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use toml::{Table, Value};

use crate::upstream::{OWNER_PASSWORD, OWNER_USER, RO_PASSWORD, RO_USER};

/// A client-side user of the proxy (`[users.NAME]`).
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub password: String,
    pub role: String,
}

impl User {
    pub fn new(name: &str, password: &str, role: &str) -> User {
        User {
            name: name.into(),
            password: password.into(),
            role: role.into(),
        }
    }
}

/// Read-only role `engineer`.
pub const ALICE: (&str, &str) = ("alice", "alice-Pw-1");
/// Read-write role `oncall` (require_where, no DDL).
pub const BOB: (&str, &str) = ("bob", "bob-Pw-2");
/// Read-write role `admin` (DDL allowed: pgbench -i).
pub const CAROL: (&str, &str) = ("carol", "carol-Pw-3");
/// A second read-only user.
pub const DAVE: (&str, &str) = ("dave", "dave-Pw-4");

/// The pgward binary. `PGWARD_BIN` if set; otherwise `cargo build -p pgward --bin pgward` into
/// the same target directory and profile as this test executable (once per test binary), then
/// `<target>/<profile>/pgward`.
pub fn pgward_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("PGWARD_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("current_exe");
        // <target>/<profile>/deps/<test-binary>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable lives in <target>/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let profile = profile_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace)
            .args(["build", "-p", "pgward", "--bin", "pgward"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .stdin(Stdio::null());
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let out = cmd.output().expect("running cargo build for pgward");
        assert!(
            out.status.success(),
            "cargo build -p pgward failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = profile_dir.join("pgward");
        assert!(
            bin.is_file(),
            "{} not found after cargo build",
            bin.display()
        );
        bin
    })
    .clone()
}

/// Builder for a pgward config and process.
#[derive(Clone, Debug)]
pub struct ProxyBuilder {
    upstream_port: u16,
    config: Table,
    users: Vec<User>,
    env: Vec<(String, String)>,
    tls_files: Option<(PathBuf, PathBuf)>,
    /// Listen on this port instead of a free one (several instances sharing a port).
    fixed_port: Option<u16>,
}

/// A proxy in transaction mode with a pool of `size` and a checkout that waits up to 30 s
/// (tests that hold servers in open transactions make the others wait).
pub fn tx_proxy(size: i64) -> Proxy {
    ProxyBuilder::new(crate::upstream::shared().port())
        .pool_mode("transaction")
        .pool_size(size)
        .checkout_timeout("30s")
        .start()
}

impl ProxyBuilder {
    /// Defaults: transaction pooling with 10 server connections, roles `engineer` (read-only,
    /// statement_timeout 30s), `oncall` (read-write, require_where, no DDL, max 1000 rows),
    /// `admin` (read-write, DDL allowed), users alice/dave (engineer), bob (oncall),
    /// carol (admin), audit to a file.
    pub fn new(upstream_port: u16) -> ProxyBuilder {
        let config: Table = toml::from_str(&format!(
            r#"
[listen]
address = "127.0.0.1:0"
client_tls = "disable"
max_client_connections = 10000

[upstream]
host = "127.0.0.1"
port = {upstream_port}
tls = "prefer"
connect_timeout = "3s"

[logins.readonly]
user = "{RO_USER}"
password_env = "PGWARD_TEST_RO_PASSWORD"

[logins.owner]
user = "{OWNER_USER}"
password_env = "PGWARD_TEST_OWNER_PASSWORD"

[pool]
mode = "transaction"
size = 10
checkout_timeout = "5s"
idle_timeout = "10m"
lifetime = "1h"

[roles.engineer]
login = "readonly"
access = "read-only"
statement_timeout = "30s"
idle_in_transaction_timeout = "60s"
max_result_rows = 0

[roles.oncall]
login = "owner"
access = "read-write"
require_where = true
max_affected_rows = 1000
allow_ddl = false

[roles.admin]
login = "owner"
access = "read-write"
require_where = false
allow_ddl = true
max_affected_rows = 0
"#
        ))
        .unwrap();
        ProxyBuilder {
            upstream_port,
            config,
            users: vec![
                User::new(ALICE.0, ALICE.1, "engineer"),
                User::new(BOB.0, BOB.1, "oncall"),
                User::new(CAROL.0, CAROL.1, "admin"),
                User::new(DAVE.0, DAVE.1, "engineer"),
            ],
            env: vec![
                ("PGWARD_TEST_RO_PASSWORD".into(), RO_PASSWORD.into()),
                ("PGWARD_TEST_OWNER_PASSWORD".into(), OWNER_PASSWORD.into()),
            ],
            tls_files: None,
            fixed_port: None,
        }
    }

    /// Listen on `port` (with `[peers] reuse_port`, several proxies may share it).
    pub fn listen_port(mut self, port: u16) -> Self {
        self.fixed_port = Some(port);
        self
    }

    /// Set any key: `set("pool", "idle_timeout", "1s")`, `set("roles.engineer", "unmasked", true)`.
    pub fn set(mut self, section: &str, key: &str, value: impl Into<Value>) -> Self {
        let mut t = &mut self.config;
        for part in section.split('.') {
            t = match t
                .entry(part.to_string())
                .or_insert_with(|| Value::Table(Table::new()))
            {
                Value::Table(inner) => inner,
                _ => panic!("{section} is not a table"),
            };
        }
        t.insert(key.to_string(), value.into());
        self
    }

    /// Remove a key.
    pub fn unset(mut self, section: &str, key: &str) -> Self {
        let mut t = &mut self.config;
        for part in section.split('.') {
            t = match t.get_mut(part) {
                Some(Value::Table(inner)) => inner,
                _ => return self,
            };
        }
        t.remove(key);
        self
    }

    pub fn pool_mode(self, mode: &str) -> Self {
        self.set("pool", "mode", mode)
    }

    pub fn pool_size(self, size: i64) -> Self {
        self.set("pool", "size", size)
    }

    pub fn checkout_timeout(self, d: &str) -> Self {
        self.set("pool", "checkout_timeout", d)
    }

    pub fn max_client_connections(self, n: i64) -> Self {
        self.set("listen", "max_client_connections", n)
    }

    /// Masking that redacts `public.users.<column>` (and nothing else).
    pub fn masking_users(self, column: &str) -> Self {
        self.set("masking", "columns", vec![format!("public.users.{column}")])
            .set("masking", "strategy", "redact")
    }

    pub fn role(self, role: &str, key: &str, value: impl Into<Value>) -> Self {
        self.set(&format!("roles.{role}"), key, value)
    }

    /// Client TLS with this certificate; `mode` is `disable | allow | require`.
    pub fn client_tls(mut self, mode: &str, cert: &crate::certs::TestCert) -> Self {
        self.tls_files = Some((cert.cert_path.clone(), cert.key_path.clone()));
        self.set("listen", "client_tls", mode)
            .set("listen", "tls_cert", cert.cert_path.display().to_string())
            .set("listen", "tls_key", cert.key_path.display().to_string())
    }

    pub fn upstream_tls(self, mode: &str) -> Self {
        self.set("upstream", "tls", mode)
    }

    pub fn user(mut self, user: User) -> Self {
        self.users.retain(|u| u.name != user.name);
        self.users.push(user);
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// The config TOML that [`start`](Self::start) writes (listen port and audit path filled in
    /// by `start`).
    pub fn config_toml(&self, listen_port: u16, audit: &Path) -> String {
        let mut config = self.config.clone();
        let listen = config
            .entry("listen")
            .or_insert_with(|| Value::Table(Table::new()));
        if let Value::Table(l) = listen {
            l.insert("address".into(), format!("127.0.0.1:{listen_port}").into());
        }
        let mut audit_t = Table::new();
        audit_t.insert("file".into(), audit.display().to_string().into());
        config.entry("audit").or_insert(Value::Table(audit_t));
        let mut users = Table::new();
        for u in &self.users {
            let mut t = Table::new();
            t.insert("password".into(), scram_verifier(&u.password).into());
            t.insert("role".into(), u.role.clone().into());
            users.insert(u.name.clone(), Value::Table(t));
        }
        config.insert("users".into(), Value::Table(users));
        let _ = self.upstream_port;
        toml::to_string(&config).unwrap()
    }

    /// Write the config and start `pgward run --config PATH`; waits (30 s at most) until the
    /// listen port accepts. Panics with pgward's stderr if it exits.
    pub fn start(self) -> Proxy {
        let mut dir = tempfile::Builder::new()
            .prefix("pgward-e2e-")
            .tempdir()
            .unwrap();
        let config_path = dir.path().join("pgward.toml");
        let audit_path = dir.path().join("audit.jsonl");
        let stderr_path = dir.path().join("pgward.stderr");
        let bin = pgward_binary();
        let mut last = String::new();
        for _attempt in 0..4 {
            let port = match self.fixed_port {
                Some(p) => p,
                None => pgward::local_pg::free_port().unwrap(),
            };
            fs::write(&config_path, self.config_toml(port, &audit_path)).unwrap();
            let stderr = fs::File::create(&stderr_path).unwrap();
            let mut cmd = Command::new(&bin);
            cmd.arg("run")
                .arg("--config")
                .arg(&config_path)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::from(stderr.try_clone().unwrap()))
                .stderr(Stdio::from(stderr));
            if std::env::var_os("PGWARD_LOG").is_none() {
                cmd.env("PGWARD_LOG", "info");
            }
            for (k, v) in &self.env {
                cmd.env(k, v);
            }
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            spawn_watchdog(child.id());
            let mut proxy = Proxy {
                child: Some(child),
                port,
                dir,
                config_path: config_path.clone(),
                audit_path: audit_path.clone(),
                stderr_path: stderr_path.clone(),
                builder: self.clone(),
            };
            match proxy.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return proxy,
                Err(e) => {
                    last = e;
                    if !(last.contains("in use") || last.contains("AddrInUse")) {
                        panic!("{last}");
                    }
                    dir = std::mem::replace(&mut proxy.dir, tempfile::tempdir().unwrap());
                }
            }
        }
        panic!("pgward did not start: {last}");
    }
}

/// Kill pgward if the test process dies without dropping [`Proxy`].
fn spawn_watchdog(pid: u32) {
    let script = r#"while [ -d "/proc/$1" ] && [ -d "/proc/$2" ]; do sleep 1; done; kill -9 "$2" 2>/dev/null; exit 0"#;
    if let Ok(mut c) = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("pgward-e2e-watchdog")
        .arg(std::process::id().to_string())
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        std::thread::spawn(move || {
            let _ = c.wait();
        });
    }
}

/// A SCRAM-SHA-256 verifier in PostgreSQL's format.
pub fn scram_verifier(password: &str) -> String {
    pgward::auth::scram::hash_password(password)
}

/// A running pgward process. Dropping it kills the process.
pub struct Proxy {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    config_path: PathBuf,
    audit_path: PathBuf,
    stderr_path: PathBuf,
    builder: ProxyBuilder,
}

impl Proxy {
    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "pgward exited during start-up ({status}); stderr:\n{}\nconfig:\n{}",
                    self.stderr(),
                    fs::read_to_string(&self.config_path).unwrap_or_default()
                ));
            }
            if TcpStream::connect_timeout(
                &(Ipv4Addr::LOCALHOST, self.port).into(),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "pgward did not accept on port {} within {limit:?}; stderr:\n{}",
                    self.port,
                    self.stderr()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pgward process's id (for its memory, from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Password of a configured user.
    /// A raw wire-protocol client logged in as `user` to `db` (panics if refused).
    pub async fn raw_login(&self, user: &str, db: &str) -> crate::raw::RawConn {
        crate::raw::RawConn::startup(self.addr(), user, &self.password(user), db, &[])
            .await
            .unwrap_or_else(|e| panic!("startup: {:?}", e.fields()))
    }

    pub fn password(&self, user: &str) -> String {
        self.builder
            .users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.password.clone())
            .unwrap_or_else(|| panic!("no user {user} in the test config"))
    }

    /// The builder this proxy was started from (change it, then [`Proxy::rewrite_config`]).
    pub fn builder(&self) -> ProxyBuilder {
        self.builder.clone()
    }

    /// Write `builder`'s config over this proxy's config file (same port and audit file);
    /// send `HUP` (or the console's RELOAD) to apply it.
    pub fn rewrite_config(&self, builder: &ProxyBuilder) {
        fs::write(
            &self.config_path,
            builder.config_toml(self.port, &self.audit_path),
        )
        .unwrap();
    }

    /// Apply `builder`'s config by SIGHUP and wait until this reload (not an earlier one) is
    /// logged. Blocking: call it from a multi-threaded runtime (`block_in_place`).
    pub fn reload_with(&self, builder: &ProxyBuilder, limit: Duration) {
        let reloads = || {
            let log = self.stderr();
            log.lines()
                .filter(|l| l.contains("configuration reloaded"))
                .count()
        };
        let before = reloads();
        self.rewrite_config(builder);
        self.signal("HUP");
        let deadline = Instant::now() + limit;
        while reloads() == before {
            assert!(Instant::now() < deadline, "no reload within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until pgward's output has a line containing every one of `needles`; returns it.
    pub fn wait_log(&self, needles: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(l) = self
                .stderr()
                .lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return l.to_string();
            }
            if Instant::now() > deadline {
                panic!(
                    "no log line with {needles:?} within {limit:?}; output:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What pgward wrote to stdout/stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The audit file's lines, each parsed as JSON (panics on a line that is not JSON).
    pub fn audit_records(&self) -> Vec<serde_json::Value> {
        let text = fs::read_to_string(&self.audit_path).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    pub fn audit_text(&self) -> String {
        fs::read_to_string(&self.audit_path).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Send a signal by name (`TERM`, `HUP`, ...) with `kill`.
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(c.id().to_string())
                .status();
        }
    }

    /// Wait for the process to exit (deadline); returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                return st.code();
            }
            if Instant::now() > deadline {
                panic!(
                    "pgward did not exit within {limit:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A libpq-style connection string for `user` (password included).
    pub fn conninfo(&self, user: &str, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={} password={} dbname={} sslmode=disable connect_timeout=10",
            self.port,
            user,
            self.password(user),
            db
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- pgward output (port {}) ----\n{}\n---- end of pgward output ----",
                self.port,
                tail(&self.stderr(), 8000)
            );
        }
    }
}

fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut start = s.len() - n;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
