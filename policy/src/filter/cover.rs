//! Branches of a disjunction that between them hold for every value of one expression, each
//! comparing it with constants: `id <> 1 OR id <> 2`, `NOT (id = 1 AND id = 2)`,
//! `x < 5 OR x > 3`, `x <> 1 OR x IN (1, 2)`, `x NOT BETWEEN 1 AND 5 OR x > 0`. Such a
//! comparison changes truth only at its constants, so trying every constant and one value in
//! each gap between them (and beyond both ends) decides whether every non-null value is kept.
//! Numbers are tried as reals (covered for every real means covered for every integer); text
//! only under equality (its order depends on the collation).

use std::collections::BTreeMap;

use serde_json::Value;

use super::tree::{canonical, commuted, node, operator};

mod fold;
use fold::fold;

/// A constant a branch compares with.
#[derive(Clone, Debug, PartialEq)]
enum Constant {
    Number(f64),
    Text(String),
}

/// One branch: the expression compared, and what it keeps.
struct Test {
    expr: String,
    keeps: Keeps,
    /// Under NOT: keeps what `keeps` does not (for non-null values).
    negated: bool,
}

enum Keeps {
    /// `=`, `<>`, `<`, `<=`, `>`, `>=` with one constant.
    Compare(&'static str, Constant),
    /// `IN (...)`.
    In(Vec<Constant>),
    /// `BETWEEN low AND high` (SYMMETRIC: the two in either order).
    Between(Constant, Constant),
    /// Compared with a value pgward cannot read (a parameter, an expression of constants):
    /// `wide` when the comparison keeps all but one value or a range (`<>`, `<`, `NOT IN`).
    Opaque { wide: bool },
}

/// Whether the branches (each judged under `negated`) keep every non-null value of one
/// expression between them.
pub(super) fn covers_every_value(branches: &[&Value], negated: bool) -> bool {
    let mut by_expr: BTreeMap<String, Vec<Test>> = BTreeMap::new();
    for b in branches {
        if let Some(t) = test_of(b, negated) {
            by_expr.entry(t.expr.clone()).or_default().push(t);
        }
    }
    by_expr
        .values()
        .any(|tests| tests.len() > 1 && covered(tests))
}

fn covered(tests: &[Test]) -> bool {
    // A value pgward cannot read beside a comparison that keeps all but one value or a
    // range (`id <> $1 OR id <> $2`): it may cover the rest, and is taken to (fail closed).
    let wide = |t: &Test| match &t.keeps {
        Keeps::Opaque { wide } => *wide != t.negated,
        Keeps::Compare(op, _) => (*op != "=") != t.negated,
        Keeps::In(_) | Keeps::Between(..) => t.negated,
    };
    if tests
        .iter()
        .any(|t| matches!(t.keeps, Keeps::Opaque { .. }))
    {
        return tests.iter().any(wide);
    }
    let mut constants: Vec<Constant> = Vec::new();
    let mut ordered = false;
    for t in tests {
        match &t.keeps {
            Keeps::Compare(op, c) => {
                ordered |= !matches!(*op, "=" | "<>");
                constants.push(c.clone());
            }
            Keeps::In(cs) => constants.extend(cs.iter().cloned()),
            Keeps::Between(a, b) => {
                ordered = true;
                constants.extend([a.clone(), b.clone()]);
            }
            Keeps::Opaque { .. } => return false,
        }
    }
    if !ordered {
        // Under equality, constants PostgreSQL may read as one value (`'1'` and `'01'` for a
        // number, `'a '` and `'a'` for char(n), `'A'` and `'a'` for citext) are one.
        let tests: Vec<Test> = tests.iter().map(Test::folded).collect();
        let constants: Vec<Constant> = constants.iter().map(fold).collect();
        return match points(&constants, false) {
            Some(points) => points
                .iter()
                .all(|p| tests.iter().any(|t| keeps(t, p) == Some(true))),
            None => false,
        };
    }
    let Some(points) = points(&constants, ordered) else {
        return false;
    };
    let all_kept = |points: &[Constant]| {
        points
            .iter()
            .all(|p| tests.iter().any(|t| keeps(t, p) == Some(true)))
    };
    if all_kept(&points) {
        return true;
    }
    // Whole-number constants: an integer column has no value in a gap narrower than one
    // (`id <= 0 OR id >= 1`); tried over the integers too (refusing more, never less).
    let whole = |c: &Constant| matches!(c, Constant::Number(n) if n.fract() == 0.0);
    if !constants.is_empty() && constants.iter().all(whole) {
        let ints: Vec<Constant> = (constants.iter())
            .filter_map(|c| match c {
                Constant::Number(n) => Some([*n - 1.0, *n, *n + 1.0]),
                Constant::Text(_) => None,
            })
            .flatten()
            .map(Constant::Number)
            .collect();
        return all_kept(&ints);
    }
    false
}

/// Values to try: each constant, one in each gap, one beyond each end (numbers); each
/// constant and one equal to none (text, equality only). `None`: not decidable here.
fn points(constants: &[Constant], ordered: bool) -> Option<Vec<Constant>> {
    let numbers: Option<Vec<f64>> = constants
        .iter()
        .map(|c| match c {
            Constant::Number(n) if n.is_finite() => Some(*n),
            _ => None,
        })
        .collect();
    if let Some(mut ns) = numbers {
        ns.sort_by(f64::total_cmp);
        ns.dedup();
        let (first, last) = (*ns.first()?, *ns.last()?);
        let mut out = vec![Constant::Number(first - 1.0), Constant::Number(last + 1.0)];
        for w in ns.windows(2) {
            out.push(Constant::Number((w[0] + w[1]) / 2.0));
        }
        out.extend(ns.into_iter().map(Constant::Number));
        return Some(out);
    }
    if ordered {
        return None;
    }
    let texts: Option<Vec<String>> = constants
        .iter()
        .map(|c| match c {
            Constant::Text(t) => Some(t.clone()),
            Constant::Number(_) => None,
        })
        .collect();
    let texts = texts?;
    // A value equal to none of them: longer than each.
    let fresh = "x".repeat(texts.iter().map(String::len).max().unwrap_or(0) + 1);
    let mut out: Vec<Constant> = texts.into_iter().map(Constant::Text).collect();
    out.push(Constant::Text(fresh));
    Some(out)
}

/// What the branch says of value `v`; `None` when it cannot be told (types mixed).
fn keeps(t: &Test, v: &Constant) -> Option<bool> {
    let kept = match &t.keeps {
        Keeps::Compare(op, c) => compare(v, op, c)?,
        Keeps::In(cs) => {
            // Sorted and of one type (`constants`): a binary search.
            let same_type = matches!(
                (cs.first(), v),
                (Some(Constant::Number(_)), Constant::Number(_))
                    | (Some(Constant::Text(_)), Constant::Text(_))
            );
            if !same_type {
                return None;
            }
            cs.binary_search_by(|c| cmp_constants(c, v)).is_ok()
        }
        Keeps::Between(a, b) => {
            let (lo, hi) = match order(a, b)? {
                std::cmp::Ordering::Greater => (b, a),
                _ => (a, b),
            };
            compare(v, ">=", lo)? && compare(v, "<=", hi)?
        }
        Keeps::Opaque { .. } => return None,
    };
    Some(kept != t.negated)
}

fn order(a: &Constant, b: &Constant) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Constant::Number(x), Constant::Number(y)) => x.partial_cmp(y),
        _ => None,
    }
}

fn compare(v: &Constant, op: &str, c: &Constant) -> Option<bool> {
    if let (Constant::Text(x), Constant::Text(y)) = (v, c) {
        return match op {
            "=" => Some(x == y),
            "<>" => Some(x != y),
            _ => None,
        };
    }
    let o = order(v, c)?;
    use std::cmp::Ordering::*;
    Some(match op {
        "=" => o == Equal,
        "<>" => o != Equal,
        "<" => o == Less,
        "<=" => o != Greater,
        ">" => o == Greater,
        ">=" => o != Less,
        _ => return None,
    })
}

/// A branch as a test of one expression against constants, under `negated`.
fn test_of(v: &Value, negated: bool) -> Option<Test> {
    let (kind, f) = node(v)?;
    match kind {
        "BoolExpr" if f.get("boolop").and_then(Value::as_i64) == Some(3) => {
            let arg = f.get("args")?.as_array()?.first()?;
            test_of(arg, !negated)
        }
        "AExpr" => comparison(f, negated),
        _ => None,
    }
}

fn comparison(f: &Value, negated: bool) -> Option<Test> {
    let (l, r) = (f.get("lexpr")?, f.get("rexpr")?);
    let test = |expr: &Value, keeps: Keeps, negated: bool| {
        let expr = canonical(expr, 0).to_string();
        Some(Test {
            expr,
            keeps,
            negated,
        })
    };
    // AExprKind: OP 1, IN 7, BETWEEN 11, NOT_BETWEEN 12, BETWEEN_SYM 13, NOT_BETWEEN_SYM 14.
    match f.get("kind").and_then(Value::as_i64)? {
        1 => {
            let op = normalized(&operator(f)?)?;
            let wide = op != "=";
            match (constant(l), constant(r)) {
                (None, Some(c)) => test(l, Keeps::Compare(op, c), negated),
                (Some(c), None) => test(r, Keeps::Compare(commuted(op), c), negated),
                (None, None) if !reads_columns(r) => test(l, Keeps::Opaque { wide }, negated),
                (None, None) if !reads_columns(l) => test(r, Keeps::Opaque { wide }, negated),
                _ => None,
            }
        }
        7 => {
            let list = constants(r)?;
            // `NOT IN` is named `<>`.
            let not_in = operator(f)? == "<>";
            test(l, Keeps::In(list), negated != not_in)
        }
        k @ 11..=14 => {
            let [a, b] = <[Constant; 2]>::try_from(constants(r)?).ok()?;
            let symmetric = k >= 13;
            if !symmetric && order(&a, &b)? == std::cmp::Ordering::Greater {
                // `BETWEEN 5 AND 1` keeps nothing: not a range to cover with.
                return None;
            }
            test(l, Keeps::Between(a, b), negated != (k == 12 || k == 14))
        }
        _ => None,
    }
}

fn normalized(op: &str) -> Option<&'static str> {
    Some(match op {
        "=" => "=",
        "<>" | "!=" => "<>",
        "<" => "<",
        "<=" => "<=",
        ">" => ">",
        ">=" => ">=",
        _ => return None,
    })
}

/// An IN list's constants, sorted; `None` unless all are readable and of one type.
fn constants(list: &Value) -> Option<Vec<Constant>> {
    let ("List", l) = node(list)? else {
        return None;
    };
    let mut out: Vec<Constant> = l
        .get("items")?
        .as_array()?
        .iter()
        .map(constant)
        .collect::<Option<_>>()?;
    let numbers = out
        .iter()
        .filter(|c| matches!(c, Constant::Number(_)))
        .count();
    if numbers != 0 && numbers != out.len() {
        return None;
    }
    out.sort_by(cmp_constants);
    Some(out)
}

/// Numbers by value, text by bytes (numbers first).
fn cmp_constants(a: &Constant, b: &Constant) -> std::cmp::Ordering {
    match (a, b) {
        (Constant::Number(x), Constant::Number(y)) => x.total_cmp(y),
        (Constant::Text(x), Constant::Text(y)) => x.cmp(y),
        (Constant::Number(_), Constant::Text(_)) => std::cmp::Ordering::Less,
        (Constant::Text(_), Constant::Number(_)) => std::cmp::Ordering::Greater,
    }
}

/// A number or text constant (possibly cast, possibly negative).
fn constant(v: &Value) -> Option<Constant> {
    let (k, f) = node(v)?;
    match k {
        "TypeCast" => constant(f.get("arg")?),
        "AConst" => {
            let val = f.get("val")?;
            if let Some(i) = val.get("Ival") {
                return Some(Constant::Number(
                    i.get("ival").and_then(Value::as_i64).unwrap_or(0) as f64,
                ));
            }
            if let Some(x) = val.get("Fval") {
                let text = x.get("fval")?.as_str()?;
                // An integer past what a float holds exactly stays its digits.
                if text.bytes().all(|b| b.is_ascii_digit()) && text.len() > 15 {
                    return Some(Constant::Text(text.trim_start_matches('0').to_string()));
                }
                return text.parse().ok().map(Constant::Number);
            }
            val.get("Sval")?
                .get("sval")?
                .as_str()
                .map(|s| Constant::Text(s.to_string()))
        }
        "AExpr" if f.get("lexpr").is_none_or(Value::is_null) && operator(f)? == "-" => {
            match constant(f.get("rexpr")?)? {
                Constant::Number(n) => Some(Constant::Number(-n)),
                Constant::Text(_) => None,
            }
        }
        _ => None,
    }
}

/// Whether an expression names a column (so it is a row's value, not a constant).
fn reads_columns(v: &Value) -> bool {
    v.to_string().contains("\"ColumnRef\"")
}
