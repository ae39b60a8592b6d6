//! Transaction mode's named statements: a client's statements follow it to whatever server
//! it gets. Each is kept with the Parse that made it; on the server it lives under a name
//! derived from its text (shared by every client of the pool, bounded per server by
//! `[pool] max_prepared_statements`, least recently used out). A Parse the server already
//! has and a Close are answered by pgward in their place in line; a Bind or Describe on a
//! server that lacks the statement is preceded by a quiet Parse of it. The unnamed statement
//! is prepared again when another client's (or pgward's) use of the server replaced it.

use bytes::Bytes;

use super::prepared::{Change, Space};
use super::replies::{Handling, Sent};
use super::*;
use crate::protocol::{Frame, FramedConn};
use crate::server_state::{Placement, StatementKey};
use crate::sqlstate;

/// A client's statement, as it can be prepared again.
#[derive(Debug)]
pub struct Replay {
    /// Its identity on the servers; `None` for the unnamed statement.
    pub key: Option<StatementKey>,
    /// The Parse body after the statement name: the text and the parameter types.
    pub rest: Bytes,
    /// This session's parse number (who owns a server's unnamed statement).
    pub seq: u64,
    /// What the client was told of its result (`replay_shape.rs`).
    pub shape: super::replay_shape::ToldShape,
    /// What its parse analysis depended on besides its text (`replay_scope.rs`).
    pub scope: super::replay_scope::Scope,
}

impl Replay {
    /// A statement as `rest` (the Parse body after its name) under `key`, this session's
    /// parse number `seq`, judged `decision`.
    pub fn new(
        key: Option<StatementKey>,
        rest: &[u8],
        seq: u64,
        decision: &Decision,
        scope: super::replay_scope::Scope,
    ) -> Replay {
        Replay {
            key,
            rest: Bytes::copy_from_slice(rest),
            seq,
            shape: super::replay_shape::ToldShape::new(decision),
            scope,
        }
    }
}

const PARSE_COMPLETE: u8 = b'1';
const CLOSE_COMPLETE: u8 = b'3';

/// The body after its first C string (a Parse's statement name), if it has one.
fn after_cstr(body: &[u8]) -> Option<&[u8]> {
    let end = body.iter().position(|&b| b == 0)?;
    Some(&body[end + 1..])
}

fn message(tag: u8, parts: &[&[u8]]) -> BytesMut {
    let mut body = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        body.extend_from_slice(p);
    }
    let mut out = BytesMut::new();
    backend::raw_message(tag, &body, &mut out);
    out
}

/// Close the statement `name`.
pub(super) fn close_message(name: &str) -> BytesMut {
    let mut out = BytesMut::new();
    crate::server::close_statement_message(name, &mut out);
    out
}

/// Parse `name` with the given text and parameter types.
pub(super) fn parse_message(name: &str, rest: &[u8]) -> BytesMut {
    message(b'P', &[name.as_bytes(), b"\0", rest])
}

/// A Bind `body` split around its statement name: the portal name with its terminator, and
/// what follows the statement name's terminator.
fn bind_parts(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let portal_end = body.iter().position(|&b| b == 0)?;
    let rest = after_cstr(&body[portal_end + 1..])?;
    Some((&body[..=portal_end], rest))
}

/// Queue the client's Bind (or Describe of a statement) with the statement under `name`.
pub fn queue_renamed(
    conn: &mut FramedConn<crate::stream::ServerStream>,
    frame: &Frame,
    name: &str,
) {
    match (frame.tag(), bind_parts(frame.body())) {
        (b'B', Some((portal, rest))) => {
            conn.queue_message(b'B', &[portal, name.as_bytes(), b"\0", rest]);
        }
        (b'D', _) => conn.queue_message(b'D', &[b"S", name.as_bytes(), b"\0"]),
        // Not a message pgward renames (a malformed Bind was refused before): as it came.
        _ => conn.queue(frame.raw()),
    }
}

fn already_exists(name: &str) -> PgError {
    PgError::error(
        sqlstate::DUPLICATE_PREPARED_STATEMENT,
        format!("prepared statement \"{name}\" already exists"),
    )
}

impl Session {
    /// Statements follow the client (transaction mode with replay on).
    pub(super) fn replaying(&self) -> bool {
        self.mode == PoolMode::Transaction && self.statement_limit > 0
    }

    /// An allowed Parse in transaction mode, the server attached and the name settled. True
    /// when the statement was entered under its name.
    pub(super) async fn parse_replayed(
        &mut self,
        frame: &Frame,
        name: &str,
        decision: Arc<Decision>,
    ) -> bool {
        let Some(rest) = after_cstr(frame.body()) else {
            let err = PgError::error(sqlstate::PROTOCOL_VIOLATION, "invalid Parse message");
            self.refuse_extended(err, None).await;
            return false;
        };
        if self.server.is_none() {
            self.refuse_extended(super::lost_meanwhile(), None).await;
            return false;
        }
        if !name.is_empty() && self.prepared.has_statement(name) {
            // PostgreSQL keeps the one it has and fails the Parse.
            self.refuse_extended(already_exists(name), None).await;
            return false;
        }
        // `EXECUTE s1` is described at Parse from what the server holds under s1.
        if let Err(e) = self.claim_sql_names(&decision).await {
            self.refuse_extended(e, Some(decision.clone())).await;
            return false;
        }
        if !name.is_empty() {
            self.name_may_change(Some(name));
        }
        self.parse_seq += 1;
        let session_scoped = super::replay_scope::names_session_objects(&decision);
        let scope = self.scope_now(session_scoped);
        let key = (!name.is_empty()).then(|| StatementKey::of(rest, scope.as_ref()));
        let replay = Arc::new(Replay::new(key, rest, self.parse_seq, &decision, scope));
        self.masking.on_parse(name, decision.mask.is_some());
        let batch = self.replies.batch();
        let change = self.prepared.create_replayable(
            Space::Statement,
            name,
            decision,
            batch,
            Some(replay.clone()),
        );
        self.sync.sent_in_batch();
        let (id, seq) = (self.id, self.parse_seq);
        let Some(s) = self.server.as_mut() else {
            return true;
        };
        match key {
            None => {
                s.server.conn.queue(frame.raw());
                s.server.statements.unnamed = Some((id, seq));
                self.replies.push(Sent::Parse(change), Handling::Forward);
            }
            Some(key) if s.server.statements.lookup(key, &self.owner).is_some() => {
                // Parsed here before, with the result type a Parse now gives (DDL through
                // pgward files statements anew), when a Describe showed it.
                if let Some(shape) = s.server.statements.shape(key) {
                    replay.shape.parsed_as(shape);
                }
                self.replies
                    .push(Sent::Parse(change), Handling::Local(PARSE_COMPLETE));
                self.answer_local();
            }
            Some(key) => {
                let limit = self.statement_limit;
                let placed = s.server.statements.place(key, name, limit, &self.owner);
                let there = placed.name.clone();
                self.prepare_on_server(key, placed, &replay.rest, change, Handling::Forward);
                self.describe_as_parsed(&there, key, replay);
            }
        }
        true
    }

    /// Send the Parse of a kept statement where `placed` says (after closing what it pushes
    /// out).
    pub(super) fn prepare_on_server(
        &mut self,
        key: StatementKey,
        placed: Placement,
        rest: &[u8],
        change: Change,
        handling: Handling,
    ) {
        let Some(s) = self.server.as_mut() else {
            return;
        };
        for old in &placed.close {
            s.server.conn.queue(&close_message(old));
            self.replies
                .push(Sent::Close(Change::None), Handling::Quiet);
        }
        s.server.conn.queue(&parse_message(&placed.name, rest));
        self.replies.push_keyed(Sent::Parse(change), handling, key);
    }

    /// Before a Bind or Describe of the client's statement `name`: make sure this server has
    /// it, and say what it is called there (`None`: as the client calls it).
    pub(super) fn ensure_statement(&mut self, name: &str) -> Option<Arc<str>> {
        if !self.replaying() {
            return None;
        }
        let mut replay = self.prepared.replay(name)?;
        let id = self.id;
        if let Some(key) = replay.key {
            let s = self.server.as_mut()?;
            if let Some(there) = s.server.statements.lookup(key, &self.owner) {
                return Some(there);
            }
            // Prepared anew: under the settings the server has now, and filed under them.
            replay = self.rescoped(name, replay);
        }
        let s = self.server.as_mut()?;
        match replay.key {
            Some(key) => {
                if let Some(there) = s.server.statements.lookup(key, &self.owner) {
                    return Some(there);
                }
                let limit = self.statement_limit;
                let placed = s.server.statements.place(key, name, limit, &self.owner);
                let there = placed.name.clone();
                self.prepare_on_server(key, placed, &replay.rest, Change::None, Handling::Quiet);
                Some(there)
            }
            None => {
                if s.server.statements.unnamed != Some((id, replay.seq)) {
                    s.server.conn.queue(&parse_message("", &replay.rest));
                    s.server.statements.unnamed = Some((id, replay.seq));
                    self.replies
                        .push(Sent::Parse(Change::None), Handling::Quiet);
                }
                None
            }
        }
    }

    /// Close of a statement in transaction mode: the server keeps it for others; the client
    /// hears CloseComplete in its place in line.
    pub(super) fn close_replayed(&mut self, name: &str) {
        let change = self.prepared.close(Space::Statement, name);
        self.replies
            .push(Sent::Close(change), Handling::Local(CLOSE_COMPLETE));
        if self.server.is_some() {
            self.sync.sent_in_batch();
        }
        self.answer_local();
    }

    /// Answer what pgward answers itself, as far as the queue's front allows.
    pub(super) fn answer_local(&mut self) {
        let tags = answer::take_local(&mut self.replies, &mut self.prepared);
        for tag in tags {
            let mut out = BytesMut::new();
            backend::raw_message(tag, &[], &mut out);
            self.client.queue(&out);
        }
    }

    /// SQL `DEALLOCATE name` alone, of one of the client's statements kept by replay.
    pub(super) fn deallocates_kept_statement(&self, decision: &Decision) -> Option<String> {
        if !self.replaying() {
            return None;
        }
        match decision.statements.as_slice() {
            [st] if st.kind == pgward_policy::StatementKind::Deallocate => {
                let name = st.state.name.as_deref()?;
                self.prepared
                    .replay(name)
                    .and_then(|r| r.key)
                    .map(|_| name.to_string())
            }
            _ => None,
        }
    }

    /// SQL `DEALLOCATE name` of a kept statement in transaction mode: the statement is kept on
    /// the servers for every client that uses it. The last one's DEALLOCATE runs (`raw`);
    /// otherwise the client's name is forgotten and the server runs an empty query in the
    /// DEALLOCATE's place in line.
    pub(super) async fn deallocate_kept(
        &mut self,
        decision: Arc<Decision>,
        name: &str,
        raw: &[u8],
    ) -> Result<super::Flow, PgError> {
        let runs = self.release_kept(name).await;
        self.prepared.drop_statement(name);
        if runs {
            return self.run_query(decision, raw, None).await;
        }
        let mut stand_in = BytesMut::new();
        crate::protocol::frontend::query("", &mut stand_in);
        self.run_query_as(decision, &stand_in, Handling::Complete("DEALLOCATE"), None)
            .await
    }

    /// SQL `DEALLOCATE name` of a kept statement, on the server now attached: this session
    /// lets go of it there, and when no other live session uses it the server deallocates
    /// it for real. True when the client's own DEALLOCATE can run as sent (the server has
    /// it under that name and nobody else needs it). Only while the server owes nothing.
    pub(super) async fn release_kept(&mut self, name: &str) -> bool {
        if self.attach().await.is_err()
            || self.sync.pending > 0
            || self.sync.unsynced
            || self.replies.owes()
        {
            return false;
        }
        let Some(key) = self.prepared.replay(name).and_then(|r| r.key) else {
            return false;
        };
        let Some(s) = self.server.as_mut() else {
            return false;
        };
        match s.server.statements.release(key, &self.owner) {
            Some(there) if &*there == name => true,
            Some(there) => {
                if s.server.close_statements(&[there]).await.is_err() {
                    s.server.statements.clear();
                }
                false
            }
            None => false,
        }
    }

    /// The server dropped every prepared statement (DEALLOCATE ALL, DISCARD ALL/PLANS).
    pub(super) fn server_statements_dropped(&mut self) {
        if let Some(s) = self.server.as_mut() {
            s.server.statements.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_splits_around_the_statement_name() {
        let body = b"p1\0client_stmt\0\0\x01\0\x01\0\x00\x00\x00\x011\0\0";
        let (portal, rest) = bind_parts(body).unwrap_or_default();
        assert_eq!(portal, b"p1\0");
        assert_eq!(rest, b"\0\x01\0\x01\0\x00\x00\x00\x011\0\0");
        assert!(bind_parts(b"no terminator").is_none());
        assert!(bind_parts(b"portal\0no terminator").is_none());
    }

    #[test]
    fn parse_messages() {
        let p = parse_message("pgward_y", b"select 1\0\0\0");
        assert_eq!(&p[5..], b"pgward_y\0select 1\0\0\0");
        assert_eq!(after_cstr(b"name\0rest"), Some(&b"rest"[..]));
    }
}
