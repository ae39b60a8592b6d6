//! Pins are watched, not assumed: when the upstream session reports (ParameterStatus) a pinned
//! setting changed behind pgward's back (here through a user function that calls set_config,
//! which the role's rules allow), the client's session ends with a clear error, the server is
//! closed instead of pooled, and the audit log records it.

use pgward_e2e::proxy::CAROL;
use pgward_e2e::raw::{RawConn, ReadResult};
use pgward_e2e::upstream::{self, Upstream};
use pgward_e2e::*;

fn setup(up: &Upstream) {
    up.sql(
        upstream::APP_DB,
        &format!(
            "DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgward_pin_su') THEN
    CREATE ROLE pgward_pin_su SUPERUSER NOLOGIN;
  END IF;
END $$;
GRANT pgward_pin_su TO {owner};
CREATE OR REPLACE FUNCTION public.pin_flip(name text, value text) RETURNS text
  LANGUAGE sql AS $f$ SELECT set_config(name, value, false) $f$;
GRANT EXECUTE ON FUNCTION public.pin_flip(text, text) TO {owner};",
            owner = upstream::OWNER_USER
        ),
    );
}

/// Run `sql`, expect the session to end with pgward's pin error.
async fn expect_pin_break(proxy: &Proxy, sql: &str, setting: &str, what: &str) {
    let mut c = RawConn::startup(proxy.addr(), CAROL.0, CAROL.1, upstream::APP_DB, &[])
        .await
        .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()));
    c.send(&pgward_e2e::raw::query_frame(sql)).await.unwrap();
    let mut error = None;
    loop {
        match c.read_msg(20).await {
            ReadResult::Msg(m) if m.tag == b'E' => {
                error = Some(m);
            }
            ReadResult::Msg(m) if m.tag == b'Z' => {
                panic!("{what}: the session went on after the pin broke ({error:?})")
            }
            ReadResult::Msg(_) => {}
            ReadResult::Closed => break,
            ReadResult::TimedOut => panic!("{what}: no answer"),
        }
    }
    let error = error.unwrap_or_else(|| panic!("{what}: closed without an error"));
    let fields = error.fields();
    assert_eq!(
        fields.get(&'S').map(String::as_str),
        Some("FATAL"),
        "{what}"
    );
    assert_eq!(error.code().as_deref(), Some("42501"), "{what}");
    let message = error.message().unwrap_or_default();
    assert!(
        message.starts_with("pgward: ") && message.contains(setting),
        "{what}: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_pin_ends_the_session_and_closes_the_server() {
    let up = upstream::shared();
    setup(up);
    for mode in ["transaction", "session"] {
        // One server per pool: a server that was pooled again would be the next client's.
        let proxy = ProxyBuilder::new(up.port())
            .pool_mode(mode)
            .pool_size(1)
            .start();
        for (sql, setting) in [
            (
                "SELECT public.pin_flip('client_encoding', 'SJIS')",
                "client_encoding",
            ),
            (
                "SELECT public.pin_flip('role', 'pgward_pin_su')",
                "is_superuser",
            ),
        ] {
            let what = format!("{mode}: {setting}");
            expect_pin_break(&proxy, sql, setting, &what).await;
            // The next client gets a fresh server with every pin in place.
            let c = connect(&proxy, CAROL.0, upstream::APP_DB).await;
            for (name, want) in [
                ("standard_conforming_strings", "on"),
                ("client_encoding", "UTF8"),
                ("is_superuser", "off"),
            ] {
                assert_eq!(
                    simple_value(&c, &format!("SHOW {name}")).await,
                    want,
                    "{what}: {name} after the break"
                );
            }
            assert_eq!(
                simple_value(&c, "SELECT current_user").await,
                upstream::OWNER_USER,
                "{what}"
            );
        }
        // Each break is in the audit log, with the statement that caused it.
        let records = proxy.audit_records();
        let breaks: Vec<_> = records
            .iter()
            .filter(|r| {
                r["sqlstate"] == "42501"
                    && r["statement"]
                        .as_str()
                        .is_some_and(|s| s.contains("pin_flip"))
            })
            .collect();
        assert_eq!(breaks.len(), 2, "{mode}: audit: {records:?}");
    }
}
