use super::os::{highest_versioned_bin, SERVER_TOOLS};
use super::*;

#[test]
fn picks_the_highest_version() {
    let root = tempfile::tempdir().unwrap();
    for v in ["9.6", "13", "15", "not-a-version"] {
        let bin = root.path().join(v).join("bin");
        fs::create_dir_all(&bin).unwrap();
        for t in SERVER_TOOLS {
            fs::write(bin.join(t), "").unwrap();
        }
    }
    // 16 without the tools does not count.
    fs::create_dir_all(root.path().join("16/bin")).unwrap();
    assert_eq!(
        highest_versioned_bin(root.path()),
        Some(root.path().join("15/bin"))
    );
    assert_eq!(highest_versioned_bin(&root.path().join("missing")), None);
}

#[test]
fn no_binaries_message_says_how_to_install() {
    let msg = LocalPgError::NoBinaries.to_string();
    assert!(msg.contains("/usr/lib/postgresql/*/bin"), "{msg}");
    assert!(msg.contains("apt-get install -y postgresql"), "{msg}");
}

#[test]
fn quoting() {
    assert_eq!(quote_literal("a'b"), "'a''b'");
    assert_eq!(quote_ident("x\"y"), "\"x\"\"y\"");
}

#[test]
fn free_port_is_bindable() {
    let p = free_port().unwrap();
    assert!(p > 0);
    TcpListener::bind((Ipv4Addr::LOCALHOST, p)).unwrap();
}

#[test]
fn demo_seed_covers_every_table() {
    for t in [
        "organizations",
        "users",
        "documents",
        "invoices",
        "api_tokens",
    ] {
        assert!(
            DEMO_SCHEMA_SQL.contains(&format!("CREATE TABLE {t}")),
            "{t}"
        );
        assert!(DEMO_SEED_SQL.contains(&format!("INSERT INTO {t}")), "{t}");
    }
}

/// Starts a real cluster when server binaries are installed (they are on CI: `.ci/run`
/// installs them); a machine without them only checks the error.
#[test]
fn starts_seeds_stops_and_starts_again() {
    if find_server_binaries().is_err() {
        assert!(matches!(
            LocalPostgres::start(LocalPgOptions::default()),
            Err(LocalPgError::NoBinaries)
        ));
        return;
    }
    let mut pg = LocalPostgres::start(LocalPgOptions::default()).unwrap();
    let data_dir = pg.data_dir().to_path_buf();
    assert_eq!(pg.psql_as_superuser("SELECT 40 + 2").unwrap(), "42");
    pg.create_database("demo", None).unwrap();
    pg.seed_demo_schema("demo").unwrap();
    assert_eq!(
        pg.psql_in("demo", "SELECT count(*) FROM users").unwrap(),
        "300"
    );
    pg.create_login("someone", "it's secret", false).unwrap();
    assert_eq!(
        pg.psql_as_superuser(
            "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'someone'"
        )
        .unwrap(),
        "SCRAM-SHA-256$"
    );
    let port = pg.port();
    pg.stop().unwrap();
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
    pg.start_again().unwrap();
    assert_eq!(pg.port(), port);
    assert_eq!(
        pg.psql_in("demo", "SELECT count(*) FROM documents")
            .unwrap(),
        "600"
    );
    drop(pg);
    assert!(!data_dir.exists());
}
