//! Masking on the wire, on bytes: binding a plan to a RowDescription (with the cross-check by
//! table oid and attnum) and rewriting one DataRow body.

use thiserror::Error;

use super::config::Strategy;
use super::hash_key::HashKey;
use super::index::MaskIndex;
use super::plan::MaskPlan;
use super::value::{mask_value, ValueKind};

/// What RowDescription says of one result column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    /// 0 when the column is not a plain column of a relation.
    pub table_oid: u32,
    pub attnum: i16,
    pub type_oid: u32,
    /// 0 text, 1 binary (the bytes of text-like types are the same in both).
    pub format: i16,
}

/// A plan bound to the columns of one result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BoundMask {
    columns: Vec<Option<(Strategy, ValueKind)>>,
    hash_key: HashKey,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("DataRow is truncated or malformed")]
    Malformed,
    #[error("DataRow has {got} columns, RowDescription said {expected}")]
    ColumnCount { expected: usize, got: usize },
}

/// The stricter of two strategies (what shows less).
fn stricter(a: Strategy, b: Strategy) -> Strategy {
    let rank = |s| match s {
        Strategy::Partial => 0,
        Strategy::Hash => 1,
        Strategy::Redact => 2,
        Strategy::Null => 3,
    };
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

/// Binds `plan` to a result's columns. A column RowDescription names as a PII column is
/// masked even if the plan missed it (the union wins); when the plan's column count differs
/// from the result's, the analysis did not describe this result and every column of a
/// statement that reads PII is masked (fail closed).
pub fn bind(plan: &MaskPlan, fields: &[FieldInfo], index: &MaskIndex) -> BoundMask {
    let reads_pii = plan.masks_anything() || plan.scrub != super::plan::Scrub::None;
    let count_known = plan.rest.is_some() || plan.columns.len() == fields.len();
    let columns = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let planned = if count_known {
                plan.strategy_at(i)
            } else if reads_pii {
                Some(Strategy::Redact)
            } else {
                None
            };
            let direct = (f.table_oid != 0)
                .then(|| index.column_strategy(f.table_oid, f.attnum))
                .flatten();
            let strategy = match (planned, direct) {
                (Some(a), Some(b)) => Some(stricter(a, b)),
                (a, b) => a.or(b),
            };
            // No origin in the RowDescription (PostgreSQL computed the value), or the plan's
            // lineage says it is computed (a view's computed column has the view as origin).
            let computed = f.table_oid == 0
                || (count_known && plan.columns.get(i).is_some_and(|c| c.type_oid.is_none()));
            let kind = match (index.is_text_like(f.type_oid), computed) {
                (true, true) => ValueKind::ComputedText,
                (true, false) => ValueKind::Text,
                (false, _) => ValueKind::Other,
            };
            strategy.map(|s| (s, kind))
        })
        .collect();
    BoundMask {
        columns,
        hash_key: index.config().hash_key.clone(),
    }
}

impl BoundMask {
    /// Whether any column is masked: when not, DataRows are forwarded as they came.
    pub fn masks_anything(&self) -> bool {
        self.columns.iter().any(Option::is_some)
    }

    /// 1-based positions of masked columns.
    pub fn masked_positions(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .map(|(i, _)| i + 1)
            .collect()
    }

    /// The strategy and encoding of column `i` when masked.
    pub fn column(&self, i: usize) -> Option<(Strategy, ValueKind)> {
        self.columns.get(i).copied().flatten()
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    pub fn hash_key(&self) -> &HashKey {
        &self.hash_key
    }
}

/// Rewrites a DataRow body (after the type byte and length: Int16 count, then per column
/// Int32 length, -1 for NULL, and the bytes) with the masked columns replaced.
pub fn mask_data_row(body: &[u8], mask: &BoundMask) -> Result<Vec<u8>, WireError> {
    let count = body
        .get(..2)
        .map(|b| i16::from_be_bytes([b[0], b[1]]))
        .ok_or(WireError::Malformed)?;
    let count = usize::try_from(count).map_err(|_| WireError::Malformed)?;
    if count != mask.len() {
        return Err(WireError::ColumnCount {
            expected: mask.len(),
            got: count,
        });
    }
    let mut out = Vec::with_capacity(body.len());
    out.extend_from_slice(&body[..2]);
    let mut at = 2;
    for i in 0..count {
        let len_bytes = body.get(at..at + 4).ok_or(WireError::Malformed)?;
        let len = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        at += 4;
        let value = if len < 0 {
            None
        } else {
            let n = usize::try_from(len).map_err(|_| WireError::Malformed)?;
            let v = body.get(at..at + n).ok_or(WireError::Malformed)?;
            at += n;
            Some(v)
        };
        let written = match mask.column(i) {
            Some((strategy, kind)) => mask_value(value, strategy, kind, &mask.hash_key),
            None => value.map(<[u8]>::to_vec),
        };
        match written {
            Some(v) => {
                let n = i32::try_from(v.len()).map_err(|_| WireError::Malformed)?;
                out.extend_from_slice(&n.to_be_bytes());
                out.extend_from_slice(&v);
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    if at != body.len() {
        return Err(WireError::Malformed);
    }
    Ok(out)
}
