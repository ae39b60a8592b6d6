//! `INSERT ... ON CONFLICT DO UPDATE` updates the rows its source conflicts with. A source
//! that reads the target itself (`INSERT INTO t SELECT id FROM t ON CONFLICT (id) DO UPDATE
//! SET v = 'x'`) reaches every row as surely as an UPDATE without a WHERE: it counts as
//! filtering when that SELECT keeps only some of the target's rows, or the DO UPDATE's own
//! WHERE filters. A source of other tables or a VALUES list touches the rows it names.

use serde_json::Value;

use super::subquery::filtered_subset;
use super::target::Target;
use super::{Judge, MAX_DEPTH};
use crate::catalog::Catalog;

/// `OnConflictAction::OnconflictUpdate`.
const ONCONFLICT_UPDATE: i64 = 3;

/// Whether an INSERT's DO UPDATE touches only some of its target's rows (true for an INSERT
/// without one).
pub fn upsert_filters(insert: &Value, catalog: Option<&Catalog>, search_path: &[String]) -> bool {
    let Some(clause) = insert.get("on_conflict_clause").filter(|c| !c.is_null()) else {
        return true;
    };
    if clause.get("action").and_then(Value::as_i64) != Some(ONCONFLICT_UPDATE) {
        return true;
    }
    let Some(rel) = insert.get("relation") else {
        return false;
    };
    let Some(relname) = rel.get("relname").and_then(Value::as_str) else {
        return false;
    };
    let source = insert.get("select_stmt").unwrap_or(&Value::Null);
    let with = insert.get("with_clause").unwrap_or(&Value::Null);
    if !names_relation(source, relname, 0) && !names_relation(with, relname, 0) {
        return true;
    }
    if filtered_subset(source, &[relname.to_string()], catalog, search_path) {
        return true;
    }
    let target = Target {
        relname: relname.to_string(),
        alias: rel
            .get("alias")
            .and_then(|a| a.get("aliasname"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        has_other_relations: false,
        // The row proposed for insertion is the conflicting row on the conflict key
        // (`excluded.id = t.id` holds for every row the DO UPDATE touches).
        self_names: vec!["excluded".into()],
        self_ctes: vec![],
    };
    let judge = Judge {
        target: &target,
        catalog,
        search_path,
    };
    clause
        .get("where_clause")
        .filter(|w| !w.is_null())
        .is_some_and(|w| judge.filters(w, false, 0))
}

/// Whether the tree reads a relation called `relname` (in any schema: fail closed).
fn names_relation(e: &Value, relname: &str, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    match e {
        Value::Object(m) => {
            if m.contains_key("inh") && m.get("relname").and_then(Value::as_str) == Some(relname) {
                return true;
            }
            m.values().any(|v| names_relation(v, relname, depth + 1))
        }
        Value::Array(a) => a.iter().any(|v| names_relation(v, relname, depth + 1)),
        _ => false,
    }
}
