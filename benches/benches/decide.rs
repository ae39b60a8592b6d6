//! decide() cached and uncached: a pgbench-style select, psql `\dt` and `\d users` catalog
//! queries and a multi-statement string.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pgward_policy::{Access, Engine, PolicyConfig, RoleRules, SessionFacts};

const PGBENCH_SELECT: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = 52983;";
const PSQL_DT: &str = "SELECT n.nspname as \"Schema\",\n  c.relname as \"Name\",\n  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as \"Type\",\n  pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\"\nFROM pg_catalog.pg_class c\n     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam\nWHERE c.relkind IN ('r','p','')\n      AND n.nspname <> 'pg_catalog'\n      AND n.nspname !~ '^pg_toast'\n      AND n.nspname <> 'information_schema'\n  AND pg_catalog.pg_table_is_visible(c.oid)\nORDER BY 1,2;";
/// psql 15 `\d users`: the column query, the heaviest of the statements `\d` sends.
const PSQL_D_USERS: &str = "SELECT a.attname,\n  pg_catalog.format_type(a.atttypid, a.atttypmod),\n  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)\n   FROM pg_catalog.pg_attrdef d\n   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),\n  a.attnotnull,\n  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t\n   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,\n  a.attidentity,\n  a.attgenerated\nFROM pg_catalog.pg_attribute a\nWHERE a.attrelid = '16394' AND a.attnum > 0 AND NOT a.attisdropped\nORDER BY a.attnum;";
const MULTI: &str = "BEGIN; SELECT abalance FROM pgbench_accounts WHERE aid = 1; SELECT count(*) FROM pgbench_branches; SHOW search_path; COMMIT";

fn bench(c: &mut Criterion) {
    let engine = Engine::new(PolicyConfig::default());
    let role = RoleRules {
        name: "engineer".into(),
        access: Access::ReadOnly,
        ..Default::default()
    };
    let path = vec!["$user".to_string(), "public".to_string()];
    let facts = SessionFacts {
        role: &role,
        search_path: &path,
        in_transaction: false,
    };
    for (name, sql) in [
        ("pgbench_select", PGBENCH_SELECT),
        ("psql_dt", PSQL_DT),
        ("psql_d_users", PSQL_D_USERS),
        ("multi_statement", MULTI),
    ] {
        assert!(
            engine.decide(sql, &facts).is_allowed(),
            "{name} must be allowed"
        );
        c.bench_function(&format!("{name}/cached"), |b| {
            b.iter(|| engine.decide(black_box(sql), &facts))
        });
        c.bench_function(&format!("{name}/uncached"), |b| {
            b.iter(|| engine.decide_uncached(black_box(sql), &facts))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
