//! `[masking]` resolved against the catalog snapshot: which (relation oid, attnum) are PII and
//! with which strategy, the relations lineage needs (columns, view definitions), and which
//! type oids are text-like. Built once per policy snapshot; read-only afterwards.

use std::collections::{HashMap, HashSet};

use super::config::{MaskConfig, Strategy};
use super::value::TEXT_LIKE_OIDS;

/// One column of a relation, as the catalog snapshot has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnShape {
    pub name: String,
    pub attnum: i16,
    pub type_oid: u32,
}

/// One relation (table, view, materialized view, foreign table, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationShape {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// User columns in attnum order.
    pub columns: Vec<ColumnShape>,
    /// `pg_get_viewdef` of a view or materialized view.
    pub view_definition: Option<String>,
}

/// The resolved masking policy. `MaskIndex::default()` masks nothing.
#[derive(Clone, Debug, Default)]
pub struct MaskIndex {
    config: MaskConfig,
    relations: Vec<RelationShape>,
    by_oid: HashMap<u32, usize>,
    by_name: HashMap<(String, String), usize>,
    pii: HashMap<(u32, i16), Strategy>,
    pii_relations: HashSet<u32>,
    extra_text_like: HashSet<u32>,
    view_search_path: Vec<String>,
    /// Names of pg_catalog functions, when the snapshot has them: an unqualified call to any
    /// other name is user code (opaque).
    builtin_functions: Option<HashSet<String>>,
    /// Names of functions that return a set (`proretset`), beyond the built-in list.
    set_returning: HashSet<String>,
}

impl MaskIndex {
    /// The config applied to the relations' own columns (no views resolved yet).
    pub(super) fn unresolved(
        config: MaskConfig,
        relations: Vec<RelationShape>,
        text_like_oids: impl IntoIterator<Item = u32>,
        view_search_path: Vec<String>,
        functions: Option<(HashSet<String>, HashSet<String>)>,
    ) -> MaskIndex {
        let (builtin_functions, set_returning) = match functions {
            Some((b, s)) => (Some(b), s),
            None => (None, HashSet::new()),
        };
        let mut index = MaskIndex {
            config,
            view_search_path,
            extra_text_like: text_like_oids.into_iter().collect(),
            builtin_functions,
            set_returning,
            ..MaskIndex::default()
        };
        for (i, r) in relations.iter().enumerate() {
            index.by_oid.insert(r.oid, i);
            index.by_name.insert((r.schema.clone(), r.name.clone()), i);
            for c in &r.columns {
                if let Some(s) = index.config.strategy_for(&r.schema, &r.name, &c.name) {
                    index.pii.insert((r.oid, c.attnum), s);
                    index.pii_relations.insert(r.oid);
                }
            }
        }
        index.relations = relations;
        index
    }

    /// Marks a view's column as PII (derived from what it reads); a column named by a
    /// pattern keeps its own strategy.
    pub(super) fn add_derived(&mut self, relation: u32, attnum: i16, strategy: Strategy) {
        self.pii.entry((relation, attnum)).or_insert(strategy);
        self.pii_relations.insert(relation);
    }

    /// Every relation of the snapshot.
    pub fn relations(&self) -> &[RelationShape] {
        &self.relations
    }

    /// Whether an unqualified function name is known to be PostgreSQL's own (true when the
    /// snapshot lists no functions).
    pub fn is_builtin_function(&self, name: &str) -> bool {
        self.builtin_functions
            .as_ref()
            .is_none_or(|names| names.contains(name))
    }

    pub fn is_set_returning(&self, name: &str) -> bool {
        self.set_returning.contains(name)
    }

    pub fn config(&self) -> &MaskConfig {
        &self.config
    }

    /// Whether masking has anything to do at all.
    pub fn is_active(&self) -> bool {
        !self.config.is_empty()
    }

    /// The strategy of a PII column (table or view), by the oid/attnum RowDescription carries.
    pub fn column_strategy(&self, relation: u32, attnum: i16) -> Option<Strategy> {
        self.pii.get(&(relation, attnum)).copied()
    }

    /// Whether a relation has a PII column (directly or through a view).
    pub fn has_pii(&self, relation: u32) -> bool {
        self.pii_relations.contains(&relation)
    }

    pub fn is_text_like(&self, type_oid: u32) -> bool {
        TEXT_LIKE_OIDS.contains(&type_oid) || self.extra_text_like.contains(&type_oid)
    }

    pub fn relation_by_oid(&self, oid: u32) -> Option<&RelationShape> {
        self.by_oid.get(&oid).and_then(|&i| self.relations.get(i))
    }

    pub fn relation(&self, schema: &str, name: &str) -> Option<&RelationShape> {
        self.by_name
            .get(&(schema.to_string(), name.to_string()))
            .and_then(|&i| self.relations.get(i))
    }

    /// An unqualified name through `search_path` as PostgreSQL resolves relations: temporary
    /// schemas first, `pg_catalog` unless listed, then the path (`$user` skipped).
    pub fn resolve(&self, name: &str, search_path: &[String]) -> Option<&RelationShape> {
        self.relations
            .iter()
            .find(|r| r.schema.starts_with("pg_temp_") && r.name == name)
            .or_else(|| {
                schemas_searched(search_path).find_map(|schema| self.relation(schema, name))
            })
    }

    /// Every relation called `name`, in any schema.
    pub fn relations_named(&self, name: &str) -> Vec<&RelationShape> {
        self.relations.iter().filter(|r| r.name == name).collect()
    }

    pub fn view_search_path(&self) -> &[String] {
        &self.view_search_path
    }
}

/// `pg_catalog` first unless the path lists it, then the path; `$user` and `pg_temp` skipped.
pub fn schemas_searched(search_path: &[String]) -> impl Iterator<Item = &str> {
    let implicit = !search_path.iter().any(|s| s == "pg_catalog");
    implicit.then_some("pg_catalog").into_iter().chain(
        search_path
            .iter()
            .map(String::as_str)
            .filter(|s| *s != "$user" && *s != "pg_temp"),
    )
}
