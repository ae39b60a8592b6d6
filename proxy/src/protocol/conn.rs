//! A framed connection: frames in, bytes out, and a flush that keeps reading while it writes so
//! that two peers each waiting for the other to read can never deadlock the relay.
//!
//! It owns its stream whole (no split halves, so no lock per read or write) and holds buffers
//! only while they have bytes: the read buffer is given back whenever a read must wait with
//! nothing buffered, the write buffer whenever a flush empties it. A connection at rest (an
//! idle client) holds no buffer.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BufMut;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};

use super::frame::{Frame, FrameError};
use super::input::Input;

/// How much a peer may send us while we are blocked writing to it; past this the peer is
/// back-pressured (bounded buffers everywhere).
const READ_AHEAD_LIMIT: usize = 4 * 1024 * 1024;
/// The write buffer's first allocation (small enough for the allocator's per-thread cache).
const FIRST_OUT: usize = 1000;
/// Flush early once this much output is queued.
pub const FLUSH_THRESHOLD: usize = 64 * 1024;

pub struct FramedConn<S> {
    stream: S,
    input: Input,
    out: BytesMut,
    read_closed: bool,
    /// Queued bytes were dropped unsent: the peer's stream may end inside a message, so
    /// nothing more is written to it.
    cut: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> FramedConn<S> {
    pub fn new(stream: S, max_frame: usize) -> Self {
        Self::with_buffer(stream, BytesMut::new(), max_frame)
    }

    /// Wrap a stream from which `already_read` was read but not yet consumed.
    pub fn with_buffer(stream: S, already_read: BytesMut, max_frame: usize) -> Self {
        FramedConn {
            stream,
            input: Input::with_buffer(already_read, max_frame),
            out: BytesMut::new(),
            read_closed: false,
            cut: false,
        }
    }

    /// An untyped startup-phase packet (see [`Input::poll_untyped`]).
    pub async fn read_untyped(&mut self) -> Result<Option<bytes::Bytes>, FrameError> {
        poll_fn(|cx| self.input.poll_untyped(&mut self.stream, cx)).await
    }

    pub fn set_max_frame(&mut self, max: usize) {
        self.input.set_max_len(max);
    }

    /// A client connection: large messages count against the process-wide budget
    /// (`budget.rs`).
    pub fn charge_large_messages(&mut self) {
        self.input.charge_to_budget();
    }

    /// What a flush may read ahead: a charged input stays within its free allowance (the
    /// read-ahead is not accounted).
    fn read_ahead_limit(&self) -> usize {
        if self.input.charged() {
            READ_AHEAD_LIMIT.min(crate::protocol::budget::FREE_PER_CONNECTION / 2)
        } else {
            READ_AHEAD_LIMIT
        }
    }

    /// Cancel-safe: everything read stays in `self`.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        poll_fn(|cx| self.input.poll_frame(&mut self.stream, cx)).await
    }

    /// Wait until the peer has sent something (or closed, or failed: the next read says
    /// which), holding no buffer while waiting. Cancel-safe.
    pub async fn wait_input(&mut self) {
        if self.input.buffered() > 0 || self.read_closed {
            return;
        }
        let got = poll_fn(|cx| self.input.poll_fill(&mut self.stream, cx)).await;
        if !matches!(got, Ok(n) if n > 0) {
            self.read_closed = true;
        }
    }

    /// Bytes are buffered, or the stream has ended: a read will not wait.
    pub fn has_input(&self) -> bool {
        self.input.buffered() > 0 || self.read_closed
    }

    /// A whole frame is already buffered.
    pub fn has_frame(&self) -> bool {
        self.input.has_frame()
    }

    /// The next frame when it is already buffered whole (no read).
    pub fn take_buffered_frame(&mut self) -> Option<Frame> {
        self.input.take_buffered_frame()
    }

    /// An idle connection has nothing to say: buffered bytes, an end of stream or an error
    /// (the server shut down, or sent a FATAL) mean it must not be reused.
    pub fn is_healthy(&mut self) -> bool {
        if self.input.buffered() > 0 || self.read_closed {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        self.input.poll_fill(&mut self.stream, &mut cx).is_pending()
    }

    pub fn queue(&mut self, bytes: &[u8]) {
        if self.cut {
            return;
        }
        if self.out.capacity() == 0 {
            // A reply is several small frames: room for them at once, not a regrowth each.
            self.out.reserve(bytes.len().max(FIRST_OUT));
        }
        self.out.extend_from_slice(bytes);
    }

    /// Queue one message built from `parts` (its body, in pieces), without building it
    /// elsewhere first.
    pub fn queue_message(&mut self, tag: u8, parts: &[&[u8]]) {
        if self.cut {
            return;
        }
        let len: usize = parts.iter().map(|p| p.len()).sum::<usize>() + 4;
        if self.out.capacity() == 0 {
            self.out.reserve((len + 1).max(FIRST_OUT));
        }
        self.out.put_u8(tag);
        // Bodies pgward builds stay far below 4 GiB (they are client frames, bounded).
        self.out.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
        for p in parts {
            self.out.extend_from_slice(p);
        }
    }

    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Write everything queued. While the peer is slow to read, keep reading what it sends
    /// (up to a bound) so it is never stuck writing to us.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.out.is_empty() {
            match Pin::new(&mut self.stream).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => self.out.advance(n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    if self.read_closed || self.input.buffered() >= self.read_ahead_limit() {
                        return Poll::Pending;
                    }
                    match self.input.poll_fill(&mut self.stream, cx) {
                        Poll::Ready(Ok(n)) if n > 0 => {}
                        Poll::Ready(_) => self.read_closed = true,
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
        }
        // Everything is out: give the buffer back (the next message gets one its size).
        self.out = BytesMut::new();
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// Drop what is queued and not yet written (the connection is about to close).
    /// Drop what is queued unsent; the connection takes no more bytes after (its peer may
    /// have part of a message, and more would read as the rest of it).
    pub fn discard_queued(&mut self) {
        self.out = BytesMut::new();
        self.cut = true;
    }

    /// Bytes of buffer memory held (read and write): 0 for a connection at rest.
    pub fn held(&self) -> usize {
        self.input.held() + self.out.capacity()
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.queue(bytes);
        self.flush().await
    }

    /// Close the write side (TLS close_notify where there is TLS).
    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = poll_fn(|cx| Pin::new(&mut self.stream).poll_shutdown(cx)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::Waker;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn frame(tag: u8, body_len: usize) -> Vec<u8> {
        let mut f = vec![tag];
        f.extend_from_slice(&((body_len + 4) as u32).to_be_bytes());
        f.extend((0..body_len).map(|i| (i % 251) as u8));
        f
    }

    #[tokio::test]
    async fn holds_no_buffer_at_rest() {
        let (a, mut peer) = tokio::io::duplex(1 << 20);
        let mut conn = FramedConn::new(a, 1 << 20);
        assert_eq!(conn.held(), 0);
        let mut sent = frame(b'Q', 2);
        sent.extend(frame(b'S', 0));
        peer.write_all(&sent).await.unwrap();
        assert_eq!(
            conn.read_frame().await.unwrap().unwrap().raw()[..],
            sent[..7]
        );
        assert_eq!(conn.read_frame().await.unwrap().unwrap().tag(), b'S');
        // Nothing more to read: the wait holds no buffer.
        let mut cx = Context::from_waker(Waker::noop());
        assert!(pin!(conn.read_frame()).poll(&mut cx).is_pending());
        assert_eq!(conn.held(), 0);
        conn.send(&frame(b'Z', 1)).await.unwrap();
        assert_eq!(conn.held(), 0, "a flushed write buffer is given back");
        let mut got = [0u8; 6];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(got[..], frame(b'Z', 1)[..]);
    }

    #[tokio::test]
    async fn frames_across_reads_and_larger_than_one_read() {
        let (a, mut peer) = tokio::io::duplex(1 << 20);
        let mut conn = FramedConn::new(a, 1 << 20);
        let big = frame(b'd', 100_000);
        let mut cx = Context::from_waker(Waker::noop());
        // Half a header, then the rest: the partial frame stays buffered across waits.
        peer.write_all(&big[..3]).await.unwrap();
        assert!(pin!(conn.read_frame()).poll(&mut cx).is_pending());
        assert!(conn.held() >= 3);
        peer.write_all(&big[3..50_000]).await.unwrap();
        assert!(pin!(conn.read_frame()).poll(&mut cx).is_pending());
        peer.write_all(&big[50_000..]).await.unwrap();
        peer.write_all(&frame(b'c', 0)).await.unwrap();
        let f = conn.read_frame().await.unwrap().unwrap();
        assert_eq!(f.raw()[..], big[..]);
        assert_eq!(conn.read_frame().await.unwrap().unwrap().tag(), b'c');
        drop(peer);
        assert!(conn.read_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn truncated_and_oversized_frames_are_errors() {
        let (a, mut peer) = tokio::io::duplex(1 << 20);
        let mut conn = FramedConn::new(a, 100);
        peer.write_all(&frame(b'Q', 200)[..5]).await.unwrap();
        assert!(matches!(
            conn.read_frame().await,
            Err(FrameError::TooLarge { .. })
        ));
        let (a, mut peer) = tokio::io::duplex(1 << 20);
        let mut conn = FramedConn::new(a, 100);
        peer.write_all(&frame(b'Q', 20)[..10]).await.unwrap();
        drop(peer);
        assert!(matches!(
            conn.read_frame().await,
            Err(FrameError::Truncated)
        ));
    }

    /// Both sides write more than the pipe holds before reading: the flush must read while
    /// it waits, or neither side ever finishes.
    #[tokio::test]
    async fn flush_reads_while_the_peer_is_full() {
        let (a, mut peer) = tokio::io::duplex(4096);
        let mut conn = FramedConn::new(a, 1 << 20);
        let theirs: Vec<u8> = (0..50).flat_map(|_| frame(b'd', 2000)).collect();
        let expected = theirs.clone();
        let peer_task = tokio::spawn(async move {
            peer.write_all(&theirs).await.unwrap();
            let mut got = vec![0u8; 200_000];
            peer.read_exact(&mut got).await.unwrap();
            got
        });
        conn.queue(&vec![7u8; 200_000]);
        tokio::time::timeout(std::time::Duration::from_secs(10), conn.flush())
            .await
            .expect("flush deadlocked")
            .unwrap();
        let mut read = Vec::new();
        for _ in 0..50 {
            read.extend_from_slice(conn.read_frame().await.unwrap().unwrap().raw());
        }
        assert_eq!(read, expected);
        assert!(peer_task.await.unwrap().iter().all(|b| *b == 7));
    }
}
