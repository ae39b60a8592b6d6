//! Subqueries over the target: a CTE or subquery that keeps only some of the target's rows
//! (its WHERE filters them) is no copy of it; a relation that reads the target (itself, a CTE
//! over it, a view whose definition names it); and the correlation an `EXISTS` over another
//! table needs to filter.

use serde_json::Value;

use super::scope::Scope;
use super::tree::{annihilated, matches_everything, node};
use super::{filters, Judge, Target, MAX_DEPTH};
use crate::catalog::Catalog;

/// The target and predicate of a write (see [`Target::of`]), where a CTE that keeps only some
/// rows of the target (its WHERE filters them) is no copy of it.
pub fn target_of(
    kind: &str,
    write: &Value,
    catalog: Option<&Catalog>,
    search_path: &[String],
) -> Option<(Target, Option<Value>)> {
    Target::of(kind, write, &|query, names| {
        filtered_subset(query, names, catalog, search_path)
    })
}

/// `SELECT ... FROM r [AS a] WHERE p` with `r` one of `names` and `p` filtering r's rows.
pub(super) fn filtered_subset(
    query: &Value,
    names: &[String],
    catalog: Option<&Catalog>,
    search_path: &[String],
) -> bool {
    let Some(("SelectStmt", select)) = node(query) else {
        return false;
    };
    let Some(Value::Array(from)) = select.get("from_clause") else {
        return false;
    };
    let [item] = from.as_slice() else {
        return false;
    };
    let Some(("RangeVar", rel)) = node(item) else {
        return false;
    };
    let relname = rel
        .get("relname")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !names.iter().any(|n| n == relname) {
        return false;
    }
    let alias = rel
        .get("alias")
        .and_then(|a| a.get("aliasname"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let target = Target {
        relname: relname.to_string(),
        alias,
        has_other_relations: false,
        self_names: vec![],
        self_ctes: vec![],
    };
    filters(select.get("where_clause"), &target, catalog, search_path)
}

impl Judge<'_> {
    /// An `EXISTS` subquery's WHERE (or join condition) compares a column of the target with
    /// a value of the subquery's own row: some conjunct has the target on one side only
    /// (`EXISTS (SELECT FROM u WHERE t.id = t.id)` is true of every row when `u` has one).
    pub(super) fn correlates(&self, sub: &Value, depth: usize) -> bool {
        let Some((_, select)) = node(sub) else {
            return false;
        };
        let from = select.get("from_clause").unwrap_or(&Value::Null);
        let scopes = [Scope::of(select, self.catalog, self.search_path)];
        let mut predicates: Vec<&Value> = select.get("where_clause").into_iter().collect();
        let mut items: Vec<&Value> = match from {
            Value::Array(a) => a.iter().collect(),
            _ => vec![],
        };
        while let Some(item) = items.pop() {
            if let Some(("JoinExpr", j)) = node(item) {
                predicates.extend(j.get("quals"));
                items.extend(j.get("larg"));
                items.extend(j.get("rarg"));
            }
        }
        predicates
            .into_iter()
            .any(|p| self.correlation(p, &scopes, depth + 1))
    }

    fn correlation(&self, p: &Value, scopes: &[Scope], depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match node(p) {
            Some(("BoolExpr", b)) if b.get("boolop").and_then(Value::as_i64) == Some(1) => b
                .get("args")
                .and_then(Value::as_array)
                .is_some_and(|args| args.iter().any(|a| self.correlation(a, scopes, depth + 1))),
            Some(("AExpr", e)) => {
                let (Some(l), Some(r)) = (e.get("lexpr"), e.get("rexpr")) else {
                    return false;
                };
                let (lt, rt) = (
                    self.mentions_target(l, scopes, depth + 1),
                    self.mentions_target(r, scopes, depth + 1),
                );
                !matches_everything(e) && lt != rt && !annihilated(l, 0) && !annihilated(r, 0)
            }
            _ => false,
        }
    }

    /// A relation in a subquery's FROM that is the target table, a CTE of the statement over
    /// it, or (with the catalog) a view whose definition reads it.
    pub(super) fn range_var_reads_target(
        &self,
        range_var: &serde_json::Map<String, Value>,
    ) -> bool {
        let name = range_var
            .get("relname")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let schema = range_var
            .get("schemaname")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        if name == self.target.relname
            || (schema.is_none() && self.target.self_ctes.iter().any(|c| c == name))
        {
            return true;
        }
        let Some(catalog) = self.catalog else {
            return false;
        };
        let view = match schema {
            Some(s) => catalog.relation_by_name(s, name),
            None => catalog.resolve_relation(name, self.search_path),
        };
        view.and_then(|v| v.view_definition.as_deref())
            .is_some_and(|def| names_word(def, &self.target.relname))
    }
}

/// `word` appears in `text` as a whole identifier (a view definition naming the target; a
/// false match only refuses).
fn names_word(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}
