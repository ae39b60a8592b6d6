//! The slots without a server: FIFO hand-over, the sweeper's timeout, a wait dropped while
//! granted, PAUSE, and resizing, on tokio's paused clock.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use super::super::{Pool, PoolError, PoolKey};
use crate::config::{PoolMode, PoolSettings, SessionStatePolicy};
use crate::server::ConnectSpec;
use crate::tls::UpstreamTlsMode;

fn settings(size: usize, timeout_ms: Option<u64>) -> PoolSettings {
    PoolSettings {
        mode: PoolMode::Transaction,
        size,
        checkout_timeout: timeout_ms.map(Duration::from_millis),
        idle_timeout: None,
        lifetime: None,
        max_prepared_statements: 0,
        on_session_state: SessionStatePolicy::Pin,
    }
}

fn spec() -> ConnectSpec {
    ConnectSpec {
        host: "127.0.0.1".into(),
        port: 1,
        tls_mode: UpstreamTlsMode::Disable,
        tls: None,
        connect_timeout: None,
        user: "u".into(),
        password: None,
        database: "d".into(),
        params: Vec::new(),
    }
}

fn pool(size: usize, timeout_ms: Option<u64>) -> Arc<Pool> {
    let key = PoolKey {
        database: "d".into(),
        login: "u".into(),
        read_only: false,
        statement_timeout_ms: None,
    };
    Pool::new(
        key,
        spec(),
        settings(size, timeout_ms),
        Arc::new(AtomicU64::new(1)),
        Arc::default(),
    )
}

/// Polls once (with the test task's waker): still waiting?
async fn pending<F: Future + Unpin>(f: &mut F) -> bool {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx).is_pending())).await
}

/// Takes a free slot the way a checkout does.
fn take(pool: &Arc<Pool>) -> Option<super::Slot> {
    pool.slots().take_free().then(|| pool.slot())
}

#[tokio::test(start_paused = true)]
async fn a_freed_slot_goes_to_the_first_waiter_in_line() {
    let pool = pool(1, Some(1000));
    let held = take(&pool).expect("a free slot");
    assert!(take(&pool).is_none());
    let mut first = Box::pin(pool.wait_for_slot(Some(Duration::from_secs(1))));
    let mut second = Box::pin(pool.wait_for_slot(Some(Duration::from_secs(1))));
    assert!(pending(&mut first).await);
    assert!(pending(&mut second).await);
    tokio::time::advance(Duration::from_millis(5)).await;
    drop(held);
    let (slot, waited) = first.await.expect("the first waiter is served");
    assert_eq!(waited, Duration::from_millis(5));
    assert!(pending(&mut second).await);
    drop(slot);
    assert!(second.await.is_ok());
    assert_eq!(pool.stats().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_the_checkout_timeout_fails_and_leaves_the_queue() {
    let pool = pool(1, Some(200));
    let _held = take(&pool).expect("a free slot");
    let started = tokio::time::Instant::now();
    let got = pool.wait_for_slot(Some(Duration::from_millis(200))).await;
    assert!(matches!(got, Err(PoolError::Timeout(t)) if t == Duration::from_millis(200)));
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    assert_eq!(pool.stats().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn a_later_shorter_deadline_is_kept_too() {
    let pool = pool(1, Some(10_000));
    let _held = take(&pool).expect("a free slot");
    let long = pool.wait_for_slot(Some(Duration::from_secs(10)));
    let started = tokio::time::Instant::now();
    let short = pool.wait_for_slot(Some(Duration::from_millis(100))).await;
    assert!(short.is_err());
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert!(long.await.is_err());
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_wait_dropped_after_its_grant_passes_the_slot_on() {
    let pool = pool(1, None);
    let held = take(&pool).expect("a free slot");
    let first = pool.wait_for_slot(None);
    let mut second = Box::pin(pool.wait_for_slot(None));
    assert!(pending(&mut second).await);
    drop(held); // granted to `first`, which is never polled again
    drop(first);
    let got = tokio::time::timeout(Duration::from_secs(1), second).await;
    assert!(
        matches!(got, Ok(Ok(_))),
        "the slot went on to the second waiter"
    );
    // And a wait dropped before any grant leaves the queue.
    let _again = take(&pool);
    let queued = pool.wait_for_slot(None);
    assert_eq!(pool.stats().waiting, 1);
    drop(queued);
    assert_eq!(pool.stats().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn pause_holds_waiters_and_their_clock_starts_at_resume() {
    let pool = pool(1, Some(100));
    let _held = take(&pool).expect("a free slot");
    // One queued before PAUSE, one during it: neither times out while paused.
    let mut before = Box::pin(pool.wait_for_slot(Some(Duration::from_millis(100))));
    assert!(pending(&mut before).await);
    pool.pause();
    let mut during = Box::pin(pool.wait_for_slot(Some(Duration::from_millis(100))));
    assert!(pending(&mut during).await);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(pending(&mut before).await, "no timeout while paused");
    assert!(pending(&mut during).await, "no timeout while paused");
    let resumed = tokio::time::Instant::now();
    pool.resume();
    assert!(matches!(before.await, Err(PoolError::Timeout(_))));
    assert_eq!(resumed.elapsed(), Duration::from_millis(100));
    assert!(during.await.is_err());
    assert_eq!(resumed.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn paused_waiters_are_served_at_resume_not_before() {
    let pool = pool(1, Some(100));
    let held = take(&pool).expect("a free slot");
    pool.pause();
    let mut wait = Box::pin(pool.wait_for_slot(Some(Duration::from_millis(100))));
    drop(held);
    // A grown pool while paused serves nobody and starts no clock either.
    pool.reconfigure(spec(), settings(2, Some(100)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(pending(&mut wait).await);
    assert!(take(&pool).is_none(), "PAUSE holds new checkouts too");
    pool.resume();
    let got = tokio::time::timeout(Duration::from_millis(1), wait).await;
    assert!(matches!(got, Ok(Ok(_))), "served at RESUME");
}

#[tokio::test(start_paused = true)]
async fn a_shrink_retires_held_slots_and_a_grow_serves_waiters() {
    let pool = pool(2, None);
    let a = take(&pool).expect("first slot");
    let b = take(&pool).expect("second slot");
    pool.reconfigure(spec(), settings(1, None));
    drop(a); // retired
    assert!(take(&pool).is_none());
    drop(b);
    let c = take(&pool).expect("the one slot left");
    let mut wait = Box::pin(pool.wait_for_slot(None));
    assert!(pending(&mut wait).await);
    pool.reconfigure(spec(), settings(2, None));
    let got = tokio::time::timeout(Duration::from_secs(1), wait).await;
    let _d = got
        .expect("served at once")
        .expect("the added slot serves the waiter");
    assert_eq!(pool.stats().available_slots, 0);
    drop(c);
    assert_eq!(pool.stats().available_slots, 1);
}
