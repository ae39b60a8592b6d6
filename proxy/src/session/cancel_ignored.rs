//! When PostgreSQL does not act on pgward's statement-timeout cancel. It checks for a
//! cancel only between rows and while it waits for locks or sleeps: a COPY FROM STDIN fed one
//! endless line, or a backend blocked writing rows to a client that does not read them, runs
//! on with its transaction and locks. A moment after its cancel pgward closes that server
//! connection (PostgreSQL then rolls the transaction back) and ends the client's session with
//! 57014, as PgBouncer's `query_timeout` does.

use super::timers::CANCEL_IGNORED_AFTER;
use super::*;

impl Session {
    /// When to close a server that ignored the cancel (`None`: no cancel outstanding).
    pub(super) fn cancel_ignored_deadline(&self) -> Option<tokio::time::Instant> {
        self.timers
            .cancel_ignored_deadline(self.replies.owes())
            .map(tokio::time::Instant::from_std)
    }

    /// Write what is queued for the client, but not past the statement clocks: `Some(flow)`
    /// when a clock ran out first (and was acted on).
    pub(super) async fn flush_client_until_deadline(&mut self) -> std::io::Result<Option<Flow>> {
        let deadline = [
            self.statement_deadline(self.now),
            self.cancel_ignored_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(deadline) = deadline else {
            self.client.flush().await?;
            return Ok(None);
        };
        match tokio::time::timeout_at(deadline, self.client.flush()).await {
            Ok(done) => done.map(|()| None),
            Err(_) => {
                self.now = tokio::time::Instant::now().into_std();
                let flow = if self.cancel_ignored_deadline().is_some() {
                    self.cancel_ignored()
                } else {
                    self.statement_timeout_backstop()
                };
                Ok(Some(flow))
            }
        }
    }

    /// The server went on after pgward's cancel: close it, and the client's session.
    pub(super) fn cancel_ignored(&mut self) -> Flow {
        tracing::warn!(
            session = self.id,
            after_ms = CANCEL_IGNORED_AFTER.as_millis() as u64,
            "the server did not act on pgward's cancel; closing its connection"
        );
        if let Some(pooled) = self.server.take() {
            let (pool, pid) = (pooled.pool.clone(), pooled.server.cancel.pid);
            self.outbox.push(super::outbox::Event::CloseServer(pooled));
            self.outbox
                .push(super::outbox::Event::TerminateBackend(pool, pid));
        }
        let err = cancel_ignored_error();
        // A client that does not read gets the connection closed without more bytes (a
        // message cut in the middle would be worse than none).
        if self.client.queued() > 0 {
            self.client.discard_queued();
        } else {
            let mut out = BytesMut::new();
            backend::error_response(&err, &mut out);
            self.client.queue(&out);
            self.outbox.push(super::outbox::Event::FlushClientWithin(
                Duration::from_secs(1),
            ));
        }
        Flow::Stop
    }
}

/// Sleep until `at`, or forever when there is no deadline.
pub(super) async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What ends a session whose server ignored the statement-timeout cancel.
pub(super) fn cancel_ignored_error() -> PgError {
    PgError::fatal(
        sqlstate::QUERY_CANCELED,
        "pgward: canceling statement due to statement timeout",
    )
    .with_detail("the server did not act on the cancel; its connection was closed")
}
