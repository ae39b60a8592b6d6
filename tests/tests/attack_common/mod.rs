//! Helpers shared by `attack_variants.rs` and `attack_variants_holds.rs`.
#![allow(dead_code)]

use pgward_e2e::raw::{self, RawConn, ReadResult};
use pgward_e2e::upstream::{self, Upstream};
use pgward_e2e::wire::{self, batch};
use pgward_e2e::{Proxy, ProxyBuilder};

/// A table of `rows` rows with v = 0, owned by the read-write login, readable by the
/// read-only one.
pub fn table(up: &Upstream, name: &str, rows: u32) -> String {
    up.numbered_table(name, rows)
}

/// Rows of `t` changed (committed) so far.
pub fn changed(up: &Upstream, t: &str) -> String {
    up.changed_rows(t)
}

pub fn reset(up: &Upstream, t: &str) {
    up.sql(upstream::APP_DB, &format!("UPDATE {t} SET v = 0"));
}

/// bob (oncall): max_affected_rows 5, statement_timeout 1s; alice (engineer):
/// max_result_rows 10, statement_timeout 1s.
pub fn builder(up: &Upstream, mode: &str) -> ProxyBuilder {
    ProxyBuilder::new(up.port())
        .pool_mode(mode)
        .role("oncall", "max_affected_rows", 5)
        .role("oncall", "statement_timeout", "1s")
        .role("engineer", "max_result_rows", 10)
        .role("engineer", "statement_timeout", "1s")
}

pub fn proxy(up: &Upstream, mode: &str) -> Proxy {
    builder(up, mode).start()
}

pub async fn login(proxy: &Proxy, user: (&str, &str)) -> RawConn {
    RawConn::startup(proxy.addr(), user.0, user.1, upstream::APP_DB, &[])
        .await
        .unwrap_or_else(|e| panic!("startup refused: {:?}", e.message()))
}

/// Send frames in one write; read up to `n` ReadyForQuery (fewer if the session ends or
/// stays quiet for 5 s).
pub async fn exchange(c: &mut RawConn, frames: &[Vec<u8>], n: usize) -> Vec<raw::Msg> {
    let _ = c.send(&batch(frames)).await;
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < n {
        match c.read_msg(5).await {
            ReadResult::Msg(m) => {
                seen += usize::from(m.tag == b'Z');
                out.push(m);
            }
            _ => break,
        }
    }
    out
}

/// Sync points (Sync, Query) among frames: how many ReadyForQuery they are owed.
pub fn sync_points(frames: &[Vec<u8>]) -> usize {
    frames
        .iter()
        .filter(|f| matches!(f[0], b'S' | b'Q'))
        .count()
}

/// "tags [codes]" of an answer.
pub fn summary(msgs: &[raw::Msg]) -> String {
    format!("{} {:?}", wire::tags(msgs), wire::codes(msgs))
}

/// The server's statement_timeout as the session sees it (`SHOW` through pgward).
pub async fn server_timeout(c: &mut RawConn) -> String {
    let msgs = exchange(c, &[raw::query_frame("SHOW statement_timeout")], 1).await;
    raw::rows(&msgs)
        .first()
        .and_then(|r| r[0].clone())
        .unwrap_or_else(|| format!("? {}", summary(&msgs)))
}

/// Fails listing every variant that got through.
pub fn report(what: &str, got_through: &[String]) {
    assert!(
        got_through.is_empty(),
        "{what}: {} variant(s) got through:\n{}",
        got_through.len(),
        got_through.join("\n")
    );
}
