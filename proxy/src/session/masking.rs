//! Result masking in the relay, for a masked role: each Query, Execute and Describe sent
//! upstream carries its decision's mask plans ([`ReplyMask`]); RowDescription binds the plan
//! of the statement answering now (`wire::bind`, with the table-oid/attnum cross-check);
//! DataRows with masked columns are rewritten, all others forwarded as they came; CopyData of
//! an allowed COPY TO is masked row by row; errors and notices are scrubbed as the plan says.
//! Pure (no sockets): the session calls it with each server frame's body and owner.

use crate::fast_hash::HashMap;
use std::borrow::Cow;
use std::sync::Arc;

use pgward_policy::mask::copy::{mask_copy_data, CopyFormat, CopyMask, CopyState};
use pgward_policy::mask::wire::{bind, mask_data_row, BoundMask, FieldInfo};
use pgward_policy::mask::{copy_mask, scrub, MaskPlan, ResultSource, Scrub, Strategy};

use super::masking_records::SqlPlans;
pub use super::masking_records::{MaskedReply, ReplyMask};
use super::result_fields::{fields_of, null_row, row_width, unknown_fields};

/// A plan that masks every column and hides every message (what is unknown is PII).
fn mask_everything(source: ResultSource) -> MaskPlan {
    MaskPlan {
        source,
        columns: vec![],
        rest: Some(Strategy::Redact),
        scrub: Scrub::All,
    }
}

/// Per-session masking state, held only once a masked statement has been seen: a session
/// that never meets one (most of them) holds a null pointer instead of the maps.
#[derive(Default)]
pub struct ResultMasking(Option<Box<State>>);

impl ResultMasking {
    /// The state, made on first need: every call that carries a mask makes it, so nothing a
    /// masked reply depends on is missed.
    fn state(&mut self) -> &mut State {
        self.0.get_or_insert_with(Default::default)
    }

    pub fn on_row_description(&mut self, body: &[u8], owner: &ReplyMask) -> usize {
        self.state().on_row_description(body, owner)
    }

    pub fn on_no_data(&mut self, owner: &ReplyMask) {
        self.state().on_no_data(owner)
    }

    pub fn mask_row(&mut self, body: &[u8], owner: &ReplyMask) -> Option<Vec<u8>> {
        self.state().mask_row(body, owner)
    }

    pub fn on_copy_out(&mut self, owner: &ReplyMask) {
        self.state().on_copy_out(owner)
    }

    pub fn mask_copy(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        self.0.as_mut()?.mask_copy(body)
    }

    pub fn scrub(&mut self, body: &[u8], owner: &ReplyMask) -> Option<Vec<u8>> {
        self.state().scrub(body, owner)
    }

    pub fn on_complete(&mut self, owner: Option<&ReplyMask>, suspended: bool) {
        match owner {
            Some(_) => self.state().on_complete(owner, suspended),
            None => {
                if let Some(s) = self.0.as_mut() {
                    s.on_complete(None, suspended);
                }
            }
        }
    }

    pub fn on_error(&mut self) {
        if let Some(s) = self.0.as_mut() {
            s.on_error();
        }
    }

    pub fn on_ready(&mut self) {
        if let Some(s) = self.0.as_mut() {
            s.on_ready();
        }
    }

    pub fn clear(&mut self) {
        if let Some(s) = self.0.as_mut() {
            s.clear();
        }
    }
}

#[derive(Default)]
struct State {
    /// RowDescriptions from Describe, by statement or portal (the types and origins an
    /// Execute's DataRows have).
    described_statements: HashMap<String, Arc<[FieldInfo]>>,
    described_portals: HashMap<String, Arc<[FieldInfo]>>,
    /// The statement each portal was bound from (its Describe may answer after the Bind).
    portal_statement: HashMap<String, String>,
    /// The mask of the result being relayed now.
    current: Option<BoundMask>,
    /// The COPY TO being relayed now.
    copy: Option<(CopyFormat, CopyMask, CopyState)>,
    /// Which statement of a simple Query answers now.
    statement: usize,
    /// Plans recorded by DECLARE and PREPARE, for later FETCH and EXECUTE.
    records: SqlPlans,
}

impl State {
    /// The plan of the statement answering `owner` now, with DECLARE/PREPARE plans
    /// substituted for FETCH/EXECUTE.
    fn plan<'a>(&'a self, owner: &'a ReplyMask) -> Cow<'a, MaskPlan> {
        let index = match &owner.reply {
            MaskedReply::Query => self.statement,
            // A SQL cursor's portal run by a protocol Execute: its rows are the cursor's.
            MaskedReply::Execute(portal) => match self.records.cursor(portal) {
                Some(plan) => return Cow::Borrowed(plan),
                // The portal came from a string of several statements (a DECLARE among
                // them, or another client's doing): which one is not known here.
                None if owner.decision.plans.len() > 1 => {
                    return Cow::Owned(mask_everything(ResultSource::Rows))
                }
                None => 0,
            },
            MaskedReply::Describe(..) => 0,
        };
        let Some(plan) = owner.decision.plans.get(index) else {
            return Cow::Owned(mask_everything(ResultSource::Rows));
        };
        let recorded = match &plan.source {
            ResultSource::Fetches(name) => self.records.cursor(name),
            ResultSource::Executes(name) => self.records.prepared(name),
            _ => None,
        };
        Cow::Borrowed(recorded.unwrap_or(plan))
    }

    /// RowDescription: kept for a Describe, bound for a Query's statement. Returns how many
    /// columns of the result are masked (for the metrics).
    pub fn on_row_description(&mut self, body: &[u8], owner: &ReplyMask) -> usize {
        let fields = fields_of(body);
        match &owner.reply {
            MaskedReply::Describe(space, name) => match fields {
                Some(f) => {
                    self.described(*space).insert(name.clone(), f.into());
                }
                None => {
                    self.described(*space).remove(name);
                }
            },
            MaskedReply::Query | MaskedReply::Execute(_) => {
                let plan = self.plan(owner);
                let fields = fields.unwrap_or_default();
                let bound = bind(&plan, &fields, &owner.decision.index);
                drop(plan);
                let masked = bound.masked_positions().len();
                self.current = Some(bound);
                return masked;
            }
        }
        0
    }

    /// NoData for a Describe: nothing kept.
    pub fn on_no_data(&mut self, owner: &ReplyMask) {
        if let MaskedReply::Describe(space, name) = &owner.reply {
            self.described(*space).remove(name);
        }
    }

    /// The DataRow to send instead of `body`, or `None` to forward it as it came.
    pub fn mask_row(&mut self, body: &[u8], owner: &ReplyMask) -> Option<Vec<u8>> {
        if self.current.is_none() {
            // An Execute's rows: its portal's described fields (or none known).
            let plan = self.plan(owner);
            let described = match &owner.reply {
                MaskedReply::Execute(portal) => {
                    self.described_portals.get(portal.as_str()).or_else(|| {
                        let statement = self.portal_statement.get(portal.as_str())?;
                        self.described_statements.get(statement.as_str())
                    })
                }
                _ => None,
            }
            .filter(|f| f.len() == row_width(body));
            let bound = match described {
                Some(fields) => bind(&plan, fields, &owner.decision.index),
                None => bind(
                    &plan,
                    &unknown_fields(row_width(body)),
                    &owner.decision.index,
                ),
            };
            drop(plan);
            self.current = Some(bound);
        }
        let mask = self.current.as_ref()?;
        if !mask.masks_anything() {
            return None;
        }
        Some(mask_data_row(body, mask).unwrap_or_else(|_| null_row(row_width(body))))
    }

    /// CopyOutResponse: a COPY TO's data follows.
    pub fn on_copy_out(&mut self, owner: &ReplyMask) {
        let plan = self.plan(owner);
        self.copy = match &plan.source {
            ResultSource::Copy(format) => Some((
                format.clone(),
                copy_mask(&plan, &owner.decision.index),
                CopyState::default(),
            )),
            // A COPY the plan did not see as one: its data cannot be masked, so none passes.
            _ if plan.masks_anything() => Some((
                CopyFormat::Binary,
                CopyMask {
                    columns: vec![],
                    hash_key: owner.decision.index.config().hash_key.clone(),
                },
                CopyState::default(),
            )),
            _ => None,
        };
    }

    /// CopyData from the server: masked, or `None` to forward as it came. A row that cannot
    /// be masked becomes an empty payload (the client's COPY fails rather than leaks).
    pub fn mask_copy(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        let (format, mask, state) = self.copy.as_mut()?;
        if !mask.columns.iter().any(Option::is_some) && !mask.columns.is_empty() {
            return None;
        }
        Some(mask_copy_data(body, format, mask, state).unwrap_or_default())
    }

    /// ErrorResponse / NoticeResponse: the scrubbed body, or `None` to forward as it came.
    pub fn scrub(&self, body: &[u8], owner: &ReplyMask) -> Option<Vec<u8>> {
        let level = self.plan(owner).scrub;
        (level != Scrub::None).then(|| scrub::scrub_error_fields(body, level))
    }

    /// CommandComplete / EmptyQueryResponse / PortalSuspended: the statement's result
    /// ended; DECLARE and PREPARE that succeeded record their plans.
    pub fn on_complete(&mut self, owner: Option<&ReplyMask>, suspended: bool) {
        self.current = None;
        self.copy = None;
        let Some(owner) = owner else {
            return;
        };
        if !suspended {
            let plan = self.plan(owner);
            match &plan.source {
                ResultSource::DeclaresCursor(name) => {
                    let (name, plan) = (name.clone(), plan.into_owned());
                    self.records.declared(&name, plan);
                }
                ResultSource::Prepares(name) => {
                    let (name, plan) = (name.clone(), plan.into_owned());
                    self.records.prepared_as(&name, plan);
                }
                _ => {}
            }
            if owner.reply == MaskedReply::Query {
                self.statement += 1;
            }
        }
    }

    /// An error ended the statement (a Query's later statements do not run).
    pub fn on_error(&mut self) {
        self.current = None;
        self.copy = None;
    }

    /// ReadyForQuery: the next reply starts from its first statement.
    pub fn on_ready(&mut self) {
        self.current = None;
        self.copy = None;
        self.statement = 0;
    }

    /// The server connection is gone: statements and portals went with it.
    pub fn clear(&mut self) {
        *self = State {
            records: std::mem::take(&mut self.records),
            ..State::default()
        };
    }
}

#[path = "masking_names.rs"]
mod names;

#[cfg(test)]
#[path = "masking_tests.rs"]
mod tests;
