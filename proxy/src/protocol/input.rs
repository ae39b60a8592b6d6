//! The read side of a connection: bytes read but not yet taken as frames, held in a buffer that
//! exists only while there are such bytes. A connection waiting for its peer holds no read
//! buffer at all (an idle client costs no buffer memory): a read into an empty buffer lands on
//! the stack first and is copied into an allocation of exactly its size.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::budget::{Charge, FREE_PER_CONNECTION};
use super::frame::{Frame, FrameError, MAX_STARTUP_FRAME};

/// One read's worth when no buffer is held (on the stack, never kept).
const STACK_READ: usize = 8 * 1024;
/// Read in place only with at least this much room; less, and an empty buffer reads via the
/// stack.
const MIN_ROOM: usize = 4 * 1024;
/// The room a held buffer grows by when it is full.
const GROW: usize = 16 * 1024;
/// A lying length prefix gets room in steps of this, never all at once.
const GROW_TOWARDS_FRAME: usize = 1024 * 1024;

/// Bytes read ahead of the frames taken so far, with the frame size limit.
pub struct Input {
    buf: BytesMut,
    max_len: usize,
    /// A client's: what its buffer holds past the free allowance, charged to the budget.
    charge: Option<Charge>,
}

impl Input {
    pub fn new(max_len: usize) -> Input {
        Self::with_buffer(BytesMut::new(), max_len)
    }

    /// Continue with bytes already read from the stream.
    pub fn with_buffer(buf: BytesMut, max_len: usize) -> Input {
        Input {
            buf,
            max_len,
            charge: None,
        }
    }

    /// Charge what the buffer holds past [`FREE_PER_CONNECTION`] to the process-wide budget
    /// for large client messages (a client connection's input).
    pub fn charge_to_budget(&mut self) {
        self.charge.get_or_insert_with(Charge::default);
    }

    /// Whether large messages are charged to the budget (a client's input).
    pub fn charged(&self) -> bool {
        self.charge.is_some()
    }

    /// Bring the charge to the bytes held past the free allowance (memory a read touched).
    fn account(&mut self) -> Result<(), FrameError> {
        if let Some(charge) = self.charge.as_mut() {
            let over = self.buf.len().saturating_sub(FREE_PER_CONNECTION);
            if over != charge.bytes() {
                charge.set(over).map_err(|_| FrameError::OverBudget)?;
            }
        }
        Ok(())
    }

    /// The first `total` bytes as a frame that keeps their share of the charge until the
    /// session is done with it.
    fn take_frame(&mut self, total: usize) -> Frame {
        let Some(charge) = self.charge.as_mut() else {
            return Frame::from_raw(self.take(total));
        };
        let after = (self.buf.len() - total).saturating_sub(FREE_PER_CONNECTION);
        let share = charge.split_off(charge.bytes().saturating_sub(after));
        Frame::charged(self.take(total), share)
    }

    pub fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len;
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The bytes of memory held for reading (0 at rest).
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    pub fn into_buffer(self) -> BytesMut {
        self.buf
    }

    /// A whole frame is buffered and can be had without waiting.
    pub fn has_frame(&self) -> bool {
        matches!(self.peek_len(), Ok(Some(n)) if self.buf.len() >= n)
    }

    /// The frame at the head of the buffer, when it is there whole.
    pub fn take_buffered_frame(&mut self) -> Option<Frame> {
        match self.peek_len() {
            Ok(Some(total)) if self.buf.len() >= total => Some(self.take_frame(total)),
            _ => None,
        }
    }

    /// Total length (type byte included) of the frame at the head of the buffer, once its
    /// header is in.
    fn peek_len(&self) -> Result<Option<usize>, FrameError> {
        let Some(head) = self.buf.get(..5) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
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

    /// The first `total` bytes as a frame. When they are the whole buffer the allocation is
    /// handed over as it is (no shared-buffer bookkeeping), leaving no buffer behind.
    fn take(&mut self, total: usize) -> Bytes {
        if total == self.buf.len() {
            std::mem::take(&mut self.buf).freeze()
        } else {
            self.buf.split_to(total).freeze()
        }
    }

    /// The next frame, reading as needed; `Ready(Ok(None))` on a clean end of stream between
    /// frames. State lives in `self`, so dropping the future that polls this loses nothing.
    pub fn poll_frame<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Frame>, FrameError>> {
        loop {
            if let Some(total) = self.peek_len()? {
                if self.buf.len() >= total {
                    return Poll::Ready(Ok(Some(self.take_frame(total))));
                }
                let missing = total - self.buf.len();
                self.buf.reserve(missing.min(GROW_TOWARDS_FRAME));
            }
            if ready!(self.poll_fill(r, cx))? == 0 {
                return Poll::Ready(self.end_of_stream().map(|()| None));
            }
            self.account()?;
        }
    }

    /// The untyped startup-phase packet (length, then body): the startup message, SSLRequest,
    /// GSSENCRequest or CancelRequest. Returns the body after the length.
    pub fn poll_untyped<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, FrameError>> {
        loop {
            if let Some(head) = self.buf.get(..4) {
                let len = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                if !(8..=MAX_STARTUP_FRAME as i32).contains(&len) {
                    return Poll::Ready(Err(FrameError::BadLength(len.into())));
                }
                let len = len as usize;
                if self.buf.len() >= len {
                    let mut packet = self.take(len);
                    packet.advance(4);
                    return Poll::Ready(Ok(Some(packet)));
                }
            }
            if ready!(self.poll_fill(r, cx))? == 0 {
                return Poll::Ready(self.end_of_stream().map(|()| None));
            }
        }
    }

    fn end_of_stream(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated)
        }
    }

    /// Read whatever is available; `Ready(Ok(0))` at end of stream. With nothing buffered (and
    /// no room held) the read goes to the stack and only what arrived is kept; a read that must
    /// wait with nothing buffered gives the buffer's allocation back.
    pub fn poll_fill<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let room = self.buf.capacity() - self.buf.len();
        let read = if room >= MIN_ROOM {
            self.poll_read_in_place(r, cx)
        } else if self.buf.is_empty() {
            self.poll_read_via_stack(r, cx)
        } else {
            self.buf.reserve(GROW);
            self.poll_read_in_place(r, cx)
        };
        if read.is_pending() && self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
        read
    }

    fn poll_read_in_place<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        // tokio's read_buf fills the spare capacity in place; polled once, it holds no state.
        std::pin::pin!(r.read_buf(&mut self.buf)).poll(cx)
    }

    fn poll_read_via_stack<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let mut stack = [MaybeUninit::<u8>::uninit(); STACK_READ];
        let mut rb = ReadBuf::uninit(&mut stack);
        ready!(Pin::new(r).poll_read(cx, &mut rb))?;
        let got = rb.filled();
        // A full stack read means more is on its way: leave room for it.
        let room = if got.len() == STACK_READ { GROW } else { 0 };
        let mut buf = BytesMut::with_capacity(got.len() + room);
        buf.extend_from_slice(got);
        self.buf = buf;
        Poll::Ready(Ok(got.len()))
    }
}
