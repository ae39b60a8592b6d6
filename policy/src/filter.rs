//! Does a WHERE filter rows, by meaning (on PostgreSQL's tree)?
//!
//! A predicate counts only if some conjunct compares a column of the target with something
//! not derived from that same column or row (a constant, a parameter, a value from another
//! table), and it is not provably true for every row. Not counted: self-comparisons through any
//! qualification or arithmetic (`id = id + 0`, `t.id = id`), IN/ANY lists or arrays holding
//! the column, scalar subqueries returning it (`id = (SELECT id)`), `IS NOT NULL` (true for
//! every row of a NOT NULL column; counted never, since the catalog may be absent), `IS NOT
//! DISTINCT FROM` itself, complementary ORs (`x IS NULL OR x IS NOT NULL`, `a = 1 OR a <> 1`,
//! `p OR NOT p`), NOT of a contradiction, and semi-joins of the table to itself
//! (`id IN (SELECT id FROM t)`). `AND` counts when one conjunct does; `OR` only when every
//! branch does; `NOT` is pushed inward.

use serde_json::Value;

/// How deep predicates are followed; deeper is judged "does not filter" (fail closed).
const MAX_DEPTH: usize = 64;

/// The target of an UPDATE/DELETE/MERGE as its predicate can name it.
pub struct Target {
    pub relname: String,
    pub alias: Option<String>,
    /// FROM/USING/MERGE source: an unqualified column may not be the target's.
    pub has_other_relations: bool,
}

impl Target {
    /// The target and predicate of a write node (`UpdateStmt`, `DeleteStmt`, `MergeStmt`);
    /// `None` for a write that touches no existing row (MERGE that only inserts).
    pub fn of(kind: &str, node: &Value) -> Option<(Target, Option<Value>)> {
        let rel = node.get("relation")?;
        let relname = rel.get("relname")?.as_str()?.to_string();
        let alias = rel
            .get("alias")
            .and_then(|a| a.get("aliasname"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let non_empty = |k: &str| matches!(node.get(k), Some(Value::Array(a)) if !a.is_empty());
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
                (true, node.get("join_condition"))
            }
            _ => return None,
        };
        Some((
            Target {
                relname,
                alias,
                has_other_relations: has_other,
            },
            predicate.filter(|p| !p.is_null()).cloned(),
        ))
    }

    fn names_target(&self, qualifier: &str) -> bool {
        match &self.alias {
            Some(a) => a == qualifier,
            None => self.relname == qualifier,
        }
    }
}

/// Whether `predicate` filters the target's rows.
pub fn filters(predicate: Option<&Value>, target: &Target) -> bool {
    predicate.is_some_and(|p| Judge { target }.filters(p, false, 0))
}

struct Judge<'t> {
    target: &'t Target,
}

/// The node type and fields of a `Node` (`{"node": {"Kind": {...}}}`) or a bare `{"Kind": ..}`.
fn node(v: &Value) -> Option<(&str, &Value)> {
    let inner = v.get("node").unwrap_or(v);
    let map = inner.as_object()?;
    let (k, v) = map.iter().next()?;
    Some((k.as_str(), v))
}

fn column_names(fields: &Value) -> Vec<String> {
    match fields.get("fields") {
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| {
                p.get("node")
                    .and_then(|n| n.get("String"))
                    .and_then(|s| s.get("sval"))
                    .and_then(Value::as_str)
                    .unwrap_or("*")
                    .to_string()
            })
            .collect(),
        _ => vec![],
    }
}

/// A copy without `location` fields, for comparing expressions by structure.
fn canonical(v: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "location")
                .map(|(k, v)| (k.clone(), canonical(v, depth + 1)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| canonical(v, depth + 1)).collect()),
        other => other.clone(),
    }
}

fn operator(fields: &Value) -> Option<String> {
    let name = fields.get("name")?.as_array()?;
    name.last()?
        .get("node")?
        .get("String")?
        .get("sval")?
        .as_str()
        .map(str::to_string)
}

fn complementary(a: &str, b: &str) -> bool {
    const PAIRS: &[(&str, &str)] = &[
        ("=", "<>"),
        ("<", ">="),
        (">", "<="),
        ("~~", "!~~"),
        ("~~*", "!~~*"),
        ("~", "!~"),
        ("~*", "!~*"),
    ];
    PAIRS
        .iter()
        .any(|(x, y)| (a == *x && b == *y) || (a == *y && b == *x))
}

impl Judge<'_> {
    fn filters(&self, e: &Value, negated: bool, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let Some((kind, f)) = node(e) else {
            return false;
        };
        match kind {
            "BoolExpr" => {
                let args: Vec<&Value> = match f.get("args") {
                    Some(Value::Array(a)) => a.iter().collect(),
                    _ => vec![],
                };
                match (f.get("boolop").and_then(Value::as_i64), negated) {
                    // AND, or NOT of an OR: one conjunct that filters is enough.
                    (Some(1), false) | (Some(2), true) => {
                        args.iter().any(|a| self.filters(a, negated, depth + 1))
                    }
                    // OR, or NOT of an AND: every branch must filter, and no two may cover
                    // every row between them.
                    (Some(2), false) | (Some(1), true) => {
                        // A branch that is constant false (under the polarity) adds no rows.
                        let args: Vec<&Value> = args
                            .into_iter()
                            .filter(|a| const_bool(a, 0).map(|b| b != negated) != Some(false))
                            .collect();
                        !args.is_empty()
                            && args.iter().all(|a| self.filters(a, negated, depth + 1))
                            && !self.has_complementary_pair(&args)
                    }
                    (Some(3), _) => args
                        .first()
                        .is_some_and(|a| self.filters(a, !negated, depth + 1)),
                    _ => false,
                }
            }
            // x IS NULL filters a column's rows; x IS NOT NULL is true of a NOT NULL column.
            "NullTest" => {
                let is_null = f.get("nulltesttype").and_then(Value::as_i64) == Some(1);
                is_null != negated
                    && f.get("arg")
                        .is_some_and(|a| self.mentions_target(a, false, depth + 1))
            }
            "AExpr" => self.comparison(f, depth),
            "SubLink" => self.sublink(f, depth),
            "BooleanTest" => f
                .get("arg")
                .is_some_and(|a| self.filters(a, false, depth + 1)),
            // A boolean column of the target.
            "ColumnRef" => self.is_target_column(f, false),
            "FuncCall" => {
                let args: Vec<&Value> = match f.get("args") {
                    Some(Value::Array(a)) => a.iter().collect(),
                    _ => vec![],
                };
                args.iter()
                    .any(|a| self.mentions_target(a, false, depth + 1))
                    && args
                        .iter()
                        .any(|a| self.independent(a, depth + 1) && !is_null_const(a))
            }
            _ => false,
        }
    }

    fn has_complementary_pair(&self, args: &[&Value]) -> bool {
        for (i, a) in args.iter().enumerate() {
            for b in &args[i + 1..] {
                if self.complement(a, b) || self.complement(b, a) {
                    return true;
                }
            }
        }
        false
    }

    /// `b` is `NOT a`, `a`'s null test inverted, or `a` with the complementary operator.
    fn complement(&self, a: &Value, b: &Value) -> bool {
        let (Some((ka, fa)), Some((kb, fb))) = (node(a), node(b)) else {
            return false;
        };
        if kb == "BoolExpr" && fb.get("boolop").and_then(Value::as_i64) == Some(3) {
            if let Some(Value::Array(args)) = fb.get("args") {
                if let Some(inner) = args.first() {
                    return canonical(inner, 0) == canonical(a, 0);
                }
            }
        }
        if ka == "NullTest" && kb == "NullTest" {
            return fa.get("nulltesttype") != fb.get("nulltesttype")
                && canonical(fa.get("arg").unwrap_or(&Value::Null), 0)
                    == canonical(fb.get("arg").unwrap_or(&Value::Null), 0);
        }
        if ka == "AExpr" && kb == "AExpr" {
            let same = |k: &str| {
                canonical(fa.get(k).unwrap_or(&Value::Null), 0)
                    == canonical(fb.get(k).unwrap_or(&Value::Null), 0)
            };
            if let (Some(oa), Some(ob)) = (operator(fa), operator(fb)) {
                return same("lexpr") && same("rexpr") && complementary(&oa, &ob);
            }
        }
        false
    }

    /// One side names the target's columns, the other is independent of the target's row.
    fn comparison(&self, f: &Value, depth: usize) -> bool {
        // AEXPR_NOT_DISTINCT (5) with itself, and every other kind, go through the same test:
        // a self-comparison has the target on both sides.
        let (Some(l), Some(r)) = (f.get("lexpr"), f.get("rexpr")) else {
            return false;
        };
        if l.is_null() || r.is_null() {
            return false;
        }
        (self.mentions_target(l, false, depth + 1) && self.independent(r, depth + 1))
            || (self.mentions_target(r, false, depth + 1) && self.independent(l, depth + 1))
    }

    fn sublink(&self, f: &Value, depth: usize) -> bool {
        let sub = f.get("subselect").unwrap_or(&Value::Null);
        let reads_target = self.reads_target(sub, depth + 1);
        match f.get("testexpr").filter(|t| !t.is_null()) {
            // x IN / op ANY (SELECT ...): x is the target's, the subquery independent of it.
            Some(test) => {
                self.mentions_target(test, false, depth + 1)
                    && !reads_target
                    && !self.mentions_target(sub, true, depth + 1)
            }
            // EXISTS (SELECT ... FROM other WHERE other.x = target.y): a correlated semi-join
            // with another table.
            None => {
                f.get("sub_link_type").and_then(Value::as_i64) == Some(1)
                    && !reads_target
                    && self.mentions_target(sub, true, depth + 1)
            }
        }
    }

    fn is_target_column(&self, colref: &Value, in_subquery: bool) -> bool {
        match column_names(colref).as_slice() {
            // Unqualified: the target's when nothing else is in scope.
            [_] => !self.target.has_other_relations && !in_subquery,
            [q, _] => self.target.names_target(q),
            [_, rel, _] => self.target.alias.is_none() && &self.target.relname == rel,
            [_, _, rel, _] => self.target.alias.is_none() && &self.target.relname == rel,
            _ => false,
        }
    }

    /// Whether `e` refers to a column (or the whole row) of the target. In a subquery, an
    /// unqualified column refers to the subquery's own relations when it has some.
    fn mentions_target(&self, e: &Value, in_subquery: bool, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return true;
        }
        match e {
            Value::Object(m) => {
                if let Some(cr) = m.get("ColumnRef") {
                    if self.is_target_column(cr, in_subquery) {
                        return true;
                    }
                }
                if let Some(sel) = m.get("SelectStmt") {
                    let has_from =
                        matches!(sel.get("from_clause"), Some(Value::Array(a)) if !a.is_empty());
                    // A subquery without FROM sees the outer row through unqualified names.
                    let inner = in_subquery || has_from;
                    return sel.as_object().is_some_and(|s| {
                        s.values()
                            .any(|v| self.mentions_target(v, inner, depth + 1))
                    });
                }
                m.values()
                    .any(|v| self.mentions_target(v, in_subquery, depth + 1))
            }
            Value::Array(a) => a
                .iter()
                .any(|v| self.mentions_target(v, in_subquery, depth + 1)),
            _ => false,
        }
    }

    /// A subquery (anywhere in `e`) reads the target table itself.
    fn reads_target(&self, e: &Value, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return true;
        }
        match e {
            Value::Object(m) => {
                if m.contains_key("relname") && m.contains_key("inh") {
                    return m.get("relname").and_then(Value::as_str)
                        == Some(self.target.relname.as_str());
                }
                m.values().any(|v| self.reads_target(v, depth + 1))
            }
            Value::Array(a) => a.iter().any(|v| self.reads_target(v, depth + 1)),
            _ => false,
        }
    }

    /// Not derived from the target's row: no reference to its columns, no read of the table.
    fn independent(&self, e: &Value, depth: usize) -> bool {
        !self.mentions_target(e, false, depth) && !self.reads_target(e, depth)
    }
}

/// The value of a boolean constant (possibly under NOT).
fn const_bool(v: &Value, depth: usize) -> Option<bool> {
    if depth > MAX_DEPTH {
        return None;
    }
    let (k, f) = node(v)?;
    match k {
        "AConst" => f
            .get("val")?
            .get("Boolval")
            .map(|b| b.get("boolval").and_then(Value::as_bool).unwrap_or(false)),
        "BoolExpr" if f.get("boolop").and_then(Value::as_i64) == Some(3) => {
            let arg = f.get("args")?.as_array()?.first()?;
            const_bool(arg, depth + 1).map(|b| !b)
        }
        _ => None,
    }
}

fn is_null_const(v: &Value) -> bool {
    node(v).is_some_and(|(k, f)| {
        k == "AConst" && f.get("isnull").and_then(Value::as_bool) == Some(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(sql: &str) -> bool {
        let parsed = pg_query::parse(sql, 0).expect("valid SQL");
        let node = parsed.protobuf.stmts[0]
            .stmt
            .as_ref()
            .and_then(|n| n.node.as_ref())
            .expect("statement");
        let v = serde_json::to_value(node).expect("tree");
        let (kind, fields) = v.as_object().and_then(|m| m.iter().next()).expect("kind");
        let (target, pred) = Target::of(kind, fields).expect("a write");
        filters(pred.as_ref(), &target)
    }

    #[test]
    fn tautologies_do_not_filter() {
        for w in [
            "id IS NOT NULL",
            "public.documents.id = id",
            "documents.id = documents.id",
            "id IN (id)",
            "id = ANY(ARRAY[id])",
            "id = (SELECT id)",
            "id = id + 0",
            "id * 1 = id",
            "NOT (id = 1 AND false)",
            "status IS NULL OR status IS NOT NULL",
            "status = 'a' OR status <> 'a'",
            "id < 5 OR id >= 5",
            "(id = 1) OR NOT (id = 1)",
            "ctid IS NOT NULL",
            "id IN (SELECT id FROM documents)",
            "EXISTS (SELECT 1 FROM documents d WHERE d.id = documents.id)",
            "true",
            "1 = 1",
            "id IS NOT DISTINCT FROM id",
            "NOT (id IS NULL)",
            "id = 1 OR true",
        ] {
            assert!(
                !judge(&format!("UPDATE documents SET status = 'x' WHERE {w}")),
                "{w}"
            );
        }
    }

    #[test]
    fn real_filters_do() {
        for w in [
            "id = 1",
            "id = $1",
            "id IN (1, 2)",
            "id = ANY($1)",
            "status IS NULL",
            "lower(status) = 'x'",
            "id = 1 AND true",
            "NOT (id <> 1)",
            "id BETWEEN 1 AND 10",
            "id IN (SELECT doc_id FROM invoices)",
            "id = 1 OR id = 2",
            "false OR id = 1",
            "NOT (true AND id <> 1)",
            "EXISTS (SELECT 1 FROM invoices i WHERE i.doc_id = documents.id)",
        ] {
            assert!(
                judge(&format!("UPDATE documents SET status = 'x' WHERE {w}")),
                "{w}"
            );
        }
        assert!(judge("DELETE FROM documents d WHERE d.id = 3"));
        assert!(!judge(
            "DELETE FROM documents d USING invoices i WHERE i.id = 3"
        ));
        assert!(judge(
            "DELETE FROM documents d USING invoices i WHERE i.doc_id = d.id"
        ));
    }
}
