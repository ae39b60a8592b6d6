//! What `max_affected_rows` refuses outright, as a pure rule over a statement's facts: writes
//! whose row count PostgreSQL never reports, transaction control while a guarded write is open
//! (whatever order the batch parsed, bound or executed things in), and a write executed with a
//! row limit (PostgreSQL runs it whole and answers PortalSuspended, with no count).

use pgward_policy::StatementKind;

use crate::protocol::backend::PgError;
use crate::sqlstate;

/// Why a statement cannot run under the write guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Uncountable,
    TransactionControlInGuard,
}

/// The session facts the rule reads.
#[derive(Clone, Copy, Debug)]
pub struct GuardState {
    pub max_affected_rows: u64,
    /// A guarded write of this batch is open.
    pub guard_open: bool,
}

/// `statements`: (kind, writes, code that may write) of each statement. A write executed with a row limit is not
/// refused: it is answered with its count (CommandComplete) unless its RETURNING rows are
/// paged, and the guard trips on that PortalSuspended (`guard.rs`).
pub fn refusal(
    statements: impl IntoIterator<Item = (StatementKind, bool, bool)>,
    state: GuardState,
) -> Option<Refusal> {
    if state.max_affected_rows == 0 {
        return None;
    }
    let (mut uncountable, mut txn) = (false, false);
    for (kind, w, code_may_write) in statements {
        uncountable |= code_may_write
            || matches!(
                kind,
                StatementKind::Do
                    | StatementKind::Call
                    | StatementKind::Execute
                    | StatementKind::Truncate
            )
            || (w && matches!(kind, StatementKind::Select | StatementKind::Explain));
        txn |= kind == StatementKind::Transaction;
    }
    if uncountable {
        Some(Refusal::Uncountable)
    } else if txn && state.guard_open {
        Some(Refusal::TransactionControlInGuard)
    } else {
        None
    }
}

impl Refusal {
    pub fn to_pg(self) -> PgError {
        let (message, hint) = match self {
            Refusal::Uncountable => (
                "pgward: max_affected_rows cannot count the rows this statement changes",
                "run the change as a plain INSERT, UPDATE, DELETE, MERGE or COPY",
            ),
            Refusal::TransactionControlInGuard => (
                "pgward: transaction control in the same batch as a guarded write",
                "send COMMIT or ROLLBACK after the write's Sync",
            ),
        };
        PgError::error(sqlstate::INSUFFICIENT_PRIVILEGE, message)
            .with_detail("rule: max_affected_rows")
            .with_hint(hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StatementKind as K;

    const OPEN: GuardState = GuardState {
        max_affected_rows: 5,
        guard_open: true,
    };
    const CLOSED: GuardState = GuardState {
        max_affected_rows: 5,
        guard_open: false,
    };

    #[test]
    fn transaction_control_cannot_end_an_open_guard_at_bind_or_execute() {
        let kind = K::Transaction;
        assert_eq!(
            refusal([(kind, false, false)], OPEN),
            Some(Refusal::TransactionControlInGuard)
        );
        // Before the guard opens (or for a role without the limit) it runs.
        assert_eq!(refusal([(kind, false, false)], CLOSED), None);
        let unlimited = GuardState {
            max_affected_rows: 0,
            ..OPEN
        };
        assert_eq!(refusal([(kind, false, false)], unlimited), None);
    }

    #[test]
    fn uncountable_writes() {
        for kind in [K::Do, K::Call, K::Execute, K::Truncate] {
            assert_eq!(
                refusal([(kind, false, false)], CLOSED),
                Some(Refusal::Uncountable)
            );
        }
        assert_eq!(
            refusal([(K::Select, true, false)], CLOSED),
            Some(Refusal::Uncountable)
        );
        // A volatile user function called from a SELECT or inside a small write.
        for kind in [K::Select, K::Update, K::Insert] {
            assert_eq!(
                refusal([(kind, kind != K::Select, true)], CLOSED),
                Some(Refusal::Uncountable)
            );
        }
    }
}
