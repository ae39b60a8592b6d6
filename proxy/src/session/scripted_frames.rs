//! Protocol messages for the session's scripted-frame tests (`scripted.rs`): what a client
//! sends, what a server answers, and readers for what came back.

use bytes::{BufMut, BytesMut};

use super::scripted::Msg;
use crate::protocol::backend::{self, PgError};

fn message(tag: u8, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    backend::raw_message(tag, body, &mut out);
    out
}

fn cstr(out: &mut BytesMut, s: &str) {
    out.put_slice(s.as_bytes());
    out.put_u8(0);
}

// Client messages.

pub fn query(sql: &str) -> BytesMut {
    let mut b = BytesMut::new();
    cstr(&mut b, sql);
    message(b'Q', &b)
}

pub fn parse(name: &str, sql: &str) -> BytesMut {
    let mut b = BytesMut::new();
    cstr(&mut b, name);
    cstr(&mut b, sql);
    b.put_u16(0);
    message(b'P', &b)
}

/// Bind with `params` text parameters (all NULL), no formats.
pub fn bind_n(portal: &str, statement: &str, params: u16) -> BytesMut {
    let mut b = BytesMut::new();
    cstr(&mut b, portal);
    cstr(&mut b, statement);
    b.put_u16(0);
    b.put_u16(params);
    for _ in 0..params {
        b.put_i32(-1);
    }
    b.put_u16(0);
    message(b'B', &b)
}

pub fn bind(portal: &str, statement: &str) -> BytesMut {
    bind_n(portal, statement, 0)
}

pub fn execute(portal: &str, max_rows: i32) -> BytesMut {
    let mut b = BytesMut::new();
    cstr(&mut b, portal);
    b.put_i32(max_rows);
    message(b'E', &b)
}

pub fn describe(kind: u8, name: &str) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_u8(kind);
    cstr(&mut b, name);
    message(b'D', &b)
}

pub fn close(kind: u8, name: &str) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_u8(kind);
    cstr(&mut b, name);
    message(b'C', &b)
}

pub fn copy_data(data: &[u8]) -> BytesMut {
    message(b'd', data)
}

pub fn copy_done() -> BytesMut {
    message(b'c', &[])
}

pub fn copy_fail() -> BytesMut {
    let mut b = BytesMut::new();
    cstr(&mut b, "client gave up");
    message(b'f', &b)
}

pub fn terminate() -> BytesMut {
    message(b'X', &[])
}

pub fn sync() -> BytesMut {
    message(b'S', &[])
}

pub fn flush() -> BytesMut {
    message(b'H', &[])
}

// Server messages.

pub fn parse_complete() -> BytesMut {
    message(b'1', &[])
}

pub fn bind_complete() -> BytesMut {
    message(b'2', &[])
}

pub fn close_complete() -> BytesMut {
    message(b'3', &[])
}

pub fn command_complete(tag: &str) -> BytesMut {
    let mut b = BytesMut::new();
    cstr(&mut b, tag);
    message(b'C', &b)
}

pub fn ready(status: u8) -> BytesMut {
    message(b'Z', &[status])
}

/// Text format, one column.
fn copy_response(tag: u8) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_u8(0);
    b.put_u16(1);
    b.put_u16(0);
    message(tag, &b)
}

pub fn copy_out_response() -> BytesMut {
    copy_response(b'H')
}

pub fn copy_in_response() -> BytesMut {
    copy_response(b'G')
}

pub fn portal_suspended() -> BytesMut {
    message(b's', &[])
}

pub fn server_error(code: &'static str, text: &str) -> BytesMut {
    let mut out = BytesMut::new();
    backend::error_response(&PgError::error(code, text.to_string()), &mut out);
    out
}

/// One text column named `c`.
pub fn parameter_description() -> BytesMut {
    message(b't', &[0, 0])
}

pub fn no_data() -> BytesMut {
    message(b'n', &[])
}

pub fn row_description() -> BytesMut {
    let mut b = BytesMut::new();
    b.put_u16(1);
    cstr(&mut b, "c");
    b.put_u32(0);
    b.put_u16(0);
    b.put_u32(25);
    b.put_i16(-1);
    b.put_i32(-1);
    b.put_u16(0);
    message(b'T', &b)
}

pub fn data_row(value: &str) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_u16(1);
    b.put_i32(value.len() as i32);
    b.put_slice(value.as_bytes());
    message(b'D', &b)
}

// Reading what came.

/// The tags of `msgs`, as characters.
pub fn tags(msgs: &[Msg]) -> String {
    msgs.iter().map(|m| m.0 as char).collect()
}

/// The SQLSTATEs of the ErrorResponses in `msgs`.
pub fn codes(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .filter(|m| m.0 == b'E')
        .filter_map(|m| crate::protocol::decode::error_field(&m.1, b'C'))
        .map(|c| c.to_string())
        .collect()
}

/// The SQL texts of the Parse and Query messages in `msgs` (what pgward asked the server).
pub fn texts(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .filter_map(|(tag, body)| {
            let at = match tag {
                b'Q' => 0,
                b'P' => body.iter().position(|b| *b == 0)? + 1,
                _ => return None,
            };
            let rest = body.get(at..)?;
            let end = rest.iter().position(|b| *b == 0)?;
            Some(String::from_utf8_lossy(&rest[..end]).into_owned())
        })
        .collect()
}
