//! Building the [`MaskIndex`]: the config applied to the relations' columns, then views
//! resolved through their definitions (a view column fed by PII is PII itself, so the
//! table oid/attnum RowDescription gives for a view column is masked too).

use std::collections::HashSet;

use super::config::{is_system_schema, MaskConfig, Strategy};
use super::index::{MaskIndex, RelationShape};
use super::lineage;

impl MaskIndex {
    /// Resolves `config` against `relations`. `text_like_oids` adds type oids masked as text
    /// (citext, domains over text: their oids differ per database). View definitions are
    /// resolved with `view_search_path` (the path `pg_get_viewdef` ran under).
    pub fn build(
        config: MaskConfig,
        relations: Vec<RelationShape>,
        text_like_oids: impl IntoIterator<Item = u32>,
        view_search_path: Vec<String>,
    ) -> MaskIndex {
        Self::build_with_functions(config, relations, text_like_oids, view_search_path, None)
    }

    /// Like [`MaskIndex::build`], with the function names of the snapshot: `(builtin,
    /// set_returning)`, pg_catalog's names and those with `proretset`. With them, an
    /// unqualified call to a name pg_catalog lacks is user code (opaque).
    pub fn build_with_functions(
        config: MaskConfig,
        relations: Vec<RelationShape>,
        text_like_oids: impl IntoIterator<Item = u32>,
        view_search_path: Vec<String>,
        functions: Option<(HashSet<String>, HashSet<String>)>,
    ) -> MaskIndex {
        let mut index = MaskIndex::unresolved(
            config,
            relations,
            text_like_oids,
            view_search_path,
            functions,
        );
        if !index.is_active() {
            return index;
        }
        let mut derived = Vec::new();
        for r in index.relations() {
            let Some(definition) = &r.view_definition else {
                continue;
            };
            // PostgreSQL's own views read only system catalogs.
            if is_system_schema(&r.schema) {
                continue;
            }
            match lineage::view_column_strategies(definition, &index) {
                Ok(strategies) => {
                    for (c, s) in r.columns.iter().zip(strategies) {
                        if let Some(s) = s {
                            derived.push((r.oid, c.attnum, s));
                        }
                    }
                }
                // A view pgward cannot trace is masked whole (fail closed).
                Err(_) => {
                    for c in &r.columns {
                        derived.push((r.oid, c.attnum, Strategy::Redact));
                    }
                }
            }
        }
        for (oid, attnum, s) in derived {
            index.add_derived(oid, attnum, s);
        }
        index
    }
}
