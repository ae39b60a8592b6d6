//! Transaction mode: the server kept between transactions while nobody else needs it
//! (`pool/hold.rs`), so an uncontended client's next transaction costs no checkout, and
//! given back as soon as the pool calls it back.

use tokio::sync::watch;

use super::*;

/// Which server the client had last, and whether it still holds it between transactions.
#[derive(Default)]
pub(super) struct Affinity {
    /// The backend pid of the server this client last gave back (0: none): its next
    /// checkout takes that one when it is idle, so an uncontended client keeps its server.
    pub last_backend: i32,
    /// The pool's call-backs, while the attached server is held between transactions.
    pub held: Option<watch::Receiver<u64>>,
}

impl Session {
    /// A transaction ended and the server may go back: keep it instead while nobody waits
    /// for one. True when kept.
    pub(super) fn hold_server(&mut self) -> bool {
        let Some(s) = self.server.as_mut() else {
            return false;
        };
        if s.server.conn.queued() > 0 || s.server.conn.has_frame() {
            return false;
        }
        // Subscribed before the check: a waiter that comes after it is seen.
        let mut call_backs = s.pool.call_backs();
        call_backs.borrow_and_update();
        if s.pool.wants_back(&s.server) {
            return false;
        }
        s.hold();
        self.affinity.held = Some(call_backs);
        true
    }

    /// The attached server serves the client's next transaction.
    pub(super) fn renew_held(&mut self) {
        if self.affinity.held.take().is_some() {
            if let Some(s) = self.server.as_mut() {
                s.renew();
            }
        }
    }

    /// Held, and nothing of a transaction under way on it.
    pub(super) fn between_transactions(&self) -> bool {
        self.affinity.held.is_some()
            && self.pinned.is_none()
            && self.sync.releasable(self.replies.owes())
            && self
                .server
                .as_ref()
                .is_some_and(|s| s.server.conn.queued() == 0)
    }

    /// The pool called held servers back.
    pub(super) async fn called_back(&mut self) -> Flow {
        let wanted = self
            .server
            .as_ref()
            .is_some_and(|s| s.pool.wants_back(&s.server));
        if wanted && self.between_transactions() {
            self.detach().await;
        }
        Flow::Continue
    }

    /// The held server spoke between transactions (closed, terminated by an administrator):
    /// it is closed, and the client, which had nothing running there, never hears of it.
    pub(super) async fn drop_held_server(&mut self) -> Flow {
        self.affinity.held = None;
        self.affinity.last_backend = 0;
        self.clear_cancel_target().await;
        self.prepared.clear();
        if let Some(pooled) = self.server.take() {
            tracing::debug!(
                session = self.id,
                "a held server spoke between transactions: closed"
            );
            tokio::spawn(pooled.server.terminate());
        }
        Flow::Continue
    }
}

/// The pool's next call-back; never while nothing is held.
pub(super) async fn call_back(held: &mut Option<watch::Receiver<u64>>) {
    match held {
        Some(rx) => {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}
