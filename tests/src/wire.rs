//! Extended-protocol frames for pipelining tests: exact messages, sent in any order and
//! batched as an attacker would (no Sync, Flush only, several batches in one write).

use crate::raw::{frame, Msg, RawConn, ReadResult};

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// Parse with no declared parameter types.
pub fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut b = Vec::new();
    cstr(&mut b, name);
    cstr(&mut b, sql);
    b.extend_from_slice(&0u16.to_be_bytes());
    frame(b'P', &b)
}

/// Parse declaring `n` parameters of type int4 (OID 23).
pub fn parse_with_params(name: &str, sql: &str, n: usize) -> Vec<u8> {
    let mut b = Vec::new();
    cstr(&mut b, name);
    cstr(&mut b, sql);
    b.extend_from_slice(&(n as u16).to_be_bytes());
    for _ in 0..n {
        b.extend_from_slice(&23u32.to_be_bytes());
    }
    frame(b'P', &b)
}

/// Bind with text parameters (None = NULL) and text results.
pub fn bind(portal: &str, stmt: &str, params: &[Option<&str>]) -> Vec<u8> {
    let mut b = Vec::new();
    cstr(&mut b, portal);
    cstr(&mut b, stmt);
    b.extend_from_slice(&0u16.to_be_bytes());
    b.extend_from_slice(&(params.len() as u16).to_be_bytes());
    for p in params {
        match p {
            Some(v) => {
                b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                b.extend_from_slice(v.as_bytes());
            }
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    b.extend_from_slice(&0u16.to_be_bytes());
    frame(b'B', &b)
}

pub fn execute(portal: &str, max_rows: i32) -> Vec<u8> {
    let mut b = Vec::new();
    cstr(&mut b, portal);
    b.extend_from_slice(&max_rows.to_be_bytes());
    frame(b'E', &b)
}

/// Describe a statement (`b'S'`) or portal (`b'P'`).
pub fn describe(kind: u8, name: &str) -> Vec<u8> {
    let mut b = vec![kind];
    cstr(&mut b, name);
    frame(b'D', &b)
}

/// Close a statement (`b'S'`) or portal (`b'P'`).
pub fn close(kind: u8, name: &str) -> Vec<u8> {
    let mut b = vec![kind];
    cstr(&mut b, name);
    frame(b'C', &b)
}

pub fn sync() -> Vec<u8> {
    frame(b'S', &[])
}

pub fn flush() -> Vec<u8> {
    frame(b'H', &[])
}

/// Concatenate frames into one write.
pub fn batch(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

/// Read messages until `n` ReadyForQuery have arrived (panics on close or timeout).
pub async fn until_ready_n(c: &mut RawConn, n: usize, secs: u64) -> Vec<Msg> {
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < n {
        match c.read_msg(secs).await {
            ReadResult::Msg(m) => {
                if m.tag == b'Z' {
                    seen += 1;
                }
                out.push(m);
            }
            other => panic!("expected {n} ReadyForQuery, got {other:?} after {out:?}"),
        }
    }
    out
}

/// SQLSTATEs of every ErrorResponse, in order.
pub fn codes(msgs: &[Msg]) -> Vec<String> {
    msgs.iter().filter_map(Msg::code).collect()
}

/// Tags of the messages, as a string (`"12CZ"`), for readable assertions.
pub fn tags(msgs: &[Msg]) -> String {
    msgs.iter().map(|m| m.tag as char).collect()
}
