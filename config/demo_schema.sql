-- Demo schema for `pgward demo` (a copy of the shared statement corpus' schema.sql).
-- PII columns (masked for roles without `unmasked = true`):
--   public.users.email, public.users.phone, public.users.ssn, public.users.full_name,
--   public.users.password_hash, public.api_tokens.token
CREATE TABLE organizations (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE users (
  id serial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  full_name text,
  phone text,
  ssn text,
  password_hash text,
  organization_id int REFERENCES organizations(id),
  status text NOT NULL DEFAULT 'active',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE documents (
  id serial PRIMARY KEY, user_id int REFERENCES users(id),
  name text, status text, error_message text,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE invoices (
  id serial PRIMARY KEY, organization_id int REFERENCES organizations(id),
  invoice_number text, status text, total_amount numeric(12,2),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE api_tokens (id serial PRIMARY KEY, user_id int, token text, scopes text[]);
CREATE VIEW user_directory AS SELECT id, email, full_name, status FROM users;
