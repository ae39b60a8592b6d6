//! A query string that changes the search_path part-way: PostgreSQL reads each statement
//! once the ones before it ran, so under the new path, while one decision judges the whole
//! string under the path before it.

use crate::context::Ctx;
use crate::types::{Access, Denial, SessionChange, StatementInfo, StatementKind, Verdict};

/// A string whose statement changes the search_path and a later statement resolves names
/// (PostgreSQL reads each statement of a string only once the ones before it ran, so under
/// the new path, while one decision judges them all under the path before the string): for
/// a role whose rules resolve names (read-only, require_where, max_affected_rows, masking),
/// refused rather than judged under the wrong path.
fn changed_within(statements: &[StatementInfo], ctx: &Ctx<'_>) -> Option<Denial> {
    let role = ctx.role;
    let guarded = role.access == Access::ReadOnly
        || role.require_where
        || role.max_affected_rows > 0
        || ctx.masked;
    let changes = |s: &StatementInfo| {
        matches!(
            s.session_change,
            Some(
                SessionChange::SearchPath(_)
                    | SessionChange::SearchPathDefault
                    | SessionChange::SearchPathUnknown
            )
        )
    };
    let first_change = statements.iter().position(changes)?;
    (guarded && statements[first_change + 1..].iter().any(resolves_names)).then(|| {
        crate::denial::deny(
            "session.search_path",
            "a statement after a search_path change in the same query string would be read under the new path, and pgward judges the string under the path before it",
            "send the search_path change as a statement of its own",
        )
    })
}

/// Whether PostgreSQL resolves names (functions, relations, types) through the search_path
/// to read the statement: all but transaction control, SET/RESET/SHOW and a few that name
/// no schema object.
pub fn resolves_names(s: &StatementInfo) -> bool {
    !matches!(
        s.kind,
        StatementKind::Transaction
            | StatementKind::Set
            | StatementKind::Reset
            | StatementKind::Show
            | StatementKind::Discard
            | StatementKind::Deallocate
            | StatementKind::ClosePortal
            | StatementKind::Listen
            | StatementKind::Unlisten
    )
}

/// An allowed string's verdict, refused where [`changed_within`] says so.
pub fn judge(verdict: &mut Verdict, statements: &[StatementInfo], ctx: &Ctx<'_>) {
    if *verdict == Verdict::Allow {
        if let Some(d) = changed_within(statements, ctx) {
            *verdict = Verdict::Deny(d);
        }
    }
}
