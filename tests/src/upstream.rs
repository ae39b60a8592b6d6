//! The upstream PostgreSQL of the tests: a [`LocalPostgres`] with pgward's two upstream logins
//! and databases holding the shared corpus schema with seeded rows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use pgward::local_pg::{LocalPgOptions, LocalPostgres, SslFiles, DEMO_SEED_SQL};

/// Upstream login used by read-only roles (`[logins.readonly]`).
pub const RO_USER: &str = "app_ro";
pub const RO_PASSWORD: &str = "ro-Secret-4711";
/// Upstream login used by read-write roles (`[logins.owner]`); owns the tables.
pub const OWNER_USER: &str = "app_owner";
pub const OWNER_PASSWORD: &str = "owner-Secret-0815";
/// The main seeded database.
pub const APP_DB: &str = "appdb";
/// A database owned by `app_owner` for `pgbench -i`.
pub const BENCH_DB: &str = "benchdb";

/// A running upstream with logins `app_ro`/`app_owner` and databases `appdb` and `benchdb`.
pub struct Upstream {
    pg: Mutex<LocalPostgres>,
    port: u16,
}

static SHARED: OnceLock<Upstream> = OnceLock::new();
static DB_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One upstream per test binary, started on first use. It is never dropped: the cluster's
/// watchdog stops and removes it within a second of the test binary's exit.
pub fn shared() -> &'static Upstream {
    SHARED.get_or_init(|| Upstream::start(false))
}

/// The corpus schema (`policy/tests/data/corpus/schema.sql`), read at test time.
pub fn corpus_schema_sql() -> String {
    let path = crate::corpus_path("schema.sql");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

impl Upstream {
    /// A fresh cluster of its own (for tests that stop it or need TLS upstream).
    pub fn start(ssl: bool) -> Upstream {
        let mut opts = LocalPgOptions {
            max_connections: 400,
            // A safety net: a query that a failing test leaves behind cannot burn CPU for long.
            settings: vec![("statement_timeout".into(), "60s".into())],
            ..LocalPgOptions::default()
        };
        if ssl {
            let cert = crate::certs::TestCert::new();
            opts.ssl = Some(SslFiles {
                cert_pem: cert.cert_pem.clone(),
                key_pem: cert.key_pem.clone(),
            });
        }
        let pg = LocalPostgres::start(opts).unwrap_or_else(|e| panic!("starting PostgreSQL: {e}"));
        pg.create_login(RO_USER, RO_PASSWORD, false).unwrap();
        pg.create_login(OWNER_USER, OWNER_PASSWORD, false).unwrap();
        let port = pg.port();
        let up = Upstream {
            pg: Mutex::new(pg),
            port,
        };
        up.create_app_db(APP_DB);
        up.pg().create_database(BENCH_DB, Some(OWNER_USER)).unwrap();
        up
    }

    /// The cluster itself (locked: stop/start need `&mut`).
    pub fn pg(&self) -> MutexGuard<'_, LocalPostgres> {
        self.pg.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A table `name` in APP_DB of `rows` rows (id 1.., v = 0), owned by the read-write
    /// login, readable by the read-only one (the guard and row-limit tests' table).
    pub fn numbered_table(&self, name: &str, rows: u32) -> String {
        self.sql(
            APP_DB,
            &format!(
                "DROP TABLE IF EXISTS {name};
CREATE TABLE {name} (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
INSERT INTO {name} (id) SELECT g FROM generate_series(1, {rows}) g;
ALTER TABLE {name} OWNER TO {OWNER_USER};
GRANT SELECT ON {name} TO {RO_USER};"
            ),
        );
        name.to_string()
    }

    /// Rows of a [`Upstream::numbered_table`] changed (committed) so far.
    pub fn changed_rows(&self, table: &str) -> String {
        self.sql(
            APP_DB,
            &format!("SELECT count(*) FROM {table} WHERE v <> 0"),
        )
        .trim()
        .to_string()
    }

    /// Run SQL as the superuser in database `db` over the unix socket; panics on error.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        self.pg()
            .psql_in(db, sql)
            .unwrap_or_else(|e| panic!("upstream SQL failed in {db}: {e}\nSQL: {sql}"))
    }

    /// Like [`sql`](Self::sql), returning the error instead of panicking.
    pub fn try_sql(&self, db: &str, sql: &str) -> Result<String, String> {
        self.pg().psql_in(db, sql).map_err(|e| e.to_string())
    }

    /// A new database with a unique name made from `prefix`, set up like `appdb`.
    pub fn fresh_db(&self, prefix: &str) -> String {
        let n = DB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}_{n}_{}", std::process::id());
        self.create_app_db(&name);
        name
    }

    /// [`Upstream::fresh_db`], then `setup` run in it as `app_owner` (what it creates is
    /// app_owner's).
    pub fn fresh_db_with(&self, prefix: &str, setup: &str) -> String {
        let db = self.fresh_db(prefix);
        if !setup.is_empty() {
            self.sql(
                &db,
                &format!("SET ROLE {OWNER_USER};\n{setup}\nRESET ROLE;"),
            );
        }
        db
    }

    /// Create database `db` owned by `app_owner` with the corpus schema (created as
    /// `app_owner`), seeded rows, `id_mappings`, a `cleanup_documents()` procedure (so that a
    /// wrongly allowed `CALL` would really delete rows) and read grants for `app_ro`.
    pub fn create_app_db(&self, db: &str) {
        self.pg().create_database(db, Some(OWNER_USER)).unwrap();
        let schema = corpus_schema_sql();
        let sql = format!(
            "BEGIN;
SET ROLE {OWNER_USER};
{schema}
{DEMO_SEED_SQL}
CREATE TABLE id_mappings (user_id int);
INSERT INTO id_mappings SELECT g FROM generate_series(1, 40) g;
INSERT INTO id_mappings SELECT g FROM generate_series(100001, 100005) g;
CREATE PROCEDURE cleanup_documents() LANGUAGE sql AS $$ DELETE FROM documents $$;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {RO_USER};
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {RO_USER};
RESET ROLE;
COMMIT;
ANALYZE;"
        );
        self.sql(db, &sql);
    }

    /// Stop the server (fast shutdown: its sessions are terminated).
    pub fn stop(&self) {
        self.pg()
            .stop()
            .unwrap_or_else(|e| panic!("stopping PostgreSQL: {e}"));
    }

    /// Start it again on the same port with the same data.
    pub fn start_again(&self) {
        self.pg()
            .start_again()
            .unwrap_or_else(|e| panic!("restarting PostgreSQL: {e}"));
    }
}
