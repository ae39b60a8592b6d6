//! `pgward demo`: a throwaway PostgreSQL with sample PII data, the proxy in front of it with
//! the demo policy (`config/demo.toml`), and the psql commands to try it. Ctrl-C removes it all.

use rand::distributions::{Alphanumeric, DistString};

use crate::auth::hash_password;
use crate::config::Config;
use crate::local_pg::{free_port, LocalPgOptions, LocalPostgres};

const DEMO_TOML: &str = include_str!("../../config/demo.toml");
const ALICE_PASSWORD: &str = "alice-demo";
const BOB_PASSWORD: &str = "bob-demo";

fn secret() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 24)
}

/// Start the upstream and fill it; blocking (initdb, psql).
fn start_upstream(ro: &str, owner: &str) -> Result<LocalPostgres, String> {
    let pg = LocalPostgres::start(LocalPgOptions::default()).map_err(|e| e.to_string())?;
    let setup = || -> Result<(), crate::local_pg::LocalPgError> {
        pg.create_login("app_owner", owner, false)?;
        pg.create_login("app_ro", ro, false)?;
        pg.create_database("demo", Some("app_owner"))?;
        pg.psql_in("demo", "SET ROLE app_owner;")?;
        pg.seed_demo_schema("demo")?;
        pg.psql_in(
            "demo",
            "GRANT USAGE ON SCHEMA public TO app_ro; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_ro; \
             ALTER TABLE organizations OWNER TO app_owner; ALTER TABLE users OWNER TO app_owner; \
             ALTER TABLE documents OWNER TO app_owner; ALTER TABLE invoices OWNER TO app_owner; \
             ALTER TABLE api_tokens OWNER TO app_owner; ALTER VIEW user_directory OWNER TO app_owner;",
        )?;
        Ok(())
    };
    setup().map_err(|e| e.to_string())?;
    Ok(pg)
}

pub async fn run() -> i32 {
    let (ro, owner) = (secret(), secret());
    let (ro2, owner2) = (ro.clone(), owner.clone());
    println!("pgward demo: starting a throwaway PostgreSQL...");
    let pg = match tokio::task::spawn_blocking(move || start_upstream(&ro2, &owner2)).await {
        Ok(Ok(pg)) => pg,
        Ok(Err(e)) => {
            eprintln!("pgward demo: {e}");
            return 1;
        }
        Err(e) => {
            eprintln!("pgward demo: {e}");
            return 1;
        }
    };
    let listen_port = match free_port() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("pgward demo: no free port: {e}");
            return 1;
        }
    };
    let toml = DEMO_TOML
        .replace("{{LISTEN_PORT}}", &listen_port.to_string())
        .replace("{{PG_PORT}}", &pg.port().to_string())
        .replace("{{RO_PASSWORD}}", &ro)
        .replace("{{OWNER_PASSWORD}}", &owner)
        .replace("{{ALICE_VERIFIER}}", &hash_password(ALICE_PASSWORD))
        .replace("{{BOB_VERIFIER}}", &hash_password(BOB_PASSWORD));
    let config = match Config::from_toml(&toml) {
        // The demo's upstream passwords are generated for this run; no warning about them.
        Ok(c) => Config {
            warnings: Vec::new(),
            ..c
        },
        Err(e) => {
            eprintln!("pgward demo: built-in config is invalid: {e}");
            return 1;
        }
    };
    let running = match crate::run::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pgward demo: {e}");
            return 1;
        }
    };
    let port = running.addr.port();
    println!();
    println!(
        "pgward is listening on 127.0.0.1:{port}, in front of PostgreSQL on port {}.",
        pg.port()
    );
    println!("Audit records go to this terminal. Try, in another terminal:");
    println!();
    println!("  # alice, a read-only engineer (statement_timeout 30s; PII masked):");
    println!("  PGPASSWORD={ALICE_PASSWORD} psql \"host=127.0.0.1 port={port} dbname=demo user=alice sslmode=disable\"");
    println!();
    println!("  # bob, on call: read-write, UPDATE/DELETE need a WHERE, no DDL, PII in clear:");
    println!("  PGPASSWORD={BOB_PASSWORD} psql \"host=127.0.0.1 port={port} dbname=demo user=bob sslmode=disable\"");
    println!();
    println!("Then: \\d users, SELECT * FROM users LIMIT 5, DELETE FROM documents, SELECT pg_sleep(60) and Ctrl-C.");
    println!("Press Ctrl-C here to stop pgward and remove the database.");
    let _ = tokio::signal::ctrl_c().await;
    println!("\npgward demo: stopping...");
    running.shutdown().await;
    let _ = tokio::task::spawn_blocking(move || drop(pg)).await;
    println!("pgward demo: removed the throwaway database.");
    0
}
