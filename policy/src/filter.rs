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
    /// Names (aliases) of FROM/USING/MERGE-source items that read the target table itself
    /// (`USING t t2`, a subquery or CTE over it): their columns are derived from the target.
    pub self_names: Vec<String>,
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
        let mut names = vec![relname.clone()];
        names.extend(self_ctes(node, &relname));
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
            },
            predicate,
        ))
    }

    fn names_target(&self, qualifier: &str) -> bool {
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

/// Names of the statement's CTEs whose query reads `relname` (or an earlier such CTE).
fn self_ctes(node: &Value, relname: &str) -> Vec<String> {
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
        if reads_any(c.get("ctequery").unwrap_or(&Value::Null), &names, 0) {
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

/// Whether the verdict on `write` may change with the value of a literal the cache key
/// hides: a boolean constant, the pattern of `LIKE`/`~`/`SIMILAR TO`, an `ALL` array.
pub fn depends_on_literals(write: &Value) -> bool {
    let text = write.to_string();
    text.contains("Boolval")
        || text.contains("\"sval\":\"~")
        || text.contains("\"sval\":\"!~")
        || text.contains("similar_to_escape")
        || text.contains("like_escape")
        // `op ALL ('{}')`: (any node with kind 3; over-approximated, it only costs caching)
        || text.contains("\"kind\":3")
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

/// A comparison's operator, with `IS [NOT] DISTINCT FROM` read as `<>` / `=` (which they
/// are, and more, for NULLs); `None` for kinds that are not plain comparisons.
fn effective_operator(fields: &Value) -> Option<String> {
    match fields.get("kind").and_then(Value::as_i64) {
        Some(4) => Some("<>".into()),
        Some(5) => Some("=".into()),
        Some(1) | Some(7) => operator(fields),
        _ => None,
    }
}

/// The operator with its operands swapped (`a < b` is `b > a`).
fn commuted(op: &str) -> &str {
    match op {
        "<" => ">",
        ">" => "<",
        "<=" => ">=",
        ">=" => "<=",
        other => other,
    }
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
        // Not complements, but between them every non-null value.
        ("<=", ">="),
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
            "AExpr" => self.comparison(f, negated, depth),
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
        if ka == "BooleanTest" {
            let ta = fa.get("booltesttype").and_then(Value::as_i64);
            let arg = canonical(fa.get("arg").unwrap_or(&Value::Null), 0);
            // `p IS TRUE` / `p IS NOT TRUE` (and FALSE, UNKNOWN) cover every row.
            if kb == "BooleanTest" {
                let tb = fb.get("booltesttype").and_then(Value::as_i64);
                let pair = matches!(
                    (ta, tb),
                    (Some(1), Some(2)) | (Some(3), Some(4)) | (Some(5), Some(6))
                );
                return pair && arg == canonical(fb.get("arg").unwrap_or(&Value::Null), 0);
            }
            // `p OR p IS NOT TRUE`, `p OR p IS FALSE`.
            return matches!(ta, Some(2) | Some(3)) && arg == canonical(b, 0);
        }
        if ka == "AExpr" && kb == "AExpr" {
            let field = |f: &Value, k: &str| canonical(f.get(k).unwrap_or(&Value::Null), 0);
            let (kind_a, kind_b) = (
                fa.get("kind").and_then(Value::as_i64),
                fb.get("kind").and_then(Value::as_i64),
            );
            // x BETWEEN a AND b / x NOT BETWEEN a AND b (SYMMETRIC alike).
            if matches!(
                (kind_a, kind_b),
                (Some(11), Some(12)) | (Some(13), Some(14))
            ) {
                return field(fa, "lexpr") == field(fb, "lexpr")
                    && field(fa, "rexpr") == field(fb, "rexpr");
            }
            if let (Some(oa), Some(ob)) = (effective_operator(fa), effective_operator(fb)) {
                let same = field(fa, "lexpr") == field(fb, "lexpr")
                    && field(fa, "rexpr") == field(fb, "rexpr");
                // `1 <> id` is `id <> 1`: compare with b's operands swapped.
                let swapped = field(fa, "lexpr") == field(fb, "rexpr")
                    && field(fa, "rexpr") == field(fb, "lexpr");
                return (same && complementary(&oa, &ob))
                    || (swapped && complementary(&oa, commuted(&ob)));
            }
        }
        false
    }

    /// One side names the target's columns, the other is independent of the target's row,
    /// and the comparison is not a pattern every text matches (`LIKE '%'`, `~ ''`).
    fn comparison(&self, f: &Value, negated: bool, depth: usize) -> bool {
        if matches_everything(f) {
            return false;
        }
        // `x IS DISTINCT FROM NULL` is `x IS NOT NULL` (true of every row of a NOT NULL
        // column); so is `NOT (x IS NOT DISTINCT FROM NULL)`.
        let distinct = match f.get("kind").and_then(Value::as_i64) {
            Some(4) => Some(!negated),
            Some(5) => Some(negated),
            _ => None,
        };
        let null_side = [f.get("lexpr"), f.get("rexpr")]
            .into_iter()
            .flatten()
            .any(is_null_const);
        if distinct == Some(true) && null_side {
            return false;
        }
        // `x op ALL (empty array)` is true for every row.
        if f.get("kind").and_then(Value::as_i64) == Some(3)
            && f.get("rexpr").is_some_and(is_empty_array)
        {
            return false;
        }
        // `tableoid` is the same for every row of a table.
        if [f.get("lexpr"), f.get("rexpr")]
            .into_iter()
            .flatten()
            .any(is_tableoid)
        {
            return false;
        }
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
            // A subquery without FROM (`SELECT id`, `VALUES (id)`, a UNION branch) sees the
            // target's row through unqualified names.
            Some(test) => {
                self.mentions_target(test, false, depth + 1)
                    && !reads_target
                    && !self.mentions_target(sub, false, depth + 1)
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

/// `x LIKE '%'`, `x ~ ''`, `x ~ '.*'`, `x SIMILAR TO '%'`: true for every non-null text.
fn matches_everything(f: &Value) -> bool {
    let Some(op) = operator(f) else {
        return false;
    };
    // `SIMILAR TO p` and `LIKE p ESCAPE e` wrap the pattern in a call.
    let mut similar = false;
    let rexpr = f.get("rexpr").map(|r| match node(r) {
        Some(("FuncCall", call)) => {
            let name = call
                .get("funcname")
                .and_then(Value::as_array)
                .and_then(|n| n.last())
                .and_then(|n| n.get("node")?.get("String")?.get("sval")?.as_str());
            match name {
                Some("similar_to_escape" | "like_escape") => {
                    similar = name == Some("similar_to_escape");
                    call.get("args")
                        .and_then(Value::as_array)
                        .and_then(|a| a.first())
                        .unwrap_or(r)
                }
                _ => r,
            }
        }
        _ => r,
    });
    let pattern = rexpr.and_then(crate::pg_facts::const_text);
    let Some(p) = pattern else {
        return false;
    };
    match op.as_str() {
        "~~" | "~~*" => !p.is_empty() && p.chars().all(|c| c == '%'),
        "~" if similar => !p.is_empty() && p.chars().all(|c| c == '%'),
        "~" | "~*" => p.is_empty() || p == ".*" || p == "^" || p == "$",
        _ => false,
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
    node(v).is_some_and(|(k, f)| match k {
        "AConst" => f.get("isnull").and_then(Value::as_bool) == Some(true),
        "TypeCast" => f.get("arg").is_some_and(is_null_const),
        _ => false,
    })
}

/// `'{}'` or `ARRAY[]` (possibly cast).
fn is_empty_array(v: &Value) -> bool {
    node(v).is_some_and(|(k, f)| match k {
        "AConst" => crate::pg_facts::const_text(v).is_some_and(|t| t.trim() == "{}"),
        "AArrayExpr" => !matches!(f.get("elements"), Some(Value::Array(a)) if !a.is_empty()),
        "TypeCast" => f.get("arg").is_some_and(is_empty_array),
        _ => false,
    })
}

/// The system column `tableoid` (possibly qualified, possibly cast).
fn is_tableoid(v: &Value) -> bool {
    node(v).is_some_and(|(k, f)| match k {
        "ColumnRef" => column_names(f).last().map(String::as_str) == Some("tableoid"),
        "TypeCast" => f.get("arg").is_some_and(is_tableoid),
        _ => false,
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
            "status LIKE '%'",
            "status ~ ''",
            "coalesce(id, 0) = coalesce(id, 0)",
            "ROW(id) = ROW(id)",
            "id BETWEEN id AND id",
            "(SELECT count(*) FROM documents) > 0",
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
