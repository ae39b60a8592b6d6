//! Name resolution in subqueries, as PostgreSQL does it: an unqualified column belongs to
//! the nearest enclosing query whose FROM provides it. Where the catalog tells every column
//! a subquery's FROM provides (plain relations, joins of them), a name it lacks resolves
//! outward, possibly to the write's target (`id IN (SELECT id FROM v)` with `v(x)` is
//! `id IN (SELECT t.id FROM v)`). Otherwise the name is taken to be the subquery's own.

use serde_json::Value;

use super::tree::node;
use crate::catalog::Catalog;

/// System columns every table has.
const SYSTEM_COLUMNS: &[&str] = &["ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"];

/// The columns one subquery level provides to unqualified names.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Exactly these (from the catalog).
    Known(Vec<String>),
    /// Unknown (no catalog, a CTE, a function, a subquery, renamed columns): every
    /// unqualified name is taken to be this level's.
    Opaque,
}

impl Scope {
    /// The scope a FROM list (`from_clause` of a SelectStmt) opens.
    pub fn of(from: &Value, catalog: Option<&Catalog>, search_path: &[String]) -> Scope {
        let (Some(catalog), Value::Array(items)) = (catalog, from) else {
            return Scope::Opaque;
        };
        let mut columns: Vec<String> = SYSTEM_COLUMNS.iter().map(|c| c.to_string()).collect();
        let mut stack: Vec<&Value> = items.iter().collect();
        while let Some(item) = stack.pop() {
            match node(item) {
                Some(("RangeVar", f)) => {
                    let renamed = f
                        .get("alias")
                        .and_then(|a| a.get("colnames"))
                        .is_some_and(|c| matches!(c, Value::Array(a) if !a.is_empty()));
                    let schema = f
                        .get("schemaname")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty());
                    let Some(name) = f.get("relname").and_then(Value::as_str) else {
                        return Scope::Opaque;
                    };
                    let rel = match schema {
                        Some(s) => catalog.relation_by_name(s, name),
                        None => catalog.resolve_relation(name, search_path),
                    };
                    match rel {
                        Some(rel) if !renamed => {
                            columns.extend(rel.columns.iter().map(|c| c.name.clone()))
                        }
                        _ => return Scope::Opaque,
                    }
                }
                Some(("JoinExpr", f)) => {
                    stack.extend(f.get("larg"));
                    stack.extend(f.get("rarg"));
                }
                _ => return Scope::Opaque,
            }
        }
        Scope::Known(columns)
    }

    /// Whether an unqualified `column` stops at this level.
    pub fn binds(&self, column: &str) -> bool {
        match self {
            Scope::Known(columns) => columns.iter().any(|c| c == column),
            Scope::Opaque => true,
        }
    }
}
