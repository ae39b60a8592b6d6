//! The queries the production runbooks (`shared/runbooks`) have engineers run — activity,
//! locks, sizes, index use, counts, lookups — through a read-only role with the corpus's PII
//! columns masked: each runs (nothing a runbook needs is refused), and where a query reads a
//! PII column its value comes back masked, never in clear.

use pgward_e2e::proxy::ALICE;
use pgward_e2e::upstream;
use pgward_e2e::*;

const PII: [&str; 6] = [
    "public.users.email",
    "public.users.phone",
    "public.users.ssn",
    "public.users.full_name",
    "public.users.password_hash",
    "public.api_tokens.token",
];

/// Monitoring and investigation queries, in the runbooks' own shapes, on the corpus schema.
const RUNBOOK_QUERIES: &[&str] = &[
    "SELECT count(*) FROM pg_stat_activity",
    "SELECT pid, usename, application_name, client_addr, state, query_start FROM pg_stat_activity WHERE state <> 'idle' ORDER BY query_start",
    "SELECT pid, now() - pg_stat_activity.query_start AS duration, query, state FROM pg_stat_activity WHERE (now() - pg_stat_activity.query_start) > interval '5 minutes'",
    "SELECT application_name, count(*) FROM pg_stat_activity GROUP BY application_name ORDER BY 2 DESC",
    "SELECT client_addr, count(*) FROM pg_stat_activity GROUP BY client_addr",
    "SELECT l.locktype, l.mode, l.granted, a.pid, a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid",
    "SELECT pg_size_pretty(pg_database_size(current_database()))",
    "SELECT pg_size_pretty(pg_total_relation_size('users'))",
    "SELECT relname, pg_size_pretty(pg_total_relation_size(relid)) FROM pg_catalog.pg_statio_user_tables ORDER BY pg_total_relation_size(relid) DESC",
    "SELECT indexrelname, idx_scan, idx_tup_read, idx_tup_fetch FROM pg_stat_user_indexes ORDER BY idx_scan",
    "SELECT schemaname, relname, seq_scan, seq_tup_read, idx_scan, n_live_tup, n_dead_tup FROM pg_stat_user_tables ORDER BY n_dead_tup DESC",
    "SELECT relname, n_dead_tup, last_autovacuum, last_autoanalyze FROM pg_stat_user_tables",
    "SELECT constraint_name, table_name FROM information_schema.table_constraints WHERE constraint_type = 'FOREIGN KEY'",
    "SELECT count(*) FROM documents",
    "SELECT max(created_at) FROM documents",
    "SELECT id, status, updated_at FROM documents WHERE id = 1",
    "SELECT status, count(*) FROM documents GROUP BY status",
    "SELECT id, invoice_number, status, total_amount FROM invoices ORDER BY created_at DESC LIMIT 10",
    "SELECT organization_id FROM users WHERE id = 1",
    "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) SELECT * FROM documents WHERE user_id = 1",
    "SHOW statement_timeout",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_queries_run_for_a_masked_read_only_role() {
    let up = upstream::shared();
    let db = up.fresh_db("runbooks");
    let proxy = ProxyBuilder::new(up.port())
        .set(
            "masking",
            "columns",
            PII.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .set("masking", "strategy", "redact")
        .start();
    let client = connect(&proxy, ALICE.0, &db).await;
    simple_value(&client, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    for sql in RUNBOOK_QUERIES {
        if let Err(e) = simple_rows(&client, sql).await {
            panic!(
                "a runbook query was refused or failed: {sql}\n{}",
                describe(&e)
            );
        }
    }
    // The runbooks' user lookup reads PII: it runs, masked.
    let clear = up.sql(&db, "SELECT email FROM users WHERE id = 1");
    assert!(!clear.is_empty(), "seeded user has an e-mail");
    let rows = simple_rows(
        &client,
        "SELECT id, email, created_at, updated_at FROM users WHERE id = 1",
    )
    .await
    .unwrap_or_else(|e| panic!("user lookup: {}", describe(&e)));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0][1].as_deref(),
        Some("****"),
        "email must come back redacted"
    );
}
