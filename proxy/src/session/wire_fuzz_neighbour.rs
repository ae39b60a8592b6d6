//! The wire fuzz's second client: same role, same pool (of one server), one statement at a
//! time. In transaction mode it shares the first client's server between transactions, so
//! whatever the first client left on it, or left owed, must not reach this one.

use super::drive_impl::holds_t_value;
use super::*;

/// What the neighbour's own statement may be answered with, async messages aside: its row,
/// or an error (no server to be had in time, a server lost).
const OWN_ANSWERS: [&str; 2] = ["TDCZ", "EZ"];

pub(super) struct Neighbour {
    conn: FramedConn<DuplexStream>,
    task: tokio::task::JoinHandle<()>,
    closed: bool,
}

/// Tags that are not an answer to anything (notices, reported settings, notifications).
fn asynchronous(tag: u8) -> bool {
    matches!(tag, b'N' | b'S' | b'A')
}

impl Neighbour {
    /// A new session over the pool, greeted (or refused).
    pub(super) async fn start(
        shared: &Arc<crate::shared::Shared>,
        pool: Arc<crate::pool::Pool>,
        mode: PoolMode,
    ) -> Neighbour {
        let (conn, task) = scripted::spawn_session(shared, pool, mode);
        let mut n = Neighbour {
            conn,
            task,
            closed: false,
        };
        n.read_answer(Duration::from_secs(60)).await;
        n
    }

    /// Tags up to a ReadyForQuery, the connection's end, or `limit` (then `None`).
    async fn read_answer(&mut self, limit: Duration) -> Option<(String, Vec<Vec<u8>>)> {
        let deadline = tokio::time::Instant::now() + limit;
        let (mut tags, mut rows) = (String::new(), Vec::new());
        loop {
            match tokio::time::timeout_at(deadline, self.conn.read_frame()).await {
                Ok(Ok(Some(f))) => {
                    if f.tag() == b'D' {
                        rows.push(f.body().to_vec());
                    }
                    if !asynchronous(f.tag()) {
                        tags.push(f.tag() as char);
                    }
                    if f.tag() == b'Z' {
                        return Some((tags, rows));
                    }
                }
                Ok(_) => {
                    self.closed = true;
                    return Some((tags, rows));
                }
                Err(_) => return None,
            }
        }
    }

    /// Run its statement; `Err` when the answer is not its own (or a masked value is in it).
    /// `strict`: the server has sent nothing unasked in this case (a server out of step may
    /// garble the neighbour's own answer; that is the server's doing, not another client's).
    pub(super) async fn run(&mut self, masked: bool, strict: bool) -> Result<(), String> {
        if self.closed {
            return Ok(());
        }
        if self.conn.send(&f::query(VOCABULARY[1])).await.is_err() {
            self.closed = true;
            return Ok(());
        }
        let Some((tags, rows)) = self.read_answer(Duration::from_secs(60)).await else {
            return Err("the neighbour got no answer within a minute".into());
        };
        if masked && rows.iter().any(|r| holds_t_value(b'D', r)) {
            return Err("a masked value reached the neighbour".into());
        }
        let ended_with_error = self.closed && tags.ends_with('E');
        if strict && !OWN_ANSWERS.contains(&tags.as_str()) && !ended_with_error {
            return Err(format!("the neighbour got answers not its own: {tags}"));
        }
        Ok(())
    }

    /// It leaves; its session must end without a panic.
    pub(super) async fn leave(mut self) -> Result<(), String> {
        let _ = self.conn.send(&f::terminate()).await;
        drop(self.conn);
        match tokio::time::timeout(Duration::from_secs(600), &mut self.task).await {
            Ok(Err(e)) if e.is_panic() => Err(format!("the neighbour's session panicked: {e}")),
            Err(_) => Err("the neighbour's session did not end".into()),
            _ => Ok(()),
        }
    }
}
