//! `pgward check` and `pgward explain` as a user runs them: every problem at once, human
//! forms, warnings for settings without effect, explain without upstream secrets.

use std::process::Command;

use pgward_e2e::proxy::{pgward_binary, scram_verifier};

const BASE: &str = r#"
[upstream]
host = "127.0.0.1"
port = 5432
tls = "disable"
[logins.readonly]
user = "app_ro"
password_env = "PGWARD_CLI_TEST_RO_SECRET"
[logins.owner]
user = "app_owner"
password_env = "PGWARD_CLI_TEST_OWNER_SECRET"
[roles.engineer]
login = "readonly"
statement_timeout = "30s"
[roles.oncall]
login = "owner"
access = "read-write"
max_affected_rows = 100
"#;

fn config(dir: &tempfile::TempDir, extra: &str) -> std::path::PathBuf {
    let path = dir.path().join("pgward.toml");
    let users = format!(
        "[users.alice]\npassword = \"{}\"\nrole = \"engineer\"\n",
        scram_verifier("pw")
    );
    std::fs::write(&path, format!("{BASE}{extra}\n{users}")).unwrap();
    path
}

fn pgward(args: &[&str], path: &std::path::Path, with_secrets: bool) -> (i32, String, String) {
    let mut cmd = Command::new(pgward_binary());
    cmd.args(args).arg("--config").arg(path);
    cmd.env_remove("PGWARD_CLI_TEST_RO_SECRET")
        .env_remove("PGWARD_CLI_TEST_OWNER_SECRET");
    if with_secrets {
        cmd.env("PGWARD_CLI_TEST_RO_SECRET", "s1")
            .env("PGWARD_CLI_TEST_OWNER_SECRET", "s2");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        &dir,
        "[pool]\nsize = 0\ncheckout_timeout = \"soon\"\n[admin]\nusers = [\"nobody\"]\nmetrics = \"not an address\"\n",
    );
    let (code, _, err) = pgward(&["check"], &path, false);
    assert_eq!(code, 1, "{err}");
    for key in [
        "logins.readonly.password_env",
        "logins.owner.password_env",
        "pool.size",
        "pool.checkout_timeout",
        "admin.users",
        "admin.metrics",
    ] {
        assert!(err.contains(key), "{key} not reported:\n{err}");
    }
    assert!(err.lines().count() >= 6, "{err}");
}

#[test]
fn check_summary_reads_as_words_and_warns_about_no_effect() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        &dir,
        "[roles.viewer]\nlogin = \"readonly\"\nallow_ddl = true\nmax_affected_rows = 5\n",
    );
    let (code, out, err) = pgward(&["check"], &path, true);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("Some(") && !out.contains("None"), "{out}");
    assert!(out.contains("statement_timeout 30s"), "{out}");
    assert!(out.contains("max_affected_rows 100"), "{out}");
    assert!(out.contains("checkout timeout 5s"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("warning:") && l.contains("roles.viewer")),
        "{out}"
    );
}

#[test]
fn explain_needs_no_upstream_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(&dir, "");
    let (code, out, err) = pgward(&["explain", "--user", "alice", "SELECT 1"], &path, false);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("decision: allowed"), "{out}");
    let (code, out, _) = pgward(
        &["explain", "--user", "alice", "DELETE FROM t"],
        &path,
        false,
    );
    assert_eq!(code, 0);
    assert!(out.contains("decision: denied"), "{out}");
}
