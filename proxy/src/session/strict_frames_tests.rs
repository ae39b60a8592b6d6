//! Frames PostgreSQL refuses as malformed are refused by pgward too, before they can move
//! its bookkeeping: a Close or Describe of another kind or with bytes after the name
//! (answered in line with 08P01, as the server would), a Sync or Flush with contents (the
//! session ends with 08P01).

use super::scripted::*;
use super::scripted_frames::*;
use crate::config::PoolMode;
use bytes::BufMut;

const READER: &str = "access = \"read-only\"\n";
const MODES: [PoolMode; 2] = [PoolMode::Transaction, PoolMode::Session];

/// `frame` with `extra` bytes appended to its body (its length word counts them).
fn with_trailing(frame: bytes::BytesMut, extra: &[u8]) -> bytes::BytesMut {
    let mut b = bytes::BytesMut::new();
    b.put_u8(frame[0]);
    b.put_i32((frame.len() - 1 + extra.len()) as i32);
    b.extend_from_slice(&frame[5..]);
    b.extend_from_slice(extra);
    b
}

fn close(kind: u8, name: &str) -> bytes::BytesMut {
    let mut d = describe(kind, name);
    d[0] = b'C';
    d
}

#[tokio::test(start_paused = true)]
async fn close_and_describe_are_read_as_postgresql_reads_them() {
    let bad = [
        with_trailing(describe(b'S', "s1"), b"x"),
        with_trailing(close(b'S', "s1"), b"\0"),
        describe(b'X', "s1"),
        close(b'Q', ""),
    ];
    for mode in MODES {
        for frame in &bad {
            let mut s = Scripted::start(mode, READER).await;
            s.client_sends(&[frame.clone(), sync()]).await;
            s.server_sees_only_the_sync().await;
            let got = s.client_until_ready().await;
            assert_eq!(tags(&got), "EZ", "{mode:?}");
            assert_eq!(codes(&got), ["08P01"], "{mode:?}");
            assert!(
                !s.ended().await,
                "{mode:?}: a refused message does not end the session"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_sync_or_flush_with_contents_ends_the_session() {
    for mode in MODES {
        for frame in [with_trailing(sync(), b"\0"), with_trailing(flush(), b"xy")] {
            let mut s = Scripted::start(mode, READER).await;
            s.client_sends(&[frame]).await;
            // Transaction mode closes at once; session mode resets its server first.
            let got = if mode == PoolMode::Transaction {
                s.client_until_closed().await
            } else {
                s.client_reads().await
            };
            assert_eq!(tags(&got), "E", "{mode:?}");
            assert_eq!(codes(&got), ["08P01"], "{mode:?}");
            if mode == PoolMode::Transaction {
                assert!(s.ended().await, "{mode:?}");
            } else {
                // Nothing of it reaches the server: only the reset of a server whose client
                // left.
                let up = s.server_reads().await;
                assert!(!tags(&up).contains(['S', 'H']), "{mode:?}: {}", tags(&up));
            }
        }
    }
}
