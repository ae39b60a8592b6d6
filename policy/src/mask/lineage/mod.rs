//! Lineage on PostgreSQL's own parse tree: for each output column of a statement, the set of
//! source columns that feed it, plus every use of a column that steers the result (WHERE,
//! ORDER BY, ...), whole-row references and copies out, recorded as [`Check`]s and judged once
//! the whole statement has been read (whether an opaque origin counts as PII depends on
//! whether the statement reads PII at all).
//!
//! Rooms: [`sources`] (lineage values), [`analyzer`] (state and checks), [`scope`] (range
//! items and name resolution), [`from`] (FROM items, CTE and view expansion), [`function`]
//! (functions in FROM), [`join`], [`select`] (SELECT bodies, set operations, VALUES,
//! clauses), [`output_name`], [`expr`]
//! (expressions), [`steer`] (predicates), [`stmt`] (statement kinds, plans), [`writes`]
//! (INSERT/UPDATE/DELETE/MERGE, DDL), [`names`] (functions and relations with a fixed
//! meaning), [`nodes`] (tree helpers).

mod analyzer;
mod calls;
mod expr;
mod fallible;
mod from;
mod function;
mod join;
mod names;
mod nodes;
mod opaque;
mod output_name;
mod scope;
mod select;
mod sources;
mod steer;
mod stmt;
mod with;
mod writes;

pub use stmt::{analyze, analyze_parsed, view_column_strategies};

/// Whether `schema.name` runs a query, or reads a table, named in its arguments' text
/// (`query_to_xml`, `table_to_xml`, `ts_stat`, ...): the masking plan cannot see what it
/// reads, nor the write guard what it runs.
pub(crate) fn runs_query_text(schema: Option<&str>, name: &str) -> bool {
    names::is_query_string_function(schema, name)
}
