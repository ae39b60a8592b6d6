//! Finding the server binaries and the unprivileged OS user PostgreSQL runs as when we are root.

use super::*;

pub(super) const SERVER_TOOLS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

pub(super) fn has_server_tools(dir: &Path) -> bool {
    SERVER_TOOLS.iter().all(|t| dir.join(t).is_file())
}

/// A directory holding `initdb`, `pg_ctl` and `postgres`: `$PGWARD_PG_BIN` if set, else the
/// directory of `initdb` on PATH (symlinks followed), else the highest version under
/// `/usr/lib/postgresql/*/bin`.
pub fn find_server_binaries() -> Result<PathBuf, LocalPgError> {
    if let Some(dir) = std::env::var_os("PGWARD_PG_BIN") {
        let dir = PathBuf::from(dir);
        if has_server_tools(&dir) {
            return Ok(dir);
        }
        return Err(LocalPgError::Other(format!(
            "PGWARD_PG_BIN={} does not contain initdb, pg_ctl and postgres",
            dir.display()
        )));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if !initdb.is_file() {
                continue;
            }
            if let Ok(real) = fs::canonicalize(&initdb) {
                if let Some(real_dir) = real.parent() {
                    if has_server_tools(real_dir) {
                        return Ok(real_dir.to_path_buf());
                    }
                }
            }
            if has_server_tools(&dir) {
                return Ok(dir);
            }
        }
    }
    highest_versioned_bin(Path::new("/usr/lib/postgresql")).ok_or(LocalPgError::NoBinaries)
}

pub(super) fn highest_versioned_bin(root: &Path) -> Option<PathBuf> {
    let mut best: Option<(Vec<u64>, PathBuf)> = None;
    for entry in fs::read_dir(root).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let version: Vec<u64> = name.split('.').map_while(|p| p.parse().ok()).collect();
        if version.is_empty() {
            continue;
        }
        let bin = entry.path().join("bin");
        if has_server_tools(&bin) && best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, bin));
        }
    }
    best.map(|(_, p)| p)
}

/// Whether this process runs as root (effective uid 0), read from /proc or `id -u`.
pub(super) fn running_as_root() -> bool {
    if let Ok(meta) = fs::metadata("/proc/self") {
        return meta.uid() == 0;
    }
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// uid and gid of an OS user from /etc/passwd.
pub(super) fn lookup_user(name: &str) -> Option<RunAs> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[0] == name {
            Some(RunAs {
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        } else {
            None
        }
    })
}

pub(super) fn postgres_os_user() -> Result<RunAs, LocalPgError> {
    if let Some(u) = lookup_user("postgres") {
        return Ok(u);
    }
    let out = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "postgres",
        ])
        .output()
        .map_err(io_err("running useradd to create the postgres OS user"))?;
    // Another process may have created it meanwhile.
    lookup_user("postgres").ok_or_else(|| LocalPgError::Command {
        command: "useradd --system postgres".into(),
        status: out.status.to_string(),
        output: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

pub(super) fn chown_tree(path: &Path, who: RunAs) -> Result<(), LocalPgError> {
    std::os::unix::fs::chown(path, Some(who.uid), Some(who.gid))
        .map_err(io_err(format!("chown {}", path.display())))?;
    if path.is_dir() {
        for entry in fs::read_dir(path).map_err(io_err(format!("reading {}", path.display())))? {
            let entry = entry.map_err(io_err("reading a directory entry"))?;
            chown_tree(&entry.path(), who)?;
        }
    }
    Ok(())
}
