//! PII masking, the policy half: `[masking]` resolved against the catalog ([`MaskIndex`]),
//! a mask plan per statement from PostgreSQL's tree ([`mask_plan`], built on
//! `lineage`), and the pure byte-level functions the relay calls: values
//! ([`value`]), DataRow bodies and the RowDescription cross-check ([`wire`]), COPY data
//! ([`copy`]), errors and notices ([`scrub`]).
//!
//! Integration (for `Engine::decide` and the relay):
//! 1. At snapshot time: `MaskIndex::from_catalog(MaskConfig::new(..)?, &catalog,
//!    vec!["pg_catalog".into()])` (the path `proxy/src/catalog.rs` renders view definitions
//!    under, so every other name in them is qualified).
//! 2. For a role without `unmasked`: `mask_plan(sql, &index, search_path)`; `Err(denial)` is a
//!    refusal (42501) like any other; `Ok(plans)` has one [`MaskPlan`] per statement, kept with
//!    the decision. `mask_plan_for_role` skips unmasked roles; `mask_plan_parsed` reuses the
//!    judge's libpg_query tree.
//! 3. In the relay: on RowDescription, `wire::bind(plan, fields, &index)`; a bound mask with
//!    nothing masked forwards DataRows as they are, otherwise `wire::mask_data_row`. Cursor
//!    and prepared statement plans are kept by name (`ResultSource`); protocol-level
//!    Parse/Bind use the plan of the parsed text. ErrorResponse/NoticeResponse of a statement
//!    whose plan says `Scrub::Values`/`All` go through `scrub::scrub_error_fields`.
//!    FETCH/EXECUTE plans mask every column unless the relay substitutes the plan recorded at
//!    DECLARE/PREPARE. COPY TO STDOUT of PII is refused unless `masking.allow` has `copy`;
//!    then `copy_mask(plan, &index)` and `copy::mask_copy_data` per CopyData.
//! 4. Cache: a plan depends on the text's shape, the search_path and whether the role is
//!    masked (the judge's cache key has role and search_path); literal values never matter.

pub mod config;
pub mod copy;
mod copy_csv;
mod copy_mask;
mod from_catalog;
mod hash_key;
pub mod index;
mod lineage;
pub mod plan;
mod resolve;
pub mod scrub;
pub mod value;
pub mod wire;

pub use config::{ColumnPattern, InferenceAllowances, MaskConfig, MaskConfigError, Strategy};
pub use hash_key::HashKey;
pub use index::{ColumnShape, MaskIndex, RelationShape};
pub(crate) use lineage::runs_query_text;
pub use plan::{MaskPlan, MaskedColumn, ResultSource, Scrub};
pub use value::ValueKind;

use std::sync::Arc;

use crate::denial::Denial;

/// What a decision carries for the relay of a masked role: one plan per statement and the
/// index the plans were made with (for the RowDescription cross-check and the hash key).
#[derive(Clone, Debug)]
pub struct DecisionMask {
    pub plans: Vec<MaskPlan>,
    pub index: Arc<MaskIndex>,
}

impl DecisionMask {
    /// Names of the masked outputs of every statement (the audit's `masked` field).
    pub fn masked_names(&self) -> Vec<String> {
        self.plans
            .iter()
            .flat_map(|p| p.masked_names())
            .map(str::to_string)
            .collect()
    }
}

/// The mask plan of every statement of `sql` for a masked role, or the refusal of a statement
/// whose results cannot be masked safely.
pub fn mask_plan(
    sql: &str,
    index: &MaskIndex,
    search_path: &[String],
) -> Result<Vec<MaskPlan>, Denial> {
    // Called on its own (not from `Engine::decide`), it needs the same stack as the judge.
    crate::on_analysis_stack(sql.len(), || lineage::analyze(sql, index, search_path))
        .unwrap_or_else(|| Err(crate::syntax::too_deep()))
}

/// Like [`mask_plan`] on a statement text already parsed by libpg_query (the judge parses it
/// anyway).
pub fn mask_plan_parsed(
    parsed: &pg_query::protobuf::ParseResult,
    index: &MaskIndex,
    search_path: &[String],
) -> Result<Vec<MaskPlan>, Denial> {
    lineage::analyze_parsed(parsed, index, search_path, None)
}

/// Like [`mask_plan`] with the steering uses a particular role may make (a role's own
/// `allow`, instead of `masking.allow`).
pub fn mask_plan_with_allowances(
    sql: &str,
    index: &MaskIndex,
    search_path: &[String],
    allow: &InferenceAllowances,
) -> Result<Vec<MaskPlan>, Denial> {
    let run = || {
        let parsed = pg_query::parse(sql, 0).map_err(|_| {
            crate::denial::deny(
                "masking.unanalyzable",
                "could not trace the masked columns of this statement",
                "simplify the query or ask for an unmasked role",
            )
        })?;
        lineage::analyze_parsed(&parsed.protobuf, index, search_path, Some(allow))
    };
    crate::on_analysis_stack(sql.len(), run).unwrap_or_else(|| Err(crate::syntax::too_deep()))
}

/// How each column of a COPY's rows is masked (COPY has no RowDescription: a column's type is
/// known only when it is a plain copy of a known column; any other masked column becomes NULL,
/// which every type accepts).
pub fn copy_mask(plan: &MaskPlan, index: &MaskIndex) -> copy::CopyMask {
    copy::CopyMask {
        columns: plan
            .columns
            .iter()
            .map(|c| {
                c.strategy.map(|s| {
                    let text = c.type_oid.is_some_and(|t| index.is_text_like(t));
                    (
                        s,
                        if text {
                            ValueKind::Text
                        } else {
                            ValueKind::Other
                        },
                    )
                })
            })
            .collect(),
        hash_key: index.config().hash_key.clone(),
    }
}

/// The mask plans of `sql` for a role: `Ok(None)` when the role sees PII in clear
/// (`unmasked = true`) or masking names no column.
pub fn mask_plan_for_role(
    sql: &str,
    unmasked: bool,
    index: &MaskIndex,
    search_path: &[String],
) -> Result<Option<Vec<MaskPlan>>, Denial> {
    if unmasked || !index.is_active() {
        return Ok(None);
    }
    mask_plan(sql, index, search_path).map(Some)
}
