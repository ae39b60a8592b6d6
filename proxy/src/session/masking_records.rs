//! The mask plans SQL `DECLARE` and `PREPARE` recorded, for the `FETCH`, `EXECUTE` and
//! protocol Execute that read their rows later. A record lives exactly as long as pgward can
//! tell its cursor or statement is the one on the server: a protocol Bind or Parse under the
//! same name, CLOSE, DEALLOCATE, DISCARD and (for cursors without HOLD) the end of the
//! transaction forget it, and a read with no record masks everything.
//!
//! Names are keyed as PostgreSQL keys them (their first 63 bytes, `prepared::name_key`).
//! Also here: what each message sent upstream carries for masking its reply.

use crate::fast_hash::HashMap;
use std::sync::Arc;

use pgward_policy::mask::{DecisionMask, MaskPlan};

use super::prepared::{name_key, Space};

/// The statement kind whose reply a mask belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaskedReply {
    /// A simple Query: its statements answer in order.
    Query,
    /// Execute of this portal (one statement).
    Execute(String),
    /// Describe of this statement or portal: the RowDescription is kept for its Executes.
    Describe(Space, String),
}

/// What a message sent upstream carries for masking its reply.
#[derive(Clone, Debug)]
pub struct ReplyMask {
    pub decision: Arc<DecisionMask>,
    pub reply: MaskedReply,
}

#[derive(Default)]
pub(super) struct SqlPlans {
    cursors: HashMap<String, MaskPlan>,
    prepares: HashMap<String, MaskPlan>,
}

impl SqlPlans {
    pub fn cursor(&self, name: &str) -> Option<&MaskPlan> {
        self.cursors.get(&*name_key(name))
    }

    pub fn prepared(&self, name: &str) -> Option<&MaskPlan> {
        self.prepares.get(&*name_key(name))
    }

    pub fn has_cursors(&self) -> bool {
        !self.cursors.is_empty()
    }

    pub fn declared(&mut self, name: &str, plan: MaskPlan) {
        self.cursors.insert(name_key(name).into_owned(), plan);
    }

    pub fn prepared_as(&mut self, name: &str, plan: MaskPlan) {
        self.prepares.insert(name_key(name).into_owned(), plan);
    }

    /// CLOSE `name` (`None`: CLOSE ALL), or a protocol portal bound under the name.
    pub fn forget_cursor(&mut self, name: Option<&str>) {
        match name {
            Some(n) => {
                self.cursors.remove(&*name_key(n));
            }
            None => self.cursors.clear(),
        }
    }

    /// DEALLOCATE `name` (`None`: ALL), or a protocol statement parsed under the name.
    pub fn forget_prepared(&mut self, name: Option<&str>) {
        match name {
            Some(n) => {
                self.prepares.remove(&*name_key(n));
            }
            None => self.prepares.clear(),
        }
    }

    /// The transaction ended: only the cursors still open (WITH HOLD) keep their plans.
    pub fn retain_cursors(&mut self, open: impl Fn(&str) -> bool) {
        self.cursors.retain(|name, _| open(name));
    }
}
