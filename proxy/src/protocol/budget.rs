//! Memory held by large client messages, across all clients. Past a free allowance per
//! connection (what ordinary messages need), the bytes a client's message holds are charged
//! to one process-wide budget (`[listen] large_message_memory_mib`), from its first bytes
//! until the session is done with it (a message waiting for a server keeps its charge): many
//! clients sending large messages, slowly or while the pool is busy, cannot together exhaust
//! pgward's memory, where each alone is bounded only by the 128 MiB message limit. A message
//! that would go past the budget ends its client with 53200 (out of memory), as PostgreSQL
//! answers a message it cannot allocate for.
//!
//! The named statements clients keep (texts, decisions, transaction mode's copies) are
//! charged the same way to a budget of their own (`[listen] kept_statement_memory_mib`): a
//! Parse that would pass it is refused with 53200, the session goes on.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Read-buffer bytes a connection holds without a charge.
pub const FREE_PER_CONNECTION: usize = 1024 * 1024;

/// The budget's default, in MiB.
pub const DEFAULT_LIMIT_MIB: usize = 1024;

/// The kept-statement budget's default, in MiB.
pub const DEFAULT_KEPT_MIB: usize = 1024;

/// Bytes one process may hold for one purpose, over all connections.
#[derive(Debug)]
pub struct Budget {
    limit: AtomicUsize,
    used: AtomicUsize,
}

/// Large client messages.
pub static LARGE_MESSAGES: Budget = Budget::new(DEFAULT_LIMIT_MIB << 20);

/// Clients' kept named statements.
pub static KEPT_STATEMENTS: Budget = Budget::new(DEFAULT_KEPT_MIB << 20);

impl Budget {
    pub const fn new(limit: usize) -> Budget {
        Budget {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
        }
    }

    /// The limit in bytes (from the configuration; a reload changes it for later charges).
    pub fn set_limit(&self, bytes: usize) {
        self.limit.store(bytes, Ordering::Relaxed);
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// A charge against this budget, holding nothing yet.
    pub fn charge(&'static self) -> Charge {
        Charge {
            budget: self,
            bytes: 0,
        }
    }
}

/// The budget would be exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted;

/// One connection's charge, given back when it shrinks or is dropped.
#[derive(Debug)]
pub struct Charge {
    budget: &'static Budget,
    bytes: usize,
}

/// A large-message charge.
impl Default for Charge {
    fn default() -> Charge {
        LARGE_MESSAGES.charge()
    }
}

impl Charge {
    /// Hold exactly `bytes` (more or less than now); refused when more would pass the
    /// budget, leaving the charge as it was.
    pub fn set(&mut self, bytes: usize) -> Result<(), Exhausted> {
        self.set_within(bytes, self.budget.limit.load(Ordering::Relaxed))
    }

    fn set_within(&mut self, bytes: usize, limit: usize) -> Result<(), Exhausted> {
        // Unchanged (most Parses of a client within its free allowance): no shared write.
        if bytes == self.bytes {
            return Ok(());
        }
        if bytes < self.bytes {
            (self.budget.used).fetch_sub(self.bytes - bytes, Ordering::Relaxed);
            self.bytes = bytes;
            return Ok(());
        }
        let more = bytes - self.bytes;
        let used = &self.budget.used;
        used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            used.checked_add(more).filter(|total| *total <= limit)
        })
        .map_err(|_| Exhausted)?;
        self.bytes = bytes;
        Ok(())
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Move `bytes` of this charge (at most all of it) to a charge of its own, for memory
    /// that now lives elsewhere (a frame taken from the read buffer).
    pub fn split_off(&mut self, bytes: usize) -> Charge {
        let moved = bytes.min(self.bytes);
        self.bytes -= moved;
        Charge {
            budget: self.budget,
            bytes: moved,
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let _ = self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_bounded_together_and_given_back() {
        // Other tests may set the global limit: this one names its own (charges still add
        // up in the one counter, which no other unit test charges).
        let limit = LARGE_MESSAGES.used() + (10 << 20);
        let before = LARGE_MESSAGES.used();
        let mut a = Charge::default();
        let mut b = Charge::default();
        assert_eq!(a.set_within(6 << 20, limit), Ok(()));
        assert_eq!(
            b.set_within(5 << 20, limit),
            Err(Exhausted),
            "6 + 5 MiB passes 10"
        );
        assert_eq!(b.bytes(), 0, "a refused charge holds nothing");
        assert_eq!(b.set_within(4 << 20, limit), Ok(()));
        assert_eq!(LARGE_MESSAGES.used() - before, 10 << 20);
        // A part moved to a charge of its own stays counted until that one goes.
        let moved = a.split_off(2 << 20);
        assert_eq!((a.bytes(), moved.bytes()), (4 << 20, 2 << 20));
        assert_eq!(LARGE_MESSAGES.used() - before, 10 << 20);
        drop(moved);
        assert_eq!(
            b.set_within(6 << 20, limit),
            Ok(()),
            "giving back made room"
        );
        drop(a);
        drop(b);
        assert_eq!(LARGE_MESSAGES.used(), before);
    }
}
