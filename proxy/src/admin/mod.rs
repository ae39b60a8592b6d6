//! The admin console: a user listed in `[admin] users` who connects to database `pgward` gets
//! PgBouncer's commands over the simple protocol (`commands.rs` parses and runs them, `show.rs`
//! and `info.rs` build the SHOW tables). Anyone else is refused with 42501 after logging in.

mod commands;
mod info;
mod show;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;

use crate::clients::{ClientEntry, CURRENT_CLIENT};
use crate::protocol::backend::{self, PgError};
use crate::protocol::{decode, FramedConn};
use crate::shared::Shared;
use crate::sqlstate;
use crate::startup::StartupInfo;
use crate::stream::ClientStream;

pub use commands::{parse, Command};
pub use show::human;

/// The database name that reaches the console.
pub const DATABASE: &str = "pgward";

/// One value in a result row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Null,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<u64> for Cell {
    fn from(n: u64) -> Cell {
        Cell::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Cell {
    fn from(n: usize) -> Cell {
        Cell::from(n as u64)
    }
}

impl From<bool> for Cell {
    fn from(b: bool) -> Cell {
        Cell::Text(if b { "yes" } else { "no" }.to_string())
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Cell {
        v.map_or(Cell::Null, Into::into)
    }
}

/// A result set: column names, rows, and the command tag.
#[derive(Debug, Default)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// What a command answers.
#[derive(Debug)]
pub enum Reply {
    Rows(Table),
    /// A command tag alone (RELOAD, PAUSE, ...).
    Done(String),
}

const TEXT_OID: i32 = 25;
const INT8_OID: i32 = 20;

fn encode_table(t: &Table, out: &mut BytesMut) {
    // A column's type is int8 when every value in it is a number, so psql right-aligns it.
    let numeric: Vec<bool> = (0..t.columns.len())
        .map(|i| {
            t.rows
                .iter()
                .all(|r| matches!(r.get(i), Some(Cell::Int(_)) | Some(Cell::Null)))
                && t.rows
                    .iter()
                    .any(|r| matches!(r.get(i), Some(Cell::Int(_))))
        })
        .collect();
    let mut body = BytesMut::new();
    body.extend_from_slice(&(t.columns.len() as i16).to_be_bytes());
    for (name, num) in t.columns.iter().zip(&numeric) {
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(&[0]);
        body.extend_from_slice(&0i32.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        let (oid, len) = if *num {
            (INT8_OID, 8i16)
        } else {
            (TEXT_OID, -1)
        };
        body.extend_from_slice(&oid.to_be_bytes());
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
    }
    backend::raw_message(b'T', &body, out);
    for row in &t.rows {
        body.clear();
        body.extend_from_slice(&(row.len() as i16).to_be_bytes());
        for cell in row {
            let text = match cell {
                Cell::Text(s) => Some(s.clone()),
                Cell::Int(n) => Some(n.to_string()),
                Cell::Null => None,
            };
            match text {
                Some(s) => {
                    body.extend_from_slice(&(s.len() as i32).to_be_bytes());
                    body.extend_from_slice(s.as_bytes());
                }
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        backend::raw_message(b'D', &body, out);
    }
    command_complete(&format!("SHOW {}", t.rows.len()), out);
}

fn command_complete(tag: &str, out: &mut BytesMut) {
    let mut body = Vec::with_capacity(tag.len() + 1);
    body.extend_from_slice(tag.as_bytes());
    body.push(0);
    backend::raw_message(b'C', &body, out);
}

/// Serve one console client until it leaves.
pub async fn serve(
    mut conn: FramedConn<ClientStream>,
    info: StartupInfo,
    peer: SocketAddr,
    shared: Arc<Shared>,
    session: u64,
    socket: Option<socket2::Socket>,
    raw_fd: std::os::fd::RawFd,
) {
    let mut out = BytesMut::new();
    let snap = shared.snapshot();
    if !snap.config.admin.users.contains(&info.user) {
        tracing::warn!(user = %info.user, "admin console refused: not in [admin] users");
        backend::error_response(
            &PgError::fatal(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!(
                    "pgward: user \"{}\" may not use the admin console",
                    info.user
                ),
            )
            .with_hint("list the user in [admin] users"),
            &mut out,
        );
        let _ = conn.send(&out).await;
        conn.shutdown().await;
        return;
    }
    let entry = Arc::new(ClientEntry::new(
        session,
        info.user.clone(),
        info.role.clone(),
        DATABASE.to_string(),
        peer,
        info.application_name.clone(),
        info.tls,
        true,
        socket,
        raw_fd,
        None,
    ));
    shared.clients.insert(entry.clone());
    tracing::info!(user = %info.user, database = DATABASE, "admin console connected");
    let run = CURRENT_CLIENT.scope(entry.clone(), console(&mut conn, &shared));
    tokio::select! {
        _ = run => {}
        _ = entry.ended() => {}
    }
    conn.shutdown().await;
    crate::listener::log_disconnect(&shared, &entry);
}

async fn console(conn: &mut FramedConn<ClientStream>, shared: &Arc<Shared>) {
    let key = shared.cancels.register();
    let mut out = BytesMut::new();
    backend::auth_ok(&mut out);
    for (k, v) in [
        ("server_version", "15.0 (pgward admin console)"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
        ("application_name", ""),
    ] {
        backend::parameter_status(k, v, &mut out);
    }
    backend::backend_key_data(key.pid, key.secret, &mut out);
    backend::ready_for_query(b'I', &mut out);
    if conn.send(&out).await.is_err() {
        return;
    }
    loop {
        let frame = match conn.read_frame().await {
            Ok(Some(f)) => f,
            Ok(None) | Err(_) => return,
        };
        out.clear();
        match frame.tag() {
            b'X' => return,
            b'Q' => match decode::query(frame.body()) {
                Ok(text) => run_text(text, shared, &mut out).await,
                Err(e) => backend::error_response(
                    &PgError::error(
                        sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                        format!("pgward: invalid query text: {e}"),
                    ),
                    &mut out,
                ),
            },
            _ => backend::error_response(
                &PgError::error(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    "pgward: the admin console speaks the simple query protocol only",
                ),
                &mut out,
            ),
        }
        backend::ready_for_query(b'I', &mut out);
        if conn.send(&out).await.is_err() {
            return;
        }
    }
}

/// Run each `;`-separated command; the first error ends the string, as in PostgreSQL.
async fn run_text(text: &str, shared: &Arc<Shared>, out: &mut BytesMut) {
    let parts: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        backend::raw_message(b'I', &[], out);
        return;
    }
    for part in parts {
        let reply = match parse(part) {
            Ok(cmd) => commands::execute(cmd, shared).await,
            Err(e) => Err(e),
        };
        match reply {
            Ok(Reply::Rows(t)) => encode_table(&t, out),
            Ok(Reply::Done(tag)) => command_complete(&tag, out),
            Err(e) => {
                backend::error_response(&e, out);
                return;
            }
        }
    }
}
