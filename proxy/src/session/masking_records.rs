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
    /// Describe of this statement or portal: the RowDescription is kept for its Executes,
    /// if the name still holds what it held when the Describe was sent (its generation,
    /// [`Generations`]).
    Describe(Space, String, u64),
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

/// Which Parse or Bind each statement or portal name holds now, as a number that changes with
/// every Parse, Bind or Close of it: a Describe's answer that comes after the name was closed
/// or made again describes what is gone, and is not kept for it.
#[derive(Default)]
pub(super) struct Generations {
    statements: HashMap<String, u64>,
    portals: HashMap<String, u64>,
    last: u64,
}

impl Generations {
    fn map(&mut self, space: Space) -> &mut HashMap<String, u64> {
        match space {
            Space::Statement => &mut self.statements,
            Space::Portal => &mut self.portals,
        }
    }

    /// The name's generation now (0: nothing made under it since masking began, or closed).
    pub fn of(&self, space: Space, name: &str) -> u64 {
        let map = match space {
            Space::Statement => &self.statements,
            Space::Portal => &self.portals,
        };
        map.get(name).copied().unwrap_or(0)
    }

    /// A Parse or Bind sent under the name.
    pub fn renew(&mut self, space: Space, name: &str) {
        self.last += 1;
        let last = self.last;
        match self.map(space).get_mut(name) {
            Some(g) => *g = last,
            None => {
                self.map(space).insert(name.to_string(), last);
            }
        }
    }

    /// A Close sent for the name (what it held is gone: so are its described fields).
    pub fn forget(&mut self, space: Space, name: &str) {
        self.map(space).remove(name);
    }

    /// The transaction ended: only open portals keep a generation.
    pub fn retain_portals(&mut self, open: impl Fn(&str) -> bool) {
        self.portals.retain(|name, _| open(name));
    }
}
