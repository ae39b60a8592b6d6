//! A comparison whose row side is a truth value, not a column's value: `(id = 1) = true`
//! filters as `id = 1` does, `(id = 1) IN (true, false)` keeps every row, `(id = 1)::int >= 0`
//! and `num_nulls(id) = 0` hold for every non-null row. Such a comparison counts only as
//! its truth value does, compared with a boolean constant; in any other form it does not
//! count (write the condition itself).

use serde_json::Value;

use super::tree::{const_bool, function_name, node, operator};

/// Whether `e` is a truth value (a condition, not a column's value).
fn truth_valued(e: &Value) -> bool {
    let Some((kind, f)) = node(e) else {
        return false;
    };
    match kind {
        "BoolExpr" | "NullTest" | "BooleanTest" => true,
        // Every kind but OP (1) and NULLIF (6) is a condition; OP when it compares.
        "AExpr" => match f.get("kind").and_then(Value::as_i64) {
            Some(1) => operator(f).is_some_and(|o| {
                matches!(o.as_str(), "=" | "<>" | "!=" | "<" | "<=" | ">" | ">=")
                    || o.starts_with('~')
                    || o.starts_with("!~")
            }),
            Some(6) | None => false,
            Some(_) => true,
        },
        "SubLink" => !matches!(f.get("sub_link_type").and_then(Value::as_i64), Some(4 | 6)),
        _ => false,
    }
}

/// A cast of a truth value (`(id = 1)::int`), or a function of nullness alone.
fn disguised_truth(e: &Value) -> bool {
    let Some((kind, f)) = node(e) else {
        return false;
    };
    match kind {
        "TypeCast" => f
            .get("arg")
            .is_some_and(|a| truth_valued(a) || disguised_truth(a)),
        "FuncCall" => {
            matches!(function_name(f), Some("num_nulls" | "num_nonnulls"))
        }
        _ => false,
    }
}

/// The verdict on comparison `f` (under `negated`) when a side is a truth value: what
/// `judge` says of that condition under the polarity the comparison gives it, or false;
/// `None` when neither side is one.
pub(super) fn verdict(
    f: &Value,
    negated: bool,
    judge: impl Fn(&Value, bool) -> bool,
) -> Option<bool> {
    let (l, r) = (f.get("lexpr")?, f.get("rexpr")?);
    if [l, r].into_iter().any(disguised_truth) {
        return Some(false);
    }
    let (cond, other) = match (truth_valued(l), truth_valued(r)) {
        (true, false) => (l, r),
        (false, true) => (r, l),
        (false, false) => return None,
        (true, true) => return Some(false),
    };
    let values: Vec<bool> = match f.get("kind").and_then(Value::as_i64) {
        Some(1) => const_bool(other, 0).into_iter().collect(),
        Some(7) => match node(other) {
            Some(("List", l)) => (l.get("items").and_then(Value::as_array).into_iter())
                .flatten()
                .map(|i| const_bool(i, 0))
                .collect::<Option<Vec<bool>>>()
                .unwrap_or_default(),
            _ => vec![],
        },
        _ => vec![],
    };
    let mut values = values;
    values.dedup();
    let op = operator(f).unwrap_or_default();
    match (values.as_slice(), op.as_str()) {
        // `cond = b` / `cond IN (b)` keeps the rows where cond is b; `<>` / `NOT IN` the others.
        ([b], "=") => Some(judge(cond, negated == *b)),
        ([b], "<>" | "!=") => Some(judge(cond, negated != *b)),
        _ => Some(false),
    }
}
