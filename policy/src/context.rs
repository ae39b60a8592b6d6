//! What judging one statement needs, and what it yields.

use crate::catalog::Catalog;
use crate::functions::FunctionPolicy;
use crate::types::{Denial, RoleRules, StatementInfo, StatementKind};

/// The inputs of one judgement.
pub struct Ctx<'a> {
    pub role: &'a RoleRules,
    pub search_path: &'a [String],
    pub functions: &'a FunctionPolicy,
    /// The upstream's catalog snapshot, when the proxy has loaded one.
    pub catalog: Option<&'a Catalog>,
    /// Results are masked for this role (it is not `unmasked` and `[masking]` names columns):
    /// masking depends on the session's search_path.
    pub masked: bool,
}

/// The judgement of one statement.
#[derive(Debug, Clone)]
pub struct Judged {
    pub info: StatementInfo,
    pub verdict: Result<(), Denial>,
    /// False when the verdict depends on a literal's value (SET values, set_config arguments,
    /// COPY file names, boolean constants in a WHERE): such text is judged every time.
    pub cacheable: bool,
}

impl Judged {
    pub fn new(kind: StatementKind) -> Self {
        Judged {
            info: StatementInfo {
                kind,
                writes: false,
                session_change: None,
                state: Default::default(),
                code_may_write: false,
            },
            verdict: Ok(()),
            cacheable: true,
        }
    }

    /// Records a denial unless one is already recorded (the first reason wins).
    pub fn deny(&mut self, d: Denial) {
        if self.verdict.is_ok() {
            self.verdict = Err(d);
        }
    }

    pub fn check(&mut self, r: Result<(), Denial>) {
        if let Err(d) = r {
            self.deny(d);
        }
    }

    pub fn writes(mut self) -> Self {
        self.info.writes = true;
        self
    }
}
