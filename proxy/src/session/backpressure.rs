//! Back-pressure on a client that sends faster than its server answers. Each message pgward
//! forwards leaves state behind until it is answered (its place in the reply queue, its audit
//! record, its answer queued for the client), hundreds of bytes for a six-byte empty Query;
//! a client that pipelines without reading would otherwise turn megabytes sent into
//! gigabytes held. Past a bound pgward stops taking the client's messages until the server
//! has answered enough of them, as PostgreSQL stops reading a client it cannot write to.

use super::*;

/// Messages whose answers may be owed at once.
const MAX_OWED: usize = 8192;

/// Bytes of answers queued for a client before pgward waits for it to read them.
const MAX_QUEUED_FOR_CLIENT: usize = 1 << 20;

impl Session {
    /// Whether the client's next message must wait for answers to the ones before it.
    pub(super) fn backpressured(&self) -> bool {
        // In COPY FROM STDIN the server waits for the client's data, which owes nothing;
        // after its batch failed, the client's messages up to its Sync are dropped unsent (and
        // the Sync must be read: it is what ends the failed batch's entries).
        if self.copy_in || self.skipping {
            return false;
        }
        self.replies.entries_len() >= MAX_OWED || self.client_queue_full()
    }

    /// Enough is queued for the client that pgward waits for it to read before going on.
    fn client_queue_full(&self) -> bool {
        self.client.queued() >= MAX_QUEUED_FOR_CLIENT
    }

    /// The open batch failed on the server and the client has sent no Sync yet: the server
    /// skips whatever comes until that Sync, so pgward drops it unsent and keeps nothing of it
    /// (as it does after refusing a message itself).
    pub(super) fn skip_with_failed_batch(&mut self) {
        if self.replies.skipping_to_sync() {
            self.skipping = true;
        }
    }

    /// While the client waits, a batch it sent with neither Sync nor Flush would keep its
    /// answers in the server: ask for them with a Flush of pgward's own (it has no reply).
    pub(super) fn ask_for_held_answers(&mut self) {
        if !self.sync.flush_owed() || !self.replies.owes() {
            return;
        }
        if let Some(s) = self.server.as_mut() {
            let mut out = BytesMut::new();
            backend::raw_message(b'H', &[], &mut out);
            s.server.conn.queue(&out);
            self.sync.sent_flush();
        }
    }
}
