//! Issue 10 end to end: PII masking through the proxy for a masked role (`engineer`), against
//! the real upstream. Every case of `masking.toml` over the simple protocol (text), the
//! extended protocol with Describe (tokio-postgres: binary results) and without Describe (raw
//! frames, text), checking the values returned against the upstream's own; a leak test that
//! seeds distinctive PII and looks for it (and simple transforms of it) in every row, error and
//! notice of many exfiltration attempts; legitimate work that must stay exact.

use pgward_e2e::proxy::ALICE;
use pgward_e2e::raw::{frame, Msg, RawConn};
use pgward_e2e::upstream::{self, RO_PASSWORD, RO_USER};
use pgward_e2e::*;
use tokio_postgres::types::{FromSql, Type};

const PII: [&str; 6] = [
    "public.users.email",
    "public.users.phone",
    "public.users.ssn",
    "public.users.full_name",
    "public.users.password_hash",
    "public.api_tokens.token",
];

/// Distinctive values seeded into user 1 and token 1 (the leak test looks for them).
const SEEDED: [(&str, &str); 5] = [
    ("email", "zelda.quux@leakcheck.test"),
    ("full_name", "Xanthippe Qwertzuiop"),
    ("phone", "+1-555-8642-97"),
    ("ssn", "987-65-4329"),
    ("password_hash", "pbkdf2$feedfacecafe8086"),
];
const SEEDED_TOKEN: &str = "tok_Vq9ZmLeakCanary";

fn masking_proxy(up: &Upstream) -> ProxyBuilder {
    ProxyBuilder::new(up.port())
        .set(
            "masking",
            "columns",
            PII.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .set("masking", "strategy", "redact")
        .set("masking.strategies", "public.users.email", "partial")
}

fn seed(up: &Upstream, db: &str) {
    let sets: Vec<String> = SEEDED.iter().map(|(c, v)| format!("{c} = '{v}'")).collect();
    up.sql(
        db,
        &format!(
            "UPDATE users SET {} WHERE id = 1;
             INSERT INTO api_tokens (user_id, token) VALUES (1, '{SEEDED_TOKEN}');
             INSERT INTO users (email, full_name, status) VALUES ('user@example.com', 'Sam Plain', 'active');",
            sets.join(", ")
        ),
    );
}

/// A proxy with masking over a fresh seeded database, its catalog loaded.
async fn setup(prefix: &str) -> (&'static Upstream, String, Proxy) {
    let up = upstream::shared();
    let db = up.fresh_db(prefix);
    seed(up, &db);
    let proxy = masking_proxy(up).start();
    let c = connect(&proxy, ALICE.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    (up, db, proxy)
}

/// Straight to the upstream as the read-only login (the values the proxy must mask).
async fn direct(up: &Upstream, db: &str) -> tokio_postgres::Client {
    let conn = format!(
        "host=127.0.0.1 port={} user={RO_USER} password={RO_PASSWORD} dbname={db}",
        up.port()
    );
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .expect("direct connection");
    tokio::spawn(connection);
    client
}

#[derive(serde::Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    sql: String,
    #[serde(default)]
    masked: Option<Vec<usize>>,
    #[serde(default)]
    expect: Option<String>,
}

fn corpus() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus_path("masking.toml")).expect("masking.toml");
    let c: Corpus = toml::from_str(&text).expect("masking.toml parses");
    assert!(c.case.len() >= 15);
    c.case
}

/// The contract's `partial`: an e-mail keeps its first character and `@domain`; other text
/// of 8 characters or more keeps its last 4; shorter text is `****`.
fn partial(v: &str) -> String {
    if let (Some(at), Some(first)) = (v.rfind('@'), v.chars().next()) {
        return format!("{first}****{}", &v[at..]);
    }
    let n = v.chars().count();
    if n < 8 {
        return "****".into();
    }
    format!("****{}", v.chars().skip(n - 4).collect::<String>())
}

/// A masked value as the contract allows it: NULL, `****` or the partial form; never the
/// value itself.
fn check_masked(got: &Option<Vec<u8>>, upstream: &Option<Vec<u8>>, what: &str) {
    let Some(up) = upstream else {
        assert!(got.is_none(), "{what}: NULL upstream, got {got:?}");
        return;
    };
    let Some(got) = got else { return };
    let got_s = String::from_utf8_lossy(got);
    let up_s = String::from_utf8_lossy(up);
    assert!(
        got_s == "****" || partial(&up_s) == got_s,
        "{what}: masked value {got_s:?} is neither **** nor the partial form"
    );
    assert_ne!(got, up, "{what}: value passed in clear");
}

fn compare(
    proxied: &[Vec<Option<Vec<u8>>>],
    upstream: &[Vec<Option<Vec<u8>>>],
    masked: &[usize],
    what: &str,
) {
    assert_eq!(proxied.len(), upstream.len(), "{what}: row count");
    for (r, (p, u)) in proxied.iter().zip(upstream).enumerate() {
        assert_eq!(p.len(), u.len(), "{what}: columns of row {r}");
        for (i, (pv, uv)) in p.iter().zip(u).enumerate() {
            let col = format!("{what}: row {r} column {}", i + 1);
            if masked.contains(&(i + 1)) {
                check_masked(pv, uv, &col);
            } else {
                assert_eq!(pv, uv, "{col}: must be the upstream's value");
            }
        }
    }
}

fn text_rows(rows: Vec<Vec<Option<String>>>) -> Vec<Vec<Option<Vec<u8>>>> {
    rows.into_iter()
        .map(|r| r.into_iter().map(|v| v.map(String::into_bytes)).collect())
        .collect()
}

/// Any column's bytes as sent (binary format under tokio-postgres).
struct Raw(Vec<u8>);
impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

async fn binary_rows(
    c: &tokio_postgres::Client,
    sql: &str,
) -> Result<Vec<Vec<Option<Vec<u8>>>>, tokio_postgres::Error> {
    let rows = c.query_typed(sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<_, Option<Raw>>(i).map(|v| v.0))
                .collect()
        })
        .collect())
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// Parse/Bind/[Describe portal]/Execute/Sync with text results, on raw frames.
async fn raw_extended(c: &mut RawConn, sql: &str, describe: bool) -> Vec<Msg> {
    let mut bytes = Vec::new();
    let mut parse = cstr("");
    parse.extend(cstr(sql));
    parse.extend_from_slice(&0u16.to_be_bytes());
    bytes.extend(frame(b'P', &parse));
    let mut bind = cstr("");
    bind.extend(cstr(""));
    bind.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    bytes.extend(frame(b'B', &bind));
    if describe {
        bytes.extend(frame(b'D', &[b'P', 0]));
    }
    let mut exec = cstr("");
    exec.extend_from_slice(&0u32.to_be_bytes());
    bytes.extend(frame(b'E', &exec));
    bytes.extend(frame(b'S', &[]));
    c.send(&bytes).await.expect("send");
    c.until_ready(30).await
}

fn raw_rows(msgs: &[Msg]) -> Vec<Vec<Option<Vec<u8>>>> {
    text_rows(
        msgs.iter()
            .filter(|m| m.tag == b'D')
            .map(Msg::data_row)
            .collect(),
    )
}

fn raw_error(msgs: &[Msg]) -> Option<String> {
    msgs.iter().find(|m| m.tag == b'E').and_then(Msg::code)
}

async fn raw_login(proxy: &Proxy, db: &str) -> RawConn {
    RawConn::startup(proxy.addr(), ALICE.0, ALICE.1, db, &[])
        .await
        .unwrap_or_else(|e| panic!("login: {e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_cases_are_masked_in_every_protocol_and_format() {
    let (up, db, proxy) = setup("mask_corpus").await;
    let upstream = direct(up, &db).await;
    let c = connect(&proxy, ALICE.0, &db).await;
    let mut raw = raw_login(&proxy, &db).await;
    let mut empty = Vec::new();
    for case in corpus() {
        let sql = &case.sql;
        if case.expect.as_deref() == Some("deny") {
            let e = simple_rows(&c, sql).await.expect_err(sql);
            assert_eq!(sqlstate(&e), "42501", "simple {sql}: {}", describe(&e));
            let e = binary_rows(&c, sql).await.expect_err(sql);
            assert_eq!(sqlstate(&e), "42501", "extended {sql}: {}", describe(&e));
            for d in [true, false] {
                let msgs = raw_extended(&mut raw, sql, d).await;
                assert_eq!(raw_error(&msgs).as_deref(), Some("42501"), "raw {sql}");
            }
            continue;
        }
        let masked = case.masked.clone().unwrap_or_default();
        let want_text = text_rows(simple_rows(&upstream, sql).await.expect(sql));
        if want_text.is_empty() {
            empty.push(sql.clone());
        }
        let got_text = simple_rows(&c, sql)
            .await
            .unwrap_or_else(|e| panic!("simple {sql}: {}", describe(&e)));
        compare(
            &text_rows(got_text),
            &want_text,
            &masked,
            &format!("simple {sql}"),
        );
        let want_bin = binary_rows(&upstream, sql).await.expect(sql);
        let got_bin = binary_rows(&c, sql)
            .await
            .unwrap_or_else(|e| panic!("extended {sql}: {}", describe(&e)));
        compare(
            &got_bin,
            &want_bin,
            &masked,
            &format!("extended binary {sql}"),
        );
        for d in [true, false] {
            let msgs = raw_extended(&mut raw, sql, d).await;
            assert_eq!(raw_error(&msgs), None, "raw {sql}: {msgs:?}");
            let what = format!("extended text (describe {d}) {sql}");
            compare(&raw_rows(&msgs), &want_text, &masked, &what);
        }
    }
    // Values are compared, not vacuous empty results.
    assert!(empty.len() <= 1, "cases without rows: {empty:?}");
    // The audit records list the masked output columns.
    let audit = proxy.audit_records();
    assert!(
        audit.iter().any(|r| r["masked"]
            .as_array()
            .is_some_and(|m| m.iter().any(|c| c == "email"))),
        "no audit record lists email as masked"
    );
}

/// The seeded values and simple transforms of them, as the upstream computes them.
async fn needles(up: &Upstream, db: &str) -> Vec<String> {
    let mut values: Vec<String> = SEEDED.iter().map(|(_, v)| v.to_string()).collect();
    values.push(SEEDED_TOKEN.to_string());
    let mut out = Vec::new();
    for v in values {
        let forms = up.sql(
            db,
            &format!(
                "SELECT x FROM (VALUES ('{v}'), (reverse('{v}')), (md5('{v}')), (upper('{v}')), \
                 (lower('{v}')), (encode(convert_to('{v}', 'UTF8'), 'hex')), \
                 (replace(encode(convert_to('{v}', 'UTF8'), 'base64'), E'\\n', ''))) t(x)"
            ),
        );
        out.extend(forms.lines().map(str::to_string));
        // The distinctive core of the value, without the common domain or separators.
        out.push(v.chars().filter(|c| c.is_alphanumeric()).take(12).collect());
    }
    out.retain(|n| n.len() >= 6);
    out
}

const ATTEMPTS: &[&str] = &[
    "SELECT email FROM users WHERE id = 1",
    "SELECT * FROM users WHERE id = 1",
    "SELECT reverse(email), md5(ssn), upper(full_name) FROM users WHERE id = 1",
    "SELECT encode(convert_to(email, 'UTF8'), 'base64') FROM users WHERE id = 1",
    "SELECT encode(convert_to(ssn, 'UTF8'), 'hex') FROM users WHERE id = 1",
    "SELECT string_agg(email, ',') FROM users",
    "SELECT array_agg(phone) FROM users",
    "SELECT json_agg(full_name) FROM users",
    "SELECT jsonb_build_object('e', email) FROM users WHERE id = 1",
    "SELECT row_to_json(u) FROM users u WHERE id = 1",
    "SELECT to_jsonb(u) FROM users u WHERE id = 1",
    "SELECT u::text FROM users u WHERE id = 1",
    "SELECT row(u.*) FROM users u WHERE id = 1",
    "SELECT query_to_xml('select email from users', true, true, '')",
    "SELECT table_to_xml('users', true, true, '')",
    "SELECT xmlelement(name e, email) FROM users WHERE id = 1",
    "SELECT email::int FROM users WHERE id = 1",
    "SELECT ssn::date FROM users WHERE id = 1",
    "SELECT 1 / (length(email) - length(email)) || email FROM users WHERE id = 1",
    "SELECT CAST(full_name AS numeric) FROM users WHERE id = 1",
    "SELECT (SELECT email FROM users WHERE id = 1)::int",
    "SELECT token FROM api_tokens",
    "SELECT t.token || '' FROM api_tokens t",
    "SELECT id FROM users WHERE email LIKE 'z%'",
    "SELECT id FROM users WHERE substr(ssn, 1, 1) = '9'",
    "SELECT id FROM users ORDER BY email LIMIT 1",
    "SELECT count(*) FROM users GROUP BY email",
    "SELECT DISTINCT phone FROM users",
    "SELECT CASE WHEN email > 'z' THEN 1 END FROM users WHERE id = 1",
    "SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'users'",
    "WITH x AS (SELECT email AS e FROM users) SELECT e FROM x",
    "SELECT e FROM (SELECT password_hash AS e FROM users) s",
    "SELECT status FROM users UNION ALL SELECT ssn FROM users",
    "SELECT email FROM user_directory WHERE id = 1",
    "SELECT lower(full_name) FROM user_directory",
    "SELECT coalesce(email, 'x') FROM users WHERE id = 1",
    "SELECT ARRAY[email, phone] FROM users WHERE id = 1",
    "SELECT format('%s', ssn) FROM users WHERE id = 1",
    "SELECT quote_literal(email) FROM users WHERE id = 1",
    "SELECT regexp_replace(email, '@.*', '') FROM users WHERE id = 1",
    "SELECT translate(ssn, '0123456789', 'abcdefghij') FROM users WHERE id = 1",
    "SELECT email FROM users WHERE id = 1 FOR UPDATE",
    "COPY users TO STDOUT",
    "COPY (SELECT email FROM users) TO STDOUT WITH (FORMAT csv)",
    "DO $$ BEGIN RAISE NOTICE '%', (SELECT email FROM users WHERE id = 1); END $$",
    "SELECT set_config('x.y', (SELECT email FROM users WHERE id = 1), false)",
];

/// Every message body of `msgs` as text, for the needle search.
fn haystack(msgs: &[Msg]) -> String {
    msgs.iter()
        .filter(|m| matches!(m.tag, b'D' | b'E' | b'N' | b'T' | b'd' | b'C'))
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_no_leak(msgs: &[Msg], needles: &[String], what: &str) {
    let hay = haystack(msgs).to_lowercase();
    for n in needles {
        assert!(
            !hay.contains(&n.to_lowercase()),
            "{what}: found {n:?} in the reply"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_pii_never_leaks_in_rows_errors_or_notices() {
    let (up, db, proxy) = setup("mask_leak").await;
    let needles = needles(up, &db).await;
    assert!(needles.len() >= 30, "{needles:?}");
    let mut c = raw_login(&proxy, &db).await;
    for sql in ATTEMPTS {
        let msgs = c.simple_query(sql).await;
        assert_no_leak(&msgs, &needles, &format!("simple {sql}"));
        for d in [true, false] {
            let msgs = raw_extended(&mut c, sql, d).await;
            assert_no_leak(&msgs, &needles, &format!("extended (describe {d}) {sql}"));
        }
    }
    // A cast that can fail on the value is refused: whether it failed would tell the value.
    let msgs = c
        .simple_query("SELECT email::int FROM users WHERE id = 1")
        .await;
    assert_eq!(raw_error(&msgs).as_deref(), Some("42501"), "{msgs:?}");
    assert_no_leak(&msgs, &needles, "failing cast");
    // The red team's oracle: one digit at a time through division by zero.
    let msgs = c
        .simple_query("SELECT 1 / (substr(ssn, 1, 1)::int - 1) FROM users WHERE id = 1")
        .await;
    assert_eq!(raw_error(&msgs).as_deref(), Some("42501"), "{msgs:?}");
    // Cursors and prepared statements, SQL and protocol level.
    let scripted = [
        "BEGIN; DECLARE c CURSOR FOR SELECT id, email, ssn FROM users; FETCH 5 FROM c; FETCH ALL FROM c; COMMIT",
        "BEGIN; DECLARE c2 CURSOR FOR SELECT upper(full_name) FROM users; MOVE 0 IN c2; FETCH 3 FROM c2; CLOSE c2; COMMIT",
        "PREPARE p AS SELECT email, phone FROM users WHERE id = $1; EXECUTE p(1); DEALLOCATE p",
        "SELECT 1; SELECT email FROM users WHERE id = 1; SELECT ssn FROM users WHERE id = 1",
    ];
    for sql in scripted {
        let msgs = c.simple_query(sql).await;
        assert_no_leak(&msgs, &needles, sql);
    }
    // A protocol-level cursor: FETCH over extended frames.
    c.simple_query("BEGIN").await;
    c.simple_query("DECLARE c3 CURSOR FOR SELECT email, token FROM users JOIN api_tokens t ON t.user_id = users.id")
        .await;
    for d in [true, false] {
        let msgs = raw_extended(&mut c, "FETCH 2 FROM c3", d).await;
        assert_no_leak(&msgs, &needles, "extended FETCH");
    }
    c.simple_query("COMMIT").await;
    // The proxy never had a clear value in view of the client, but the upstream has them.
    let direct = direct(up, &db).await;
    let email = simple_value(&direct, "SELECT email FROM users WHERE id = 1").await;
    assert_eq!(email, SEEDED[0].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legitimate_work_of_a_masked_role_stays_exact() {
    let (up, db, proxy) = setup("mask_work").await;
    let upstream = direct(up, &db).await;
    let c = connect(&proxy, ALICE.0, &db).await;
    let exact = [
        format!("SELECT id, status FROM users WHERE email = '{}'", SEEDED[0].1),
        format!(
            "SELECT id FROM users WHERE email IN ('{}', 'user2@example.com') ORDER BY id",
            SEEDED[0].1
        ),
        "SELECT count(*) FROM users".to_string(),
        "SELECT status, count(*) FROM users GROUP BY status ORDER BY status".to_string(),
        "SELECT d.id, d.status FROM documents d JOIN users u ON u.id = d.user_id ORDER BY d.id LIMIT 20"
            .to_string(),
        "SELECT o.name, count(u.id) FROM organizations o JOIN users u ON u.organization_id = o.id GROUP BY o.name ORDER BY o.name"
            .to_string(),
        "SELECT id, created_at FROM users ORDER BY id LIMIT 5".to_string(),
    ];
    for sql in &exact {
        let want = simple_rows(&upstream, sql).await.expect(sql);
        assert!(!want.is_empty(), "{sql}: no rows upstream");
        let got = simple_rows(&c, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)));
        assert_eq!(got, want, "simple {sql}");
        let want = binary_rows(&upstream, sql).await.expect(sql);
        let got = binary_rows(&c, sql)
            .await
            .unwrap_or_else(|e| panic!("extended {sql}: {}", describe(&e)));
        assert_eq!(got, want, "extended {sql}");
    }
    // A lookup by a bind parameter.
    let rows = c
        .query_typed(
            "SELECT id FROM users WHERE email = $1",
            &[(&SEEDED[0].1, Type::TEXT)],
        )
        .await
        .expect("lookup by parameter");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 1);
    // The contract's strategies, exactly, over both protocols (binary results included).
    let sql = "SELECT email, ssn, id FROM users WHERE id = 1";
    let text = simple_rows(&c, sql).await.expect(sql);
    let binary = binary_rows(&c, sql).await.expect(sql);
    for got in [text_rows(text), binary] {
        assert_eq!(got[0][0].as_deref(), Some(&b"z****@leakcheck.test"[..]));
        assert_eq!(got[0][1].as_deref(), Some(&b"****"[..]));
    }
    // psql's \d still works for a masked role.
    let out = psql(&proxy, ALICE.0, &db, &["-c", "\\d users"], None);
    out.assert_ok("psql \\d users");
    assert!(out.stdout.contains("email"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmasked_role_sees_clear_values() {
    let up = upstream::shared();
    let db = up.fresh_db("mask_clear");
    seed(up, &db);
    let proxy = masking_proxy(up).role("engineer", "unmasked", true).start();
    let c = connect(&proxy, ALICE.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    let v = simple_value(&c, "SELECT email FROM users WHERE id = 1").await;
    assert_eq!(v, SEEDED[0].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_stdout_is_masked_when_allowed() {
    let up = upstream::shared();
    let db = up.fresh_db("mask_copy");
    seed(up, &db);
    let proxy = masking_proxy(up)
        .set("masking", "allow", vec!["copy".to_string()])
        .start();
    let c = connect(&proxy, ALICE.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    let needles = needles(up, &db).await;
    let mut raw = raw_login(&proxy, &db).await;
    let copies = [
        ("COPY (SELECT id, email, ssn FROM users ORDER BY id) TO STDOUT", b'\t'),
        (
            "COPY (SELECT id, email, ssn FROM users ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)",
            b',',
        ),
        ("COPY users (id, phone, full_name) TO STDOUT", b'\t'),
        // Out of the table's order; a header option in capitals; an escape that escapes itself.
        ("COPY users (id, ssn, email) TO STDOUT", b'\t'),
        (
            "COPY users (id, full_name, ssn) TO STDOUT WITH (FORMAT csv, HEADER 'FALSE')",
            b',',
        ),
        (
            "COPY users (id, email, ssn) TO STDOUT WITH (FORMAT csv, ESCAPE '\\', HEADER On)",
            b',',
        ),
    ];
    let count: usize = simple_value(&c, "SELECT count(*) FROM users")
        .await
        .parse()
        .expect("count");
    for (sql, delimiter) in copies {
        let msgs = raw.simple_query(sql).await;
        assert_eq!(raw_error(&msgs), None, "{sql}: {msgs:?}");
        assert_no_leak(&msgs, &needles, sql);
        let lines: Vec<String> = msgs
            .iter()
            .filter(|m| m.tag == b'd')
            .map(|m| String::from_utf8_lossy(&m.body).into_owned())
            .collect();
        let data: Vec<&String> = lines.iter().filter(|l| !l.starts_with("id,")).collect();
        assert_eq!(data.len(), count, "{sql}: one CopyData per row");
        for line in data {
            let fields: Vec<&str> = line.trim_end().split(delimiter as char).collect();
            assert_eq!(fields.len(), 3, "{sql}: {line:?}");
            assert!(
                fields[0].parse::<i32>().is_ok(),
                "{sql}: id in clear: {line:?}"
            );
            assert!(
                fields[1..]
                    .iter()
                    .all(|f| f.contains("****") || f.is_empty() || *f == "\\N"),
                "{sql}: masked columns: {line:?}"
            );
        }
    }
    // Binary COPY: no value in clear either.
    let msgs = raw
        .simple_query("COPY (SELECT id, email FROM users) TO STDOUT WITH (FORMAT binary)")
        .await;
    assert_no_leak(&msgs, &needles, "binary COPY");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_prepared_statements_are_masked_in_session_mode() {
    let up = upstream::shared();
    let db = up.fresh_db("mask_named");
    seed(up, &db);
    let proxy = masking_proxy(up).pool_mode("session").start();
    let c = connect(&proxy, ALICE.0, &db).await;
    simple_value(&c, "SELECT 1").await;
    wait_for_catalog(&proxy).await;
    // Parse + Describe in one batch, Bind + Execute (binary results) in later ones.
    let stmt = c
        .prepare("SELECT id, email, ssn, status FROM users WHERE id = $1")
        .await
        .expect("prepare");
    for _ in 0..3 {
        let row = c.query_one(&stmt, &[&1i32]).await.expect("query_one");
        assert_eq!(row.get::<_, i32>(0), 1);
        assert_eq!(row.get::<_, String>(1), "z****@leakcheck.test");
        assert_eq!(row.get::<_, String>(2), "****");
        assert_eq!(row.get::<_, String>(3), "active");
    }
}
