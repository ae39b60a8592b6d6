//! One protocol message as raw bytes (`Frame`), and a cancel-safe reader that checks each
//! declared length against a limit before buffering it.

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncRead;

use super::input::Input;

/// The largest message a client may send (a big COPY row or query text fits; an absurd length
/// prefix does not get a buffer).
pub const MAX_CLIENT_FRAME: usize = 128 * 1024 * 1024;
/// The upstream is trusted more, but still bounded (PostgreSQL's own limit is 1 GiB).
pub const MAX_SERVER_FRAME: usize = 1024 * 1024 * 1024;
/// Startup-phase messages are small; PostgreSQL allows 10000 bytes for the startup packet.
pub const MAX_STARTUP_FRAME: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed in the middle of a message")]
    Truncated,
    #[error("invalid message length {0}")]
    BadLength(i64),
    #[error("message of {len} bytes is larger than the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    /// The process-wide budget for large client messages is spent (`budget.rs`).
    #[error("out of memory for large client messages (listen.large_message_memory_mib)")]
    OverBudget,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A complete message: type byte, length and body, exactly as received.
#[derive(Clone, Debug)]
pub struct Frame {
    raw: Bytes,
    /// A large client message's share of the memory budget, given back when it is dropped.
    _charge: Option<std::sync::Arc<super::budget::Charge>>,
}

impl Frame {
    pub fn from_raw(raw: Bytes) -> Frame {
        debug_assert!(raw.len() >= 5);
        Frame { raw, _charge: None }
    }

    /// A frame holding `charge` of the budget for large client messages.
    pub fn charged(raw: Bytes, charge: super::budget::Charge) -> Frame {
        let charge = (charge.bytes() > 0).then(|| std::sync::Arc::new(charge));
        Frame {
            raw,
            _charge: charge,
        }
    }
    pub fn tag(&self) -> u8 {
        self.raw[0]
    }
    /// The body after the type byte and the length.
    pub fn body(&self) -> &[u8] {
        &self.raw[5..]
    }
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }
    pub fn into_raw(self) -> Bytes {
        self.raw
    }
}

/// Reads frames from a stream (the startup phase, before a [`super::FramedConn`] takes over).
/// `next_frame` is cancel-safe: bytes read before a cancellation stay buffered for the next
/// call.
pub struct FrameReader<R> {
    inner: R,
    input: Input,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R, max_len: usize) -> Self {
        FrameReader {
            inner,
            input: Input::new(max_len),
        }
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next frame; `Ok(None)` on a clean end of stream between frames.
    pub async fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        std::future::poll_fn(|cx| self.input.poll_frame(&mut self.inner, cx)).await
    }

    /// The untyped startup-phase packet (see [`Input::poll_untyped`]).
    pub async fn next_untyped(&mut self) -> Result<Option<Bytes>, FrameError> {
        std::future::poll_fn(|cx| self.input.poll_untyped(&mut self.inner, cx)).await
    }

    /// Bytes already read past the last frame (for handing a stream to TLS: must be empty).
    pub fn into_parts(self) -> (R, BytesMut) {
        (self.inner, self.input.into_buffer())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(bytes: &[u8], max: usize) -> Vec<Result<Option<Frame>, String>> {
        let mut r = FrameReader::new(bytes, max);
        let mut out = Vec::new();
        loop {
            let f = r.next_frame().await.map_err(|e| e.to_string());
            let stop = !matches!(f, Ok(Some(_)));
            out.push(f);
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn splits_frames_and_keeps_bytes() {
        let data = [b'Q', 0, 0, 0, 6, b'x', 0, b'S', 0, 0, 0, 4];
        let frames = read_all(&data, 100).await;
        assert_eq!(frames.len(), 3);
        let f = frames[0].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(f.tag(), b'Q');
        assert_eq!(f.body(), b"x\0");
        assert_eq!(&f.raw()[..], &data[..7]);
        assert!(matches!(frames[2], Ok(None)));
    }

    #[tokio::test]
    async fn refuses_absurd_and_negative_lengths_without_allocating() {
        let huge = [b'Q', 0x7f, 0xff, 0xff, 0xff];
        let r = read_all(&huge, MAX_CLIENT_FRAME).await;
        assert!(r[0].as_ref().unwrap_err().contains("larger than the limit"));
        let neg = [b'Q', 0xff, 0xff, 0xff, 0xff];
        assert!(read_all(&neg, 100).await[0].is_err());
        let short = [b'Q', 0, 0, 0, 3];
        assert!(read_all(&short, 100).await[0].is_err());
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error() {
        let data = [b'Q', 0, 0, 0, 10, b'x'];
        let r = read_all(&data, 100).await;
        assert!(r[0].as_ref().unwrap_err().contains("closed"));
    }

    #[tokio::test]
    async fn startup_packet_limits() {
        let mut ok = [0u8, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        let mut r = FrameReader::new(&ok[..], 100);
        assert_eq!(
            &r.next_untyped().await.unwrap().unwrap()[..],
            &[0x04, 0xd2, 0x16, 0x2f]
        );
        ok[0] = 0x7f;
        let mut r = FrameReader::new(&ok[..], 100);
        assert!(r.next_untyped().await.is_err());
    }
}
