//! The target of a write as its predicate can name it, and which FROM/USING/MERGE-source items
//! read the target table itself (their columns are derived from the target's rows).

use serde_json::Value;

use super::tree::node;
use super::MAX_DEPTH;

/// The target of an UPDATE/DELETE/MERGE as its predicate can name it.
pub struct Target {
    pub relname: String,
    pub alias: Option<String>,
    /// FROM/USING/MERGE source: an unqualified column may not be the target's.
    pub has_other_relations: bool,
    /// Names (aliases) of FROM/USING/MERGE-source items that read the target table itself
    /// (`USING t t2`, a subquery or CTE over it): their columns are derived from the target.
    pub self_names: Vec<String>,
    /// The statement's CTEs that read the target table (or such a CTE): reading one of them
    /// in a subquery is reading the target.
    pub self_ctes: Vec<String>,
}

impl Target {
    /// The target and predicate of a write node (`UpdateStmt`, `DeleteStmt`, `MergeStmt`);
    /// `None` for a write that touches no existing row (MERGE that only inserts).
    /// `subset(query, names)` says whether a CTE's query over one of `names` keeps only some
    /// of its rows (its CTE is then no copy of the target).
    pub fn of(
        kind: &str,
        node: &Value,
        subset: &dyn Fn(&Value, &[String]) -> bool,
    ) -> Option<(Target, Option<Value>)> {
        let rel = node.get("relation")?;
        let relname = rel.get("relname")?.as_str()?.to_string();
        let alias = rel
            .get("alias")
            .and_then(|a| a.get("aliasname"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let non_empty = |k: &str| matches!(node.get(k), Some(Value::Array(a)) if !a.is_empty());
        let mut by_source: Option<Value> = None;
        let (has_other, predicate) = match kind {
            "UpdateStmt" => (non_empty("from_clause"), node.get("where_clause")),
            "DeleteStmt" => (non_empty("using_clause"), node.get("where_clause")),
            "MergeStmt" => {
                // Only WHEN MATCHED / NOT MATCHED BY SOURCE touch existing rows of the target.
                let touches_rows = match node.get("merge_when_clauses") {
                    Some(Value::Array(clauses)) => clauses.iter().any(|c| {
                        let kind = c
                            .get("node")
                            .and_then(|n| n.get("MergeWhenClause"))
                            .and_then(|m| m.get("match_kind"))
                            .and_then(Value::as_i64);
                        !matches!(kind, Some(3))
                    }),
                    _ => true,
                };
                if !touches_rows {
                    return None;
                }
                by_source = merge_by_source(node);
                (true, node.get("join_condition"))
            }
            _ => return None,
        };
        let ctes = self_ctes(node, &relname, subset);
        let mut names = vec![relname.clone()];
        names.extend(ctes.iter().cloned());
        let mut self_names = vec![];
        for key in ["from_clause", "using_clause", "source_relation"] {
            match node.get(key) {
                Some(Value::Array(items)) => {
                    for item in items {
                        self_items(item, &names, &mut self_names, 0);
                    }
                }
                Some(item) if !item.is_null() => self_items(item, &names, &mut self_names, 0),
                _ => {}
            }
        }
        let predicate = predicate.filter(|p| !p.is_null()).cloned();
        // WHEN NOT MATCHED BY SOURCE touches the rows the ON condition does not match: each
        // such clause needs a filtering condition of its own, as well as the ON condition.
        let predicate = match (by_source, predicate) {
            (Some(Value::Array(mut conditions)), on) => {
                conditions.push(on.unwrap_or(Value::Null));
                Some(serde_json::json!({"BoolExpr": {"boolop": 2, "args": conditions}}))
            }
            (_, on) => on,
        };
        Some((
            Target {
                relname,
                alias,
                has_other_relations: has_other,
                self_names,
                self_ctes: ctes,
            },
            predicate,
        ))
    }

    pub(super) fn names_target(&self, qualifier: &str) -> bool {
        self.self_names.iter().any(|n| n == qualifier)
            || match &self.alias {
                Some(a) => a == qualifier,
                None => self.relname == qualifier,
            }
    }
}

/// The conditions of a MERGE's `WHEN NOT MATCHED BY SOURCE` clauses that do something
/// (`Null` for one without a condition); `None` when it has none.
fn merge_by_source(node: &Value) -> Option<Value> {
    let Some(Value::Array(clauses)) = node.get("merge_when_clauses") else {
        return None;
    };
    let conditions: Vec<Value> = clauses
        .iter()
        .filter_map(|c| c.get("node")?.get("MergeWhenClause"))
        .filter(|m| m.get("match_kind").and_then(Value::as_i64) == Some(2))
        .map(|m| m.get("condition").cloned().unwrap_or(Value::Null))
        .collect();
    (!conditions.is_empty()).then_some(Value::Array(conditions))
}

/// Names of the statement's CTEs whose query reads `relname` (or an earlier such CTE) and is
/// not a filtered subset of it.
fn self_ctes(
    node: &Value,
    relname: &str,
    subset: &dyn Fn(&Value, &[String]) -> bool,
) -> Vec<String> {
    let mut names = vec![relname.to_string()];
    let ctes = node
        .get("with_clause")
        .and_then(|w| w.get("ctes"))
        .and_then(Value::as_array);
    for cte in ctes.into_iter().flatten() {
        let Some(c) = cte.get("node").and_then(|n| n.get("CommonTableExpr")) else {
            continue;
        };
        let name = c.get("ctename").and_then(Value::as_str).unwrap_or_default();
        let query = c.get("ctequery").unwrap_or(&Value::Null);
        if reads_any(query, &names, 0) && !subset(query, &names) {
            names.push(name.to_string());
        }
    }
    names.split_off(1)
}

/// Whether `v` reads a relation named in `names` anywhere.
fn reads_any(v: &Value, names: &[String], depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    match v {
        Value::Object(m) => {
            if m.contains_key("relname") && m.contains_key("inh") {
                let rel = m.get("relname").and_then(Value::as_str).unwrap_or_default();
                if names.iter().any(|n| n == rel) {
                    return true;
                }
            }
            m.values().any(|v| reads_any(v, names, depth + 1))
        }
        Value::Array(a) => a.iter().any(|v| reads_any(v, names, depth + 1)),
        _ => false,
    }
}

/// The names under which a FROM item that reads the target is visible.
fn self_items(item: &Value, names: &[String], out: &mut Vec<String>, depth: usize) {
    let Some((kind, f)) = node(item) else { return };
    if kind == "JoinExpr" && depth < MAX_DEPTH {
        for side in ["larg", "rarg"] {
            if let Some(s) = f.get(side) {
                self_items(s, names, out, depth + 1);
            }
        }
    }
    if !reads_any(item, names, 0) {
        return;
    }
    let alias = f
        .get("alias")
        .and_then(|a| a.get("aliasname"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| f.get("relname").and_then(Value::as_str));
    if let Some(a) = alias {
        out.push(a.to_string());
    }
}
