//! Upstream authentication against a real PostgreSQL (scram-sha-256, md5 and password in
//! pg_hba.conf), which also proves PostgreSQL accepts verifiers from `hash_password`.
//! Skipped, with a message, when no PostgreSQL server binaries are installed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::*;
use crate::auth::scram::hash_password;

fn find_bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            // PATH may hold symlinks to just a few tools: use the real directory (for psql).
            if let Ok(initdb) = std::fs::canonicalize(dir.join("initdb")) {
                let real = initdb.parent()?;
                if real.join("pg_ctl").is_file() && real.join("psql").is_file() {
                    return Some(real.to_owned());
                }
            }
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    dirs.sort_by_key(|d| {
        let v = d
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|v| v.to_str());
        v.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0)
    });
    dirs.pop()
}

/// PostgreSQL refuses to run as root; run its tools as the `postgres` user then.
fn pg_command(bin: &Path, tool: &str) -> Command {
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn run(mut c: Command) {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stops the server even when an assertion fails.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut c = pg_command(&self.bin, "pg_ctl");
        c.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"]);
        let _ = c.output();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn read_message(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).unwrap();
    let len = i32::from_be_bytes(head[1..5].try_into().unwrap()) as usize;
    let mut body = vec![0u8; len - 4];
    s.read_exact(&mut body).unwrap();
    (head[0], body)
}

/// Logs in as `user`; Ok(authentication codes seen) at ReadyForQuery, Err(SQLSTATE or auth
/// error) otherwise.
fn login(port: u16, user: &str, password: &str) -> Result<Vec<i32>, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = BytesMut::new();
    frontend::startup_message([("user", user), ("database", "postgres")], &mut buf).unwrap();
    s.write_all(&buf).unwrap();
    let mut auth = UpstreamAuth::new(user, password);
    let mut codes = Vec::new();
    loop {
        match read_message(&mut s) {
            (b'R', body) => {
                codes.push(i32::from_be_bytes(body[..4].try_into().unwrap()));
                match auth.respond_to_message(&body) {
                    Ok(Some(reply)) => s.write_all(&reply).unwrap(),
                    Ok(None) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            (b'E', body) => {
                let code = body.split(|&b| b == 0).find(|f| f.first() == Some(&b'C'));
                let code = code.map_or(&b"?"[..], |c| &c[1..]);
                return Err(String::from_utf8_lossy(code).into_owned());
            }
            (b'Z', _) => {
                assert!(auth.is_authenticated());
                return Ok(codes);
            }
            _ => {}
        }
    }
}

#[test]
fn authenticates_against_real_postgres() {
    let Some(bin) = find_bin_dir() else {
        eprintln!("SKIPPED authenticates_against_real_postgres: no PostgreSQL server binaries");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    run({
        let mut c = Command::new("chmod");
        c.arg("0777").arg(dir.path());
        c
    });
    let data = dir.path().join("data");
    let mut c = pg_command(&bin, "initdb");
    c.arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"]);
    run(c);
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\n\
         host all u_scram 127.0.0.1/32 scram-sha-256\n\
         host all u_md5 127.0.0.1/32 md5\n\
         host all u_pw 127.0.0.1/32 password\n\
         host all u_trust 127.0.0.1/32 trust\n",
    )
    .unwrap();
    let port = free_port();
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1",
        dir.path().display()
    );
    let mut c = pg_command(&bin, "pg_ctl");
    c.arg("-D").arg(&data).args(["-w", "-o", &opts, "-l"]);
    c.arg(dir.path().join("log")).arg("start");
    run(c);
    let cluster = Cluster {
        bin,
        data,
        _dir: dir,
    };

    // The SCRAM role's verifier comes from hash_password: PostgreSQL must accept it as is.
    let sql = format!(
        "SET password_encryption = 'md5'; \
         CREATE ROLE u_md5 LOGIN PASSWORD 'md5 pw'; \
         SET password_encryption = 'scram-sha-256'; \
         CREATE ROLE u_pw LOGIN PASSWORD 'clear pw'; \
         CREATE ROLE u_trust LOGIN; \
         CREATE ROLE u_scram LOGIN PASSWORD '{}';",
        hash_password("scram pw \u{e9}")
    );
    let mut c = pg_command(&cluster.bin, "psql");
    c.args([
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-h",
    ]);
    c.arg(cluster._dir.path())
        .args(["-p", &port.to_string(), "-c", &sql]);
    run(c);

    // Each role really went through its own method.
    assert_eq!(
        login(port, "u_scram", "scram pw \u{e9}").unwrap(),
        [10, 11, 12, 0]
    );
    assert_eq!(login(port, "u_md5", "md5 pw").unwrap(), [5, 0]);
    assert_eq!(login(port, "u_pw", "clear pw").unwrap(), [3, 0]);
    assert_eq!(login(port, "u_trust", "").unwrap(), [0]);
    assert_eq!(login(port, "u_scram", "nope").unwrap_err(), "28P01");
    assert_eq!(login(port, "u_md5", "nope").unwrap_err(), "28P01");
    assert_eq!(login(port, "u_pw", "nope").unwrap_err(), "28P01");
}
