//! What a client's named statements may hold: its own bounds ([`KEPT_STATEMENTS`],
//! [`KEPT_BYTES`]) and its share of the process-wide budget for all clients' statements
//! (`[listen] kept_statement_memory_mib`, `budget::KEPT_STATEMENTS`), so that neither one
//! client nor many together can fill pgward's memory with statements.

use pgward_policy::Decision;

use super::super::replay::Replay;
use super::{name_key, Prepared, Space};
use crate::protocol::backend::PgError;
use crate::protocol::budget::{Budget, Charge, KEPT_STATEMENTS as KEPT_BUDGET};
use crate::sqlstate;

/// Named statements one client may hold at once (drivers' caches keep a few hundred).
pub const KEPT_STATEMENTS: usize = 10_000;

/// Bytes one client's named statements may hold (texts, decisions, transaction mode's
/// copies), so that no client can fill pgward's memory with statements it never closes.
pub const KEPT_BYTES: usize = 256 << 20;

/// Kept-statement bytes (as [`Kept`] estimates them) a client holds without a charge to
/// the process-wide budget.
pub const FREE_KEPT_BYTES: usize = 1 << 20;

/// What a client's statements hold: an estimate never below the truth (each Parse adds its
/// normalized text and twice its message: the text it is judged again from, transaction
/// mode's copy), counted exactly again whenever it has doubled since the last count or an
/// eighth of it was closed, and its charge to the process-wide budget for what passes
/// [`FREE_KEPT_BYTES`], given back when the client leaves.
#[derive(Debug)]
pub struct Kept {
    bytes: usize,
    recount_at: usize,
    /// Bytes of statements closed (or failed) since the last count.
    released: usize,
    /// Nothing was kept or released since the last count: counting again finds the same.
    exact: bool,
    charge: Charge,
    /// Exact counts made (for the tests).
    #[cfg(test)]
    counts: usize,
}

impl Default for Kept {
    fn default() -> Kept {
        Kept::charged_to(&KEPT_BUDGET)
    }
}

impl Kept {
    pub fn charged_to(budget: &'static Budget) -> Kept {
        Kept {
            bytes: 0,
            recount_at: FREE_KEPT_BYTES,
            released: 0,
            exact: true,
            charge: budget.charge(),
            #[cfg(test)]
            counts: 0,
        }
    }
}

/// Whether a Parse may keep its statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Room {
    Fits,
    /// Past the client's own bounds ([`KEPT_STATEMENTS`], [`KEPT_BYTES`]).
    TooMany,
    /// Past what all clients' statements may hold together.
    OutOfMemory,
}

impl Room {
    #[cfg(test)]
    pub fn fits(self) -> bool {
        self == Room::Fits
    }

    /// What the client is told when its Parse does not fit.
    pub fn refusal(self) -> Option<PgError> {
        let error = match self {
            Room::Fits => return None,
            Room::TooMany => PgError::error(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                "pgward: too many prepared statements on this connection",
            )
            .with_detail(format!(
                "pgward keeps at most {KEPT_STATEMENTS} named statements or {} MiB of them per client",
                KEPT_BYTES >> 20
            )),
            Room::OutOfMemory => PgError::error(
                sqlstate::OUT_OF_MEMORY,
                "pgward: out of memory for prepared statements",
            )
            .with_detail(
                "the named statements all clients keep would pass listen.kept_statement_memory_mib",
            ),
        };
        Some(error.with_hint("close statements the client no longer uses (Close, DEALLOCATE)"))
    }
}

/// What a Parse will hold once kept: see [`Kept`].
pub fn parse_weight(decision: &Decision, message_len: usize) -> usize {
    (decision.normalized.len()).saturating_add(message_len.saturating_mul(2))
}

impl Prepared {
    /// Whether a Parse of `name` that will hold `weight` bytes ([`parse_weight`]) fits the
    /// client's bounds and the process-wide budget.
    pub fn room_for(&mut self, name: &str, weight: usize) -> Room {
        let name = &*name_key(name);
        // A live name is the server's 42P05: nothing new is kept.
        if !name.is_empty() && self.statements.contains_key(name) {
            return Room::Fits;
        }
        if !name.is_empty() && self.statements.len() >= KEPT_STATEMENTS {
            return Room::TooMany;
        }
        self.charge_kept(weight)
    }

    /// Whether SQL `PREPARE` texts of `text_len` bytes fit the client's byte bound and the
    /// process-wide budget (its own bounds: `Prepared::sql_prepare_fits`).
    pub fn room_for_sql(&mut self, text_len: usize) -> Room {
        self.charge_kept(text_len)
    }

    /// `weight` bytes more, within [`KEPT_BYTES`] and the budget; counted exactly first when
    /// the estimate has doubled, or before refusing (unless nothing changed since the last
    /// count: a client whose Parses the full budget refuses does not count them each time).
    fn charge_kept(&mut self, weight: usize) -> Room {
        for counted in [false, true] {
            if counted && !self.kept.exact {
                self.count_kept();
            }
            let want = self.kept.bytes.saturating_add(weight);
            if !counted && (want > self.kept.recount_at || want > KEPT_BYTES) {
                continue;
            }
            if want > KEPT_BYTES {
                return Room::TooMany;
            }
            if (self.kept.charge)
                .set(want.saturating_sub(FREE_KEPT_BYTES))
                .is_ok()
            {
                self.kept.bytes = want;
                self.kept.exact &= weight == 0;
                return Room::Fits;
            }
            if counted {
                return Room::OutOfMemory;
            }
        }
        Room::OutOfMemory
    }

    /// `bytes` more are held for a kept statement (transaction mode's copy filed anew).
    pub fn kept_more(&mut self, bytes: usize) {
        self.kept.bytes = self.kept.bytes.saturating_add(bytes);
        // Filed anew (a scope swapped for another): what is held changed either way.
        self.kept.exact = false;
        let _ = (self.kept.charge).set(self.kept.bytes.saturating_sub(FREE_KEPT_BYTES));
    }

    /// A statement left (its Close answered, its Parse failed or skipped): the text it would
    /// have been judged again from goes unless the name holds a statement again, and once
    /// an eighth of the estimate has gone so, the charge is counted down to the truth.
    pub(super) fn released(
        &mut self,
        space: Space,
        name: &str,
        gone: &Decision,
        replay: Option<&Replay>,
    ) {
        if space != Space::Statement {
            return;
        }
        let mut bytes =
            gone.normalized.len() + replay.map_or(0, |r| r.rest.len() + r.scope.as_ref().len());
        // Kept while the name holds a statement, or a Close of it is pending (skipped, that
        // Close leaves the statement it took away where it was).
        let closing = || (self.closing).contains_key(&(Space::Statement, name.to_string()));
        if !self.statements.contains_key(name) && !closing() {
            bytes += self.origins.remove(name).map_or(0, |(text, _)| text.len());
        }
        self.kept.released = self.kept.released.saturating_add(bytes);
        self.kept.exact = false;
        if self.kept.charge.bytes() > 0 && self.kept.released >= self.kept.bytes / 8 {
            self.count_kept();
        }
    }

    /// The statements were dropped wholesale (DEALLOCATE ALL, DISCARD, a server left):
    /// the charge is counted down to what is left.
    pub(super) fn released_all(&mut self) {
        self.kept.exact = false;
        if self.kept.charge.bytes() > 0 {
            self.count_kept();
        }
    }

    /// The bytes counted exactly (every statement's decision and transaction-mode copy, every
    /// text kept to judge one again, SQL PREPARE's texts), and the charge set to them.
    fn count_kept(&mut self) {
        let statements = (self.statements.values()).map(|e| {
            let replay = e.replay.as_ref();
            e.decision.normalized.len()
                + replay.map_or(0, |r| r.rest.len() + r.scope.as_ref().len())
        });
        let texts = self.origins.values().map(|(text, _)| text.len());
        let bytes = statements.chain(texts).sum::<usize>() + self.sql_text_bytes();
        self.kept.bytes = bytes;
        self.kept.recount_at = bytes.saturating_mul(2).saturating_add(FREE_KEPT_BYTES);
        self.kept.released = 0;
        self.kept.exact = true;
        #[cfg(test)]
        {
            self.kept.counts += 1;
        }
        // Lowered to the truth; were the truth ever above the estimate, the charge stays as
        // it was rather than refuse a count.
        let _ = self.kept.charge.set(bytes.saturating_sub(FREE_KEPT_BYTES));
    }
}

#[cfg(test)]
#[path = "kept_budget_tests.rs"]
mod kept_budget_tests;
