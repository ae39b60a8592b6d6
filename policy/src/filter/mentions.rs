//! Whether an expression of the WHERE refers to the write's target: its columns (through
//! the subquery levels that may provide a name first, `scope.rs`), or its table read again.

use serde_json::Value;

use super::scope::Scope;
use super::tree::*;
use super::{Judge, MAX_DEPTH};

impl Judge<'_> {
    /// Whether a column reference names the target, inside subqueries opening `scopes`
    /// (outermost first).
    pub(super) fn is_target_column(&self, colref: &Value, scopes: &[Scope]) -> bool {
        match column_names(colref).as_slice() {
            // Unqualified: the nearest level that provides it; the target's when no subquery
            // level does and nothing else is in the write's own scope.
            [c] => !scopes.iter().any(|s| s.binds(c)) && !self.target.has_other_relations,
            [q, _] => self.target.names_target(q),
            [_, rel, _] => self.target.alias.is_none() && &self.target.relname == rel,
            [_, _, rel, _] => self.target.alias.is_none() && &self.target.relname == rel,
            _ => false,
        }
    }

    /// Whether `e` refers to a column (or the whole row) of the target. In a subquery, an
    /// unqualified column refers to the subquery's own relations when it has some.
    pub(super) fn mentions_target(&self, e: &Value, scopes: &[Scope], depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return true;
        }
        match e {
            Value::Object(m) => {
                if let Some(cr) = m.get("ColumnRef") {
                    if self.is_target_column(cr, scopes) {
                        return true;
                    }
                }
                if let Some(sel) = m.get("SelectStmt") {
                    let from = sel.get("from_clause").unwrap_or(&Value::Null);
                    // A subquery without FROM sees the outer row through unqualified names.
                    let mut inner = scopes.to_vec();
                    if matches!(from, Value::Array(a) if !a.is_empty()) {
                        inner.push(Scope::of(sel, self.catalog, self.search_path));
                    }
                    // Its FROM items do not see themselves: a subquery there (`FROM
                    // LATERAL (SELECT id) z`) reads names from the levels around; a join's
                    // ON clause sees the items.
                    return sel.as_object().is_some_and(|s| {
                        s.iter().any(|(k, v)| match k.as_str() {
                            "from_clause" => self.mentions_in_from(v, scopes, &inner, depth + 1),
                            _ => self.mentions_target(v, &inner, depth + 1),
                        })
                    });
                }
                m.values()
                    .any(|v| self.mentions_target(v, scopes, depth + 1))
            }
            Value::Array(a) => a.iter().any(|v| self.mentions_target(v, scopes, depth + 1)),
            _ => false,
        }
    }

    /// A FROM list's mention of the target: its items' own expressions (subqueries,
    /// function arguments) under the levels around (`outer`), a join's ON clause under the
    /// level itself (`inner`).
    pub(super) fn mentions_in_from(
        &self,
        from: &Value,
        outer: &[Scope],
        inner: &[Scope],
        depth: usize,
    ) -> bool {
        if depth > MAX_DEPTH {
            return true;
        }
        match from {
            Value::Array(items) => items
                .iter()
                .any(|i| self.mentions_in_from(i, outer, inner, depth + 1)),
            _ => match node(from) {
                Some(("JoinExpr", j)) => {
                    j.get("quals")
                        .is_some_and(|q| self.mentions_target(q, inner, depth + 1))
                        || ["larg", "rarg"].iter().any(|side| {
                            j.get(*side)
                                .is_some_and(|s| self.mentions_in_from(s, outer, inner, depth + 1))
                        })
                }
                _ => self.mentions_target(from, outer, depth + 1),
            },
        }
    }

    /// A subquery (anywhere in `e`) reads the target table itself.
    pub(super) fn reads_target(&self, e: &Value, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return true;
        }
        match e {
            Value::Object(m) => {
                if m.contains_key("relname") && m.contains_key("inh") {
                    return self.range_var_reads_target(m);
                }
                m.values().any(|v| self.reads_target(v, depth + 1))
            }
            Value::Array(a) => a.iter().any(|v| self.reads_target(v, depth + 1)),
            _ => false,
        }
    }

    /// Not derived from the target's row: no reference to its columns, no read of the table.
    pub(super) fn independent(&self, e: &Value, depth: usize) -> bool {
        !self.mentions_target(e, &[], depth) && !self.reads_target(e, depth)
    }
}
