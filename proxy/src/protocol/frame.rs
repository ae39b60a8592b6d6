//! One protocol message as raw bytes (`Frame`), and a cancel-safe reader that checks each
//! declared length against a limit before buffering it.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

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
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A complete message: type byte, length and body, exactly as received.
#[derive(Clone, Debug)]
pub struct Frame {
    raw: Bytes,
}

impl Frame {
    pub fn from_raw(raw: Bytes) -> Frame {
        debug_assert!(raw.len() >= 5);
        Frame { raw }
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

/// Reads frames from a stream into one growing buffer. `next_frame` is cancel-safe: bytes read
/// before a cancellation stay in the buffer for the next call.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    max_len: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R, max_len: usize) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(16 * 1024),
            max_len,
        }
    }

    /// Continue reading a stream some of whose bytes were already read (into `buf`).
    pub fn with_buffer(inner: R, buf: BytesMut, max_len: usize) -> Self {
        FrameReader {
            inner,
            buf,
            max_len,
        }
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len;
    }

    /// A frame is fully buffered and can be had without waiting.
    pub fn has_frame(&self) -> bool {
        matches!(self.peek_len(), Ok(Some(n)) if self.buf.len() >= n)
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Total length (type byte included) of the frame at the head of the buffer, once its
    /// header is in.
    fn peek_len(&self) -> Result<Option<usize>, FrameError> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        if len < 4 {
            return Err(FrameError::BadLength(len.into()));
        }
        let len = len as usize;
        if len > self.max_len {
            return Err(FrameError::TooLarge {
                len,
                limit: self.max_len,
            });
        }
        Ok(Some(len + 1))
    }

    /// The next frame; `Ok(None)` on a clean end of stream between frames.
    pub async fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if let Some(total) = self.peek_len()? {
                if self.buf.len() >= total {
                    let raw = self.buf.split_to(total).freeze();
                    return Ok(Some(Frame { raw }));
                }
                // Grow towards the declared size in steps, so a lying prefix costs nothing.
                let missing = total - self.buf.len();
                self.buf.reserve(missing.min(1024 * 1024));
            } else if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(16 * 1024);
            }
            if self.fill().await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
        }
    }

    /// Read whatever is available into the buffer; 0 at end of stream. Cancel-safe.
    pub async fn fill(&mut self) -> Result<usize, FrameError> {
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve(16 * 1024);
        }
        Ok(self.inner.read_buf(&mut self.buf).await?)
    }

    /// The untyped startup-phase packet (length, then body): the startup message, SSLRequest,
    /// GSSENCRequest or CancelRequest. Returns the body after the length.
    pub async fn next_untyped(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                if !(8..=MAX_STARTUP_FRAME as i32).contains(&len) {
                    return Err(FrameError::BadLength(len.into()));
                }
                let len = len as usize;
                if self.buf.len() >= len {
                    let mut packet = self.buf.split_to(len);
                    packet.advance(4);
                    return Ok(Some(packet.freeze()));
                }
            }
            if self.fill().await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
        }
    }

    /// Bytes already read past the last frame (for handing a stream to TLS: must be empty).
    pub fn into_parts(self) -> (R, BytesMut) {
        (self.inner, self.buf)
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
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
