//! The demo schema and its fake PII rows, for `pgward demo` and the tests.

/// The demo schema (a copy of the shared statement corpus' schema): tables `organizations`,
/// `users`, `documents`, `invoices`, `api_tokens`, view `user_directory`.
pub const DEMO_SCHEMA_SQL: &str = include_str!("../../../config/demo_schema.sql");

/// A few hundred rows of fake data with PII for [`DEMO_SCHEMA_SQL`]'s tables, generated with
/// `generate_series` (deterministic: no `random()`).
pub const DEMO_SEED_SQL: &str = r#"
INSERT INTO organizations (name)
  SELECT 'Organization ' || g FROM generate_series(1, 20) g;
INSERT INTO users (email, full_name, phone, ssn, password_hash, organization_id, status, created_at, updated_at)
  SELECT 'user' || g || '@example.com',
         (ARRAY['Ada','Grace','Alan','Barbara','Edsger','Frances','Ken','Margaret'])[1 + g % 8]
           || ' ' || (ARRAY['Lovelace','Hopper','Turing','Liskov','Dijkstra','Allen','Thompson','Hamilton'])[1 + (g / 8) % 8],
         '+1-555-' || lpad((1000 + g)::text, 4, '0'),
         lpad((100000000 + g * 7919)::text, 9, '0'),
         'pbkdf2$' || md5('pw' || g),
         1 + g % 20,
         CASE WHEN g % 17 = 0 THEN 'deleted' WHEN g % 5 = 0 THEN 'inactive' ELSE 'active' END,
         timestamptz '2024-01-01 00:00:00+00' + g * interval '3 hours',
         timestamptz '2024-06-01 00:00:00+00' + g * interval '2 hours'
  FROM generate_series(1, 300) g;
INSERT INTO documents (user_id, name, status, error_message, created_at, updated_at)
  SELECT 1 + g % 300,
         'document-' || g || '.pdf',
         (ARRAY['processed','processing','failed','uploaded'])[1 + g % 4],
         CASE WHEN g % 4 = 2 THEN 'parser error at page ' || (g % 13) END,
         timestamptz '2024-02-01 00:00:00+00' + g * interval '1 hour',
         timestamptz '2024-02-01 00:00:00+00' + g * interval '90 minutes'
  FROM generate_series(1, 600) g;
INSERT INTO invoices (organization_id, invoice_number, status, total_amount, created_at)
  SELECT 1 + g % 20, 'INV-' || lpad(g::text, 6, '0'),
         (ARRAY['paid','open','void'])[1 + g % 3],
         round((g * 37.13)::numeric % 5000, 2),
         timestamptz '2024-03-01 00:00:00+00' + g * interval '5 hours'
  FROM generate_series(1, 400) g;
INSERT INTO api_tokens (user_id, token, scopes)
  SELECT 1 + g % 300, 'tok_' || md5('token' || g),
         CASE WHEN g % 3 = 0 THEN ARRAY['read','write'] ELSE ARRAY['read'] END
  FROM generate_series(1, 100) g;
ANALYZE;
"#;
