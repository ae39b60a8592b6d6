//! Other spellings of the comparisons the coverage tests read, rewritten to them:
//! `x op ANY (ARRAY[a, b])` is `x op a OR x op b` (`= ANY` is `IN`), `x op ALL (...)` their
//! AND (`<> ALL` is `NOT IN`), `x IS [NOT] DISTINCT FROM c` (c not NULL) is `x <> c` / `x = c`
//! for every row it can tell apart, and `p IS TRUE` / `IS NOT FALSE` is `p`, `p IS FALSE` /
//! `IS NOT TRUE` is `NOT p` where NULL rows may be left aside. Judging whether a predicate
//! filters uses only the exact rewrites; proving that an OR's branches cover every row may
//! use the narrowing ones too (what fewer rows cover, more rows do).

use serde_json::{json, Value};

use super::tree::*;

const AEXPR_OP: i64 = 1;
const AEXPR_OP_ANY: i64 = 2;
const AEXPR_OP_ALL: i64 = 3;
const AEXPR_DISTINCT: i64 = 4;
const AEXPR_NOT_DISTINCT: i64 = 5;
const AEXPR_IN: i64 = 7;
const OR: i64 = 2;
const AND: i64 = 1;
const NOT: i64 = 3;

/// The rewritten form of `e`, when it is one of the spellings above; `narrowing`: a rewrite
/// that selects fewer rows is allowed too.
pub(super) fn respell(e: &Value, narrowing: bool) -> Option<Value> {
    let (kind, f) = node(e)?;
    match kind {
        "AExpr" => {
            let op = operator(f)?;
            let lexpr = f.get("lexpr")?;
            let rexpr = f.get("rexpr")?;
            match f.get("kind").and_then(Value::as_i64)? {
                k @ (AEXPR_OP_ANY | AEXPR_OP_ALL) => {
                    let items = array_items(rexpr)?;
                    match (k, op.as_str()) {
                        (AEXPR_OP_ANY, "=") => Some(aexpr(AEXPR_IN, "=", lexpr, list(items))),
                        (AEXPR_OP_ALL, "<>") => Some(aexpr(AEXPR_IN, "<>", lexpr, list(items))),
                        _ => {
                            let args: Vec<Value> = items
                                .into_iter()
                                .map(|c| aexpr(AEXPR_OP, &op, lexpr, c))
                                .collect();
                            Some(bool_expr(if k == AEXPR_OP_ANY { OR } else { AND }, args))
                        }
                    }
                }
                k @ (AEXPR_DISTINCT | AEXPR_NOT_DISTINCT) => {
                    // Only against a value written out: a parameter or a computation may be
                    // NULL, and `x IS DISTINCT FROM NULL` is `x IS NOT NULL`.
                    let literal =
                        |v: &Value| matches!(node(v), Some(("AConst", _))) && !is_null_const(v);
                    if !literal(lexpr) && !literal(rexpr) {
                        return None;
                    }
                    let op = if k == AEXPR_DISTINCT { "<>" } else { "=" };
                    Some(aexpr(AEXPR_OP, op, lexpr, rexpr.clone()))
                }
                _ => None,
            }
        }
        "BooleanTest" => {
            let arg = f.get("arg")?;
            // BoolTestType: IS_TRUE 1, IS_NOT_TRUE 2, IS_FALSE 3, IS_NOT_FALSE 4. IS TRUE and
            // IS FALSE select exactly the rows `p` and `NOT p` do; IS NOT FALSE and IS NOT
            // TRUE add the rows where `p` is NULL, so they are read so only where a rewrite
            // may narrow (`narrowing`: proving that branches of an OR cover every row).
            match (f.get("booltesttype").and_then(Value::as_i64)?, narrowing) {
                (1, _) | (4, true) => Some(arg.clone()),
                (3, _) | (2, true) => Some(bool_expr(NOT, vec![arg.clone()])),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The branches of an OR (`boolop` OR) or AND, with the spellings above rewritten and
/// nested ones of the same kind flattened.
pub(super) fn flattened(
    args: &[&Value],
    boolop: i64,
    narrowing: bool,
    out: &mut Vec<Value>,
    depth: usize,
) {
    for a in args {
        let a = respell(a, narrowing).unwrap_or_else(|| (*a).clone());
        match node(&a) {
            Some(("BoolExpr", f))
                if depth < super::MAX_DEPTH
                    && f.get("boolop").and_then(Value::as_i64) == Some(boolop) =>
            {
                let inner: Vec<&Value> = match f.get("args") {
                    Some(Value::Array(x)) => x.iter().collect(),
                    _ => vec![],
                };
                flattened(&inner, boolop, narrowing, out, depth + 1);
            }
            _ => out.push(a),
        }
    }
}

/// The elements of an array written out: `ARRAY[...]` or `'{a,b}'` (possibly cast).
fn array_items(v: &Value) -> Option<Vec<Value>> {
    let (kind, f) = node(v)?;
    match kind {
        "TypeCast" => array_items(f.get("arg")?),
        "AArrayExpr" => match f.get("elements") {
            Some(Value::Array(e)) if !e.is_empty() => Some(e.clone()),
            _ => None,
        },
        "AConst" => {
            let text = crate::pg_facts::const_text(v)?;
            let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
            if inner.is_empty() || inner.contains(['"', '{', '}', '\\']) {
                return None;
            }
            Some(
                inner
                    .split(',')
                    .map(|s| json!({"AConst": {"val": {"Sval": {"sval": s.trim()}}}}))
                    .collect(),
            )
        }
        _ => None,
    }
}

fn aexpr(kind: i64, op: &str, lexpr: &Value, rexpr: Value) -> Value {
    json!({"AExpr": {
        "kind": kind,
        "name": [{"node": {"String": {"sval": op}}}],
        "lexpr": lexpr,
        "rexpr": rexpr,
    }})
}

fn list(items: Vec<Value>) -> Value {
    json!({"List": {"items": items}})
}

fn bool_expr(boolop: i64, args: Vec<Value>) -> Value {
    json!({"BoolExpr": {"boolop": boolop, "args": args}})
}
