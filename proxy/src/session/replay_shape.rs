//! A kept statement prepared again on another server must return what the client was told.
//! PostgreSQL refuses to run a prepared statement whose result type changed since it was
//! prepared (0A000 "cached plan must not change result type"): a driver that cached the
//! columns of its Describe would otherwise decode rows of another shape (an added column, an
//! int turned bigint read as int in binary). Transaction mode prepares a client's statement
//! again wherever it lands, from its text, so after DDL the new server's plan may have the new
//! shape. pgward records what a statement Describe told the client and, before the statement
//! is bound or described on a server that lacks it, prepares and describes it there first
//! (one round trip, only then) and compares: a changed shape gets PostgreSQL's own error, for
//! this and every later use of the statement, until the client prepares it again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::replay::Replay;
use super::replies::{Handling, Sent};
use super::*;
use crate::protocol::decode::Cursor;
use crate::sqlstate;

/// What a statement Describe told the client of a kept statement's result, and whether a
/// server has since shown another.
#[derive(Debug, Default)]
pub struct ToldShape {
    told: OnceLock<Vec<u8>>,
    changed: AtomicBool,
}

impl ToldShape {
    fn changed(&self) -> bool {
        self.changed.load(Ordering::Relaxed)
    }
}

/// What pgward does with the reply to a Describe of a kept statement.
#[derive(Clone, Debug)]
pub enum ShapeUse {
    /// The client's own Describe: its answer is what the client was told.
    Record(Arc<Replay>),
    /// pgward's Describe after preparing the statement again: compared with what was told.
    Check(Arc<Replay>),
}

/// The result shape a RowDescription (`T`) or NoData (`n`) gives: each column's name, type,
/// size and modifier (what PostgreSQL compares), not where it comes from. `None` for another
/// message or a malformed one.
pub fn shape_of(tag: u8, body: &[u8]) -> Option<Vec<u8>> {
    match tag {
        b'n' => Some(Vec::new()),
        b'T' => {
            let mut c = Cursor::new(body);
            let n = c.count16().ok()?;
            let mut shape = (n as u16).to_be_bytes().to_vec();
            for _ in 0..n {
                let name = c.cstr_bytes().ok()?;
                shape.extend_from_slice(name);
                shape.push(0);
                let _table = c.i32().ok()?;
                let _column = c.i16().ok()?;
                shape.extend_from_slice(c.take(4 + 2 + 4).ok()?); // type, size, modifier
                let _format = c.i16().ok()?;
            }
            Some(shape)
        }
        _ => None,
    }
}

/// A server's answer (`tag`, `body`) to a Describe entered with `shape`.
pub fn on_describe_reply(shape: &ShapeUse, tag: u8, body: &[u8]) {
    let Some(now) = shape_of(tag, body) else {
        return;
    };
    match shape {
        ShapeUse::Record(r) => {
            let _ = r.shape.told.set(now);
        }
        ShapeUse::Check(r) => {
            if r.shape.told.get().is_some_and(|told| *told != now) {
                r.shape.changed.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// How a kept statement stands before it is bound or described.
pub(super) enum ShapeCheck {
    /// Nothing changed (or nothing to hold to): go on.
    Holds,
    /// Its result shape changed: PostgreSQL's error.
    Changed,
    /// An earlier message of the batch failed meanwhile: skipped with the batch.
    BatchFailed,
}

pub(super) fn shape_changed() -> PgError {
    PgError::error(
        sqlstate::FEATURE_NOT_SUPPORTED,
        "cached plan must not change result type",
    )
}

impl Session {
    /// The client's Describe of statement `name` (just entered): record what it is told.
    pub(super) fn record_told_shape(&mut self, name: &str) {
        if !self.replaying() {
            return;
        }
        if let Some(r) = self.prepared.replay(name) {
            if r.key.is_some() && r.shape.told.get().is_none() {
                self.replies.set_last_shape(ShapeUse::Record(r));
            }
        }
    }

    /// Before a Bind or Describe of statement `name` (server attached): where this server
    /// lacks it and the client was told its shape, prepare and describe it here and compare.
    pub(super) async fn check_kept_shape(&mut self, name: &str) -> Result<ShapeCheck, PgError> {
        if !self.replaying() {
            return Ok(ShapeCheck::Holds);
        }
        let Some(replay) = self.prepared.replay(name) else {
            return Ok(ShapeCheck::Holds);
        };
        if replay.shape.changed() {
            return Ok(ShapeCheck::Changed);
        }
        let Some(key) = replay.key else {
            return Ok(ShapeCheck::Holds);
        };
        if replay.shape.told.get().is_none() {
            return Ok(ShapeCheck::Holds);
        }
        if self.server.is_none() && self.attach().await.is_err() {
            // The caller's own attach fails and says so.
            return Ok(ShapeCheck::Holds);
        }
        let owner = &self.owner;
        let lacks = match self.server.as_mut() {
            Some(s) => s.server.statements.lookup(key, owner).is_none(),
            None => false,
        };
        if !lacks {
            return Ok(ShapeCheck::Holds);
        }
        let Some(there) = self.ensure_statement(name) else {
            return Ok(ShapeCheck::Holds);
        };
        let Some(s) = self.server.as_mut() else {
            return Ok(ShapeCheck::Holds);
        };
        s.server
            .conn
            .queue_message(b'D', &[b"S", there.as_bytes(), b"\0"]);
        self.replies.push(Sent::Describe, Handling::Quiet);
        self.replies.set_last_shape(ShapeUse::Check(replay.clone()));
        self.serve_until(|s| !s.replies.owes() || s.replies.skipping_to_sync(), true)
            .await?;
        if self.replies.skipping_to_sync() {
            self.skipping = true;
            return Ok(ShapeCheck::BatchFailed);
        }
        if !replay.shape.changed() {
            return Ok(ShapeCheck::Holds);
        }
        // The plan made here has the new shape: no client of the old one may find it.
        if let Some(s) = self.server.as_mut() {
            if let Some(name) = s.server.statements.remove(key) {
                s.server.conn.queue(&super::replay::close_message(&name));
                self.replies
                    .push(Sent::Close(super::prepared::Change::None), Handling::Quiet);
            }
        }
        Ok(ShapeCheck::Changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row_description(fields: &[(&str, u32, i32)]) -> Vec<u8> {
        let mut b = (fields.len() as u16).to_be_bytes().to_vec();
        for (i, (name, ty, typmod)) in fields.iter().enumerate() {
            b.extend_from_slice(name.as_bytes());
            b.push(0);
            b.extend_from_slice(&(16384 + i as u32).to_be_bytes()); // table
            b.extend_from_slice(&(i as i16 + 1).to_be_bytes()); // column
            b.extend_from_slice(&ty.to_be_bytes());
            b.extend_from_slice(&4i16.to_be_bytes());
            b.extend_from_slice(&typmod.to_be_bytes());
            b.extend_from_slice(&0i16.to_be_bytes());
        }
        b
    }

    #[test]
    fn shapes_compare_names_types_and_modifiers_not_origins() {
        let a = row_description(&[("a", 23, -1)]);
        let mut moved = a.clone();
        moved[3..7].copy_from_slice(&99999u32.to_be_bytes()); // another table oid
        assert_eq!(shape_of(b'T', &a), shape_of(b'T', &moved));
        let added = row_description(&[("a", 23, -1), ("b", 23, -1)]);
        assert_ne!(shape_of(b'T', &a), shape_of(b'T', &added));
        let widened = row_description(&[("a", 20, -1)]);
        assert_ne!(shape_of(b'T', &a), shape_of(b'T', &widened));
        let renamed = row_description(&[("z", 23, -1)]);
        assert_ne!(shape_of(b'T', &a), shape_of(b'T', &renamed));
        assert_eq!(shape_of(b'n', b""), Some(Vec::new()));
        assert_ne!(shape_of(b'n', b""), shape_of(b'T', &a));
        assert_eq!(shape_of(b'T', &a[..a.len() - 1]), None);
        assert_eq!(shape_of(b'C', b"SELECT 1\0"), None);
    }

    #[test]
    fn a_check_marks_a_changed_shape_and_only_then() {
        let replay = Arc::new(Replay {
            key: None,
            rest: bytes::Bytes::new(),
            seq: 1,
            shape: ToldShape::default(),
        });
        let one = row_description(&[("a", 23, -1)]);
        // Nothing told yet: a check has nothing to hold to.
        on_describe_reply(&ShapeUse::Check(replay.clone()), b'T', &one);
        assert!(!replay.shape.changed());
        on_describe_reply(&ShapeUse::Record(replay.clone()), b'T', &one);
        on_describe_reply(&ShapeUse::Check(replay.clone()), b'T', &one);
        assert!(!replay.shape.changed());
        // The first Describe is what the client holds to; a later one does not replace it.
        let two = row_description(&[("a", 23, -1), ("b", 25, -1)]);
        on_describe_reply(&ShapeUse::Record(replay.clone()), b'T', &two);
        on_describe_reply(&ShapeUse::Check(replay.clone()), b'T', &two);
        assert!(replay.shape.changed());
    }
}
