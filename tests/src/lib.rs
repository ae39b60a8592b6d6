//! Test harness shared by the end-to-end tests.
//!
//! The pieces, from the bottom up:
//! - [`upstream`]: a throwaway PostgreSQL ([`pgward::local_pg`]) with the upstream logins
//!   `app_ro`/`app_owner`, database `appdb` holding the corpus schema and seeded rows, and
//!   database `benchdb` for pgbench; [`upstream::shared`] gives one per test binary.
//! - [`proxy`]: writes a pgward config TOML for that upstream and runs the real `pgward` binary
//!   (`pgward run --config PATH`), builder-style ([`ProxyBuilder`]).
//! - [`clients`]: tokio-postgres connections (plain and TLS), the real `psql` and `pgbench`
//!   with deadlines, and helpers to read SQLSTATEs.
//! - [`corpus`]: the shared statement corpora (`policy/tests/data/corpus/*.toml`).
//! - [`snapshot`]: "nothing changed upstream" checks straight against PostgreSQL.
//! - [`ops`]: the metrics endpoint over HTTP, fields of pgward's log lines, the admin
//!   console's rows by column name.
//!
//! The `pgward` binary: `cargo test --workspace` does not necessarily build
//! `target/<profile>/pgward` (a package's binary is built for the integration tests of that
//! same package only), so [`proxy::pgward_binary`] runs `cargo build -p pgward --bin pgward` with
//! the test's own profile and target directory once per test binary (a no-op when it is fresh).
//! Set `PGWARD_BIN` to use another binary.

pub mod certs;
pub mod clients;
pub mod corpus;
pub mod drivers;
pub mod ops;
pub mod proxy;
pub mod raw;
pub mod snapshot;
pub mod upstream;
pub mod wire;

pub use clients::*;
pub use proxy::{tx_proxy, Proxy, ProxyBuilder, User};
pub use upstream::Upstream;

use std::future::Future;
use std::time::Duration;

/// Await `fut` or panic after `secs` seconds, naming `what`: every wait in these tests has a
/// deadline, so a hang fails the test instead of hanging CI.
pub async fn deadline<F: Future>(secs: u64, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs}s: {what}"),
    }
}

/// Path of a file in the statement corpora kept in the repository (`policy/tests/data/corpus/NAME`,
/// copied from the team's shared corpus).
pub fn corpus_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policy/tests/data/corpus")
        .join(name)
}
