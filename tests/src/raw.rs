//! A raw wire-protocol client: exact bytes on a TcpStream, for garbage, truncated frames,
//! absurd lengths and message types that libraries do not send (FunctionCall).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One backend message: its type byte and body (without the length).
#[derive(Clone, Debug)]
pub struct Msg {
    pub tag: u8,
    pub body: Vec<u8>,
}

impl Msg {
    pub fn tag_char(&self) -> char {
        self.tag as char
    }

    /// Fields of an ErrorResponse / NoticeResponse keyed by their type byte.
    pub fn fields(&self) -> BTreeMap<char, String> {
        let mut out = BTreeMap::new();
        let mut rest = &self.body[..];
        while let Some((&t, tail)) = rest.split_first() {
            if t == 0 {
                break;
            }
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            out.insert(
                t as char,
                String::from_utf8_lossy(&tail[..end]).into_owned(),
            );
            rest = tail.get(end + 1..).unwrap_or(&[]);
        }
        out
    }

    /// SQLSTATE of an ErrorResponse.
    pub fn code(&self) -> Option<String> {
        (self.tag == b'E')
            .then(|| self.fields().get(&'C').cloned())
            .flatten()
    }

    pub fn message(&self) -> Option<String> {
        (self.tag == b'E' || self.tag == b'N')
            .then(|| self.fields().get(&'M').cloned())
            .flatten()
    }

    /// Columns of a DataRow as text.
    pub fn data_row(&self) -> Vec<Option<String>> {
        assert_eq!(self.tag, b'D');
        let n = u16::from_be_bytes([self.body[0], self.body[1]]) as usize;
        let mut pos = 2;
        let mut cols = Vec::with_capacity(n);
        for _ in 0..n {
            let len = i32::from_be_bytes(self.body[pos..pos + 4].try_into().unwrap());
            pos += 4;
            if len < 0 {
                cols.push(None);
            } else {
                let l = len as usize;
                cols.push(Some(
                    String::from_utf8_lossy(&self.body[pos..pos + l]).into_owned(),
                ));
                pos += l;
            }
        }
        cols
    }
}

/// How a read ended.
#[derive(Debug)]
pub enum ReadResult {
    Msg(Msg),
    /// The peer closed (EOF or reset).
    Closed,
    /// Nothing within the deadline.
    TimedOut,
}

pub struct RawConn {
    pub stream: TcpStream,
    /// The process id BackendKeyData announced at startup.
    pub backend_pid: Option<i32>,
}

/// A frame: type byte + length (including itself) + body.
pub fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A startup packet with protocol 3.0 and these parameters.
pub fn startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    frontend::startup_message(params.iter().copied(), &mut buf).unwrap();
    buf.to_vec()
}

/// A simple Query frame.
pub fn query_frame(sql: &str) -> Vec<u8> {
    let mut buf = BytesMut::new();
    frontend::query(sql, &mut buf).unwrap();
    buf.to_vec()
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> RawConn {
        Self::connected(TcpStream::connect(addr)).await
    }

    /// A connection whose receive buffer is small (4 KiB asked; the kernel doubles it), for
    /// a client that does not read: the peer's writes block soon.
    pub async fn connect_small_window(addr: SocketAddr) -> RawConn {
        let socket = tokio::net::TcpSocket::new_v4().expect("TCP socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        Self::connected(socket.connect(addr)).await
    }

    async fn connected(
        connect: impl std::future::Future<Output = std::io::Result<TcpStream>>,
    ) -> RawConn {
        let stream = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .expect("TCP connect within 10s")
            .expect("TCP connect");
        stream.set_nodelay(true).ok();
        RawConn {
            stream,
            backend_pid: None,
        }
    }

    /// Write bytes; an error (peer closed) is returned, not panicked on.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Read one backend message within `secs`. Bodies above 64 MiB are refused (the test fails).
    pub async fn read_msg(&mut self, secs: u64) -> ReadResult {
        let fut = async {
            let mut head = [0u8; 5];
            if self.stream.read_exact(&mut head).await.is_err() {
                return ReadResult::Closed;
            }
            let len = u32::from_be_bytes(head[1..5].try_into().unwrap()) as usize;
            assert!(
                (4..64 << 20).contains(&len),
                "absurd length {len} from the proxy (tag {:?})",
                head[0] as char
            );
            let mut body = vec![0u8; len - 4];
            if self.stream.read_exact(&mut body).await.is_err() {
                return ReadResult::Closed;
            }
            ReadResult::Msg(Msg { tag: head[0], body })
        };
        match tokio::time::timeout(Duration::from_secs(secs), fut).await {
            Ok(r) => r,
            Err(_) => ReadResult::TimedOut,
        }
    }

    /// Read a single byte (for the answer to SSLRequest / GSSENCRequest).
    pub async fn read_byte(&mut self, secs: u64) -> Option<u8> {
        let mut b = [0u8; 1];
        match tokio::time::timeout(Duration::from_secs(secs), self.stream.read_exact(&mut b)).await
        {
            Ok(Ok(_)) => Some(b[0]),
            _ => None,
        }
    }

    /// Messages up to and including ReadyForQuery; panics on timeout or close.
    pub async fn until_ready(&mut self, secs: u64) -> Vec<Msg> {
        let mut out = Vec::new();
        loop {
            match self.read_msg(secs).await {
                ReadResult::Msg(m) => {
                    let done = m.tag == b'Z';
                    out.push(m);
                    if done {
                        return out;
                    }
                }
                other => {
                    panic!("expected messages up to ReadyForQuery, got {other:?} after {out:?}")
                }
            }
        }
    }

    /// Send a simple query and collect the answer up to ReadyForQuery.
    pub async fn simple_query(&mut self, sql: &str) -> Vec<Msg> {
        self.send(&query_frame(sql)).await.expect("sending Query");
        self.until_ready(30).await
    }

    /// Startup + authentication (SCRAM-SHA-256, md5 or cleartext) up to the first ReadyForQuery.
    /// Returns the ErrorResponse if the server refuses.
    pub async fn startup(
        addr: SocketAddr,
        user: &str,
        password: &str,
        db: &str,
        extra: &[(&str, &str)],
    ) -> Result<RawConn, Msg> {
        Self::startup_on(RawConn::connect(addr).await, user, password, db, extra).await
    }

    /// [`RawConn::startup`] over a connection already made.
    pub async fn startup_on(
        mut c: RawConn,
        user: &str,
        password: &str,
        db: &str,
        extra: &[(&str, &str)],
    ) -> Result<RawConn, Msg> {
        let mut params = vec![("user", user), ("database", db)];
        params.extend_from_slice(extra);
        c.send(&startup_packet(&params))
            .await
            .expect("sending startup");
        let mut scram: Option<ScramSha256> = None;
        loop {
            let m = match c.read_msg(20).await {
                ReadResult::Msg(m) => m,
                other => panic!("during startup: {other:?}"),
            };
            match m.tag {
                b'E' => return Err(m),
                b'R' => {
                    let kind = i32::from_be_bytes(m.body[0..4].try_into().unwrap());
                    let data = &m.body[4..];
                    let mut buf = BytesMut::new();
                    match kind {
                        0 => {}
                        3 => {
                            frontend::password_message(password.as_bytes(), &mut buf).unwrap();
                        }
                        5 => {
                            let salt: [u8; 4] = data[..4].try_into().unwrap();
                            let h = postgres_protocol::authentication::md5_hash(
                                user.as_bytes(),
                                password.as_bytes(),
                                salt,
                            );
                            frontend::password_message(h.as_bytes(), &mut buf).unwrap();
                        }
                        10 => {
                            let s = ScramSha256::new(
                                password.as_bytes(),
                                ChannelBinding::unsupported(),
                            );
                            frontend::sasl_initial_response("SCRAM-SHA-256", s.message(), &mut buf)
                                .unwrap();
                            scram = Some(s);
                        }
                        11 => {
                            let s = scram.as_mut().expect("SASLContinue before SASL");
                            s.update(data).expect("SCRAM server-first");
                            frontend::sasl_response(s.message(), &mut buf).unwrap();
                        }
                        12 => {
                            let mut s = scram.take().expect("SASLFinal before SASL");
                            s.finish(data).expect("SCRAM server signature");
                        }
                        other => panic!("unsupported authentication request {other}"),
                    }
                    if !buf.is_empty() {
                        c.send(&buf).await.expect("sending auth response");
                    }
                }
                b'Z' => return Ok(c),
                b'K' if m.body.len() >= 4 => {
                    c.backend_pid = Some(i32::from_be_bytes([
                        m.body[0], m.body[1], m.body[2], m.body[3],
                    ]));
                }
                _ => {} // ParameterStatus, NoticeResponse
            }
        }
    }
}

/// The first ErrorResponse in a list of messages.
pub fn first_error(msgs: &[Msg]) -> Option<&Msg> {
    msgs.iter().find(|m| m.tag == b'E')
}

/// DataRows of a list of messages as text.
pub fn rows(msgs: &[Msg]) -> Vec<Vec<Option<String>>> {
    msgs.iter()
        .filter(|m| m.tag == b'D')
        .map(Msg::data_row)
        .collect()
}
