//! A pool's slots: how many servers may be held at once, who waits for one, and the idle
//! servers, all under one lock, so a checkout or a release takes it once. A slot given back
//! while clients wait goes straight to the first of them (FIFO), and their checkout timeout is
//! kept by one sweeper task per pool while anyone waits, not by a timer per wait: a
//! transaction-mode checkout under contention is a queue entry and a wake-up.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use super::{IdleServer, Pool, PoolError};

/// Everything a checkout or a release decides on.
pub(super) struct Slots {
    pub(super) idle: Vec<IdleServer>,
    /// Slots free to take (a queued waiter is served before any is counted here).
    pub(super) available: usize,
    /// Slots to retire as they come back (the pool shrank while they were held).
    pub(super) retiring: usize,
    /// PAUSE: nobody is given a slot until RESUME.
    pub(super) paused: bool,
    pub(super) waiters: VecDeque<Waiting>,
    /// When the sweeper wakes next; `None`: no sweeper runs.
    sweep_at: Option<Instant>,
}

/// A client in the queue.
pub(super) struct Waiting {
    waiter: Arc<Waiter>,
    pub(super) since: Instant,
    /// `None` while paused (the checkout timeout starts at RESUME) or without a timeout.
    deadline: Option<Instant>,
    /// The checkout timeout the deadline was set from (what a timed-out client is told).
    timeout: Option<Duration>,
}

#[derive(Default)]
struct Waiter {
    state: Mutex<WaitState>,
}

#[derive(Default)]
enum WaitState {
    #[default]
    Queued,
    Parked(Waker),
    /// A slot is this waiter's, after waiting this long.
    Granted(Duration),
    /// Past its checkout timeout (this one).
    Expired(Duration),
    /// The wait's outcome has been taken.
    Done,
}

/// A held slot: given back (to the first waiter, else to the free count) when dropped.
pub(super) struct Slot {
    pool: Arc<Pool>,
    /// Not yet given back by [`Slot::release_with`].
    held: bool,
}

impl Slot {
    /// The slot and its server back in one step: the server idle, the slot on down the line.
    pub(super) fn release_with(mut self, server: IdleServer) {
        self.held = false;
        let woken = {
            let mut slots = self.pool.slots();
            slots.idle.push(server);
            slots.hand_on()
        };
        wake(woken);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.held {
            let woken = self.pool.slots().hand_on();
            wake(woken);
        }
    }
}

impl Slots {
    pub(super) fn new(size: usize) -> Slots {
        Slots {
            idle: Vec::new(),
            available: size,
            retiring: 0,
            paused: false,
            waiters: VecDeque::new(),
            sweep_at: None,
        }
    }

    /// A slot at once: free, nobody queued before, not paused.
    pub(super) fn take_free(&mut self) -> bool {
        let free = !self.paused && self.available > 0 && self.waiters.is_empty();
        if free {
            self.available -= 1;
        }
        free
    }

    /// A slot came back: retired if the pool shrank, else the first waiter's, else free.
    /// Returns the waiter to wake (after the lock is let go).
    #[must_use]
    pub(super) fn hand_on(&mut self) -> Option<Waker> {
        if self.retiring > 0 {
            self.retiring -= 1;
            return None;
        }
        self.available += 1;
        self.grant_waiting()
    }

    /// A free slot to the first waiter in line, if there are both; the waker to call.
    fn grant_waiting(&mut self) -> Option<Waker> {
        if self.paused || self.available == 0 {
            return None;
        }
        let Waiting { waiter, since, .. } = self.waiters.pop_front()?;
        self.available -= 1;
        let mut state = lock(&waiter.state);
        let waited = Instant::now().saturating_duration_since(since);
        match std::mem::replace(&mut *state, WaitState::Granted(waited)) {
            WaitState::Parked(w) => Some(w),
            _ => None,
        }
    }

    /// Every slot `grant_waiting` can give (RESUME, a grown pool).
    #[must_use]
    pub(super) fn grant_all(&mut self) -> Vec<Waker> {
        let mut woken = Vec::new();
        while self.available > 0 && !self.paused && !self.waiters.is_empty() {
            woken.extend(self.grant_waiting());
        }
        woken
    }

    /// RESUME: the waiters' checkout timeout starts now.
    fn start_deadlines(&mut self, now: Instant, timeout: Option<Duration>) {
        for w in self.waiters.iter_mut().filter(|w| w.deadline.is_none()) {
            w.deadline = timeout.map(|t| now + t);
            w.timeout = timeout;
        }
    }

    /// PAUSE: nobody is served, and nobody's checkout timeout runs, until RESUME.
    pub(super) fn pause(&mut self) {
        self.paused = true;
        for w in self.waiters.iter_mut() {
            w.deadline = None;
        }
    }

    /// Expire the waiters past their deadline; the earliest deadline left, if any.
    fn expire(&mut self, now: Instant, woken: &mut Vec<Waker>) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        self.waiters.retain(|w| match w.deadline {
            Some(d) if d <= now => {
                let expired = WaitState::Expired(w.timeout.unwrap_or_default());
                let mut state = lock(&w.waiter.state);
                if let WaitState::Parked(k) = std::mem::replace(&mut *state, expired) {
                    woken.push(k);
                }
                false
            }
            Some(d) => {
                next = Some(next.map_or(d, |n| n.min(d)));
                true
            }
            None => true,
        });
        next
    }
}

impl Pool {
    pub(super) fn slots(&self) -> MutexGuard<'_, Slots> {
        lock(&self.slots)
    }

    /// A held slot's token (the caller took it under the lock).
    pub(super) fn slot(self: &Arc<Self>) -> Slot {
        Slot {
            pool: self.clone(),
            held: true,
        }
    }

    /// Queue for a slot; resolves with it (and how long the wait was) or the checkout timeout.
    pub(super) fn wait_for_slot(self: &Arc<Self>, timeout: Option<Duration>) -> SlotWait {
        let waiter = Arc::new(Waiter::default());
        let now = Instant::now();
        let mut slots = self.slots();
        let deadline = if slots.paused {
            None
        } else {
            timeout.map(|t| now + t)
        };
        slots.waiters.push_back(Waiting {
            waiter: waiter.clone(),
            since: now,
            deadline,
            timeout,
        });
        // Served at once if a slot came free since the caller looked.
        let woken = slots.grant_waiting();
        if let Some(d) = deadline {
            self.sweep_by(&mut slots, d);
        }
        drop(slots);
        wake(woken);
        SlotWait {
            pool: self.clone(),
            waiter,
            settled: false,
        }
    }

    /// RESUME (`resume`), or slots added: unless paused, start the waiters' clocks, serve
    /// whom the slots allow, and make sure a sweeper watches the deadlines.
    pub(super) fn serve_waiters(self: &Arc<Self>, timeout: Option<Duration>, resume: bool) {
        let now = Instant::now();
        let mut slots = self.slots();
        if resume {
            slots.paused = false;
        }
        if slots.paused {
            return;
        }
        slots.start_deadlines(now, timeout);
        let woken = slots.grant_all();
        if let Some(d) = slots.waiters.iter().filter_map(|w| w.deadline).min() {
            self.sweep_by(&mut slots, d);
        }
        drop(slots);
        woken.into_iter().for_each(Waker::wake);
    }

    /// A deadline `at` is watched: by the sweeper if it wakes by then, else by a new one
    /// (the one it replaces stands down when it wakes).
    fn sweep_by(self: &Arc<Self>, slots: &mut Slots, at: Instant) {
        if slots.sweep_at.is_some_and(|s| s <= at) {
            return;
        }
        tokio::spawn(sweep(self.clone(), at));
        slots.sweep_at = Some(at);
    }
}

/// One per pool while anyone waits with a deadline: wakes at the earliest and expires the
/// waiters past theirs.
async fn sweep(pool: Arc<Pool>, mut at: Instant) {
    loop {
        tokio::time::sleep_until(at).await;
        let mut woken = Vec::new();
        let next = {
            let mut slots = pool.slots();
            if slots.sweep_at != Some(at) {
                return; // another sweeper watches an earlier deadline
            }
            slots.sweep_at = slots.expire(Instant::now(), &mut woken);
            slots.sweep_at
        };
        woken.into_iter().for_each(Waker::wake);
        match next {
            Some(n) => at = n,
            None => return,
        }
    }
}

/// A queued checkout. Dropped before it resolves (the client went away or cancelled), it
/// leaves the queue; a slot it was granted meanwhile goes to the next in line.
pub(super) struct SlotWait {
    pool: Arc<Pool>,
    waiter: Arc<Waiter>,
    settled: bool,
}

impl Future for SlotWait {
    type Output = Result<(Slot, Duration), PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = lock(&this.waiter.state);
        let outcome = match std::mem::replace(&mut *state, WaitState::Done) {
            WaitState::Granted(waited) => Ok(waited),
            WaitState::Expired(timeout) => Err(PoolError::Timeout(timeout)),
            WaitState::Done => Err(PoolError::Timeout(Duration::ZERO)),
            WaitState::Parked(w) if w.will_wake(cx.waker()) => {
                *state = WaitState::Parked(w);
                return Poll::Pending;
            }
            WaitState::Queued | WaitState::Parked(_) => {
                *state = WaitState::Parked(cx.waker().clone());
                return Poll::Pending;
            }
        };
        drop(state);
        this.settled = true;
        Poll::Ready(outcome.map(|waited| (this.pool.slot(), waited)))
    }
}

impl Drop for SlotWait {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut slots = self.pool.slots();
        let queued = slots
            .waiters
            .iter()
            .position(|w| Arc::ptr_eq(&w.waiter, &self.waiter));
        let woken = match queued {
            Some(at) => {
                slots.waiters.remove(at);
                None
            }
            // Granted while it was being dropped: the slot goes on down the line.
            None => match std::mem::take(&mut *lock(&self.waiter.state)) {
                WaitState::Granted(_) => slots.hand_on(),
                _ => None,
            },
        };
        drop(slots);
        wake(woken);
    }
}

fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
#[path = "slots_tests.rs"]
mod tests;
