//! Messages pgward itself sends to clients, encoded with pgwire's message types.

use bytes::BytesMut;
use pgwire::messages::response::{ErrorResponse, NoticeResponse, ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus, SecretKey};
use pgwire::messages::Message;

/// An error or notice as the client will see it (the edge form of every internal error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgError {
    /// `ERROR` or `FATAL`.
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// Cursor position in the statement (1-based, characters), as PostgreSQL reports it.
    pub position: Option<u32>,
}

impl PgError {
    pub fn error(code: &'static str, message: impl Into<String>) -> PgError {
        PgError {
            severity: "ERROR",
            code,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
        }
    }
    pub fn fatal(code: &'static str, message: impl Into<String>) -> PgError {
        PgError {
            severity: "FATAL",
            ..PgError::error(code, message)
        }
    }
    pub fn with_detail(mut self, detail: impl Into<String>) -> PgError {
        self.detail = Some(detail.into());
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> PgError {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_position(mut self, position: Option<u32>) -> PgError {
        self.position = position;
        self
    }

    fn fields(&self) -> Vec<(u8, String)> {
        let mut f = vec![
            (b'S', self.severity.to_string()),
            (b'V', self.severity.to_string()),
            (b'C', self.code.to_string()),
            (b'M', self.message.clone()),
        ];
        if let Some(d) = &self.detail {
            f.push((b'D', d.clone()));
        }
        if let Some(h) = &self.hint {
            f.push((b'H', h.clone()));
        }
        if let Some(p) = self.position {
            f.push((b'P', p.to_string()));
        }
        f
    }
}

fn encode(m: impl Message, out: &mut BytesMut) {
    // Encoding into a BytesMut fails only for messages above pgwire's size limits, which the
    // short messages built here never reach; drop such a message rather than panic.
    if let Err(e) = m.encode(out) {
        tracing::error!(error = %e, "could not encode a protocol message");
    }
}

pub fn error_response(e: &PgError, out: &mut BytesMut) {
    encode(ErrorResponse::new(e.fields()), out);
}

pub fn notice_response(e: &PgError, out: &mut BytesMut) {
    let mut fields = e.fields();
    fields[0].1 = "WARNING".into();
    fields[1].1 = "WARNING".into();
    encode(NoticeResponse::new(fields), out);
}

pub fn ready_for_query(status: u8, out: &mut BytesMut) {
    let status = match status {
        b'T' => TransactionStatus::Transaction,
        b'E' => TransactionStatus::Error,
        _ => TransactionStatus::Idle,
    };
    encode(ReadyForQuery::new(status), out);
}

pub fn auth_ok(out: &mut BytesMut) {
    encode(Authentication::Ok, out);
}

pub fn auth_sasl(mechanisms: &[&str], out: &mut BytesMut) {
    encode(
        Authentication::SASL(mechanisms.iter().map(|m| m.to_string()).collect()),
        out,
    );
}

pub fn auth_sasl_continue(data: Vec<u8>, out: &mut BytesMut) {
    encode(Authentication::SASLContinue(data.into()), out);
}

pub fn auth_sasl_final(data: Vec<u8>, out: &mut BytesMut) {
    encode(Authentication::SASLFinal(data.into()), out);
}

pub fn parameter_status(name: &str, value: &str, out: &mut BytesMut) {
    encode(ParameterStatus::new(name.into(), value.into()), out);
}

pub fn backend_key_data(pid: i32, secret: i32, out: &mut BytesMut) {
    encode(BackendKeyData::new(pid, SecretKey::I32(secret)), out);
}

/// Build one complete message from a type byte and body.
pub fn raw_message(tag: u8, body: &[u8], out: &mut BytesMut) {
    out.extend_from_slice(&[tag]);
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
}
