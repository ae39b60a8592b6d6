//! The mask plan of one statement: per output position, masked with which strategy or clear;
//! what to do with errors and notices; where its rows come from (a cursor or a prepared
//! statement whose plan was made earlier).

use super::config::Strategy;
use super::copy::CopyFormat;

/// One output column of a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskedColumn {
    /// The column's name as PostgreSQL will call it (for audit and `pgward explain`).
    pub name: String,
    /// `None`: sent as it is.
    pub strategy: Option<Strategy>,
    /// The type of the column it copies, when it is a plain copy of a known column (COPY
    /// has no RowDescription to say it).
    pub type_oid: Option<u32>,
}

/// Where the rows a plan describes come back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResultSource {
    /// The statement's own result (SELECT, RETURNING, CALL, EXPLAIN).
    Rows,
    /// Rows sent as COPY data (COPY ... TO STDOUT, with `masking.allow = ["copy"]`).
    Copy(CopyFormat),
    /// No rows.
    NoRows,
    /// DECLARE: the plan applies to later FETCHes from this cursor.
    DeclaresCursor(String),
    /// PREPARE (SQL): the plan applies to later EXECUTEs of this name.
    Prepares(String),
    /// EXECUTE: use the plan recorded at PREPARE (this plan itself masks every column, in
    /// case the relay has none recorded).
    Executes(String),
    /// FETCH / MOVE: use the plan recorded at DECLARE (this plan itself masks every column).
    Fetches(String),
}

/// How errors and notices of the statement are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scrub {
    /// The statement reads no PII: forwarded as they are.
    None,
    /// The statement reads PII: values are cut out of messages (see [`super::scrub`]).
    Values,
    /// The statement runs code pgward cannot read (DO, CALL, user functions), whose messages
    /// may be built from any value: messages are replaced whole.
    All,
}

/// The mask plan of one statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskPlan {
    pub source: ResultSource,
    /// Per output position, in order.
    pub columns: Vec<MaskedColumn>,
    /// Columns past `columns` whose number pgward could not establish: masked with this
    /// (`None`: clear).
    pub rest: Option<Strategy>,
    pub scrub: Scrub,
}

impl MaskPlan {
    /// Nothing masked.
    pub fn clear(source: ResultSource) -> MaskPlan {
        MaskPlan {
            source,
            columns: vec![],
            rest: None,
            scrub: Scrub::None,
        }
    }

    /// The strategy at output position `i` (0-based).
    pub fn strategy_at(&self, i: usize) -> Option<Strategy> {
        match self.columns.get(i) {
            Some(c) => c.strategy,
            None => self.rest,
        }
    }

    /// Whether any output may be masked (the relay then binds the plan to RowDescription).
    pub fn masks_anything(&self) -> bool {
        self.rest.is_some() || self.columns.iter().any(|c| c.strategy.is_some())
    }

    /// 1-based positions of the masked outputs among the first `count`.
    pub fn masked_positions(&self, count: usize) -> Vec<usize> {
        (0..count)
            .filter(|&i| self.strategy_at(i).is_some())
            .map(|i| i + 1)
            .collect()
    }

    /// Names of the masked outputs (for the audit record's `masked` field).
    pub fn masked_names(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| c.strategy.is_some())
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// `masked: email (partial), ssn (redact)` or `masked: none` (for `pgward explain`).
impl std::fmt::Display for MaskPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut masked: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                c.strategy
                    .map(|s| format!("{} #{} ({})", c.name, i + 1, s.as_str()))
            })
            .collect();
        if let Some(s) = self.rest {
            masked.push(format!("every further column ({})", s.as_str()));
        }
        if masked.is_empty() {
            write!(f, "masked: none")
        } else {
            write!(f, "masked: {}", masked.join(", "))
        }
    }
}
