//! Helpers for the operations tests: reading the metrics endpoint, picking fields out of
//! pgward's text log lines, and the admin console's rows by column name.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// `GET path` over HTTP/1.0; returns (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connecting to the metrics address {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

/// `key=value` from a text log line (tracing's format; quoted values unquoted).
pub fn log_field(line: &str, key: &str) -> Option<String> {
    let pat = format!("{key}=");
    let mut from = 0;
    while let Some(i) = line[from..].find(&pat) {
        let at = from + i;
        let boundary = at == 0 || matches!(line.as_bytes()[at - 1], b' ' | b'{' | b',');
        let rest = &line[at + pat.len()..];
        if boundary {
            return Some(if let Some(q) = rest.strip_prefix('"') {
                q.split('"').next().unwrap_or("").to_string()
            } else {
                rest.split([' ', '}', ',']).next().unwrap_or("").to_string()
            });
        }
        from = at + pat.len();
    }
    None
}

/// A console result: one map of column -> value per row.
pub type AdminRows = Vec<BTreeMap<String, Option<String>>>;

/// Run a console command with the simple protocol; rows by column name.
pub async fn admin_rows(
    client: &tokio_postgres::Client,
    command: &str,
) -> Result<AdminRows, tokio_postgres::Error> {
    let msgs = tokio::time::timeout(Duration::from_secs(30), client.simple_query(command))
        .await
        .unwrap_or_else(|_| panic!("console did not answer {command} within 30s"))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                r.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_string(), r.get(i).map(str::to_string)))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// A row's value as a number (panics naming the column when it is not one).
pub fn num(row: &BTreeMap<String, Option<String>>, col: &str) -> i64 {
    row.get(col)
        .cloned()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("column {col} is not a number in {row:?}"))
}

/// A row's value as text ("" for NULL).
pub fn text(row: &BTreeMap<String, Option<String>>, col: &str) -> String {
    row.get(col)
        .unwrap_or_else(|| panic!("no column {col} in {row:?}"))
        .clone()
        .unwrap_or_default()
}
