//! Throwaway local PostgreSQL clusters for `pgward demo` and the tests.
//!
//! [`LocalPostgres::start`] runs `initdb` into a temporary directory, picks a free TCP port on
//! 127.0.0.1, starts `postgres` with its unix socket inside that directory and waits until it
//! accepts connections. Host (TCP) connections authenticate with SCRAM-SHA-256, so whatever
//! connects over TCP (the proxy) exercises its upstream SCRAM path; the unix socket trusts the
//! local superuser, which is what [`LocalPostgres::psql_as_superuser`] uses for set-up and for
//! checks straight against the server. Dropping the value stops the server and removes the data.
//!
//! PostgreSQL refuses to run as root: when this process is root, `initdb` and `postgres` run as
//! the unprivileged `postgres` system user (created with `useradd --system` if missing) and the
//! data directory is handed to that user.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod demo_data;
mod os;
mod process;
mod sql;

pub use demo_data::{DEMO_SCHEMA_SQL, DEMO_SEED_SQL};
pub use os::find_server_binaries;
use os::{chown_tree, postgres_os_user, running_as_root};

/// What can go wrong with a throwaway cluster.
#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    #[error(
        "no PostgreSQL server binaries found on PATH or under /usr/lib/postgresql/*/bin; \
         install them with `apt-get install -y postgresql`"
    )]
    NoBinaries,
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}):\n{output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },
    #[error("PostgreSQL did not become ready within {seconds}s; server log:\n{log}")]
    NotReady { seconds: u64, log: String },
    #[error("PostgreSQL exited during start-up; server log:\n{log}")]
    Exited { log: String },
    #[error("{0}")]
    Other(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalPgError {
    let context = context.into();
    move |source| LocalPgError::Io { context, source }
}

/// PEM-encoded certificate and key for the server's TLS (`ssl = on`).
#[derive(Clone, Debug)]
pub struct SslFiles {
    pub cert_pem: String,
    pub key_pem: String,
}

/// How to start a [`LocalPostgres`].
#[derive(Clone, Debug)]
pub struct LocalPgOptions {
    /// Password of the `postgres` superuser for host (TCP, SCRAM) connections.
    pub superuser_password: String,
    /// `max_connections`.
    pub max_connections: u32,
    /// Enable TLS on the server with this certificate and key.
    pub ssl: Option<SslFiles>,
    /// Extra `-c name=value` settings.
    pub settings: Vec<(String, String)>,
    /// How long to wait for the server to accept connections.
    pub ready_timeout: Duration,
}

impl Default for LocalPgOptions {
    fn default() -> Self {
        LocalPgOptions {
            superuser_password: "pgward-local-superuser".into(),
            max_connections: 200,
            ssl: None,
            settings: Vec::new(),
            ready_timeout: Duration::from_secs(60),
        }
    }
}

/// The unprivileged OS user the server runs as when we are root.
#[derive(Clone, Copy, Debug)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A running (or stopped) throwaway PostgreSQL cluster. Dropping it stops the server and removes
/// its directory.
pub struct LocalPostgres {
    dir: Option<tempfile::TempDir>,
    bin_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    port: u16,
    run_as: Option<RunAs>,
    opts: LocalPgOptions,
    child: Option<Child>,
}

impl std::fmt::Debug for LocalPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPostgres")
            .field("data_dir", &self.data_dir)
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .finish_non_exhaustive()
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, release it).
pub fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?.port())
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl LocalPostgres {
    /// initdb into a fresh temporary directory and start the server.
    pub fn start(opts: LocalPgOptions) -> Result<LocalPostgres, LocalPgError> {
        let bin_dir = find_server_binaries()?;
        let run_as = if running_as_root() {
            Some(postgres_os_user()?)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("pgward-pg-")
            .tempdir()
            .map_err(io_err("creating a temporary directory"))?;
        let base = dir.path().to_path_buf();
        let data_dir = base.join("data");
        let socket_dir = base.join("sock");
        fs::create_dir(&socket_dir).map_err(io_err("creating the socket directory"))?;
        let pwfile = base.join("pwfile");
        fs::write(&pwfile, format!("{}\n", opts.superuser_password))
            .map_err(io_err("writing the password file"))?;
        fs::set_permissions(&pwfile, fs::Permissions::from_mode(0o600))
            .map_err(io_err("chmod the password file"))?;
        if let Some(who) = run_as {
            chown_tree(&base, who)?;
        }

        let mut pg = LocalPostgres {
            dir: Some(dir),
            bin_dir,
            data_dir,
            socket_dir,
            log_path: base.join("postgres.log"),
            port: 0,
            run_as,
            opts,
            child: None,
        };

        let mut initdb = pg.server_command("initdb");
        initdb
            .arg("-D")
            .arg(&pg.data_dir)
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()));
        run_checked(&mut initdb, "initdb")?;
        let _ = fs::remove_file(&pwfile);

        if let Some(ssl) = pg.opts.ssl.clone() {
            let crt = pg.data_dir.join("server.crt");
            let key = pg.data_dir.join("server.key");
            fs::write(&crt, ssl.cert_pem).map_err(io_err("writing server.crt"))?;
            fs::write(&key, ssl.key_pem).map_err(io_err("writing server.key"))?;
            fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
                .map_err(io_err("chmod server.key"))?;
            if let Some(who) = run_as {
                chown_tree(&crt, who)?;
                chown_tree(&key, who)?;
            }
        }

        // A port found free can be taken before the server binds it: retry with another.
        let mut last_err = None;
        for _ in 0..5 {
            pg.port = free_port().map_err(io_err("finding a free TCP port"))?;
            match pg.spawn_and_wait() {
                Ok(()) => {
                    pg.spawn_watchdog();
                    return Ok(pg);
                }
                Err(LocalPgError::Exited { log })
                    if log.contains("could not bind") || log.contains("already in use") =>
                {
                    last_err = Some(LocalPgError::Exited { log });
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| LocalPgError::Other("could not start PostgreSQL".into())))
    }

    /// A command for a server binary, run as the `postgres` OS user when we are root.
    fn server_command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(tool));
        if let Some(who) = self.run_as {
            // std drops supplementary groups (setgroups(0)) before setuid when we are root.
            cmd.uid(who.uid).gid(who.gid);
            cmd.env("HOME", self.base());
            cmd.env("USER", "postgres");
            cmd.env("LOGNAME", "postgres");
        }
        cmd.current_dir(self.base());
        cmd.stdin(Stdio::null());
        cmd.env("LC_ALL", "C");
        cmd
    }

    fn base(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("temp dir present until drop") // ok: only Drop takes it
            .path()
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Host for TCP connections: always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// Directory of the server's unix socket (`-k`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Directory of the server binaries in use.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The superuser's password for TCP (SCRAM) connections; its name is `postgres`.
    pub fn superuser_password(&self) -> &str {
        &self.opts.superuser_password
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if self.child.is_some() {
            let mut cmd = self.server_command("pg_ctl");
            cmd.arg("stop")
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-m", "immediate", "-w", "-t", "10"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = cmd.status();
            if let Some(mut child) = self.child.take() {
                let deadline = Instant::now() + Duration::from_secs(5);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<String, LocalPgError> {
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(io_err(format!("running {what}")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(LocalPgError::Command {
            command: what.to_string(),
            status: out.status.to_string(),
            output: text,
        })
    }
}

/// Used by callers that want an `OsString` PATH entry for the server binaries (e.g. to run
/// `pgbench` or `psql` from the same installation).
pub fn path_with(dir: &Path) -> OsString {
    let mut parts = vec![dir.to_path_buf()];
    if let Some(p) = std::env::var_os("PATH") {
        parts.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(parts).unwrap_or_default()
}

#[cfg(test)]
mod tests;
