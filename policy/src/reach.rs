//! User code a statement reaches without naming a function, found through the catalog
//! snapshot: operators (qualified, or resolved through search_path to a user schema), casts to
//! and CHECK constraints of domains, type I/O functions, and the definitions of views read.
//! Each reached function is judged as if the statement called it.
//!
//! Without a catalog only what the text itself shows can be judged: an operator qualified
//! with a schema other than pg_catalog is refused (fail closed); an unqualified one is taken
//! to be pg_catalog's, as PostgreSQL finds it first for built-in types.

use crate::catalog::{Catalog, Function, Oid, RelationKind, TypeKind};
use crate::operators;
use crate::pg_facts::{OperatorUse, PgFacts};
use crate::search_path::has_unresolved_user;

/// How deep views over views and domains over domains are followed.
const MAX_DEPTH: usize = 8;

/// Operator names pg_catalog defines (PostgreSQL 15-18); without a catalog an unqualified
/// operator outside this list may be user code and is refused for read-only roles.
#[rustfmt::skip]
const BUILTIN_OPERATORS: &[&str] = &[
    "=", "<>", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "^", "|/", "||/", "@", "&", "|",
    "#", "~", "<<", ">>", "||", "~~", "~~*", "!~~", "!~~*", "~*", "!~", "!~*", "@>", "<@", "&&",
    "?|", "?&", "?", "->", "->>", "#>", "#>>", "#-", "@?", "@@", "@@@", "<->", "<<|", "|>>", "&<",
    "&>", "&<|", "|&>", "<^", ">^", "?#", "?-", "?-|", "?||", "~=", "<<=", ">>=", "!!", "##",
    "@-@", "-|-", "*<", "*>", "*<=", "*>=", "*=", "*<>", "<%", "%>", "<<%", "%>>", "<<->",
    "<->>", "^@", "~<~", "~<=~", "~>=~", "~>~", "<#>", "<=>",
];

/// pg_catalog type names written unqualified (the grammar qualifies its keyword types itself:
/// `int` is `pg_catalog.int4`); without a catalog any other unqualified type name may be a
/// user domain and is refused for read-only roles.
#[rustfmt::skip]
const BUILTIN_TYPES: &[&str] = &[
    "bool", "bytea", "char", "name", "int8", "int2", "int2vector", "int4", "regproc", "text",
    "oid", "tid", "xid", "xid8", "cid", "oidvector", "json", "jsonb", "jsonpath", "xml",
    "pg_node_tree", "pg_ndistinct", "pg_dependencies", "pg_mcv_list", "pg_ddl_command", "point",
    "lseg", "path", "box", "polygon", "line", "float4", "float8", "unknown", "circle", "money",
    "macaddr", "macaddr8", "inet", "cidr", "aclitem", "bpchar", "varchar", "date", "time",
    "timestamp", "timestamptz", "interval", "timetz", "bit", "varbit", "numeric", "refcursor",
    "regprocedure", "regoper", "regoperator", "regclass", "regcollation", "regtype", "regrole",
    "regnamespace", "regconfig", "regdictionary", "uuid", "pg_lsn", "tsvector", "gtsvector",
    "tsquery", "txid_snapshot", "pg_snapshot", "int4range", "numrange", "tsrange", "tstzrange",
    "daterange", "int8range", "int4multirange", "nummultirange", "tsmultirange",
    "tstzmultirange", "datemultirange", "int8multirange", "record", "cstring", "any",
    "anyarray", "anyelement", "anynonarray", "anyenum", "anyrange", "anymultirange", "void",
    "trigger", "event_trigger", "internal", "pg_brin_bloom_summary",
    "pg_brin_minmax_multi_summary", "smallint", "integer", "bigint", "real", "boolean",
    "decimal", "float", "character", "double precision", "dec", "int", "_text", "_int4",
    "_int2", "_oid", "_name", "_char", "_aclitem", "_float4", "_float8", "_regtype",
];

/// A function reached by a statement, or something reached that cannot be judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    /// Judge this function as a call: (schema, name), and through what it was reached.
    Function(Vec<String>, String),
    /// A qualified operator or type we cannot resolve (no catalog, or not in it).
    Unresolved(String),
}

struct Walk<'a> {
    catalog: Option<&'a Catalog>,
    out: Vec<Reached>,
    seen_types: Vec<Oid>,
    seen_relations: Vec<Oid>,
}

/// Every function `facts` reaches through operators, types and views.
pub fn reached(facts: &PgFacts, catalog: Option<&Catalog>, search_path: &[String]) -> Vec<Reached> {
    let mut w = Walk {
        catalog,
        out: vec![],
        seen_types: vec![],
        seen_relations: vec![],
    };
    w.facts(facts, search_path, 0);
    w.out
}

fn user_schema(schema: &str) -> bool {
    schema != "pg_catalog" && schema != "information_schema"
}

impl Walk<'_> {
    fn function(&mut self, f: &Function, via: String) {
        if user_schema(&f.schema) {
            self.out.push(Reached::Function(
                vec![f.schema.clone(), f.name.clone()],
                via,
            ));
        }
    }

    fn function_oid(&mut self, oid: Oid, via: String) {
        let Some(c) = self.catalog else { return };
        match c.function(oid) {
            Some(f) => {
                let f = f.clone();
                self.function(&f, via);
            }
            None => self
                .out
                .push(Reached::Unresolved(format!("function {oid} ({via})"))),
        }
    }

    fn facts(&mut self, facts: &PgFacts, search_path: &[String], depth: usize) {
        for op in &facts.operators {
            self.operator(op, facts, search_path);
        }
        for t in &facts.types {
            self.type_name(t, search_path, depth);
        }
        for (schema, name) in &facts.relations {
            self.relation(schema.as_deref(), name, search_path, depth);
        }
        // An unqualified call PostgreSQL may resolve to a user schema's function of the same
        // name (a better match on argument types wins over pg_catalog's).
        if let Some(c) = self.catalog {
            for name in &facts.functions {
                if let [n] = name.as_slice() {
                    let shadows: Vec<Function> = c
                        .resolve_functions(n, search_path)
                        .into_iter()
                        .filter(|f| user_schema(&f.schema))
                        .cloned()
                        .collect();
                    for f in shadows {
                        self.function(&f, format!("call of {n} resolved through search_path"));
                    }
                }
            }
        }
    }

    fn operator(&mut self, use_: &OperatorUse, facts: &PgFacts, search_path: &[String]) {
        let name = use_.name.as_slice();
        // BETWEEN's operators are collected as the comparisons PostgreSQL looks up for it.
        if let [op] = name {
            if op.contains("BETWEEN") {
                return;
            }
        }
        let (schema, op) = match name {
            [op] => (None, op.as_str()),
            [schema, op] => (Some(schema.as_str()), op.as_str()),
            _ => {
                self.out
                    .push(Reached::Unresolved(format!("operator {}", name.join("."))));
                return;
            }
        };
        let Some(c) = self.catalog else {
            match schema {
                Some(s) if user_schema(s) => self
                    .out
                    .push(Reached::Unresolved(format!("operator {s}.{op}"))),
                None if !BUILTIN_OPERATORS.contains(&op) => {
                    self.out.push(Reached::Unresolved(format!("operator {op}")))
                }
                _ => {}
            }
            return;
        };
        let candidates = match schema {
            Some(s) => c.operators_named(s, op),
            None => c.resolve_operators(op, search_path),
        };
        if schema.is_none() && !candidates.iter().any(|o| o.schema == "pg_catalog") {
            self.shadowed_by_user(&format!("operator {op}"), None, search_path);
        }
        if candidates.is_empty() && schema.is_some_and(user_schema) {
            self.out
                .push(Reached::Unresolved(format!("operator {}", name.join("."))));
        }
        let user: Vec<(Oid, String)> =
            operators::reachable(candidates, use_, facts, c, search_path, |o| {
                user_schema(&o.schema)
            })
            .into_iter()
            .map(|o| (o.function, format!("operator {}.{}", o.schema, o.name)))
            .collect();
        for (f, via) in user {
            self.function_oid(f, via);
        }
    }

    fn type_name(&mut self, name: &[String], search_path: &[String], depth: usize) {
        let parts: Vec<&str> = name.iter().map(String::as_str).collect();
        let (schema, base) = match parts.as_slice() {
            [t] => (None, *t),
            [s, t] => (Some(*s), *t),
            [_, s, t] => (Some(*s), *t),
            _ => return,
        };
        let Some(c) = self.catalog else {
            match schema {
                Some(s) if user_schema(s) => self
                    .out
                    .push(Reached::Unresolved(format!("type {s}.{base}"))),
                // An unqualified name outside pg_catalog's types may be a user domain.
                None if !BUILTIN_TYPES.contains(&base) => {
                    self.out.push(Reached::Unresolved(format!("type {base}")))
                }
                _ => {}
            }
            return;
        };
        let found = match schema {
            Some(s) => c.type_by_name(s, base),
            None => {
                let t = c.resolve_type(base, search_path);
                let found_in = t.map(|t| t.schema.clone());
                self.shadowed_by_user(&format!("type {base}"), found_in.as_deref(), search_path);
                t
            }
        };
        match found {
            Some(t) => {
                let oid = t.oid;
                self.type_oid(oid, depth);
            }
            None if schema.is_some_and(user_schema) => self
                .out
                .push(Reached::Unresolved(format!("type {}", name.join(".")))),
            // Grammar type names (`int`, `varchar`, `timestamp with time zone`) map to
            // pg_catalog types under other names.
            None => {}
        }
    }

    fn type_oid(&mut self, oid: Oid, depth: usize) {
        let Some(c) = self.catalog else { return };
        if depth > MAX_DEPTH || self.seen_types.contains(&oid) {
            return;
        }
        self.seen_types.push(oid);
        let Some(t) = c.type_by_oid(oid).cloned() else {
            return;
        };
        let label = format!("type {}.{}", t.schema, t.name);
        for f in &t.check_functions {
            self.function_oid(*f, format!("CHECK of domain {}.{}", t.schema, t.name));
        }
        let casts: Vec<Oid> = c.casts_to(oid).filter_map(|k| k.function).collect();
        for f in casts {
            self.function_oid(f, format!("cast to {label}"));
        }
        if t.kind == TypeKind::Domain {
            if let Some(base) = t.base_type {
                self.type_oid(base, depth + 1);
            }
        }
        if let Some(elem) = t.element_type {
            self.type_oid(elem, depth + 1);
        }
    }

    /// The CHECK functions of a domain (and of the domains it is based on).
    fn domain_checks(&mut self, oid: Oid, depth: usize) {
        let Some(c) = self.catalog else { return };
        if depth > MAX_DEPTH {
            return;
        }
        let Some(t) = c.type_by_oid(oid) else { return };
        if t.kind != TypeKind::Domain {
            return;
        }
        let (checks, base, label) = (
            t.check_functions.clone(),
            t.base_type,
            format!("CHECK of domain {}.{}", t.schema, t.name),
        );
        for f in checks {
            self.function_oid(f, label.clone());
        }
        if let Some(b) = base {
            self.domain_checks(b, depth + 1);
        }
    }

    /// An unqualified name found outside pg_catalog (or not at all) while the path holds a
    /// `$user` pgward could not resolve: that schema may hold one of the same name first.
    fn shadowed_by_user(&mut self, what: &str, found_in: Option<&str>, search_path: &[String]) {
        if has_unresolved_user(search_path) && found_in != Some("pg_catalog") {
            self.out.push(Reached::Unresolved(format!(
                "{what} (search_path's $user names a schema pgward cannot resolve)"
            )));
        }
    }

    fn relation(&mut self, schema: Option<&str>, name: &str, search_path: &[String], depth: usize) {
        let Some(c) = self.catalog else { return };
        let rel = match schema {
            Some(s) => c.relation_by_name(s, name),
            None => {
                let rel = c.resolve_relation(name, search_path);
                let temp = rel.is_some_and(|r| r.schema.starts_with("pg_temp_"));
                if !temp {
                    let found_in = rel.map(|r| r.schema.clone());
                    self.shadowed_by_user(
                        &format!("relation {name}"),
                        found_in.as_deref(),
                        search_path,
                    );
                }
                rel
            }
        };
        let Some(rel) = rel else { return };
        if depth > MAX_DEPTH || self.seen_relations.contains(&rel.oid) {
            return;
        }
        self.seen_relations.push(rel.oid);
        // A value of a domain column compared with a literal is coerced to the domain, which
        // runs its CHECK.
        let domain_columns: Vec<Oid> = rel.columns.iter().map(|c| c.type_oid).collect();
        for t in domain_columns {
            self.domain_checks(t, depth + 1);
        }
        // Reading a materialized view does not run its definition; reading a view does.
        if rel.kind != RelationKind::View {
            return;
        }
        let Some(def) = rel.view_definition.clone() else {
            return;
        };
        let label = format!("view {}.{}", rel.schema, rel.name);
        // The loader renders definitions with search_path = pg_catalog: every other name in
        // them is schema-qualified.
        let path = vec!["pg_catalog".to_string()];
        match crate::pg_facts::facts_of_text(&def) {
            Ok(all) => {
                for f in all {
                    for name in &f.functions {
                        self.view_call(name, &label);
                    }
                    self.facts(&f, &path, depth + 1);
                }
            }
            Err(_) => self
                .out
                .push(Reached::Unresolved(format!("definition of {label}"))),
        }
    }

    /// A function the view's definition calls: judged like a call in the statement.
    fn view_call(&mut self, name: &[String], label: &str) {
        match name {
            [n] => self.out.push(Reached::Function(
                vec!["pg_catalog".into(), n.clone()],
                label.to_string(),
            )),
            _ => self
                .out
                .push(Reached::Function(name.to_vec(), label.to_string())),
        }
    }
}
