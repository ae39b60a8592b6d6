//! A snapshot of the upstream's catalog as a plain value: schemas, relations and their
//! columns, types and domains, casts, operators and functions.
//!
//! The proxy loads it (`proxy/src/catalog.rs`) and hands it to the engine; policy only reads
//! it, so judging stays pure. Lookups go by oid, by schema-qualified name, and through a
//! search_path the way PostgreSQL resolves an unqualified name (`pg_catalog` first unless the
//! path lists it elsewhere; `pg_temp` is skipped for types, functions and operators).

use std::collections::HashMap;

use crate::search_path::effective_search_path;

mod objects;
pub use objects::*;

type QualifiedName = (String, String);

/// The snapshot with its indexes. Immutable once built; share it behind an `Arc`.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    parts: CatalogParts,
    relation_by_oid: HashMap<Oid, usize>,
    relation_by_name: HashMap<QualifiedName, usize>,
    type_by_oid: HashMap<Oid, usize>,
    type_by_name: HashMap<QualifiedName, usize>,
    cast_by_pair: HashMap<(Oid, Oid), usize>,
    operator_by_oid: HashMap<Oid, usize>,
    operators_by_name: HashMap<QualifiedName, Vec<usize>>,
    function_by_oid: HashMap<Oid, usize>,
    functions_by_name: HashMap<QualifiedName, Vec<usize>>,
}

fn qualified(schema: &str, name: &str) -> QualifiedName {
    (schema.to_string(), name.to_string())
}

impl Catalog {
    /// Indexes the rows.
    pub fn new(parts: CatalogParts) -> Self {
        let mut c = Catalog::default();
        for (i, r) in parts.relations.iter().enumerate() {
            c.relation_by_oid.insert(r.oid, i);
            c.relation_by_name.insert(qualified(&r.schema, &r.name), i);
        }
        for (i, t) in parts.types.iter().enumerate() {
            c.type_by_oid.insert(t.oid, i);
            c.type_by_name.insert(qualified(&t.schema, &t.name), i);
        }
        for (i, k) in parts.casts.iter().enumerate() {
            c.cast_by_pair.insert((k.source, k.target), i);
        }
        for (i, o) in parts.operators.iter().enumerate() {
            c.operator_by_oid.insert(o.oid, i);
            c.operators_by_name
                .entry(qualified(&o.schema, &o.name))
                .or_default()
                .push(i);
        }
        for (i, f) in parts.functions.iter().enumerate() {
            c.function_by_oid.insert(f.oid, i);
            c.functions_by_name
                .entry(qualified(&f.schema, &f.name))
                .or_default()
                .push(i);
        }
        c.parts = parts;
        c
    }

    /// Whether `other` holds the same rows, in whatever order they were read (a catalog read
    /// again after autovacuum moved rows is the same catalog).
    pub fn same_rows(&self, other: &Catalog) -> bool {
        fn same<T: PartialEq, K: std::hash::Hash + Eq>(
            mine: &[T],
            theirs: &[T],
            index: &HashMap<K, usize>,
            key: impl Fn(&T) -> K,
        ) -> bool {
            mine.len() == theirs.len()
                && mine
                    .iter()
                    .all(|row| index.get(&key(row)).and_then(|&i| theirs.get(i)) == Some(row))
        }
        let (a, b) = (&self.parts, &other.parts);
        let mut schemas = [a.schemas.clone(), b.schemas.clone()];
        for s in &mut schemas {
            s.sort_by_key(|s| s.oid);
        }
        schemas[0] == schemas[1]
            && same(&a.relations, &b.relations, &other.relation_by_oid, |r| {
                r.oid
            })
            && same(&a.types, &b.types, &other.type_by_oid, |t| t.oid)
            && same(&a.casts, &b.casts, &other.cast_by_pair, |k| {
                (k.source, k.target)
            })
            && same(&a.operators, &b.operators, &other.operator_by_oid, |o| {
                o.oid
            })
            && same(&a.functions, &b.functions, &other.function_by_oid, |f| {
                f.oid
            })
    }

    /// The rows the catalog was built from.
    pub fn parts(&self) -> &CatalogParts {
        &self.parts
    }

    pub fn schemas(&self) -> &[Schema] {
        &self.parts.schemas
    }

    pub fn has_schema(&self, name: &str) -> bool {
        self.parts.schemas.iter().any(|s| s.name == name)
    }

    pub fn relation(&self, oid: Oid) -> Option<&Relation> {
        self.relation_by_oid
            .get(&oid)
            .and_then(|&i| self.parts.relations.get(i))
    }

    pub fn relation_by_name(&self, schema: &str, name: &str) -> Option<&Relation> {
        self.relation_by_name
            .get(&qualified(schema, name))
            .and_then(|&i| self.parts.relations.get(i))
    }

    /// An unqualified relation name resolved through `search_path` (folded schema names):
    /// `pg_temp` schemas first, then `pg_catalog` unless listed, then the path in order.
    pub fn resolve_relation(&self, name: &str, search_path: &[String]) -> Option<&Relation> {
        let temp = self
            .parts
            .schemas
            .iter()
            .filter(|s| s.name.starts_with("pg_temp_"))
            .find_map(|s| self.relation_by_name(&s.name, name));
        temp.or_else(|| {
            effective_search_path(search_path)
                .find_map(|schema| self.relation_by_name(schema, name))
        })
    }

    pub fn type_by_oid(&self, oid: Oid) -> Option<&Type> {
        self.type_by_oid
            .get(&oid)
            .and_then(|&i| self.parts.types.get(i))
    }

    pub fn type_by_name(&self, schema: &str, name: &str) -> Option<&Type> {
        self.type_by_name
            .get(&qualified(schema, name))
            .and_then(|&i| self.parts.types.get(i))
    }

    /// An unqualified type name resolved through `search_path`.
    pub fn resolve_type(&self, name: &str, search_path: &[String]) -> Option<&Type> {
        effective_search_path(search_path).find_map(|schema| self.type_by_name(schema, name))
    }

    /// The cast from `source` to `target`, if `pg_cast` has one.
    pub fn cast(&self, source: Oid, target: Oid) -> Option<&Cast> {
        self.cast_by_pair
            .get(&(source, target))
            .and_then(|&i| self.parts.casts.get(i))
    }

    /// Every cast whose target is `target` (what a cast to that type may run).
    pub fn casts_to(&self, target: Oid) -> impl Iterator<Item = &Cast> {
        self.parts.casts.iter().filter(move |c| c.target == target)
    }

    pub fn casts(&self) -> &[Cast] {
        &self.parts.casts
    }

    pub fn operator(&self, oid: Oid) -> Option<&Operator> {
        self.operator_by_oid
            .get(&oid)
            .and_then(|&i| self.parts.operators.get(i))
    }

    /// Every operator called `name` in `schema` (all argument types).
    pub fn operators_named(&self, schema: &str, name: &str) -> Vec<&Operator> {
        self.operators_by_name
            .get(&qualified(schema, name))
            .map(|ix| {
                ix.iter()
                    .filter_map(|&i| self.parts.operators.get(i))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every operator an unqualified `name` may resolve to through `search_path` (PostgreSQL
    /// picks among all of them by argument types, so a judge must consider each).
    pub fn resolve_operators(&self, name: &str, search_path: &[String]) -> Vec<&Operator> {
        effective_search_path(search_path)
            .flat_map(|schema| self.operators_named(schema, name))
            .collect()
    }

    pub fn function(&self, oid: Oid) -> Option<&Function> {
        self.function_by_oid
            .get(&oid)
            .and_then(|&i| self.parts.functions.get(i))
    }

    /// Every function called `name` in `schema` (all overloads).
    pub fn functions_named(&self, schema: &str, name: &str) -> Vec<&Function> {
        self.functions_by_name
            .get(&qualified(schema, name))
            .map(|ix| {
                ix.iter()
                    .filter_map(|&i| self.parts.functions.get(i))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every function an unqualified `name` may resolve to through `search_path`, in path
    /// order, less those a function of the same argument types in an earlier schema hides
    /// (PostgreSQL never picks a hidden one).
    pub fn resolve_functions(&self, name: &str, search_path: &[String]) -> Vec<&Function> {
        let mut out: Vec<&Function> = Vec::new();
        for f in effective_search_path(search_path).flat_map(|s| self.functions_named(s, name)) {
            if !out.iter().any(|e| e.arg_types == f.arg_types) {
                out.push(f);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
