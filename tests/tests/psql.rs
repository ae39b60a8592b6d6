//! The real `psql` through the proxy: meta-commands as a read-only role, `\copy` both ways,
//! errors mid-script, denials, Ctrl-C.

use std::process::Command;
use std::time::{Duration, Instant};

use pgward_e2e::proxy::{ALICE, BOB};
use pgward_e2e::upstream::{self, APP_DB};
use pgward_e2e::*;

#[test]
fn meta_commands_work_as_the_read_only_role() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();

    let out = psql(&proxy, ALICE.0, APP_DB, &["-c", r"\dt"], None);
    out.assert_ok(r"\dt");
    for t in [
        "users",
        "documents",
        "invoices",
        "api_tokens",
        "organizations",
        "id_mappings",
    ] {
        assert!(out.stdout.contains(t), "\\dt lacks {t}:\n{}", out.stdout);
    }

    let out = psql(&proxy, ALICE.0, APP_DB, &["-c", r"\d users"], None);
    out.assert_ok(r"\d users");
    for needle in [
        "Table \"public.users\"",
        "email",
        "ssn",
        "organization_id",
        "users_pkey",
        "users_email_key",
        "Referenced by",
    ] {
        assert!(
            out.stdout.contains(needle),
            "\\d users lacks {needle}:\n{}",
            out.stdout
        );
    }

    let out = psql(&proxy, ALICE.0, APP_DB, &["-c", r"\l"], None);
    out.assert_ok(r"\l");
    assert!(
        out.stdout.contains(APP_DB) && out.stdout.contains("template1"),
        "{}",
        out.stdout
    );

    let out = psql(&proxy, ALICE.0, APP_DB, &["-c", r"\df"], None);
    out.assert_ok(r"\df");
    assert!(out.stdout.contains("cleanup_documents"), "{}", out.stdout);

    for cmd in [
        r"\d",
        r"\dn",
        r"\dv",
        r"\di",
        r"\du",
        r"\dx",
        r"\d+ documents",
        r"\x on",
        r"\conninfo",
    ] {
        let out = psql(&proxy, ALICE.0, APP_DB, &["-c", cmd], None);
        out.assert_ok(cmd);
        assert!(!out.stderr.contains("ERROR"), "{cmd}: {}", out.stderr);
    }
    let out = psql(&proxy, ALICE.0, APP_DB, &["-c", r"\dv"], None);
    assert!(out.stdout.contains("user_directory"), "{}", out.stdout);
}

#[test]
fn copy_both_ways() {
    let up = upstream::shared();
    let db = up.fresh_db("psqlcopy");
    let proxy = ProxyBuilder::new(up.port()).start();
    let file = proxy.dir().join("users.csv");

    let out = psql(
        &proxy,
        ALICE.0,
        &db,
        &[
            "-c",
            &format!(
                r"\copy (SELECT id, email FROM users ORDER BY id) TO '{}' CSV HEADER",
                file.display()
            ),
        ],
        None,
    );
    out.assert_ok(r"\copy to");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 301);
    assert_eq!(lines[0], "id,email");
    assert_eq!(lines[7], "7,user7@example.com");

    let input = proxy.dir().join("ids.txt");
    std::fs::write(
        &input,
        (0..800)
            .map(|i| format!("{}\n", 900_000 + i))
            .collect::<String>(),
    )
    .unwrap();
    let out = psql(
        &proxy,
        BOB.0,
        &db,
        &[
            "-c",
            &format!(r"\copy id_mappings (user_id) FROM '{}'", input.display()),
        ],
        None,
    );
    out.assert_ok(r"\copy from");
    assert!(out.stdout.contains("COPY 800"), "{}", out.stdout);
    assert_eq!(
        up.sql(
            &db,
            "SELECT count(*) FROM id_mappings WHERE user_id >= 900000"
        ),
        "800"
    );

    // Above the on-call role's max_affected_rows (1000): rolled back with 54000.
    let big = proxy.dir().join("many-ids.txt");
    std::fs::write(
        &big,
        (0..2000)
            .map(|i| format!("{}\n", 950_000 + i))
            .collect::<String>(),
    )
    .unwrap();
    let out = psql(
        &proxy,
        BOB.0,
        &db,
        &[
            "-c",
            &format!(r"\copy id_mappings (user_id) FROM '{}'", big.display()),
        ],
        None,
    );
    assert!(out.stderr.contains("max_affected_rows"), "{}", out.stderr);
    assert_eq!(
        up.sql(
            &db,
            "SELECT count(*) FROM id_mappings WHERE user_id >= 900000"
        ),
        "800"
    );

    // From stdin, with the read-only role: refused, nothing written.
    let out = psql(
        &proxy,
        ALICE.0,
        &db,
        &["-c", r"\copy id_mappings (user_id) FROM STDIN"],
        Some("1\n2\n\\.\n"),
    );
    assert!(!out.ok());
    assert!(out.stderr.contains("pgward: "), "{}", out.stderr);
    assert_eq!(
        up.sql(
            &db,
            "SELECT count(*) FROM id_mappings WHERE user_id IN (1, 2)"
        ),
        "2"
    );
}

#[test]
fn an_error_mid_script_and_the_session_goes_on() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let script = "\
SELECT 'before';
SELECT 1/0;
SELECT 'after-error';
BEGIN;
SELECT 'in-tx';
SELECT * FROM no_such_table;
SELECT 'aborted';
ROLLBACK;
SELECT 'after-rollback';
DELETE FROM documents WHERE id = 1;
SELECT 'after-denial';
BEGIN;
UPDATE users SET status = 'x' WHERE id = 1;
SELECT 'aborted-after-denial';
ROLLBACK;
SELECT 'end';
";
    let out = psql(&proxy, ALICE.0, APP_DB, &["-At", "-q"], Some(script));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "before",
            "after-error",
            "in-tx",
            "after-rollback",
            "after-denial",
            "end"
        ],
        "stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stderr.contains("division by zero"), "{}", out.stderr);
    assert!(
        out.stderr.contains("current transaction is aborted"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("ERROR:  pgward: ").count(),
        2,
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("HINT:"), "{}", out.stderr);
    assert_eq!(
        up.sql(APP_DB, "SELECT count(*) FROM documents WHERE id = 1"),
        "1"
    );
}

#[test]
fn ctrl_c_cancels_the_running_query() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    let mut cmd = libpq_command(&proxy, "psql", ALICE.0, APP_DB);
    cmd.args([
        "-X",
        "-At",
        "-c",
        "SELECT count(*) FROM users a, users b, users c, users d",
    ]);
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = wait_output(child, Duration::from_secs(10));
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "cancel took {:?}",
        t.elapsed()
    );
    assert!(
        out.1.contains("canceling statement due to user request"),
        "stderr: {}",
        out.1
    );
}

fn wait_output(mut child: std::process::Child, limit: Duration) -> (String, String) {
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            let o = child.wait_with_output().unwrap();
            return (
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            );
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("psql did not end within {limit:?} after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn startup_options_cannot_loosen_the_session() {
    let up = upstream::shared();
    let proxy = ProxyBuilder::new(up.port()).start();
    for opts in [
        "-c default_transaction_read_only=off",
        "-c statement_timeout=0",
        "-c role=app_owner",
        "-c session_authorization=app_owner",
    ] {
        let mut cmd = libpq_command(&proxy, "psql", ALICE.0, APP_DB);
        cmd.env("PGOPTIONS", opts)
            .args(["-X", "-At", "-c", "SHOW transaction_read_only"]);
        let out = run_with_timeout(cmd, None, Duration::from_secs(30), opts);
        assert!(!out.ok() || out.stdout.trim() == "on", "{opts}: {out:?}");
        assert!(!out.ok(), "{opts} was accepted at startup: {out:?}");
    }
    // Harmless ones pass.
    let mut cmd = libpq_command(&proxy, "psql", ALICE.0, APP_DB);
    cmd.env("PGOPTIONS", "-c DateStyle=German -c extra_float_digits=2")
        .env("PGAPPNAME", "psql-e2e")
        .args([
            "-X",
            "-At",
            "-c",
            "SHOW DateStyle",
            "-c",
            "SHOW application_name",
        ]);
    let out = run_with_timeout(cmd, None, Duration::from_secs(30), "harmless PGOPTIONS");
    out.assert_ok("harmless PGOPTIONS");
    assert!(out.stdout.contains("German"), "{}", out.stdout);
    assert!(out.stdout.contains("psql-e2e"), "{}", out.stdout);
    // Client encodings that can hide ASCII inside multibyte characters are refused; SQL_ASCII
    // (psql in a C locale) works.
    let mut cmd = libpq_command(&proxy, "psql", ALICE.0, APP_DB);
    cmd.env("PGCLIENTENCODING", "SJIS")
        .args(["-X", "-At", "-c", "SELECT 1"]);
    let out = run_with_timeout(cmd, None, Duration::from_secs(30), "SJIS");
    assert!(!out.ok(), "client_encoding SJIS accepted: {out:?}");
    let mut cmd = libpq_command(&proxy, "psql", ALICE.0, APP_DB);
    cmd.env("PGCLIENTENCODING", "SQL_ASCII")
        .args(["-X", "-At", "-c", "SELECT 'ok'"]);
    let out = run_with_timeout(cmd, None, Duration::from_secs(30), "SQL_ASCII");
    out.assert_ok("SQL_ASCII");
    assert_eq!(out.stdout.trim(), "ok");
}
