//! What result masking keeps under statement, portal and cursor names, and how each name's
//! life changes it: Parse, Bind and Close as they are sent, the end of a transaction, a
//! reload that judges a cursor or SQL-prepared statement again.

use std::sync::Arc;

use pgward_policy::mask::wire::FieldInfo;
use pgward_policy::mask::MaskPlan;

use super::{ResultMasking, SqlPlans, State};
use crate::fast_hash::HashMap;
use crate::session::prepared::Space;

impl ResultMasking {
    /// Recorded only once masking is in use: a portal bound before any masked statement
    /// existed cannot be bound from one (its statement's Parse, carrying the mask, made the
    /// state).
    pub fn on_bind(&mut self, statement: &str, portal: &str) {
        if let Some(s) = self.0.as_mut() {
            s.on_bind(statement, portal);
        }
    }

    /// `masked`: the statement's decision carries a mask.
    pub fn on_parse(&mut self, statement: &str, masked: bool) {
        if masked {
            self.state();
        }
        if let Some(s) = self.0.as_mut() {
            s.on_parse(statement);
        }
    }

    /// Close sent: what the name described is forgotten (were the Close skipped, its rows
    /// are masked as undescribed ones: fail closed).
    pub fn on_close(&mut self, space: Space, name: &str) {
        if let Some(s) = self.0.as_mut() {
            s.described(space).remove(name);
            if space == Space::Portal {
                s.portal_statement.remove(name);
            }
        }
    }

    /// The transaction ended: only the portals still open (WITH HOLD cursors) keep what they
    /// described, were bound from and recorded (the unnamed portal's entries are replaced
    /// at its next Bind).
    pub fn retain_portals(&mut self, open: impl Fn(&str) -> bool) {
        if let Some(s) = self.0.as_mut() {
            // Usually only the unnamed portal was used: nothing to look up.
            let unnamed_only = only_unnamed(&s.portal_statement)
                && only_unnamed(&s.described_portals)
                && !s.records.has_cursors();
            if unnamed_only {
                return;
            }
            let open = |name: &str| name.is_empty() || open(name);
            s.records.retain_cursors(open);
            s.described_portals.retain(|name, _| open(name));
            s.portal_statement.retain(|name, _| open(name));
        }
    }

    /// A SQL cursor (`cursor`) or SQL-prepared statement judged again (after a reload): later
    /// FETCHes or EXECUTEs read the new plan (none: it reads nothing masked now, or the role
    /// is not masked any more).
    pub fn recorded_again(&mut self, cursor: bool, name: &str, plan: Option<MaskPlan>) {
        let records = match plan.is_some() {
            true => Some(&mut self.state().records),
            false => self.records(),
        };
        match (records, plan) {
            (Some(r), Some(p)) if cursor => r.declared(name, p),
            (Some(r), Some(p)) => r.prepared_as(name, p),
            (Some(r), None) if cursor => r.forget_cursor(Some(name)),
            (Some(r), None) => r.forget_prepared(Some(name)),
            (None, _) => {}
        }
    }

    /// The plans recorded for SQL cursors and prepared statements (`masking_records.rs`).
    pub fn records(&mut self) -> Option<&mut SqlPlans> {
        self.0.as_mut().map(|s| &mut s.records)
    }
}

impl State {
    /// The RowDescriptions kept for statements or for portals.
    pub(super) fn described(&mut self, space: Space) -> &mut HashMap<String, Arc<[FieldInfo]>> {
        match space {
            Space::Statement => &mut self.described_statements,
            Space::Portal => &mut self.described_portals,
        }
    }

    /// Bind: the portal's rows are those its statement described.
    pub fn on_bind(&mut self, statement: &str, portal: &str) {
        // A protocol portal under a SQL cursor's old name is not that cursor.
        self.records.forget_cursor(Some(portal));
        // The same portal bound again from the same statement (every Bind of a driver's
        // prepared statement) changes nothing and allocates nothing.
        match self.portal_statement.get_mut(portal) {
            Some(bound_from) if bound_from == statement => {}
            Some(bound_from) => statement.clone_into(bound_from),
            None => {
                self.portal_statement
                    .insert(portal.to_string(), statement.to_string());
            }
        }
        match self.described_statements.get(statement).cloned() {
            Some(f) => match self.described_portals.get_mut(portal) {
                Some(kept) => *kept = f,
                None => {
                    self.described_portals.insert(portal.to_string(), f);
                }
            },
            None => {
                self.described_portals.remove(portal);
            }
        }
    }

    /// Parse: whatever the name described before is gone.
    pub fn on_parse(&mut self, statement: &str) {
        self.described_statements.remove(statement);
        // A protocol statement under a SQL PREPARE's old name is not that statement.
        self.records.forget_prepared(Some(statement));
    }
}

/// Whether `names` holds nothing but the unnamed statement or portal.
fn only_unnamed<V>(names: &HashMap<String, V>) -> bool {
    match names.len() {
        0 => true,
        1 => names.keys().next().is_some_and(|k| k.is_empty()),
        _ => false,
    }
}
