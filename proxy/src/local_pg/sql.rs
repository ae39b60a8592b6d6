//! SQL run on the local server as its superuser (through psql): logins, databases, the demo
//! schema.

use super::*;

impl LocalPostgres {
    fn psql_command(&self, db: &str) -> Command {
        let psql = if self.bin_dir.join("psql").is_file() {
            self.bin_dir.join("psql")
        } else {
            PathBuf::from("psql")
        };
        let mut cmd = Command::new(psql);
        cmd.args(["-X", "-At", "-q", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", db]);
        for var in [
            "PGPASSWORD",
            "PGSSLMODE",
            "PGOPTIONS",
            "PGSERVICE",
            "PGHOST",
            "PGPORT",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("PGCONNECT_TIMEOUT", "10");
        cmd
    }

    /// Run SQL as the superuser over the unix socket in database `postgres`; returns psql's
    /// unaligned, tuples-only output (`-At`).
    pub fn psql_as_superuser(&self, sql: &str) -> Result<String, LocalPgError> {
        self.psql_in("postgres", sql)
    }

    /// Run SQL as the superuser over the unix socket in database `db` (`psql -X -At -v
    /// ON_ERROR_STOP=1`, the SQL on stdin). Errors carry psql's stderr.
    pub fn psql_in(&self, db: &str, sql: &str) -> Result<String, LocalPgError> {
        let mut cmd = self.psql_command(db);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(io_err("starting psql"))?;
        let mut stdin = child.stdin.take().expect("piped stdin"); // ok: set to piped above
        let sql_owned = sql.to_owned();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(sql_owned.as_bytes());
        });
        let out = child
            .wait_with_output()
            .map_err(io_err("waiting for psql"))?;
        let _ = writer.join();
        if !out.status.success() {
            return Err(LocalPgError::Command {
                command: format!("psql -d {db}"),
                status: out.status.to_string(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        while s.ends_with('\n') {
            s.pop();
        }
        Ok(s)
    }

    /// Create a login role with a (SCRAM-hashed) password.
    pub fn create_login(
        &self,
        user: &str,
        password: &str,
        superuser: bool,
    ) -> Result<(), LocalPgError> {
        let sql = format!(
            "SET password_encryption = 'scram-sha-256'; CREATE ROLE {} LOGIN PASSWORD {}{};",
            quote_ident(user),
            quote_literal(password),
            if superuser { " SUPERUSER" } else { "" }
        );
        self.psql_as_superuser(&sql).map(|_| ())
    }

    /// Create a database (owned by `owner` if given).
    pub fn create_database(&self, db: &str, owner: Option<&str>) -> Result<(), LocalPgError> {
        let sql = match owner {
            Some(o) => format!(
                "CREATE DATABASE {} OWNER {};",
                quote_ident(db),
                quote_ident(o)
            ),
            None => format!("CREATE DATABASE {};", quote_ident(db)),
        };
        self.psql_as_superuser(&sql).map(|_| ())
    }

    /// Create the demo schema ([`DEMO_SCHEMA_SQL`]) in database `db` and fill it with a few
    /// hundred rows of fake PII ([`DEMO_SEED_SQL`]).
    pub fn seed_demo_schema(&self, db: &str) -> Result<(), LocalPgError> {
        self.psql_in(
            db,
            &format!("BEGIN;\n{DEMO_SCHEMA_SQL}\n{DEMO_SEED_SQL}\nCOMMIT;\n"),
        )
        .map(|_| ())
    }
}
