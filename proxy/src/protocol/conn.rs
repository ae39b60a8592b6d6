//! A framed connection: frames in, bytes out, and a flush that keeps reading while it writes so
//! that two peers each waiting for the other to read can never deadlock the relay.

use std::future::Future;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

use super::frame::{Frame, FrameError, FrameReader};

/// How much a peer may send us while we are blocked writing to it; past this the peer is
/// back-pressured (bounded buffers everywhere).
const READ_AHEAD_LIMIT: usize = 4 * 1024 * 1024;
/// Flush early once this much output is queued.
pub const FLUSH_THRESHOLD: usize = 64 * 1024;

pub struct FramedConn<S> {
    reader: FrameReader<ReadHalf<S>>,
    writer: WriteHalf<S>,
    out: BytesMut,
    read_closed: bool,
}

impl<S: AsyncRead + AsyncWrite> FramedConn<S> {
    pub fn new(stream: S, max_frame: usize) -> Self {
        let (r, w) = tokio::io::split(stream);
        FramedConn {
            reader: FrameReader::new(r, max_frame),
            writer: w,
            out: BytesMut::with_capacity(16 * 1024),
            read_closed: false,
        }
    }

    /// Wrap a stream from which `already_read` was read but not yet consumed.
    pub fn with_buffer(stream: S, already_read: BytesMut, max_frame: usize) -> Self {
        let (r, w) = tokio::io::split(stream);
        FramedConn {
            reader: FrameReader::with_buffer(r, already_read, max_frame),
            writer: w,
            out: BytesMut::with_capacity(16 * 1024),
            read_closed: false,
        }
    }

    /// An untyped startup-phase packet (see [`FrameReader::next_untyped`]).
    pub async fn read_untyped(&mut self) -> Result<Option<bytes::Bytes>, FrameError> {
        self.reader.next_untyped().await
    }

    pub fn set_max_frame(&mut self, max: usize) {
        self.reader.set_max_len(max);
    }

    /// Cancel-safe.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        self.reader.next_frame().await
    }

    /// A whole frame is already buffered.
    pub fn has_frame(&self) -> bool {
        self.reader.has_frame()
    }

    /// An idle connection has nothing to say: buffered bytes, an end of stream or an error
    /// (the server shut down, or sent a FATAL) mean it must not be reused.
    pub fn is_healthy(&mut self) -> bool {
        if self.reader.buffered() > 0 || self.read_closed {
            return false;
        }
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let fill = std::pin::pin!(self.reader.fill());
        fill.poll(&mut cx).is_pending()
    }

    pub fn queue(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Write everything queued. While the peer is slow to read, keep reading what it sends
    /// (up to a bound) so it is never stuck writing to us.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        while !self.out.is_empty() {
            let can_read = !self.read_closed && self.reader.buffered() < READ_AHEAD_LIMIT;
            tokio::select! {
                biased;
                n = self.writer.write(&self.out) => {
                    let n = n?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::WriteZero.into());
                    }
                    let _ = self.out.split_to(n);
                }
                r = self.reader.fill(), if can_read => {
                    if !matches!(r, Ok(n) if n > 0) {
                        self.read_closed = true;
                    }
                }
            }
        }
        self.writer.flush().await
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.queue(bytes);
        self.flush().await
    }

    /// Close the write side (TLS close_notify where there is TLS).
    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.writer.shutdown().await;
    }
}
