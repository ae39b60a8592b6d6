//! Does a WHERE filter rows, by meaning (on PostgreSQL's tree)?
//!
//! A predicate counts only if some conjunct compares a column of the target with something
//! not derived from that same column or row (a constant, a parameter, a value from another
//! table), and it is not provably true for every row. Not counted: self-comparisons through any
//! qualification or arithmetic (`id = id + 0`, `t.id = id`), IN/ANY lists or arrays holding
//! the column, scalar subqueries returning it (`id = (SELECT id)`), `IS NOT NULL` (true for
//! every row of a NOT NULL column; counted never, since the catalog may be absent), `IS NOT
//! DISTINCT FROM` itself, complementary ORs (`x IS NULL OR x IS NOT NULL`, `a = 1 OR a <> 1`,
//! `p OR NOT p`), ORs of one expression's comparisons with constants that keep every value
//! (`cover.rs`), a truth value compared (`truth.rs`), NOT of a contradiction, and semi-joins
//! of the table to itself (`id IN (SELECT id FROM t)`). `AND` counts when one conjunct does;
//! `OR` only when every branch does; `NOT` is pushed inward.

mod cover;
mod mentions;
mod patterns;
mod scope;
mod selective;
mod spellings;
mod subquery;
mod target;
#[cfg(test)]
mod tests;
mod tree;
mod truth;
mod upsert;

use serde_json::Value;

use crate::catalog::Catalog;

use subquery::filtered_subset;
pub use subquery::target_of;
pub use target::Target;
use tree::*;
pub use upsert::upsert_filters;

/// How deep predicates are followed; deeper is judged "does not filter" (fail closed).
pub(super) const MAX_DEPTH: usize = 64;

/// The most branches of one OR judged (their pairs are compared), and the most bytes of tree
/// they may hold: a larger OR does not count as a filter.
const MAX_OR_BRANCHES: usize = 256;
const MAX_OR_BYTES: usize = 64 * 1024;

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

/// Whether `predicate` filters the target's rows (the catalog, when known, resolves
/// unqualified names in subqueries).
pub fn filters(
    predicate: Option<&Value>,
    target: &Target,
    catalog: Option<&Catalog>,
    search_path: &[String],
) -> bool {
    let judge = Judge {
        target,
        catalog,
        search_path,
    };
    predicate.is_some_and(|p| judge.filters(p, false, 0))
}

struct Judge<'t> {
    target: &'t Target,
    catalog: Option<&'t Catalog>,
    search_path: &'t [String],
}

impl Judge<'_> {
    fn filters(&self, e: &Value, negated: bool, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        if let Some(respelled) = spellings::respell(e, false) {
            return self.filters(&respelled, negated, depth + 1);
        }
        let Some((kind, f)) = node(e) else {
            return false;
        };
        match kind {
            "BoolExpr" => {
                let raw: Vec<&Value> = match f.get("args") {
                    Some(Value::Array(a)) => a.iter().collect(),
                    _ => vec![],
                };
                let (mut flat, mut narrowed) = (Vec::new(), Vec::new());
                if let Some(op @ (1 | 2)) = f.get("boolop").and_then(Value::as_i64) {
                    spellings::flattened(&raw, op, false, &mut flat, depth);
                    // Only an OR's coverage proof reads the narrowing rewrites.
                    if op == 2 && !negated {
                        spellings::flattened(&raw, op, true, &mut narrowed, depth);
                    }
                }
                let args: Vec<&Value> = match flat.is_empty() {
                    true => raw,
                    false => flat.iter().collect(),
                };
                // For the tests that branches cover every row (fewer rows covering proves it).
                // Under NOT the branches are negated, and a narrower inside is a wider branch:
                // only the exact rewrites then.
                let cover_args: Vec<&Value> = match narrowed.is_empty() || negated {
                    true => args.clone(),
                    false => narrowed.iter().collect(),
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
                        // Beyond a bound the pairwise tests cost more than a statement may:
                        // not proven to filter (an IN list says the same in one node).
                        !args.is_empty()
                            && args.len() <= MAX_OR_BRANCHES
                            && args.iter().map(|a| a.to_string().len()).sum::<usize>()
                                <= MAX_OR_BYTES
                            && args.iter().all(|a| self.filters(a, negated, depth + 1))
                            && !self.has_complementary_pair(&cover_args)
                            && !cover::covers_every_value(&cover_args, negated)
                            && !selective::remainders_listed(&cover_args)
                    }
                    (Some(3), _) => args
                        .first()
                        .is_some_and(|a| self.filters(a, !negated, depth + 1)),
                    _ => false,
                }
            }
            // x IS NULL filters a column's rows; x IS NOT NULL is true of a NOT NULL column.
            // Only of the column itself: a computation may be NULL for every row
            // (`nullif(id, id) IS NULL`, `(id + NULL) IS NULL`).
            "NullTest" => {
                let is_null = f.get("nulltesttype").and_then(Value::as_i64) == Some(1);
                is_null != negated && f.get("arg").is_some_and(|a| self.nullable_side(a))
            }
            "AExpr" => self.comparison(f, negated, depth),
            "SubLink" => self.sublink(f, negated, depth),
            "BooleanTest" => self.boolean_test(f, negated, depth),
            // A boolean column of the target.
            "ColumnRef" => self.is_target_column(f, &[]),
            "FuncCall" => {
                let args: Vec<&Value> = match f.get("args") {
                    Some(Value::Array(a)) => a.iter().collect(),
                    _ => vec![],
                };
                // A built-in predicate may be an operator or a pattern in other words
                // (`int4ge(id, -2147483648)`, `textlike(v, '%')`): judged as that.
                self.predicate_function_counts(function_name(f).unwrap_or_default(), &args)
                    && args.iter().any(|a| self.mentions_target(a, &[], depth + 1))
                    && args
                        .iter()
                        .any(|a| self.independent(a, depth + 1) && !is_null_const(a))
            }
            _ => false,
        }
    }

    /// `p IS [NOT] TRUE/FALSE/UNKNOWN`: `IS NOT UNKNOWN` is true wherever `p` is not null
    /// (every row, for `p` over NOT NULL columns); `IS UNKNOWN` keeps the rows where `p` is
    /// null; the others filter as `p` or `NOT p` does.
    fn boolean_test(&self, f: &Value, negated: bool, depth: usize) -> bool {
        let Some(arg) = f.get("arg") else {
            return false;
        };
        // BoolTestType: IS_TRUE 1, IS_NOT_TRUE 2, IS_FALSE 3, IS_NOT_FALSE 4, IS_UNKNOWN 5,
        // IS_NOT_UNKNOWN 6.
        match (f.get("booltesttype").and_then(Value::as_i64), negated) {
            (Some(6), false) | (Some(5), true) => false,
            (Some(5), false) | (Some(6), true) => self.mentions_target(arg, &[], depth + 1),
            // IS NOT TRUE / IS NOT FALSE also keep the rows where `p` is NULL: every row when
            // `p` compares with NULL or a parameter that may be NULL.
            (Some(2 | 4), false) | (Some(1 | 3), true) if may_be_null(arg) => false,
            (Some(2 | 3), _) => self.filters(arg, !negated, depth + 1),
            (Some(1 | 4), _) => self.filters(arg, negated, depth + 1),
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
        // `x LIKE '%'` holds for all; `NOT (x NOT LIKE '%')` too.
        if (!negated && matches_everything(f)) || (negated && matches_nothing(f)) {
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
        // `x NOT BETWEEN 5 AND 1` (low above high) keeps every row.
        if let (Some(k @ (11 | 12)), Some(Value::Array(bounds))) = (
            f.get("kind").and_then(Value::as_i64),
            f.get("rexpr")
                .and_then(|r| node(r))
                .and_then(|(_, l)| l.get("items")),
        ) {
            let reversed = matches!(
                (bounds.first().and_then(tree::number), bounds.get(1).and_then(tree::number)),
                (Some(lo), Some(hi)) if lo > hi
            );
            if reversed && (k == 12) != negated {
                return false;
            }
        }
        // `x op ALL (empty array)` is true for every row; one not written out (a parameter, a
        // computation) may be empty (`id <> ALL($1)` with `'{}'`: the classic "all but").
        if f.get("kind").and_then(Value::as_i64) == Some(3) {
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
        // A side that is constant whatever the row (`id * 0`, `id % 1`, `id - id`), or a
        // non-negative function compared with what it always exceeds (`length(s) >= 0`).
        if [f.get("lexpr"), f.get("rexpr")]
            .into_iter()
            .flatten()
            .any(|side| annihilated(side, 0))
            || always_within(f, negated)
        {
            return false;
        }
        // A truth value compared (`(id = 1) IN (true, false)`): as that condition, or not.
        if let Some(v) = truth::verdict(f, negated, |c, neg| self.filters(c, neg, depth + 1)) {
            return v;
        }
        // AEXPR_NOT_DISTINCT (5) with itself, and every other kind, go through the same test:
        // a self-comparison has the target on both sides.
        let (Some(l), Some(r)) = (f.get("lexpr"), f.get("rexpr")) else {
            return false;
        };
        if l.is_null() || r.is_null() {
            return false;
        }
        if patterns::empty_text_bound(f, negated) || patterns::computed_pattern(f) {
            return false;
        }
        // `<>` keeps all but one value: of a computation (`md5(v) <> 'x'`, `concat(v, 'x') <>
        // ''`) it may keep every row; only the column itself counts.
        if matches!(effective_operator(f).as_deref(), Some("<>" | "!=")) != negated {
            let (Some(l), Some(r)) = (f.get("lexpr"), f.get("rexpr")) else {
                return false;
            };
            return (self.nullable_side(l) && self.independent(r, depth + 1))
                || (self.nullable_side(r) && self.independent(l, depth + 1));
        }
        // The target's side must keep its values apart (`abs(id % 2) <= 1` holds for all).
        let equality = effective_operator(f).as_deref() == Some("=")
            || (f.get("kind").and_then(Value::as_i64) == Some(2)
                && operator(f).as_deref() == Some("="));
        let one = f.get("kind").and_then(Value::as_i64) == Some(1);
        (self.compared_side(l, equality, one, depth + 1) && self.independent(r, depth + 1))
            || (self.compared_side(r, equality, one, depth + 1) && self.independent(l, depth + 1))
    }

    fn sublink(&self, f: &Value, negated: bool, depth: usize) -> bool {
        let sub = f.get("subselect").unwrap_or(&Value::Null);
        // NOT IN, `<> ALL`, NOT EXISTS over a subquery that returns no row hold for every row.
        let all = f.get("sub_link_type").and_then(Value::as_i64) == Some(2);
        if negated != all && provably_empty(sub) {
            return false;
        }
        let reads_target = self.reads_target(sub, depth + 1);
        match f.get("testexpr").filter(|t| !t.is_null()) {
            // x IN / op ANY (SELECT ...): x is the target's, the subquery independent of it.
            // A subquery without FROM (`SELECT id`, `VALUES (id)`, a UNION branch) sees the
            // target's row through unqualified names.
            // A subquery over the target itself counts when its own WHERE keeps only some of
            // the target's rows (`id IN (SELECT id FROM t WHERE status = 'x')`).
            Some(test) => {
                let names = [self.target.relname.clone()];
                self.mentions_target(test, &[], depth + 1)
                    && (!reads_target
                        || filtered_subset(sub, &names, self.catalog, self.search_path))
                    && !self.mentions_target(sub, &[], depth + 1)
            }
            // EXISTS (SELECT ... FROM other WHERE other.x = target.y): a correlated semi-join
            // with another table (without a FROM, `EXISTS (SELECT t.id)` is true of every row).
            None => {
                let has_from = node(sub)
                    .and_then(|(_, s)| s.get("from_clause"))
                    .is_some_and(|f| matches!(f, Value::Array(a) if !a.is_empty()));
                f.get("sub_link_type").and_then(Value::as_i64) == Some(1)
                    && has_from
                    && !reads_target
                    && self.correlates(sub, depth + 1)
            }
        }
    }
}
