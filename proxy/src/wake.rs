//! Waiting for a condition another task sets, without a lock per poll: the waiter looks,
//! registers its waker, and looks again, so a setter that stores and then wakes is never
//! missed (its wake may come before the registration). One waiting task per waker.

use std::future::Future;
use std::task::Poll;

use atomic_waker::AtomicWaker;

/// Resolves with what `check` returns once it returns something; `waker` must be woken
/// after whatever `check` reads is stored.
pub fn until<'a, T>(
    waker: &'a AtomicWaker,
    check: impl Fn() -> Option<T> + 'a,
) -> impl Future<Output = T> + 'a {
    std::future::poll_fn(move |cx| {
        if let Some(v) = check() {
            return Poll::Ready(v);
        }
        waker.register(cx.waker());
        // Set between the first look and the registration: its wake found no waker.
        match check() {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    })
}
