//! Messages pgward sends to the upstream on its own account (startup, its own queries, cancel).

use bytes::{BufMut, BytesMut};

use super::backend::raw_message;

pub const SSL_REQUEST_CODE: i32 = 80_877_103;
pub const GSSENC_REQUEST_CODE: i32 = 80_877_104;
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;
pub const PROTOCOL_3_0: i32 = 196_608;

pub fn ssl_request() -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&8i32.to_be_bytes());
    b[4..].copy_from_slice(&SSL_REQUEST_CODE.to_be_bytes());
    b
}

pub fn cancel_request(pid: i32, secret: i32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&16i32.to_be_bytes());
    b[4..8].copy_from_slice(&CANCEL_REQUEST_CODE.to_be_bytes());
    b[8..12].copy_from_slice(&pid.to_be_bytes());
    b[12..].copy_from_slice(&secret.to_be_bytes());
    b
}

/// The startup message with the given parameters, in order.
pub fn startup(params: &[(&str, &str)]) -> BytesMut {
    let mut body = BytesMut::new();
    body.put_i32(PROTOCOL_3_0);
    for (k, v) in params {
        body.put_slice(k.as_bytes());
        body.put_u8(0);
        body.put_slice(v.as_bytes());
        body.put_u8(0);
    }
    body.put_u8(0);
    let mut out = BytesMut::with_capacity(body.len() + 4);
    out.put_i32(body.len() as i32 + 4);
    out.put_slice(&body);
    out
}

pub fn query(sql: &str, out: &mut BytesMut) {
    let mut body = Vec::with_capacity(sql.len() + 1);
    body.extend_from_slice(sql.as_bytes());
    body.push(0);
    raw_message(b'Q', &body, out);
}

pub fn parse_unnamed(sql: &str, out: &mut BytesMut) {
    let mut body = Vec::with_capacity(sql.len() + 4);
    body.push(0);
    body.extend_from_slice(sql.as_bytes());
    body.push(0);
    body.extend_from_slice(&0i16.to_be_bytes());
    raw_message(b'P', &body, out);
}

/// Describe the prepared statement `name`.
pub fn describe_statement(name: &str, out: &mut BytesMut) {
    let mut body = Vec::with_capacity(name.len() + 2);
    body.push(b'S');
    body.extend_from_slice(name.as_bytes());
    body.push(0);
    raw_message(b'D', &body, out);
}

pub fn sync(out: &mut BytesMut) {
    raw_message(b'S', &[], out);
}

pub fn terminate(out: &mut BytesMut) {
    raw_message(b'X', &[], out);
}

/// Bind the unnamed statement to the unnamed portal, no parameters, text results.
pub fn bind_unnamed(out: &mut BytesMut) {
    // portal "", statement "", 0 format codes, 0 parameters, 0 result format codes
    raw_message(b'B', &[0, 0, 0, 0, 0, 0, 0, 0], out);
}

/// Execute the unnamed portal to completion.
pub fn execute_unnamed(out: &mut BytesMut) {
    raw_message(b'E', &[0, 0, 0, 0, 0], out);
}

/// Name of the statement and portal pgward uses for its own statements inside a client's
/// extended-protocol work: named, so the client's unnamed statement and portal survive.
pub const INTERNAL_NAME: &str = "pgward_internal";

/// Run `sql` with the extended protocol under [`INTERNAL_NAME`], close both, then Sync.
pub fn internal_extended(sql: &str, out: &mut BytesMut) {
    internal_extended_in_batch(sql, out);
    sync(out);
}

/// [`internal_extended`] without the Sync: inside the client's batch (and its implicit
/// transaction).
pub fn internal_extended_in_batch(sql: &str, out: &mut BytesMut) {
    let name = INTERNAL_NAME.as_bytes();
    let mut body = Vec::with_capacity(sql.len() + 40);
    body.extend_from_slice(name);
    body.push(0);
    body.extend_from_slice(sql.as_bytes());
    body.push(0);
    body.extend_from_slice(&0i16.to_be_bytes());
    raw_message(b'P', &body, out);
    body.clear();
    for _ in 0..2 {
        body.extend_from_slice(name);
        body.push(0);
    }
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    raw_message(b'B', &body, out);
    body.clear();
    body.extend_from_slice(name);
    body.extend_from_slice(&[0, 0, 0, 0, 0]);
    raw_message(b'E', &body, out);
    for kind in [b'P', b'S'] {
        body.clear();
        body.push(kind);
        body.extend_from_slice(name);
        body.push(0);
        raw_message(b'C', &body, out);
    }
}
