//! One case of `wire_fuzz.rs`: the session started over scripted pipes, the wire model
//! answering on the server pipe in a task of its own, the ops sent one by one with the
//! properties checked whenever the session has gone quiet.

use super::neighbour::Neighbour;
use super::*;
use crate::pool::Pool;

/// Answers a client may get per message it sent (rows of a big write, COPY data) before
/// they count as out of proportion.
const ANSWERS_PER_MESSAGE: usize = 100;

/// `WIRE_FUZZ_TRACE=1`: print every frame each way (`>` to the server, `<` to the client)
/// and each op, to read a failing case.
fn tracing_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("WIRE_FUZZ_TRACE").is_some())
}

fn lock(model: &Mutex<WirePg>) -> std::sync::MutexGuard<'_, WirePg> {
    model.lock().unwrap_or_else(|e| e.into_inner())
}

/// The model on the server end: reads what pgward sends, answers (after a statement's
/// sleep, if it has one).
async fn serve(mut conn: FramedConn<DuplexStream>, model: Arc<Mutex<WirePg>>) {
    while let Ok(Some(frame)) = conn.read_frame().await {
        if tracing_on() {
            let body = String::from_utf8_lossy(frame.body());
            eprint!(
                " >{}{:?}",
                frame.tag() as char,
                body.chars().take(60).collect::<String>()
            );
        }
        let mut out = BytesMut::new();
        let (next, sleep) = {
            let mut m = lock(&model);
            let next = m.on_message(frame.tag(), frame.body(), &mut out);
            let sleep = std::mem::take(&mut m.sleep_due);
            m.busy = sleep > 0;
            (next, sleep)
        };
        if sleep > 0 {
            tokio::time::sleep(Duration::from_secs(sleep)).await;
            lock(&model).busy = false;
        }
        if !out.is_empty() && conn.send(&out).await.is_err() {
            return;
        }
        if next == Next::Close {
            return;
        }
    }
}

/// The test's client end and what it has seen.
struct Client {
    conn: FramedConn<DuplexStream>,
    /// Column `v` of table `t` is masked for this client.
    masked: bool,
    /// A masked value reached the client (what it came in).
    leaked: Option<String>,
    closed: bool,
    in_copy: bool,
    received: usize,
    /// A Sync or Query went out (outside a COPY) with no ReadyForQuery since, and no COPY
    /// started that could have made the server ignore it: a ReadyForQuery is owed.
    owed: bool,
    /// Extended-protocol messages went out since the last Sync.
    in_batch: bool,
}

impl Client {
    fn note(&mut self, tag: u8, body: &[u8]) {
        if self.masked && self.leaked.is_none() && holds_t_value(tag, body) {
            self.leaked = Some(format!("{:?}", String::from_utf8_lossy(body)));
        }
        if tracing_on() {
            eprint!("<{}", tag as char);
        }
        self.received += 1;
        match tag {
            b'G' => {
                self.in_copy = true;
                self.owed = false;
            }
            b'Z' => {
                self.in_copy = false;
                self.owed = false;
            }
            b'C' | b'E' => self.in_copy = false,
            _ => {}
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        // A Query inside an extended batch is skipped if the batch failed: only a Sync, or
        // a Query outside any batch, is surely owed its ReadyForQuery.
        match bytes.first() {
            Some(b'S') => self.owed |= !self.in_copy,
            Some(b'Q') => self.owed |= !self.in_copy && !self.in_batch,
            _ => {}
        }
        self.in_batch = match bytes.first() {
            Some(b'P' | b'B' | b'E' | b'D' | b'C' | b'H') => true,
            Some(b'S') => false,
            _ => self.in_batch,
        };
        if self.conn.send(bytes).await.is_err() {
            self.closed = true;
        }
    }

    /// Whatever comes until the session goes quiet (virtual time passes only once every
    /// task waits).
    async fn read_quiet(&mut self) {
        self.read_until(Duration::from_millis(5), false).await;
    }

    /// Read for up to `limit`; with `until_ready`, stop at a ReadyForQuery. True when one
    /// came or the session closed the connection. A COPY FROM STDIN that starts meanwhile
    /// is failed (it would wait for the client's data, not its Sync).
    async fn read_until(&mut self, limit: Duration, until_ready: bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.conn.read_frame()).await {
                Ok(Ok(Some(f))) => {
                    let tag = f.tag();
                    self.note(tag, f.body());
                    if until_ready && tag == b'Z' {
                        return true;
                    }
                    if until_ready && tag == b'G' {
                        self.send(&f::copy_fail()).await;
                    }
                }
                Ok(_) => {
                    self.closed = true;
                    return true;
                }
                Err(_) => return false,
            }
        }
    }
}

/// A DataRow or CopyData carrying `t.v`'s value in clear.
pub(super) fn holds_t_value(tag: u8, body: &[u8]) -> bool {
    let value = [T_VALUE];
    match tag {
        b'D' => {
            let mut c = crate::protocol::decode::Cursor::new(body);
            let columns = c.count16().unwrap_or(0);
            (0..columns).any(|_| match c.i32() {
                Ok(len) if len >= 0 => c.take(len as usize).is_ok_and(|v| v == value),
                _ => false,
            })
        }
        b'd' => body
            .split(|b| *b == b'\n' || *b == b'\t')
            .any(|v| v == value),
        _ => false,
    }
}

/// The rules in force and since when.
struct Rules {
    role: Role,
    /// The model's message count when the role became read-only (its writes from then on
    /// are refused); `None` while it may write.
    read_only_since: Option<u64>,
    /// Likewise, since when its writes may not commit past 10 rows.
    guarded_since: Option<u64>,
}

/// The properties that hold at every quiet moment.
fn check(model: &Mutex<WirePg>, pool: &Pool, rules: &Rules, c: &Client) -> Result<(), String> {
    if let Some(row) = &c.leaked {
        return Err(format!("a masked value reached the client: {row}"));
    }
    let m = lock(model);
    if let Some(since) = rules.read_only_since {
        if let Some((_, w)) = m.seen.writes_run.iter().find(|(at, _)| *at > since) {
            return Err(format!("a read-only role's write ran: {w}"));
        }
    }
    if let Some(since) = rules.guarded_since {
        if let Some((_, w)) = m.seen.big_commits.iter().find(|(at, _)| *at > since) {
            return Err(format!("a write past max_affected_rows committed: {w}"));
        }
    }
    if pool.stats().idle > 0 && !m.idle_and_clean() {
        return Err("a server is in the pool while not idle and clean".into());
    }
    Ok(())
}

async fn ended(task: tokio::task::JoinHandle<()>, limit: Duration) -> Result<(), String> {
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.is_panic() => Err(format!("the session panicked: {e}")),
        Ok(Err(e)) => Err(format!("the session task failed: {e}")),
        Err(_) => Err(format!(
            "the session did not end within {limit:?} of the client leaving"
        )),
    }
}

pub(super) async fn drive(mode: PoolMode, role: Role, ops: Vec<Op>) -> Result<(), String> {
    let parts = Scripted::start(mode, role.rules()).await.into_parts();
    let model = Arc::new(Mutex::new(WirePg::default()));
    let server_task = tokio::spawn(serve(parts.server, model.clone()));
    let (task, pool) = (parts.task, parts.pool.clone());
    let mut rules = Rules {
        role,
        read_only_since: role.read_only().then_some(0),
        guarded_since: role.guarded().then_some(0),
    };
    let mut c = Client {
        conn: parts.client,
        masked: role.masked(),
        leaked: None,
        closed: false,
        in_copy: false,
        received: 0,
        owed: false,
        in_batch: false,
    };
    let mut sent = 0usize;
    let mut neighbour: Option<Neighbour> = None;
    let mut junk_sent = false;
    let mut pipelined = false;
    let result = async {
        for op in &ops {
            match op {
                Op::Wait(secs) => tokio::time::sleep(Duration::from_secs(u64::from(*secs))).await,
                Op::FailNext => lock(&model).fail_next = true,
                Op::NoticeNext => lock(&model).notice_next = true,
                Op::PinOff => lock(&model).pin_off_next = true,
                Op::ServerJunk(tag) => {
                    lock(&model).junk_next = Some(*tag);
                    junk_sent = true;
                }
                Op::Neighbour => {
                    if neighbour.is_none() {
                        let n = Neighbour::start(&parts.shared, parts.pool.clone(), mode).await;
                        neighbour = Some(n);
                    }
                    if let Some(n) = neighbour.as_mut() {
                        n.run(c.masked, !junk_sent).await?;
                    }
                }
                // At a quiet moment (nothing pipelined, nothing being answered): every
                // message sent so far was judged under the old rules and has run.
                Op::Reload(to) if !pipelined && !lock(&model).busy => {
                    scripted::reload(&parts.shared, mode, to.rules());
                    let messages = lock(&model).messages;
                    rules.read_only_since = match (rules.read_only_since, to.read_only()) {
                        (Some(since), true) => Some(since),
                        (None, true) => Some(messages),
                        (_, false) => None,
                    };
                    rules.guarded_since = match (rules.guarded_since, to.guarded()) {
                        (Some(since), true) => Some(since),
                        (None, true) => Some(messages),
                        (_, false) => None,
                    };
                    rules.role = *to;
                    c.masked = to.masked();
                }
                _ => {}
            }
            if let Some(bytes) = client_bytes(op) {
                c.send(&bytes).await;
                sent += 1;
            }
            if std::mem::replace(&mut pipelined, matches!(op, Op::NoWait)) {
                continue; // the op after a NoWait: what follows goes out at once too
            }
            if pipelined {
                continue;
            }
            c.read_quiet().await;
            if tracing_on() {
                eprintln!(" ({op:?})");
            }
            check(&model, &pool, &rules, &c)?;
            if c.received > ANSWERS_PER_MESSAGE * (sent + 2) {
                return Err(format!("{} answers to {sent} messages", c.received));
            }
            if c.closed {
                return Ok(());
            }
        }
        // What the client sent is answered without asking again.
        if c.owed && !c.read_until(Duration::from_secs(3600), true).await {
            return Err("a Sync or Query sent got no ReadyForQuery within an hour".into());
        }
        // Every Sync is answered (a COPY the client left open is failed first).
        if c.in_copy {
            c.send(&f::copy_fail()).await;
        }
        c.send(&f::sync()).await;
        if !c.read_until(Duration::from_secs(3600), true).await {
            return Err("a Sync got no ReadyForQuery within an hour".into());
        }
        c.read_quiet().await;
        check(&model, &pool, &rules, &c)
    }
    .await;
    if let Err(e) = result {
        server_task.abort();
        return Err(format!("{mode:?} {role:?}: {e}"));
    }
    if let Some(n) = neighbour.take() {
        if let Err(e) = n.leave().await {
            server_task.abort();
            return Err(format!("{mode:?} {role:?}: {e}"));
        }
    }
    c.send(&f::terminate()).await;
    drop(c);
    let outcome = ended(task, Duration::from_secs(600)).await;
    server_task.abort();
    outcome.map_err(|e| format!("{mode:?} {role:?}: {e}"))
}
