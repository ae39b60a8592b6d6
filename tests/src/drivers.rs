//! Real client drivers for the end-to-end tests: Python's psycopg 3 and asyncpg in a venv of the
//! harness's own (installed from PyPI once per target directory), node-postgres (`npm install pg`
//! into the target directory), and pgjdbc (Debian's jar). Each returns `None`, after printing
//! why, when its runtime is absent, so a machine without it skips rather than fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::run_with_timeout;

/// `<target>/` of the running test executable (`<target>/<profile>/deps/<exe>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .expect("test executable lives in <target>/<profile>/deps")
        .to_path_buf()
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The scripts in `tests/drivers/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("drivers")
        .join(name)
}

/// A python3 with psycopg 3 (binary wheel) and asyncpg, or `None` (printed) without python3/venv.
pub fn python() -> Option<PathBuf> {
    static PY: OnceLock<Option<PathBuf>> = OnceLock::new();
    PY.get_or_init(|| {
        let Some(system) = which("python3") else {
            println!("skipped: python3 is not installed");
            return None;
        };
        let venv = target_dir().join("driver-venv");
        let py = venv.join("bin/python3");
        let ready = venv.join(".pgward-ready");
        if ready.is_file() {
            return Some(py);
        }
        let mut cmd = Command::new(system);
        cmd.arg("-m").arg("venv").arg(&venv);
        let out = run_with_timeout(cmd, None, Duration::from_secs(120), "python3 -m venv");
        if !out.status.success() {
            println!(
                "skipped: python3 -m venv failed (apt-get install -y python3-venv): {}",
                out.stderr
            );
            return None;
        }
        let mut cmd = Command::new(&py);
        cmd.args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "psycopg[binary]>=3.1",
            "asyncpg>=0.29",
        ]);
        run_with_timeout(cmd, None, Duration::from_secs(600), "pip install drivers")
            .assert_ok("pip install psycopg asyncpg into the harness venv");
        std::fs::write(&ready, b"").expect("marking the venv ready");
        Some(py)
    })
    .clone()
}

/// `node` plus a `node_modules` with `pg`, or `None` (printed) without node/npm.
pub fn node() -> Option<(PathBuf, PathBuf)> {
    static NODE: OnceLock<Option<(PathBuf, PathBuf)>> = OnceLock::new();
    NODE.get_or_init(|| {
        let (Some(node), Some(npm)) = (which("node"), which("npm")) else {
            println!("skipped: node-postgres needs node and npm");
            return None;
        };
        let dir = target_dir().join("driver-node");
        let modules = dir.join("node_modules");
        if !modules.join("pg/package.json").is_file() {
            std::fs::create_dir_all(&dir).expect("creating the node driver directory");
            let mut cmd = Command::new(npm);
            cmd.current_dir(&dir)
                .args(["install", "--no-audit", "--no-fund", "--silent", "pg@8"]);
            run_with_timeout(cmd, None, Duration::from_secs(600), "npm install pg")
                .assert_ok("npm install pg");
        }
        Some((node, modules))
    })
    .clone()
}

/// `java`, `javac` and the pgjdbc jar, or `None` (printed).
pub fn java() -> Option<(PathBuf, PathBuf, PathBuf)> {
    let jar = std::env::var_os("PGJDBC_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/postgresql.jar"));
    match (which("java"), which("javac"), jar.is_file()) {
        (Some(java), Some(javac), true) => Some((java, javac, jar)),
        _ => {
            println!("skipped: pgjdbc needs java, javac and {}", jar.display());
            None
        }
    }
}
