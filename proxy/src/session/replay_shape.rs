//! A kept statement must return what the client was told. PostgreSQL refuses to run a
//! prepared statement whose result type changed since it was prepared (0A000 "cached plan
//! must not change result type"): a driver that cached the columns of its Describe would
//! otherwise decode rows of another shape (an added column; an int turned bigint, read as int
//! in binary). Transaction mode keeps one statement per text on each server, prepared again
//! wherever a client lands, so after DDL one server's plan may have the new shape while the
//! client was told the old one.
//!
//! pgward records what the client's first statement Describe told it, and each server's shape
//! of the statement whenever a Describe shows it. Before the statement is bound or described
//! on a server, the two are compared; where the server's shape is not known yet (it prepares
//! the statement now, or another client did without a Describe), pgward describes it there
//! first, one round trip, once per statement and server. A different shape gets PostgreSQL's
//! error; the statement stays on the server for the clients told that shape.

use std::sync::{Arc, OnceLock};

use super::replay::Replay;
use super::replies::{Handling, Sent};
use super::*;
use crate::protocol::decode::Cursor;
use crate::server_state::StatementKey;
use crate::sqlstate;

/// What the client's first statement Describe told it of a kept statement's result, for a
/// statement whose shape PostgreSQL holds it to.
#[derive(Debug)]
pub struct ToldShape {
    told: OnceLock<Arc<[u8]>>,
    /// A plannable statement (SELECT, VALUES, INSERT/UPDATE/DELETE/MERGE): PostgreSQL checks
    /// its result type when it plans it again. A utility statement's (FETCH, EXECUTE, SHOW)
    /// follows session state and is never checked.
    held: bool,
    /// The statement epoch its key was made in.
    epoch: u64,
}

impl ToldShape {
    /// The same, for the statement filed anew now (`replay_scope.rs`).
    pub fn carried(&self) -> ToldShape {
        ToldShape {
            told: self.told.clone(),
            held: self.held,
            epoch: crate::server_state::statement_epoch(),
        }
    }

    /// A Parse of it now gives `shape` (the server's statement of the same key has it).
    pub fn parsed_as(&self, shape: Arc<[u8]>) {
        if self.held {
            let _ = self.told.set(shape);
        }
    }

    pub fn new(decision: &Decision) -> ToldShape {
        use pgward_policy::StatementKind as K;
        let held = matches!(
            decision.statements.as_slice(),
            [s] if matches!(s.kind, K::Select | K::Insert | K::Update | K::Delete | K::Merge)
        );
        ToldShape {
            told: OnceLock::new(),
            held,
            epoch: crate::server_state::statement_epoch(),
        }
    }
}

/// The reply to a Describe of a kept statement: the shape it shows is recorded for the
/// server's statement under `key` (its placement `placement`), and as what the client was
/// told unless pgward asked.
#[derive(Clone, Debug)]
pub struct ShapeNote {
    pub replay: Arc<Replay>,
    pub key: StatementKey,
    pub placement: u64,
    /// pgward's own Describe (its reply is not the client's).
    pub asked: bool,
}

/// The result shape a RowDescription (`T`) or NoData (`n`) gives: each column's name, type,
/// size and modifier (what PostgreSQL compares), not where it comes from nor its format.
/// `None` for another message or a malformed one.
pub fn shape_of(tag: u8, body: &[u8]) -> Option<Arc<[u8]>> {
    match tag {
        b'n' => Some(Arc::from(&[][..])),
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
            Some(shape.into())
        }
        _ => None,
    }
}

/// How a kept statement stands before it is bound or described.
pub(super) enum ShapeCheck {
    /// The server's shape is what the client was told (or nothing was told): go on.
    Holds,
    /// Another shape: PostgreSQL's error.
    Changed,
    /// An earlier message of the batch failed meanwhile: skipped with the batch.
    BatchFailed,
    /// The server was lost while pgward asked.
    Lost,
}

/// What the client gets for a statement whose shape is not what it was told.
pub(super) fn shape_changed() -> PgError {
    PgError::error(
        sqlstate::FEATURE_NOT_SUPPORTED,
        "cached plan must not change result type",
    )
}

impl Session {
    /// The client's Describe of statement `name` (just entered): its reply is noted.
    pub(super) fn note_described(&mut self, name: &str) {
        if !self.replaying() {
            return;
        }
        let Some(replay) = self.prepared.replay(name) else {
            return;
        };
        let Some(key) = replay.key.filter(|_| replay.shape.held) else {
            return;
        };
        let placement = self
            .server
            .as_ref()
            .and_then(|s| s.server.statements.placement(key));
        if let Some(placement) = placement {
            self.replies.set_last_shape(ShapeNote {
                replay,
                key,
                placement,
                asked: false,
            });
        }
    }

    /// Right after the Parse of a kept statement, pgward's own Describe of it: its result
    /// type as parsed is what PostgreSQL holds the statement to (0A000 "cached plan must not
    /// change result type"), Described by the client or not. Its reply is not the client's.
    pub(super) fn describe_as_parsed(
        &mut self,
        there: &str,
        key: StatementKey,
        replay: Arc<Replay>,
    ) {
        if !replay.shape.held || replay.shape.told.get().is_some() {
            return;
        }
        let Some(s) = self.server.as_mut() else {
            return;
        };
        let Some(placement) = s.server.statements.placement(key) else {
            return;
        };
        s.server
            .conn
            .queue_message(b'D', &[b"S", there.as_bytes(), b"\0"]);
        self.replies.push(Sent::Describe, Handling::Quiet);
        self.replies.set_last_shape(ShapeNote {
            replay,
            key,
            placement,
            asked: false,
        });
    }

    /// The shape a client's statement was parsed with, for SQL `EXECUTE` of it placed anew on
    /// a server (`own_statements.rs`): `None` when PostgreSQL would not hold it to one.
    pub(super) fn told_shape(&self, name: &str) -> Option<Arc<[u8]>> {
        let replay = self.prepared.replay(name)?;
        replay
            .shape
            .held
            .then(|| replay.shape.told.get().cloned())
            .flatten()
    }

    /// The attached server's reply (`tag`, `body`) to a Describe entered with `note`.
    pub(super) fn on_shape_reply(&mut self, note: &ShapeNote, tag: u8, body: &[u8]) {
        let Some(shape) = shape_of(tag, body) else {
            return;
        };
        if let Some(s) = self.server.as_mut() {
            s.server
                .statements
                .set_shape(note.key, note.placement, shape.clone());
        }
        if !note.asked {
            let _ = note.replay.shape.told.set(shape);
        }
    }

    /// Before a Bind or Describe of statement `name`: the server's shape of it against what
    /// the client was told, asked for first where this server's is not known.
    pub(super) async fn check_kept_shape(&mut self, name: &str) -> Result<ShapeCheck, PgError> {
        if !self.replaying() || self.copy_in || self.copy_from_started {
            // A COPY FROM STDIN on its way: the server reads no Describe until it ends.
            return Ok(ShapeCheck::Holds);
        }
        let Some(replay) = self.prepared.replay(name) else {
            return Ok(ShapeCheck::Holds);
        };
        let (Some(key), Some(told)) = (replay.key, replay.shape.told.get().cloned()) else {
            return Ok(ShapeCheck::Holds);
        };
        if self.server.is_none() && self.attach().await.is_err() {
            // The caller's own attach fails and says so.
            return Ok(ShapeCheck::Holds);
        }
        let Some(s) = self.server.as_mut() else {
            return Ok(ShapeCheck::Holds);
        };
        if s.server.statements.lookup(key, &self.owner).is_some() {
            if let Some(there) = s.server.statements.shape(key) {
                return Ok(compared(&told, &there, &replay.shape));
            }
        }
        // Prepared here now, or by a client that never described it: ask.
        let Some(there) = self.ensure_statement(name) else {
            return Ok(ShapeCheck::Holds);
        };
        let Some(s) = self.server.as_mut() else {
            return Ok(ShapeCheck::Holds);
        };
        let Some(placement) = s.server.statements.placement(key) else {
            return Ok(ShapeCheck::Holds);
        };
        s.server
            .conn
            .queue_message(b'D', &[b"S", there.as_bytes(), b"\0"]);
        self.replies.push(Sent::Describe, Handling::Quiet);
        self.replies.set_last_shape(ShapeNote {
            replay: replay.clone(),
            key,
            placement,
            asked: true,
        });
        // The client's batch is open from here: its Sync must reach the server.
        self.sync.sent_in_batch();
        let answered = self
            .serve_until(|s| !s.replies.owes() || s.replies.skipping_to_sync(), true)
            .await?;
        if !answered {
            return Ok(ShapeCheck::Lost);
        }
        if self.replies.skipping_to_sync() {
            self.skipping = true;
            return Ok(ShapeCheck::BatchFailed);
        }
        let there = self
            .server
            .as_ref()
            .and_then(|s| s.server.statements.shape(key));
        Ok(match there {
            Some(there) => compared(&told, &there, &replay.shape),
            None => ShapeCheck::Holds,
        })
    }
}

fn compared(told: &[u8], there: &[u8], shape: &ToldShape) -> ShapeCheck {
    if told == there {
        return ShapeCheck::Holds;
    }
    // As for PostgreSQL's own 0A000 (`server.rs`): the client prepares again and must get a
    // statement of its own, not the one with the shape it was not told. Once per epoch: a
    // client binding its old statement again does not start another.
    if shape.epoch == crate::server_state::statement_epoch() {
        crate::server_state::new_statement_epoch();
    }
    ShapeCheck::Changed
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
            b.extend_from_slice(&1i16.to_be_bytes()); // format
        }
        b
    }

    #[test]
    fn shapes_compare_names_types_and_modifiers_not_origins_or_formats() {
        let a = row_description(&[("a", 23, -1)]);
        let mut moved = a.clone();
        moved[3..7].copy_from_slice(&99999u32.to_be_bytes()); // another table oid
        let last = moved.len() - 1;
        moved[last] = 0; // text format
        assert_eq!(shape_of(b'T', &a), shape_of(b'T', &moved));
        let added = row_description(&[("a", 23, -1), ("b", 23, -1)]);
        assert_ne!(shape_of(b'T', &a), shape_of(b'T', &added));
        let widened = row_description(&[("a", 20, -1)]);
        assert_ne!(shape_of(b'T', &a), shape_of(b'T', &widened));
        let renamed = row_description(&[("z", 23, -1)]);
        assert_ne!(shape_of(b'T', &a), shape_of(b'T', &renamed));
        let modified = row_description(&[("a", 23, 8)]);
        assert_ne!(shape_of(b'T', &a), shape_of(b'T', &modified));
        assert_eq!(shape_of(b'n', b"").as_deref(), Some(&[][..]));
        assert_ne!(shape_of(b'n', b""), shape_of(b'T', &a));
        assert_eq!(shape_of(b'T', &a[..a.len() - 1]), None);
        assert_eq!(shape_of(b'C', b"SELECT 1\0"), None);
    }

    #[test]
    fn only_a_different_shape_is_a_change() {
        let one = shape_of(b'T', &row_description(&[("a", 23, -1)])).unwrap_or_default();
        let two =
            shape_of(b'T', &row_description(&[("a", 23, -1), ("b", 25, -1)])).unwrap_or_default();
        let told = ToldShape {
            told: OnceLock::new(),
            held: true,
            epoch: u64::MAX,
        };
        assert!(matches!(compared(&one, &one, &told), ShapeCheck::Holds));
        assert!(matches!(compared(&one, &two, &told), ShapeCheck::Changed));
    }
}
