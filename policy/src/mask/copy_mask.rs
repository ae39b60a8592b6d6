//! How each column of a COPY row is masked, shared by the text/binary and CSV row codecs.

use thiserror::Error;

use super::config::Strategy;
use super::hash_key::HashKey;
use super::value::{mask_value, ValueKind};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CopyMaskError {
    #[error("COPY data is malformed or a row spans messages")]
    Malformed,
    #[error("COPY row has {got} columns, expected {expected}")]
    ColumnCount { expected: usize, got: usize },
}

/// How each column of a COPY's rows is masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyMask {
    /// Per column: the strategy and whether the column is text-like.
    pub columns: Vec<Option<(Strategy, ValueKind)>>,
    pub hash_key: HashKey,
}

pub(super) fn mask_one(
    value: Option<&[u8]>,
    column: Option<(Strategy, ValueKind)>,
    key: &HashKey,
) -> Option<Vec<u8>> {
    match column {
        Some((s, kind)) => mask_value(value, s, kind, key),
        None => value.map(<[u8]>::to_vec),
    }
}

pub(super) fn check_count(got: usize, mask: &CopyMask) -> Result<(), CopyMaskError> {
    if got != mask.columns.len() {
        return Err(CopyMaskError::ColumnCount {
            expected: mask.columns.len(),
            got,
        });
    }
    Ok(())
}
