//! One case of `wire_fuzz.rs`: the session started over scripted pipes, the wire model
//! answering on the server pipe in a task of its own, the ops sent one by one with the
//! properties checked whenever the session has gone quiet.

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
    closed: bool,
    in_copy: bool,
    received: usize,
}

impl Client {
    fn note(&mut self, tag: u8) {
        if tracing_on() {
            eprint!("<{}", tag as char);
        }
        self.received += 1;
        match tag {
            b'G' => self.in_copy = true,
            b'C' | b'E' | b'Z' => self.in_copy = false,
            _ => {}
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
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
                    self.note(tag);
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

/// The properties that hold at every quiet moment.
fn check(model: &Mutex<WirePg>, pool: &Pool, role: Role) -> Result<(), String> {
    let m = lock(model);
    match role {
        Role::Reader => {
            if let Some(w) = m.seen.writes_run.first() {
                return Err(format!("a read-only role's write ran: {w}"));
            }
        }
        Role::Writer => {
            if let Some(w) = m.seen.big_commits.first() {
                return Err(format!("a write past max_affected_rows committed: {w}"));
            }
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
    let (client, server, task, pool) = Scripted::start(mode, role.rules()).await.into_parts();
    let model = Arc::new(Mutex::new(WirePg::default()));
    let server_task = tokio::spawn(serve(server, model.clone()));
    let mut c = Client {
        conn: client,
        closed: false,
        in_copy: false,
        received: 0,
    };
    let mut sent = 0usize;
    let result = async {
        for op in &ops {
            match op {
                Op::Wait(secs) => tokio::time::sleep(Duration::from_secs(u64::from(*secs))).await,
                Op::FailNext => lock(&model).fail_next = true,
                Op::NoticeNext => lock(&model).notice_next = true,
                Op::PinOff => lock(&model).pin_off_next = true,
                _ => {}
            }
            if let Some(bytes) = client_bytes(op) {
                c.send(&bytes).await;
                sent += 1;
            }
            c.read_quiet().await;
            if tracing_on() {
                eprintln!(" ({op:?})");
            }
            check(&model, &pool, role)?;
            if c.received > ANSWERS_PER_MESSAGE * (sent + 2) {
                return Err(format!("{} answers to {sent} messages", c.received));
            }
            if c.closed {
                return Ok(());
            }
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
        check(&model, &pool, role)
    }
    .await;
    if let Err(e) = result {
        server_task.abort();
        return Err(format!("{mode:?} {role:?}: {e}"));
    }
    c.send(&f::terminate()).await;
    drop(c);
    let outcome = ended(task, Duration::from_secs(600)).await;
    server_task.abort();
    outcome.map_err(|e| format!("{mode:?} {role:?}: {e}"))
}
