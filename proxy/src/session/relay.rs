//! The async shell around a session: it moves frames between the two sockets and the
//! session's handlers, sleeps until the next deadline the timers give, and tears the session
//! down (server lost, client gone). Everything it decides it asks of the session's state.

use super::cancel_ignored::sleep_until_some;
use super::*;
use crate::sqlstate::ToPg;

/// How long the active loop stays up at rest: transactions back to back (microseconds apart)
/// keep it rather than build and drop it each; an idle client holds only the small future.
const LINGER: Duration = Duration::from_millis(100);

/// How much earlier than its deadline the statement backstop (or the idle limit) may be armed (it then wakes,
/// finds the statement not yet due, and is armed again): back-to-back statements move the
/// deadline by microseconds, and re-arming a timer for each costs more than the statement's
/// frames.
const BACKSTOP_SLACK: Duration = Duration::from_secs(1);

/// Frames handled from what was already read before the select runs again (and with it the
/// session's clocks).
const FRAMES_WITHOUT_SELECT: u32 = 64;

/// A frame and who sent it.
enum Side {
    Client(crate::protocol::Frame),
    Server(crate::protocol::Frame),
}

/// What woke the active relay loop.
enum Woke {
    Frame(Side),
    ClientGone,
    ServerLost(String),
    IdleLimit,
    Backstop,
    CancelIgnored,
}

/// Where the active relay loop left off.
enum Phase {
    /// Nothing held, owed or timed: the session can wait for its client in a small state.
    Rest,
    Stop,
}

impl Session {
    /// Relay until the client leaves. At rest (transaction pooling between transactions) the
    /// session waits for its client's next bytes holding no buffer and only this small
    /// future; the loop that serves a transaction, whose state is large, lives in a box while
    /// there is work and is dropped once the session has been at rest for [`LINGER`].
    pub(super) async fn relay(&mut self) -> Result<(), PgError> {
        loop {
            if self.at_rest() {
                self.client.wait_input().await;
            }
            match Box::pin(self.relay_active()).await? {
                Phase::Rest => continue,
                Phase::Stop => return Ok(()),
            }
        }
    }

    /// No server held, nothing to send, no timer running, nothing read and unhandled.
    fn at_rest(&mut self) -> bool {
        self.server.is_none()
            && self.client.queued() == 0
            && !self.client.has_input()
            && !self.guard_blocks_client()
            && !self.replies.owes()
            && self.idle_in_transaction_deadline().is_none()
    }

    async fn relay_active(&mut self) -> Result<Phase, PgError> {
        // Three timers, each moved only when its deadline has moved far (re-arming one costs
        // more than a frame): the statement backstop and the idle-in-transaction limit (a
        // wake-up a little early is checked and re-armed), and at rest the linger.
        let backstop = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(backstop);
        let mut backstop_at = None;
        let linger = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(linger);
        let mut linger_at = None;
        let idle = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(idle);
        let mut idle_at = None;
        let mut without_select = 0;
        loop {
            let server_has_frame = self
                .server
                .as_ref()
                .is_some_and(|s| s.server.conn.has_frame());
            if self.client.queued() > 0 && !server_has_frame {
                // A client that does not read holds the server in its write: the statement
                // clocks still run.
                match self.flush_client_until_deadline().await {
                    Ok(None) => {}
                    Ok(Some(flow)) => {
                        self.carry_out().await?;
                        if let Flow::Stop = flow {
                            return Ok(Phase::Stop);
                        }
                        continue;
                    }
                    Err(e) => return Err(io_lost(e)),
                }
            }
            // Batch what the client pipelined, but never wait on the server with its input
            // unsent (a guard or back-pressure may have stopped us reading the client's next
            // frame).
            let backpressured = self.backpressured();
            if backpressured {
                self.ask_for_held_answers();
            }
            if !self.client.has_frame() || self.guard_blocks_client() || backpressured {
                if let Some(s) = self.server.as_mut() {
                    if s.server.conn.queued() > 0 {
                        if let Err(e) = s.server.conn.flush().await {
                            self.lost(&e.to_string()).await?;
                            continue;
                        }
                    }
                }
            }
            // Every pass, as before each select: a request sent at the last wake-up starts
            // the statement clock then, and once nothing is owed the clock forgets a cancel
            // pgward sent (the next statement must not be taken for one that ignored it).
            let statement_deadline = self.statement_deadline(self.now);
            // A whole frame already read (the rest of what one read brought) is handled
            // without the select: polling sockets and clocks known to have nothing new cost
            // more than the frame. Bounded, so a long stream still lets the clocks be seen.
            let buffered = match without_select < FRAMES_WITHOUT_SELECT {
                true => self.buffered_frame(backpressured),
                false => None,
            };
            let woke = match buffered {
                Some(frame) => {
                    without_select += 1;
                    Woke::Frame(frame)
                }
                None => {
                    without_select = 0;
                    // At rest, the linger says when to give the loop's state back (between
                    // half of LINGER and LINGER after the last work).
                    let resting = self.at_rest();
                    if resting {
                        let d = tokio::time::Instant::from_std(self.now + LINGER);
                        if rearm(linger_at, d, LINGER / 2) {
                            linger.as_mut().reset(d);
                            linger_at = Some(d);
                        }
                    }
                    let idle_deadline = self.idle_in_transaction_deadline();
                    if let Some(d) = idle_deadline {
                        if rearm(idle_at, d, BACKSTOP_SLACK) {
                            idle.as_mut().reset(d);
                            idle_at = Some(d);
                        }
                    }
                    if let Some(d) = statement_deadline {
                        if rearm(backstop_at, d, BACKSTOP_SLACK) {
                            backstop.as_mut().reset(d);
                            backstop_at = Some(d);
                        }
                    }
                    let cancel_ignored = self.cancel_ignored_deadline();
                    tokio::select! {
                        f = self.client.read_frame(), if !self.guard_blocks_client() && !backpressured => match f {
                            Ok(Some(frame)) => Woke::Frame(Side::Client(frame)),
                            Ok(None) => Woke::ClientGone,
                            Err(e) => return Err(e.to_pg()),
                        },
                        f = read_server(&mut self.server), if self.server.is_some() => match f {
                            Ok(Some(frame)) => Woke::Frame(Side::Server(frame)),
                            Ok(None) => Woke::ServerLost("closed by the server".into()),
                            Err(e) => Woke::ServerLost(e.to_string()),
                        },
                        _ = &mut idle, if idle_deadline.is_some() => {
                            idle_at = None;
                            Woke::IdleLimit
                        }
                        _ = &mut linger, if resting => return Ok(Phase::Rest),
                        _ = &mut backstop, if statement_deadline.is_some() => {
                            backstop_at = None;
                            Woke::Backstop
                        }
                        _ = sleep_until_some(cancel_ignored) => Woke::CancelIgnored,
                    }
                }
            };
            let flow = match woke {
                Woke::Frame(Side::Client(frame)) => {
                    tracing::trace!(session = self.id, tag = %(frame.tag() as char), pending = self.sync.pending, "client message");
                    self.on_client(frame, clock()).await?
                }
                Woke::Frame(Side::Server(frame)) => {
                    tracing::trace!(session = self.id, tag = %(frame.tag() as char), pending = self.sync.pending, done = self.sync.syncs_done, "server message");
                    let handled = self.on_server(frame, clock());
                    let flow = self.carried(handled).await?;
                    self.skip_with_failed_batch();
                    flow
                }
                Woke::ClientGone => Flow::Stop,
                Woke::ServerLost(why) => {
                    self.lost(&why).await?;
                    Flow::Continue
                }
                Woke::IdleLimit => {
                    self.now = clock();
                    match due(self.idle_in_transaction_deadline(), self.now) {
                        true => self.idle_in_transaction_expired(),
                        false => Flow::Continue,
                    }
                }
                Woke::Backstop => {
                    self.now = clock();
                    // Armed a little early (the deadline moved on since): not yet.
                    match due(self.statement_deadline(self.now), self.now) {
                        true => self.statement_timeout_backstop(),
                        false => Flow::Continue,
                    }
                }
                Woke::CancelIgnored => {
                    self.now = clock();
                    self.cancel_ignored()
                }
            };
            self.carry_out().await?;
            if let Flow::Stop = flow {
                return Ok(Phase::Stop);
            }
        }
    }

    /// A frame one side has already sent whole; the server's first, so answers drain
    /// before more requests go out. `None`: neither has one (or the client may not be read
    /// now).
    fn buffered_frame(&mut self, backpressured: bool) -> Option<Side> {
        if let Some(frame) = self
            .server
            .as_mut()
            .and_then(|s| s.server.conn.take_buffered_frame())
        {
            return Some(Side::Server(frame));
        }
        if self.guard_blocks_client() || backpressured {
            return None;
        }
        self.client.take_buffered_frame().map(Side::Client)
    }

    /// Read the server, handing each message to the machine with the time it came, until
    /// `done` says the machine has what it waits for (a name settled, a batch answered).
    /// `ask`: send a Flush first, so the server sends what it has. False when the server
    /// was lost (or there is none).
    pub(super) async fn serve_until(
        &mut self,
        done: impl Fn(&Session) -> bool,
        ask: bool,
    ) -> Result<bool, PgError> {
        let mut asked = !ask;
        while !done(self) {
            let Some(s) = self.server.as_mut() else {
                return Ok(false);
            };
            if !asked {
                // A Flush has no reply of its own.
                let mut out = BytesMut::new();
                backend::raw_message(b'H', &[], &mut out);
                s.server.conn.queue(&out);
                asked = true;
            }
            if let Err(e) = s.server.conn.flush().await {
                self.lost(&e.to_string()).await?;
                return Ok(false);
            }
            match s.server.conn.read_frame().await {
                Ok(Some(frame)) => {
                    let handled = self.on_server(frame, clock());
                    self.carried(handled).await?;
                    self.carry_out().await?;
                }
                Ok(None) => {
                    self.lost("closed by the server").await?;
                    return Ok(false);
                }
                Err(e) => {
                    self.lost(&e.to_string()).await?;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The client is gone or said Terminate: leave its server clean or close it.
    pub(super) async fn finish(&mut self) {
        self.now = clock();
        self.flush_audit_all(sqlstate::CONNECTION_FAILURE);
        // Only audit records are left to carry out; a lost client changes nothing here.
        let _ = self.carry_out().await;
        self.clear_cancel_target().await;
        let Some(mut pooled) = self.server.take() else {
            self.client.shutdown().await;
            return;
        };
        // A nextval survives a rollback: what the unit may have set stays this (departed)
        // session's, nobody else's own.
        if self.unit.sets_sequences {
            pooled.server.sequence_user = self.id;
        }
        let reusable =
            self.sync.at_rest() && !self.replies.owes() && !pooled.server.conn.has_frame();
        if reusable {
            let mut ok = true;
            if self.sync.tx_status != b'I' {
                ok = matches!(pooled.server.run_internal("ROLLBACK").await, Ok(b'I'));
            }
            if ok && (self.mode == PoolMode::Session || pooled.server.dirty) {
                ok = attach::reset(&mut pooled.server).await;
            }
            if ok {
                pooled.pool.clone().release(pooled);
            } else {
                tokio::spawn(pooled.server.terminate());
            }
        } else {
            tokio::spawn(pooled.server.terminate());
        }
        self.client.shutdown().await;
    }
}

/// The relay's clock: tokio's, which is std's own unless a test paused it (the session's
/// scripted-frame tests run on virtual time).
fn clock() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn read_server(
    server: &mut Option<PooledServer>,
) -> Result<Option<crate::protocol::Frame>, crate::protocol::FrameError> {
    match server {
        Some(s) => s.server.conn.read_frame().await,
        None => std::future::pending().await,
    }
}

/// Whether a limit's deadline has come at `now` (a timer armed early wakes before it).
fn due(deadline: Option<tokio::time::Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d.into_std() <= now)
}

/// Whether a timer armed for `armed` must be moved to `want`: it would fire late, or more
/// than `slack` early.
pub(super) fn rearm(
    armed: Option<tokio::time::Instant>,
    want: tokio::time::Instant,
    slack: Duration,
) -> bool {
    armed.is_none_or(|a| want < a || want > a + slack)
}
