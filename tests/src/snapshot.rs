//! "Nothing changed upstream": a snapshot of a database's state taken straight from PostgreSQL
//! (as the superuser over the unix socket, not through the proxy).

use crate::upstream::Upstream;

/// Data, sequences, relations, settings and locks of one database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// `table: count md5` for every table in `public`, one per line.
    pub tables: String,
    /// `sequence: last_value is_called`.
    pub sequences: String,
    /// Every relation outside the system schemas, with its kind and owner, plus the columns.
    pub relations: String,
    /// Per-role and per-database settings, role attributes, grants on tables.
    pub settings: String,
    /// Locks held by other backends in this database (should be none between tests).
    pub locks: String,
    /// Upstream sessions of the test logins that sit in a transaction.
    pub open_transactions: String,
}

impl Snapshot {
    pub fn take(up: &Upstream, db: &str) -> Snapshot {
        let tables_list = up.sql(
            db,
            "SELECT string_agg(quote_ident(relname), ',' ORDER BY relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind IN ('r','p')",
        );
        let mut tables = String::new();
        for t in tables_list.split(',').filter(|s| !s.is_empty()) {
            let line = up.sql(
                db,
                &format!(
                    "SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') FROM {t} x"
                ),
            );
            tables.push_str(&format!("{t}: {line}\n"));
        }
        let sequences = up.sql(
            db,
            "SELECT string_agg(format('%s: %s %s', sequencename, last_value, last_value IS NOT NULL), E'\\n' ORDER BY sequencename) FROM pg_sequences",
        );
        let relations = up.sql(
            db,
            "SELECT string_agg(format('%s.%s %s %s', n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner)), E'\\n' ORDER BY n.nspname, c.relname) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'",
        ) + "\n"
            + &up.sql(
                db,
                "SELECT string_agg(format('%s.%s %s %s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)), E'\\n' ORDER BY c.relname, a.attnum) \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped",
            )
            + "\n"
            + &up.sql(
                db,
                "SELECT coalesce(string_agg(format('%s %s', p.proname, p.prokind), ',' ORDER BY p.proname), '') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
            );
        let settings = up.sql(
            db,
            "SELECT coalesce(string_agg(format('%s %s', setrole, setconfig), ',' ORDER BY setrole), '') FROM pg_db_role_setting",
        ) + "\n"
            + &up.sql(
                db,
                "SELECT string_agg(format('%s %s %s %s', rolname, rolsuper, rolcanlogin, rolconfig), ',' ORDER BY rolname) FROM pg_roles",
            )
            + "\n"
            + &up.sql(
                db,
                "SELECT coalesce(string_agg(format('%s %s', relname, relacl), ',' ORDER BY relname), '') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
            );
        let locks = up.sql(
            db,
            &format!(
                "SELECT coalesce(string_agg(format('%s %s %s %s', l.locktype, l.relation::regclass, l.mode, l.granted), ',' ORDER BY 1), '') \
                 FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                 WHERE d.datname = '{db}' AND l.pid <> pg_backend_pid() AND l.locktype IN ('relation', 'advisory', 'tuple', 'object') \
                 AND l.pid NOT IN (SELECT pid FROM pg_stat_activity WHERE application_name = 'pgward-catalog')"
            ),
        );
        let open_transactions = up.sql(
            db,
            &format!(
                "SELECT coalesce(string_agg(format('%s %s', usename, state), ','), '') FROM pg_stat_activity \
                 WHERE datname = '{db}' AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%' \
                 AND application_name <> 'pgward-catalog'"
            ),
        );
        Snapshot {
            tables,
            sequences,
            relations,
            settings,
            locks,
            open_transactions,
        }
    }

    /// Panic with a readable diff unless `after` equals `self`.
    #[track_caller]
    pub fn assert_unchanged(&self, after: &Snapshot, what: &str) {
        let fields = [
            (
                "tables (row counts and checksums)",
                &self.tables,
                &after.tables,
            ),
            ("sequences", &self.sequences, &after.sequences),
            ("relations and columns", &self.relations, &after.relations),
            (
                "settings, roles and grants",
                &self.settings,
                &after.settings,
            ),
            ("locks", &self.locks, &after.locks),
            (
                "open transactions",
                &self.open_transactions,
                &after.open_transactions,
            ),
        ];
        let mut diffs = Vec::new();
        for (name, a, b) in fields {
            if a != b {
                diffs.push(format!("{name} changed:\n  before: {a}\n  after:  {b}"));
            }
        }
        assert!(
            diffs.is_empty(),
            "{what}: upstream changed:\n{}",
            diffs.join("\n")
        );
    }
}
