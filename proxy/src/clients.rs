//! The registry of connected clients, for the admin console (SHOW CLIENTS, KILL_CLIENT), the
//! metrics (clients by state) and the disconnect log line.
//!
//! The listener registers a client after it logs in and runs its session inside
//! [`CURRENT_CLIENT`]'s scope, so code on the session's task (the pool's checkout) can say
//! which client it works for without the session passing it along.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use atomic_waker::AtomicWaker;
use dashmap::DashMap;

tokio::task_local! {
    /// The client whose session runs on this task.
    pub static CURRENT_CLIENT: Arc<ClientEntry>;
}

/// The client on this task, if any.
pub fn current() -> Option<Arc<ClientEntry>> {
    CURRENT_CLIENT.try_with(|c| c.clone()).ok()
}

/// What a client is doing, as PgBouncer names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ClientState {
    /// Logged in, holds no server.
    Idle = 0,
    /// Waiting for a server from its pool.
    Waiting = 1,
    /// Holds a server (a transaction, or the whole session in session mode).
    Active = 2,
}

impl ClientState {
    pub fn name(self) -> &'static str {
        match self {
            ClientState::Idle => "idle",
            ClientState::Waiting => "waiting",
            ClientState::Active => "active",
        }
    }

    fn from_u8(v: u8) -> ClientState {
        match v {
            1 => ClientState::Waiting,
            2 => ClientState::Active,
            _ => ClientState::Idle,
        }
    }
}

/// Why a client's session was ended from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EndReason {
    /// KILL_CLIENT from the admin console.
    Killed = 1,
    /// The shutdown grace period ran out.
    Shutdown = 2,
}

impl EndReason {
    fn from_u8(v: u8) -> Option<EndReason> {
        match v {
            1 => Some(EndReason::Killed),
            2 => Some(EndReason::Shutdown),
            _ => None,
        }
    }
}

/// One logged-in client.
#[derive(Debug)]
pub struct ClientEntry {
    pub id: u64,
    pub user: String,
    pub role: String,
    pub database: String,
    pub peer: SocketAddr,
    pub application_name: String,
    pub tls: bool,
    pub admin: bool,
    pub connected_at: SystemTime,
    pub started: Instant,
    state: AtomicU8,
    /// The server it holds (pool-wide id), 0 for none.
    server: AtomicU64,
    /// Statements judged for it (allowed and denied).
    pub statements: AtomicU64,
    /// Transactions: servers checked out for it.
    pub transactions: AtomicU64,
    /// Why it was ended from outside (an [`EndReason`]; 0: it was not).
    end: AtomicU8,
    /// The task waiting in [`ClientEntry::ended`]. Not a `Notify`: that future is polled at
    /// every wake-up of the client's task, and a `Notify` takes a lock on each poll.
    ended: AtomicWaker,
    /// Why the client keeps its server between transactions, if it does.
    pin: Mutex<Option<&'static str>>,
    /// Its pool (None for admin console clients).
    pub pool: Option<Arc<crate::pool::Pool>>,
    /// A second handle on the client's socket, for its byte counts after the session closed
    /// its own (only while descriptors are plentiful: see [`ClientRegistry::may_dup`]).
    socket: Option<socket2::Socket>,
    /// The session's own descriptor: valid only while its session future is alive.
    raw_fd: std::os::fd::RawFd,
}

/// Bytes a socket has received and sent (acknowledged), from the kernel's TCP_INFO.
#[derive(Clone, Copy, Debug, Default)]
pub struct ByteCounts {
    pub received: u64,
    pub sent: u64,
}

impl ClientEntry {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        user: String,
        role: String,
        database: String,
        peer: SocketAddr,
        application_name: String,
        tls: bool,
        admin: bool,
        socket: Option<socket2::Socket>,
        raw_fd: std::os::fd::RawFd,
        pool: Option<Arc<crate::pool::Pool>>,
    ) -> ClientEntry {
        ClientEntry {
            id,
            user,
            role,
            database,
            peer,
            application_name,
            tls,
            admin,
            connected_at: SystemTime::now(),
            started: Instant::now(),
            state: AtomicU8::new(ClientState::Idle as u8),
            server: AtomicU64::new(0),
            statements: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            end: AtomicU8::new(0),
            ended: AtomicWaker::new(),
            pin: Mutex::new(None),
            pool,
            socket,
            raw_fd,
        }
    }

    pub fn state(&self) -> ClientState {
        ClientState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub fn set_state(&self, s: ClientState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    pub fn server(&self) -> Option<u64> {
        Some(self.server.load(Ordering::Relaxed)).filter(|s| *s != 0)
    }

    /// A server was checked out for this client.
    pub fn attach(&self, server_id: u64) {
        self.server.store(server_id, Ordering::Relaxed);
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.set_state(ClientState::Active);
    }

    /// Its server went back to the pool or was closed.
    pub fn detach(&self, server_id: u64) {
        let _ = self
            .server
            .compare_exchange(server_id, 0, Ordering::Relaxed, Ordering::Relaxed);
        if self.server().is_none() {
            self.set_state(ClientState::Idle);
        }
    }

    /// Mark the client pinned to its server (session mode, or session state in transaction
    /// mode: temp tables, session locks, LISTEN, ...). Hook for the session.
    pub fn set_pin(&self, reason: Option<&'static str>) {
        if let Ok(mut p) = self.pin.lock() {
            *p = reason;
        }
    }

    /// Why it holds a server outside a transaction, while it holds one.
    pub fn pin_reason(&self) -> Option<&'static str> {
        self.server()?;
        self.pin.lock().ok().and_then(|p| *p)
    }

    /// Ask the listener to stop this client's session (the first reason given stands).
    pub fn end(&self, reason: EndReason) {
        let _ = self
            .end
            .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire);
        self.ended.wake();
    }

    /// Wait until [`ClientEntry::end`] is called; returns why. One task waits at a time (the
    /// client's own).
    pub fn ended(&self) -> impl std::future::Future<Output = EndReason> + '_ {
        crate::wake::until(&self.ended, move || {
            EndReason::from_u8(self.end.load(Ordering::Acquire))
        })
    }

    pub fn bytes(&self) -> ByteCounts {
        self.socket.as_ref().map(tcp_bytes).unwrap_or_default()
    }

    /// Best effort: tell a plain-TCP client why it is being disconnected. The caller keeps the
    /// stopped (no longer polled) session future alive until this returns, so the descriptor
    /// is still the client's and no other writer is mid-message.
    pub fn send_final(&self, message: &[u8]) {
        if self.tls {
            return;
        }
        // SAFETY: `raw_fd` is open (its owner, the session future, is alive and not being
        // polled) and `message` is a valid buffer of `len` bytes. MSG_DONTWAIT: never block.
        unsafe {
            libc::send(
                self.raw_fd,
                message.as_ptr().cast(),
                message.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            );
        }
    }
}

/// The kernel's byte counters for a TCP socket (zero when unavailable).
fn tcp_bytes(socket: &socket2::Socket) -> ByteCounts {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain old data; getsockopt writes at most `len` bytes into it and
    // the fd is owned by `socket` for the duration of the call.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        if rc != 0 {
            return ByteCounts::default();
        }
        ByteCounts {
            received: info.tcpi_bytes_received,
            sent: info.tcpi_bytes_acked,
        }
    }
}

/// Every logged-in client, by session id.
#[derive(Default)]
pub struct ClientRegistry {
    /// Clients open below this count get a second descriptor (byte counts at disconnect);
    /// a third of RLIMIT_NOFILE leaves room for their sockets and the servers.
    dup_below: usize,
    clients: DashMap<u64, Arc<ClientEntry>>,
    /// Bytes of clients that have left (the totals for the metrics).
    closed_received: AtomicU64,
    closed_sent: AtomicU64,
}

impl ClientRegistry {
    pub fn new() -> ClientRegistry {
        ClientRegistry {
            dup_below: nofile_limit() / 3,
            ..ClientRegistry::default()
        }
    }

    /// Whether a client connecting now may hold a second descriptor.
    pub fn may_dup(&self, clients_open: usize) -> bool {
        clients_open < self.dup_below
    }

    pub fn insert(&self, entry: Arc<ClientEntry>) {
        self.clients.insert(entry.id, entry);
    }

    /// Forget a client; returns its final byte counts.
    pub fn remove(&self, id: u64) -> ByteCounts {
        let Some((_, e)) = self.clients.remove(&id) else {
            return ByteCounts::default();
        };
        let b = e.bytes();
        if let Some(p) = &e.pool {
            p.add_client_bytes(b.received, b.sent);
        }
        self.closed_received
            .fetch_add(b.received, Ordering::Relaxed);
        self.closed_sent.fetch_add(b.sent, Ordering::Relaxed);
        b
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientEntry>> {
        self.clients.get(&id).map(|e| e.clone())
    }

    /// All clients, oldest first.
    pub fn list(&self) -> Vec<Arc<ClientEntry>> {
        let mut v: Vec<_> = self.clients.iter().map(|e| e.clone()).collect();
        v.sort_by_key(|e| e.id);
        v
    }

    /// Bytes received from and sent to clients since start.
    pub fn total_bytes(&self) -> ByteCounts {
        let mut t = ByteCounts {
            received: self.closed_received.load(Ordering::Relaxed),
            sent: self.closed_sent.load(Ordering::Relaxed),
        };
        for e in self.clients.iter() {
            let b = e.bytes();
            t.received += b.received;
            t.sent += b.sent;
        }
        t
    }

    /// Count one judged statement for a session.
    pub fn note_statement(&self, session: u64) {
        // On the session's own task its entry is at hand, without a lookup in the map.
        let counted = CURRENT_CLIENT.try_with(|e| {
            if e.id != session {
                return false;
            }
            e.statements.fetch_add(1, Ordering::Relaxed);
            if let Some(p) = &e.pool {
                p.note_query();
            }
            true
        });
        if counted == Ok(true) {
            return;
        }
        if let Some(e) = self.clients.get(&session) {
            e.statements.fetch_add(1, Ordering::Relaxed);
            if let Some(p) = &e.pool {
                p.note_query();
            }
        }
    }
}

/// The soft limit on open descriptors (1024 when it cannot be read).
fn nofile_limit() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct it is given.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 {
        return 1024;
    }
    usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
}
