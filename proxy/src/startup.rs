//! A client's first moments: SSL/GSS negotiation, the startup packet (or a CancelRequest), SCRAM
//! authentication against the configured verifiers, and the filtering of startup parameters a
//! client may not use to bend its session.

use crate::sqlstate;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use pgward_policy::{parse_startup_options, Engine, StartupParamVerdict};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::auth::scram::{ScramServer, SCRAM_SHA_256};
use crate::auth::wire::parse_sasl_initial_response;
use crate::config::Config;
use crate::protocol::backend::{self, PgError};
use crate::protocol::frame::{FrameReader, MAX_STARTUP_FRAME};
use crate::protocol::frontend::{
    CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, PROTOCOL_3_0, SSL_REQUEST_CODE,
};
use crate::protocol::{decode, FrameError, FramedConn};
use crate::stream::{ClientStream, MaybeTls};
use crate::tls::ClientTlsMode;

/// Why a client did not get in; every variant maps to the error it is told.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("client closed the connection during startup")]
    Closed,
    #[error("{}", .0.message)]
    Refused(PgError),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    /// Wrong user or password: the client is told the same for both; the reason is for the log.
    #[error("login failed for user {user:?}: {reason}")]
    AuthFailed { user: String, reason: &'static str },
}

impl StartupError {
    pub fn to_pg(&self) -> Option<PgError> {
        match self {
            StartupError::Refused(e) => Some(e.clone()),
            StartupError::AuthFailed { user, .. } => Some(PgError::fatal(
                sqlstate::INVALID_PASSWORD,
                format!("password authentication failed for user \"{user}\""),
            )),
            StartupError::Frame(e) => Some(PgError::fatal(
                sqlstate::PROTOCOL_VIOLATION,
                format!("invalid startup packet: {e}"),
            )),
            _ => None,
        }
    }
}

fn violation(message: impl Into<String>) -> StartupError {
    StartupError::Refused(PgError::fatal(sqlstate::PROTOCOL_VIOLATION, message))
}

/// Who the client is, once authenticated.
#[derive(Clone, Debug)]
pub struct StartupInfo {
    pub user: String,
    pub database: String,
    pub role: String,
    /// Harmless session parameters the client asked for (startup packet and `options`), in
    /// order; kept in sync on whichever server connection the client gets.
    pub params: Vec<(String, String)>,
    pub search_path: Option<String>,
    pub application_name: String,
    pub tls: bool,
}

pub enum Negotiated {
    Session(Box<FramedConn<ClientStream>>, StartupInfo),
    Cancel { pid: i32, secret: i32 },
}

fn packet_code(packet: &Bytes) -> Result<i32, StartupError> {
    let mut c = decode::Cursor::new(packet);
    c.i32()
        .map_err(|_| violation("invalid length of startup packet"))
}

/// Run the startup phase on a fresh TCP connection. A refused client is told why (an
/// ErrorResponse) before the connection closes.
pub async fn negotiate(
    tcp: TcpStream,
    config: &Config,
    engine: &Engine,
) -> Result<Negotiated, StartupError> {
    let (mut conn, packet, tls) = open(tcp, config).await?;
    match after_packet(&mut conn, &packet, tls, config, engine).await {
        Ok(Some(info)) => Ok(Negotiated::Session(Box::new(conn), info)),
        Ok(None) => {
            let mut c = decode::Cursor::new(&packet[4..]);
            let pid = c.i32().map_err(|_| violation("invalid cancel request"))?;
            let secret = c.i32().map_err(|_| violation("invalid cancel request"))?;
            Ok(Negotiated::Cancel { pid, secret })
        }
        Err(e) => {
            if let Some(pg) = e.to_pg() {
                let mut out = BytesMut::new();
                backend::error_response(&pg, &mut out);
                let _ = conn.send(&out).await;
            }
            conn.shutdown().await;
            Err(e)
        }
    }
}

/// Answer GSSENCRequest ('N') and SSLRequest ('S' and a TLS handshake, or 'N') on the raw
/// stream; return the connection and the first real packet (startup or cancel).
async fn open(
    tcp: TcpStream,
    config: &Config,
) -> Result<(FramedConn<ClientStream>, Bytes, bool), StartupError> {
    let mut reader = FrameReader::new(tcp, MAX_STARTUP_FRAME);
    loop {
        let packet = reader.next_untyped().await?.ok_or(StartupError::Closed)?;
        match packet_code(&packet)? {
            SSL_REQUEST_CODE => {
                let tls = config
                    .listen
                    .tls
                    .clone()
                    .filter(|_| config.listen.client_tls != ClientTlsMode::Disable);
                let Some(tls) = tls else {
                    reader
                        .get_mut()
                        .write_all(b"N")
                        .await
                        .map_err(FrameError::Io)?;
                    continue;
                };
                let (mut tcp, leftover) = reader.into_parts();
                if !leftover.is_empty() {
                    // Bytes sent before the handshake would bypass TLS (CVE-2021-23214).
                    return Err(violation("received unencrypted data after SSL request"));
                }
                tcp.write_all(b"S").await.map_err(FrameError::Io)?;
                let stream = tokio_rustls::TlsAcceptor::from(tls)
                    .accept(tcp)
                    .await
                    .map_err(StartupError::Tls)?;
                let mut conn = FramedConn::new(MaybeTls::Tls(Box::new(stream)), MAX_STARTUP_FRAME);
                let packet = conn.read_untyped().await?.ok_or(StartupError::Closed)?;
                return Ok((conn, packet, true));
            }
            GSSENC_REQUEST_CODE => {
                reader
                    .get_mut()
                    .write_all(b"N")
                    .await
                    .map_err(FrameError::Io)?;
            }
            _ => {
                let (tcp, leftover) = reader.into_parts();
                let conn =
                    FramedConn::with_buffer(MaybeTls::Plain(tcp), leftover, MAX_STARTUP_FRAME);
                return Ok((conn, packet, false));
            }
        }
    }
}

/// The startup packet: `Ok(None)` for a CancelRequest, the authenticated client otherwise.
async fn after_packet(
    conn: &mut FramedConn<ClientStream>,
    packet: &Bytes,
    tls: bool,
    config: &Config,
    engine: &Engine,
) -> Result<Option<StartupInfo>, StartupError> {
    let code = packet_code(packet)?;
    if code == CANCEL_REQUEST_CODE {
        return Ok(None);
    }
    if code >> 16 != 3 {
        return Err(violation(format!(
            "unsupported frontend protocol {}.{}: server supports 3.0",
            code >> 16,
            code & 0xffff
        )));
    }
    let params = decode::startup_params(&packet[4..])
        .map_err(|e| violation(format!("invalid startup packet layout: {e}")))?;
    if config.listen.client_tls == ClientTlsMode::Require && !tls {
        return Err(StartupError::Refused(
            PgError::fatal(
                sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                "pgward: TLS is required for every connection",
            )
            .with_hint("connect with sslmode=require"),
        ));
    }
    if code != PROTOCOL_3_0 || params.iter().any(|(k, _)| k.starts_with("_pq_.")) {
        negotiate_minor_version(conn, &params).await?;
    }
    let info = authenticate(conn, config, engine, params, tls).await?;
    conn.set_max_frame(crate::protocol::frame::MAX_CLIENT_FRAME);
    conn.charge_large_messages();
    Ok(Some(info))
}

/// A client asking for 3.x (x > 0) or sending `_pq_.` options gets told we speak 3.0.
async fn negotiate_minor_version(
    conn: &mut FramedConn<ClientStream>,
    params: &[(String, String)],
) -> Result<(), StartupError> {
    let mut body = BytesMut::new();
    body.extend_from_slice(&0i32.to_be_bytes());
    let unknown: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k.starts_with("_pq_."))
        .map(|(k, _)| k.as_str())
        .collect();
    body.extend_from_slice(&(unknown.len() as i32).to_be_bytes());
    for k in unknown {
        body.extend_from_slice(k.as_bytes());
        body.extend_from_slice(&[0]);
    }
    let mut out = BytesMut::new();
    backend::raw_message(b'v', &body, &mut out);
    conn.send(&out).await.map_err(FrameError::Io)?;
    Ok(())
}

fn auth_failed(user: &str, reason: &'static str) -> StartupError {
    StartupError::AuthFailed {
        user: user.to_string(),
        reason,
    }
}

async fn read_password_message(conn: &mut FramedConn<ClientStream>) -> Result<Bytes, StartupError> {
    let frame = conn.read_frame().await?.ok_or(StartupError::Closed)?;
    if frame.tag() != b'p' {
        return Err(violation(format!(
            "expected SASL response, got message type {}",
            frame.tag()
        )));
    }
    Ok(frame.into_raw().slice(5..))
}

async fn authenticate(
    conn: &mut FramedConn<ClientStream>,
    config: &Config,
    engine: &Engine,
    params: Vec<(String, String)>,
    tls: bool,
) -> Result<StartupInfo, StartupError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let user = get("user")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| violation("no PostgreSQL user name specified in startup packet"))?;
    let database = get("database")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| user.clone());

    // SCRAM-SHA-256; an unknown user goes through the same steps and fails the same way.
    let account = config.role_of(&user);
    let reason = if config.users.contains_key(&user) {
        "wrong password"
    } else {
        "unknown user"
    };
    let mut scram = ScramServer::new(&user, account.map(|(u, _)| u.verifier.clone()));
    let mut out = BytesMut::new();
    backend::auth_sasl(&[SCRAM_SHA_256], &mut out);
    conn.send(&out).await.map_err(FrameError::Io)?;
    let initial = read_password_message(conn).await?;
    let client_first =
        parse_sasl_initial_response(&initial).map_err(|e| violation(e.to_string()))?;
    let server_first = scram
        .client_first(client_first)
        .map_err(|_| auth_failed(&user, reason))?;
    out.clear();
    backend::auth_sasl_continue(server_first, &mut out);
    conn.send(&out).await.map_err(FrameError::Io)?;
    let client_final = read_password_message(conn).await?;
    let server_final = scram
        .client_final(&client_final)
        .map_err(|_| auth_failed(&user, reason))?;
    let Some((_, role_def)) = account else {
        return Err(auth_failed(&user, "the user's role is missing"));
    };
    out.clear();
    backend::auth_sasl_final(server_final, &mut out);
    conn.queue(&out);

    // Only now, authenticated, is the client told what it may not set.
    let mut kept = Vec::new();
    let mut search_path = None;
    // PostgreSQL applies `options` first and the packet's own parameters after, each in
    // order: a later value of a setting wins.
    // Of several `options`, PostgreSQL reads the last.
    let (mut options, packet): (Vec<_>, Vec<_>) = params.iter().partition(|(n, _)| n == "options");
    let options = options.pop();
    for (name, value) in options.into_iter().chain(packet) {
        match name.as_str() {
            "user" | "database" => continue,
            "options" => {
                let pairs = parse_startup_options(value).map_err(|d| refused_param(&d))?;
                for (k, v) in pairs {
                    judge_param(engine, &role_def.rules, &k, &v, &mut kept, &mut search_path)?;
                }
            }
            "replication" => {
                return Err(StartupError::Refused(PgError::fatal(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    "pgward: replication connections are not allowed",
                )))
            }
            _ => judge_param(
                engine,
                &role_def.rules,
                name,
                value,
                &mut kept,
                &mut search_path,
            )?,
        }
    }
    let kept = last_of_each(kept);
    let application_name = kept
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("application_name"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    Ok(StartupInfo {
        user,
        database,
        role: account.map(|(u, _)| u.role.clone()).unwrap_or_default(),
        params: kept,
        search_path,
        application_name,
        tls,
    })
}

/// One entry per setting (names compare as PostgreSQL's do, case-insensitively): its last
/// value, in the order the last values came.
fn last_of_each(params: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(params.len());
    for (name, value) in params {
        out.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        out.push((name, value));
    }
    out
}

fn refused_param(d: &pgward_policy::Denial) -> StartupError {
    StartupError::Refused(
        PgError::fatal(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("pgward: {}", d.message),
        )
        .with_detail(d.detail.clone())
        .with_hint(d.hint.clone()),
    )
}

fn judge_param(
    engine: &Engine,
    rules: &Arc<pgward_policy::RoleRules>,
    name: &str,
    value: &str,
    kept: &mut Vec<(String, String)>,
    search_path: &mut Option<String>,
) -> Result<(), StartupError> {
    if name.starts_with("_pq_.") {
        // Protocol extensions: reported as unsupported by NegotiateProtocolVersion, ignored.
        return Ok(());
    }
    match engine.check_startup_parameter(name, value, rules) {
        StartupParamVerdict::Pass => {
            kept.push((name.to_string(), value.to_string()));
            Ok(())
        }
        StartupParamVerdict::SessionFact => {
            *search_path = Some(value.to_string());
            kept.push((name.to_string(), value.to_string()));
            Ok(())
        }
        StartupParamVerdict::Refuse(d) => Err(refused_param(&d)),
    }
}
