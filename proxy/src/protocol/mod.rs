//! The PostgreSQL wire protocol as pgward needs it: frames read with their length checked before
//! any allocation and forwarded as the bytes they came in (`frame`), framed connections that
//! read and write without deadlocking on a full peer (`conn`), builders for the messages pgward
//! writes itself (`backend`, `frontend`), and strict decoding of the few messages it inspects
//! (`decode`); `input` holds read-ahead bytes only while there are any. pgwire supplies the message encoders; its lossy text decoding is never used on
//! text that gets judged.

pub mod backend;
pub mod budget;
pub mod conn;
pub mod decode;
pub mod frame;
pub mod frontend;
pub mod input;
pub mod tags;

pub use conn::FramedConn;
pub use frame::{Frame, FrameError};
pub use tags::{BackendTag, FrontendTag, TransactionStatus};
