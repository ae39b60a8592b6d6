//! The `pgward` command line: run, demo, check, explain, passwd.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use pgward_policy::{Access, Engine, SessionFacts, Verdict};

use crate::admin::human;
use crate::config::{Config, ConfigError, PoolMode, Secrets};
use crate::tls::{ClientTlsMode, UpstreamTlsMode};

#[derive(Parser)]
#[command(
    name = "pgward",
    version,
    about = "A SQL-aware access proxy for PostgreSQL"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the proxy in the foreground.
    Run {
        #[arg(long, default_value = "config/pgward.toml")]
        config: PathBuf,
    },
    /// Start a throwaway PostgreSQL with sample data and the proxy in front of it.
    Demo,
    /// Validate a config and summarize the effective policy.
    Check {
        #[arg(long, default_value = "config/pgward.toml")]
        config: PathBuf,
    },
    /// Print the decision a user's role would get for a statement (no upstream needed).
    Explain {
        #[arg(long, default_value = "config/pgward.toml")]
        config: PathBuf,
        #[arg(long)]
        user: String,
        sql: String,
    },
    /// Read a password on stdin and print its SCRAM-SHA-256 verifier.
    Passwd,
}

/// Run a command; the return value is the process exit code.
pub fn main_with(cli: Cli) -> i32 {
    match cli.command {
        Command::Run { config } => with_runtime(async move {
            let cfg = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    report_problems(&config, &e);
                    return 1;
                }
            };
            match crate::run::run_until_signal(cfg, config).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("pgward: {e}");
                    1
                }
            }
        }),
        Command::Demo => with_runtime(crate::demo::run()),
        Command::Check { config } => check(&config),
        Command::Explain { config, user, sql } => explain(&config, &user, &sql),
        Command::Passwd => passwd(),
    }
}

/// The runtime: `PGWARD_WORKERS=N` threads; with 1 (the default on machines of up to two
/// cores, where the database and its clients need the other core) a single-threaded
/// scheduler, which wakes no other thread per message.
fn with_runtime(f: impl std::future::Future<Output = i32>) -> i32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = std::env::var("PGWARD_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(if cores <= 2 { 1 } else { cores });
    let runtime = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    };
    match runtime {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("pgward: cannot start the runtime: {e}");
            1
        }
    }
}

/// Print every problem of a config that does not load, one per line.
fn report_problems(path: &Path, e: &ConfigError) {
    let problems = e.problems();
    for p in &problems {
        eprintln!("{}: error: {p}", path.display());
    }
    if problems.len() > 1 {
        eprintln!("{}: {} problems", path.display(), problems.len());
    }
}

fn client_tls_name(m: ClientTlsMode) -> &'static str {
    match m {
        ClientTlsMode::Disable => "disable",
        ClientTlsMode::Allow => "allow",
        ClientTlsMode::Require => "require",
    }
}

fn upstream_tls_name(m: UpstreamTlsMode) -> &'static str {
    match m {
        UpstreamTlsMode::Disable => "disable",
        UpstreamTlsMode::Prefer => "prefer",
        UpstreamTlsMode::Require => "require",
        UpstreamTlsMode::VerifyFull => "verify-full",
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn limit(n: u64) -> String {
    if n == 0 {
        "unlimited".to_string()
    } else {
        n.to_string()
    }
}

fn check(path: &Path) -> i32 {
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            report_problems(path, &e);
            return 1;
        }
    };
    println!("{}: OK", path.display());
    println!(
        "listen {} (client TLS {}, at most {} clients), upstream {}:{} (TLS {})",
        cfg.listen.address,
        client_tls_name(cfg.listen.client_tls),
        cfg.listen.max_client_connections,
        cfg.upstream.host,
        cfg.upstream.port,
        upstream_tls_name(cfg.upstream.tls_mode),
    );
    println!(
        "pool: {} mode, {} connections per database and login, checkout timeout {}, idle timeout {}, lifetime {}",
        match cfg.pool.mode {
            PoolMode::Transaction => "transaction",
            PoolMode::Session => "session",
        },
        cfg.pool.size,
        human(cfg.pool.checkout_timeout),
        human(cfg.pool.idle_timeout),
        human(cfg.pool.lifetime),
    );
    for (name, role) in &cfg.roles {
        let r = &role.rules;
        let access = match r.access {
            Access::ReadOnly => "read-only".to_string(),
            Access::ReadWrite => format!(
                "read-write (require_where {}, allow_ddl {}, allow_set_role {}, max_affected_rows {})",
                on_off(r.require_where),
                on_off(r.allow_ddl),
                on_off(r.allow_set_role),
                limit(r.max_affected_rows)
            ),
        };
        println!(
            "role {name}: login {}, {access}, statement_timeout {}, idle_in_transaction_timeout {}, max_result_rows {}, unmasked {}",
            role.login,
            human(role.statement_timeout),
            human(role.idle_in_transaction_timeout),
            limit(r.max_result_rows),
            on_off(r.unmasked)
        );
    }
    for (name, user) in &cfg.users {
        let admin = if cfg.admin.users.contains(name) {
            ", admin console"
        } else {
            ""
        };
        println!("user {name}: role {}{admin}", user.role);
    }
    match &cfg.audit.file {
        Some(f) => println!("audit: {}", f.display()),
        None => println!("audit: off"),
    }
    if let Some(m) = cfg.admin.metrics {
        println!("metrics: http://{m}/metrics");
    }
    if let Some(p) = &cfg.peers {
        println!(
            "peers: this is instance {} of {} (reuse_port {})",
            p.self_id,
            p.members.len(),
            on_off(p.reuse_port)
        );
    }
    for w in &cfg.warnings {
        println!("warning: {w}");
    }
    0
}

fn explain(path: &Path, user: &str, sql: &str) -> i32 {
    // No upstream is contacted: secrets need not be in the environment.
    let cfg = match Config::load_with(path, Secrets::Optional) {
        Ok(c) => c,
        Err(e) => {
            report_problems(path, &e);
            return 1;
        }
    };
    let Some((_, role)) = cfg.role_of(user) else {
        eprintln!("pgward: no user {user:?} in {}", path.display());
        return 1;
    };
    let engine = Engine::new(cfg.policy.clone());
    let search_path = vec!["$user".to_string(), "public".to_string()];
    let facts = SessionFacts {
        role: &role.rules,
        search_path: &search_path,
        in_transaction: false,
    };
    let d = engine.decide_uncached(sql, &facts);
    println!("user {user}, role {}", role.rules.name);
    println!("statement: {}", d.normalized);
    match &d.verdict {
        Verdict::Allow => {
            println!("decision: allowed");
            for (i, st) in d.statements.iter().enumerate() {
                println!(
                    "  {:?}{}",
                    st.kind,
                    if st.writes { " (writes)" } else { "" }
                );
                // Without the upstream's catalog: what the patterns alone establish.
                if let Some(plan) = d.mask.as_ref().and_then(|m| m.plans.get(i)) {
                    println!("    {plan}");
                }
            }
            0
        }
        Verdict::Deny(den) => {
            println!("decision: denied");
            println!("rule: {}", den.rule);
            println!("reason: {}", den.message);
            println!("detail: {}", den.detail);
            println!("hint: {}", den.hint);
            0
        }
    }
}

fn passwd() -> i32 {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("pgward: cannot read stdin: {e}");
        return 1;
    }
    let password = input.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("pgward: empty password");
        return 1;
    }
    println!("{}", crate::auth::hash_password(password));
    0
}
