//! Small readers of PostgreSQL's JSON tree used by the WHERE judge: node kinds, column names,
//! operators, constants and the predicates true for every row.

use serde_json::Value;

use super::MAX_DEPTH;

/// The node type and fields of a `Node` (`{"node": {"Kind": {...}}}`) or a bare `{"Kind": ..}`.
pub(super) fn node(v: &Value) -> Option<(&str, &Value)> {
    let inner = v.get("node").unwrap_or(v);
    let map = inner.as_object()?;
    let (k, v) = map.iter().next()?;
    Some((k.as_str(), v))
}

/// The last part of a function call's name (`pg_catalog.lower` is `lower`), as written.
pub(super) fn function_name(call: &Value) -> Option<&str> {
    call.get("funcname")?
        .as_array()?
        .last()?
        .get("node")?
        .get("String")?
        .get("sval")?
        .as_str()
}

pub(super) fn column_names(fields: &Value) -> Vec<String> {
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
pub(super) fn canonical(v: &Value, depth: usize) -> Value {
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

pub(super) fn operator(fields: &Value) -> Option<String> {
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
pub(super) fn effective_operator(fields: &Value) -> Option<String> {
    match fields.get("kind").and_then(Value::as_i64) {
        Some(4) => Some("<>".into()),
        Some(5) => Some("=".into()),
        Some(1) | Some(7) => operator(fields),
        _ => None,
    }
}

/// The operator with its operands swapped (`a < b` is `b > a`).
pub(super) fn commuted(op: &str) -> &str {
    match op {
        "<" => ">",
        ">" => "<",
        "<=" => ">=",
        ">=" => "<=",
        other => other,
    }
}

pub(super) fn complementary(a: &str, b: &str) -> bool {
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

/// `x NOT LIKE '%'`, `x !~ ''`: false for every text (so true for all under NOT).
pub(super) fn matches_nothing(f: &Value) -> bool {
    let Some(op) = operator(f) else {
        return false;
    };
    match op.strip_prefix('!') {
        Some(positive) => pattern_matches_everything(f, positive),
        None => false,
    }
}

/// `x LIKE '%'`, `x ~ ''`, `x ~ '.*'`, `x SIMILAR TO '%'`: true for every non-null text.
pub(super) fn matches_everything(f: &Value) -> bool {
    match operator(f) {
        Some(op) => pattern_matches_everything(f, &op),
        None => false,
    }
}

fn pattern_matches_everything(f: &Value, op: &str) -> bool {
    let op = op.to_string();
    // `SIMILAR TO p` and `LIKE p ESCAPE e` wrap the pattern in a call.
    let mut similar = false;
    let rexpr = f.get("rexpr").map(|r| match node(r) {
        Some(("FuncCall", call)) => {
            let name = function_name(call);
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
        "~~" | "~~*" => super::patterns::like_wildcards_only(&p),
        "~" if similar => super::patterns::like_wildcards_only(&p),
        "~" | "~*" => super::patterns::regex_matches_empty(&p),
        "^@" => p.is_empty(),
        _ => false,
    }
}

/// The value of a boolean constant (possibly under NOT).
pub(super) fn const_bool(v: &Value, depth: usize) -> Option<bool> {
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

pub(super) fn is_null_const(v: &Value) -> bool {
    node(v).is_some_and(|(k, f)| match k {
        "AConst" => f.get("isnull").and_then(Value::as_bool) == Some(true),
        "TypeCast" => f.get("arg").is_some_and(is_null_const),
        _ => false,
    })
}

/// The system column `tableoid` (possibly qualified, possibly cast).
pub(super) fn is_tableoid(v: &Value) -> bool {
    node(v).is_some_and(|(k, f)| match k {
        "ColumnRef" => column_names(f).last().map(String::as_str) == Some("tableoid"),
        "TypeCast" => f.get("arg").is_some_and(is_tableoid),
        _ => false,
    })
}

/// A numeric constant (possibly signed, possibly cast).
pub(super) fn number(v: &Value) -> Option<f64> {
    const_number(v)
}

/// An integer constant (possibly signed, possibly cast).
fn const_number(v: &Value) -> Option<f64> {
    let (k, f) = node(v)?;
    match k {
        "AConst" => {
            let val = f.get("val")?;
            if let Some(i) = val.get("Ival") {
                return Some(i.get("ival").and_then(Value::as_i64).unwrap_or(0) as f64);
            }
            val.get("Fval")?.get("fval")?.as_str()?.parse().ok()
        }
        "TypeCast" => const_number(f.get("arg")?),
        "AExpr"
            if f.get("lexpr").is_none_or(Value::is_null) && operator(f).as_deref() == Some("-") =>
        {
            const_number(f.get("rexpr")?).map(|n| -n)
        }
        _ => None,
    }
}

/// Arithmetic whose value is the same for every row: `x * 0`, `0 * x`, `0 / x`, `x % 1`,
/// `x ^ 0`, `x & 0`, `x - x`, `x # x` (possibly cast or parenthesized).
pub(super) fn annihilated(v: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let Some((k, f)) = node(v) else {
        return false;
    };
    match k {
        "TypeCast" => f.get("arg").is_some_and(|a| annihilated(a, depth + 1)),
        "AExpr" if f.get("kind").and_then(Value::as_i64) == Some(1) => {
            let (Some(l), Some(r)) = (f.get("lexpr"), f.get("rexpr")) else {
                return false;
            };
            if l.is_null() {
                return annihilated(r, depth + 1);
            }
            let (ln, rn) = (const_number(l), const_number(r));
            let zero = |n: Option<f64>| n == Some(0.0);
            match operator(f).as_deref() {
                Some("*") => {
                    zero(ln) || zero(rn) || annihilated(l, depth + 1) || annihilated(r, depth + 1)
                }
                Some("/") => zero(ln) || annihilated(l, depth + 1),
                Some("%") => matches!(rn, Some(n) if n.abs() == 1.0) || zero(ln),
                Some("^") => zero(rn),
                Some("&") => zero(ln) || zero(rn),
                Some("-" | "#") => canonical(l, 0) == canonical(r, 0),
                Some("+") => annihilated(l, depth + 1) && annihilated(r, depth + 1),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Functions whose value is never negative.
const NON_NEGATIVE: &[&str] = &[
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "abs",
    "cardinality",
    "pg_column_size",
    "num_nulls",
    "num_nonnulls",
    "bit_count",
];

fn non_negative(v: &Value) -> bool {
    match node(v) {
        Some(("FuncCall", f)) => function_name(f).is_some_and(|name| NON_NEGATIVE.contains(&name)),
        // `@ x` (absolute value), `x * x`.
        Some(("AExpr", f)) => match operator(f).as_deref() {
            Some("@") => f.get("lexpr").is_none_or(Value::is_null),
            Some("*") => match (f.get("lexpr"), f.get("rexpr")) {
                (Some(l), Some(r)) => canonical(l, 0) == canonical(r, 0),
                _ => false,
            },
            _ => false,
        },
        Some(("TypeCast", f)) => f.get("arg").is_some_and(non_negative),
        _ => false,
    }
}

/// A non-negative value compared with what it always satisfies: `f >= 0`, `f > -1`,
/// `f <> -1`, `0 <= f` (and `NOT (f < 0)`).
pub(super) fn always_within(f: &Value, negated: bool) -> bool {
    let Some(op) = effective_operator(f) else {
        return false;
    };
    let (Some(l), Some(r)) = (f.get("lexpr"), f.get("rexpr")) else {
        return false;
    };
    let (op, bound) = if non_negative(l) {
        (op, const_number(r))
    } else if non_negative(r) {
        (commuted(&op).to_string(), const_number(l))
    } else {
        return false;
    };
    let op = if negated {
        match op.as_str() {
            "<" => ">=",
            ">=" => "<",
            ">" => "<=",
            "<=" => ">",
            "=" => "<>",
            "<>" | "!=" => "=",
            _ => return false,
        }
        .to_string()
    } else {
        op
    };
    let Some(c) = bound else { return false };
    match op.as_str() {
        ">=" => c <= 0.0,
        ">" | "<>" | "!=" => c < 0.0,
        _ => false,
    }
}

/// A query that returns no row whatever the data: `WHERE false` (or a conjunct that is), or
/// `LIMIT 0`.
pub(super) fn provably_empty(query: &Value) -> bool {
    let Some(("SelectStmt", s)) = node(query) else {
        return false;
    };
    let falsy = |w: &Value| {
        const_bool(w, 0) == Some(false)
            || matches!(node(w), Some(("BoolExpr", b))
                if b.get("boolop").and_then(Value::as_i64) == Some(1)
                    && matches!(b.get("args"), Some(Value::Array(a))
                        if a.iter().any(|x| const_bool(x, 0) == Some(false))))
    };
    s.get("where_clause").is_some_and(falsy) || s.get("limit_count").and_then(number) == Some(0.0)
}

/// A NULL constant or a parameter anywhere in `e` (a comparison with one may be NULL for
/// every row).
pub(super) fn may_be_null(e: &Value) -> bool {
    match e {
        Value::Object(m) => is_null_const(e) || m.values().any(may_be_null) || has_param(e),
        Value::Array(a) => a.iter().any(may_be_null),
        _ => false,
    }
}

/// A parameter (`$n`) anywhere in `e`.
pub(super) fn has_param(e: &Value) -> bool {
    match e {
        Value::Object(m) => m.contains_key("ParamRef") || m.values().any(has_param),
        Value::Array(a) => a.iter().any(has_param),
        _ => false,
    }
}
