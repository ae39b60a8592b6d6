//! The state of one analysis and the checks it records: uses of values that steer results,
//! equality lookups, whole-row references and copies out, judged once the statement is read
//! (whether an opaque origin counts as PII depends on whether the statement reads PII at all).

use super::sources::{Lineage, Source, UnknownColumn};
use crate::denial::Denial;
use crate::denial::{deny, deny_with_detail};
use crate::mask::config::{InferenceAllowances, Strategy};
use crate::mask::index::MaskIndex;

/// Deeper nesting than this (expressions, subqueries, views) is refused rather than risking
/// the stack.
const MAX_DEPTH: usize = 200;

/// Which `masking.allow` entry would permit a steering use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteerKind {
    Predicate,
    OrderBy,
    GroupBy,
    Distinct,
}

/// A use of a value to be judged once the statement is read.
#[derive(Clone, Debug)]
pub enum Check {
    /// The value steers which rows come back or their order: refused when PII.
    Steer {
        lineage: Lineage,
        kind: SteerKind,
        what: &'static str,
    },
    /// `a = b` (also IN, = ANY, USING, equality joins): allowed when each side is PII-free or
    /// a plain copy of a PII column.
    Equal {
        left: Lineage,
        right: Lineage,
        /// The side is a computed set of candidates (a column of a function, VALUES or
        /// subquery over no table): compared with a masked column it tests every value at
        /// once, and its matching value comes back unmasked.
        left_set: bool,
        right_set: bool,
        what: &'static str,
    },
    /// A whole-row reference (`u`, `u.*` inside an expression, `row_to_json(u)`).
    WholeRow { lineage: Lineage },
    /// A value written somewhere (CREATE TABLE AS, INSERT ... SELECT, UPDATE SET, COPY TO).
    CopyOut {
        lineage: Lineage,
        what: &'static str,
    },
}

/// The state of one analysis.
pub(super) struct Analyzer<'a> {
    pub(super) index: &'a MaskIndex,
    /// Which steering uses of PII the role may make (`masking.allow`, or the role's own).
    pub(super) allow: &'a InferenceAllowances,
    pub(super) search_path: &'a [String],
    pub(super) checks: Vec<Check>,
    pub(super) unknowns: Vec<UnknownColumn>,
    /// Relations the snapshot lacks: the schemas they may live in, and their name.
    pub(super) unknown_relations: Vec<(Vec<String>, String)>,
    /// The statement reads a relation with PII (or one that may have it).
    pub(super) reads_pii: bool,
    /// The statement runs code whose messages pgward cannot read (DO, CALL, user functions).
    pub(super) opaque_code: bool,
    pub(super) depth: usize,
    /// A refusal found where no error could be returned (inside an opaque node).
    pub(super) pending_denial: Option<Denial>,
    /// Computations met so far that can fail on a value (masked or not): AND, OR and
    /// COALESCE around one decide whether it runs.
    pub(super) fallible_seen: usize,
    /// Inside a view's definition (names resolve with the views' search_path).
    pub(super) in_view: usize,
}

impl<'a> Analyzer<'a> {
    pub(super) fn new(index: &'a MaskIndex, search_path: &'a [String]) -> Self {
        Analyzer {
            index,
            allow: &index.config().allow,
            search_path,
            checks: Vec::new(),
            unknowns: Vec::new(),
            unknown_relations: Vec::new(),
            reads_pii: false,
            opaque_code: false,
            depth: 0,
            in_view: 0,
            pending_denial: None,
            fallible_seen: 0,
        }
    }

    /// The search_path names resolve with here.
    pub(super) fn path(&self) -> &'a [String] {
        if self.in_view > 0 {
            self.index.view_search_path()
        } else {
            self.search_path
        }
    }

    pub(super) fn enter(&mut self) -> Result<(), Denial> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let mut d = deny(
                "masking.too_complex",
                "statement too complex: too deeply nested to trace masked columns",
                "simplify the query",
            );
            d.sqlstate = crate::denial::SQLSTATE_TOO_COMPLEX;
            return Err(d);
        }
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// A column (or, with `None`, any column) of an unknown relation.
    pub(super) fn unknown_column(&mut self, relation: usize, column: Option<&str>) -> Source {
        match self.unknown_relations.get(relation).cloned() {
            Some((schemas, table)) => self.unknown_source(&schemas, &table, column),
            None => Source::Opaque,
        }
    }

    pub(super) fn unknown_source(
        &mut self,
        schemas: &[String],
        table: &str,
        column: Option<&str>,
    ) -> Source {
        let may_be_pii = schemas
            .iter()
            .any(|s| self.index.config().may_cover_relation(s, table));
        if may_be_pii {
            self.reads_pii = true;
        }
        self.unknowns.push(UnknownColumn {
            schemas: schemas.to_vec(),
            table: table.to_string(),
            column: column.map(str::to_string),
        });
        Source::Unknown(u32::try_from(self.unknowns.len() - 1).unwrap_or(u32::MAX))
    }

    pub(super) fn is_pii_source(&self, s: &Source) -> bool {
        match *s {
            Source::Column(rel, att) => self.index.column_strategy(rel, att).is_some(),
            Source::Unknown(i) => self.unknowns.get(i as usize).is_none_or(|u| {
                u.schemas.iter().any(|schema| match &u.column {
                    Some(c) => self
                        .index
                        .config()
                        .strategy_for(schema, &u.table, c)
                        .is_some(),
                    None => self.index.config().may_cover_relation(schema, &u.table),
                })
            }),
            Source::Opaque => self.reads_pii,
        }
    }

    pub(super) fn is_pii(&self, l: &Lineage) -> bool {
        l.sources.iter().any(|s| self.is_pii_source(s))
    }

    /// The strategy of an output fed by `l`, or `None` when it stays clear.
    pub(super) fn strategy(&self, l: &Lineage) -> Option<Strategy> {
        if !self.is_pii(l) {
            return None;
        }
        let strategies: Vec<Strategy> = l
            .sources
            .iter()
            .filter(|s| self.is_pii_source(s))
            .map(|s| match *s {
                Source::Column(rel, att) => self
                    .index
                    .column_strategy(rel, att)
                    .unwrap_or(Strategy::Redact),
                _ => Strategy::Redact,
            })
            .collect();
        // A plain copy of columns that share a strategy (a view's column and its table's, or
        // UNION ALL branches) is masked with it; anything computed gets the combined one.
        let plain_copy = !l.transformed && !l.sources.contains(&Source::Opaque);
        match strategies.split_first() {
            Some((first, rest)) if plain_copy && rest.iter().all(|s| s == first) => Some(*first),
            _ => Some(Strategy::combined(strategies)),
        }
    }

    /// A plain copy of PII, or free of it: what an equality lookup may compare.
    pub(super) fn lookup_side_ok(&self, l: &Lineage) -> bool {
        !self.is_pii(l) || (!l.transformed && !l.sources.contains(&Source::Opaque))
    }

    pub(super) fn allowed(&self, kind: SteerKind) -> bool {
        let a = self.allow;
        match kind {
            SteerKind::Predicate => a.predicates,
            SteerKind::OrderBy => a.order_by,
            SteerKind::GroupBy => a.group_by,
            SteerKind::Distinct => a.distinct,
        }
    }

    /// Judges the recorded checks; the first refusal wins.
    pub(super) fn judge_checks(&self) -> Result<(), Denial> {
        if let Some(d) = &self.pending_denial {
            return Err(d.clone());
        }
        for check in &self.checks {
            match check {
                Check::Steer {
                    lineage,
                    kind,
                    what,
                } => {
                    if self.is_pii(lineage) && !self.allowed(*kind) {
                        return Err(deny_with_detail(
                            "masking.inference",
                            format!("a masked column may not be used in {what}"),
                            "masked columns may only be compared for equality (=, IN, a bind parameter)",
                            "look rows up by the exact value, or use columns that are not masked",
                        ));
                    }
                }
                Check::Equal {
                    left,
                    right,
                    left_set,
                    right_set,
                    what,
                } => {
                    let against_set =
                        (self.is_pii(left) && *right_set) || (self.is_pii(right) && *left_set);
                    if against_set && !self.allowed(SteerKind::Predicate) {
                        return Err(deny_with_detail(
                            "masking.inference",
                            format!("a masked column may not be compared with a computed set of candidates in {what}"),
                            "a masked column may be compared for equality with constants, parameters or a table's columns",
                            "look rows up by the exact value",
                        ));
                    }
                    if (self.is_pii(left) || self.is_pii(right))
                        && !(self.lookup_side_ok(left) && self.lookup_side_ok(right))
                        && !self.allowed(SteerKind::Predicate)
                    {
                        return Err(deny_with_detail(
                            "masking.inference",
                            format!(
                                "a computed value of a masked column may not be compared in {what}"
                            ),
                            "only the masked column itself may be compared for equality",
                            "compare the column itself with the exact value: col = 'value'",
                        ));
                    }
                }
                Check::WholeRow { lineage } => {
                    if self.is_pii(lineage) {
                        return Err(deny(
                            "masking.whole_row",
                            "a whole-row reference to a relation with masked columns cannot be masked",
                            "select the columns by name (t.col, or t.*) instead of the row value",
                        ));
                    }
                }
                Check::CopyOut { lineage, what } => {
                    if self.is_pii(lineage) {
                        return Err(deny(
                            "masking.copy_out",
                            format!("{what} would copy masked columns out"),
                            "leave the masked columns out of what is copied",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
