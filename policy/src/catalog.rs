//! A snapshot of the upstream's catalog as a plain value: schemas, relations and their
//! columns, types and domains, casts, operators and functions.
//!
//! The proxy loads it (`proxy/src/catalog.rs`) and hands it to the engine; policy only reads
//! it, so judging stays pure. Lookups go by oid, by schema-qualified name, and through a
//! search_path the way PostgreSQL resolves an unqualified name (`pg_catalog` first unless the
//! path lists it elsewhere; `pg_temp` is skipped for types, functions and operators).

use std::collections::HashMap;

use crate::search_path::effective_search_path;

/// A PostgreSQL object identifier.
pub type Oid = u32;

/// One schema (`pg_namespace`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    pub oid: Oid,
    pub name: String,
}

/// What a relation is (`pg_class.relkind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelationKind {
    /// `r`
    Table,
    /// `v`
    View,
    /// `m`
    MaterializedView,
    /// `f`
    ForeignTable,
    /// `p`
    PartitionedTable,
    /// `S`
    Sequence,
    /// `c`
    CompositeType,
    /// Indexes, TOAST tables and anything newer.
    Other,
}

impl RelationKind {
    /// From `pg_class.relkind`.
    pub fn from_relkind(relkind: char) -> Self {
        match relkind {
            'r' => RelationKind::Table,
            'v' => RelationKind::View,
            'm' => RelationKind::MaterializedView,
            'f' => RelationKind::ForeignTable,
            'p' => RelationKind::PartitionedTable,
            'S' => RelationKind::Sequence,
            'c' => RelationKind::CompositeType,
            _ => RelationKind::Other,
        }
    }
}

/// One column of a relation (`pg_attribute`, user columns only: attnum > 0, not dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub attnum: i16,
    pub type_oid: Oid,
    pub not_null: bool,
}

/// One relation (`pg_class`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    pub kind: RelationKind,
    /// In attnum order.
    pub columns: Vec<Column>,
    /// `pg_get_viewdef` for views and materialized views: the SQL PostgreSQL runs when the
    /// view is read.
    pub view_definition: Option<String>,
}

impl Relation {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// What a type is (`pg_type.typtype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeKind {
    /// `b`
    Base,
    /// `c`
    Composite,
    /// `d`
    Domain,
    /// `e`
    Enum,
    /// `p`
    Pseudo,
    /// `r`
    Range,
    /// `m`
    Multirange,
    Other,
}

impl TypeKind {
    /// From `pg_type.typtype`.
    pub fn from_typtype(typtype: char) -> Self {
        match typtype {
            'b' => TypeKind::Base,
            'c' => TypeKind::Composite,
            'd' => TypeKind::Domain,
            'e' => TypeKind::Enum,
            'p' => TypeKind::Pseudo,
            'r' => TypeKind::Range,
            'm' => TypeKind::Multirange,
            _ => TypeKind::Other,
        }
    }
}

/// One type or domain (`pg_type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    pub kind: TypeKind,
    /// A domain's base type (`typbasetype`).
    pub base_type: Option<Oid>,
    /// An array type's element type (`typelem` where `typcategory = 'A'`).
    pub element_type: Option<Oid>,
    /// Functions a domain's CHECK constraints call (from `pg_depend` on its constraints).
    pub check_functions: Vec<Oid>,
    /// Input and output functions (`typinput`, `typoutput`): a literal of the type runs them.
    pub io_functions: Vec<Oid>,
}

/// When a cast applies without being written (`pg_cast.castcontext`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CastContext {
    /// `e`: only with an explicit `CAST` / `::`.
    Explicit,
    /// `a`: also on assignment to a column.
    Assignment,
    /// `i`: also implicitly in expressions.
    Implicit,
}

impl CastContext {
    /// From `pg_cast.castcontext`; anything unknown is taken as the widest (implicit).
    pub fn from_castcontext(c: char) -> Self {
        match c {
            'e' => CastContext::Explicit,
            'a' => CastContext::Assignment,
            _ => CastContext::Implicit,
        }
    }
}

/// One cast (`pg_cast`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cast {
    pub oid: Oid,
    pub source: Oid,
    pub target: Oid,
    /// The function that performs it; `None` for binary-coercible and I/O casts.
    pub function: Option<Oid>,
    pub context: CastContext,
}

/// One operator (`pg_operator`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    /// `None` for a prefix operator.
    pub left: Option<Oid>,
    pub right: Oid,
    /// The function that implements it (`oprcode`).
    pub function: Oid,
}

/// `pg_proc.provolatile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

impl Volatility {
    /// From `pg_proc.provolatile`; anything unknown is volatile.
    pub fn from_provolatile(c: char) -> Self {
        match c {
            'i' => Volatility::Immutable,
            's' => Volatility::Stable,
            _ => Volatility::Volatile,
        }
    }
}

/// `pg_proc.prokind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    Function,
    Aggregate,
    Window,
    Procedure,
}

impl FunctionKind {
    /// From `pg_proc.prokind`.
    pub fn from_prokind(c: char) -> Self {
        match c {
            'a' => FunctionKind::Aggregate,
            'w' => FunctionKind::Window,
            'p' => FunctionKind::Procedure,
            _ => FunctionKind::Function,
        }
    }
}

/// One function or procedure (`pg_proc`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub oid: Oid,
    pub schema: String,
    pub name: String,
    /// Input argument types (`proargtypes`).
    pub arg_types: Vec<Oid>,
    pub volatility: Volatility,
    /// `pg_language.lanname`: `internal`, `c`, `sql`, `plpgsql`, ...
    pub language: String,
    pub security_definer: bool,
    pub returns_set: bool,
    pub kind: FunctionKind,
}

/// The rows a catalog is built from, as the proxy loads them.
#[derive(Clone, Debug, Default)]
pub struct CatalogParts {
    pub schemas: Vec<Schema>,
    pub relations: Vec<Relation>,
    pub types: Vec<Type>,
    pub casts: Vec<Cast>,
    pub operators: Vec<Operator>,
    pub functions: Vec<Function>,
}

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

    /// Every function an unqualified `name` may resolve to through `search_path`.
    pub fn resolve_functions(&self, name: &str, search_path: &[String]) -> Vec<&Function> {
        effective_search_path(search_path)
            .flat_map(|schema| self.functions_named(schema, name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(oid: Oid, schema: &str, name: &str) -> Function {
        Function {
            oid,
            schema: schema.into(),
            name: name.into(),
            arg_types: vec![],
            volatility: Volatility::Volatile,
            language: "sql".into(),
            security_definer: false,
            returns_set: false,
            kind: FunctionKind::Function,
        }
    }

    #[test]
    fn resolves_through_the_search_path_with_pg_catalog_first() {
        let catalog = Catalog::new(CatalogParts {
            functions: vec![
                function(1, "public", "now"),
                function(2, "pg_catalog", "now"),
                function(3, "app", "f"),
            ],
            ..Default::default()
        });
        let path = vec!["public".to_string(), "app".to_string()];
        let now: Vec<Oid> = catalog
            .resolve_functions("now", &path)
            .iter()
            .map(|f| f.oid)
            .collect();
        assert_eq!(now, vec![2, 1]);
        assert_eq!(catalog.resolve_functions("f", &path)[0].oid, 3);
        assert!(catalog
            .resolve_functions("f", &["public".into()])
            .is_empty());
        let late = vec!["public".to_string(), "pg_catalog".to_string()];
        assert_eq!(catalog.resolve_functions("now", &late)[0].oid, 1);
        assert_eq!(catalog.function(3).map(|f| f.name.as_str()), Some("f"));
    }
}
