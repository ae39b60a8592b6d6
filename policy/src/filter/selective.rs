//! Which side of a comparison keeps the target's rows apart: a column of the target read as
//! it is, or through what keeps different values different (casts, COLLATE, JSON field
//! access, a constant added or appended, `lower`, `date_trunc` and the like). A computation
//! that folds many values into few (`abs`, `%`, `^`, `greatest`, `sign`, `cardinality`, a CASE,
//! a truth value cast to a number, the row as text) may hold for every row whatever it is
//! compared with: it does not count as a filter.

use serde_json::Value;

use super::tree::*;
use super::{Judge, MAX_DEPTH};

/// Functions whose result keeps the values of their column argument apart closely enough
/// that comparing it with a value selects rows (a constant result for every row would take a
/// tautology written with them on purpose: those are the ones left out).
const KEEPS_VALUES: &[&str] = &[
    "lower",
    "upper",
    "btrim",
    "trim",
    "ltrim",
    "rtrim",
    "initcap",
    "date_trunc",
    "date",
    "date_part",
    "extract",
    "to_char",
    "substr",
    "substring",
    "left",
    "right",
    "coalesce",
    "md5",
    "length",
    "char_length",
    "timezone",
    "unaccent",
    "concat",
    "split_part",
    "replace",
    "jsonb_extract_path_text",
    "json_extract_path_text",
    "jsonb_extract_path",
    "json_extract_path",
    "to_date",
    "to_timestamp",
    "text",
    "int4",
    "int8",
    "numeric",
];

/// Operators that keep their operands' values apart (`id + 1`, `doc ->> 'k'`, `name || 'x'`;
/// `id * 0` is judged constant before this is asked).
const KEEPS_VALUES_OP: &[&str] = &["+", "-", "*", "/", "||", "->", "->>", "#>", "#>>"];

/// Functions that fold values (the sign, the length) but select rows when compared directly
/// (`abs(id) >= 5`, `length(s) > 3`); a bound every result meets (`abs(x) >= 0`) is judged
/// before this is asked (`always_within`). Under further arithmetic they do not count
/// (`abs(id) + 1 > 0`).
const FOLDS_BUT_SELECTS: &[&str] = &["abs", "length", "char_length", "octet_length", "bit_length"];

/// System columns: the same for every row of a table (`tableoid`) or ordered so that a bound
/// below every row holds for all (`ctid > '(0,0)'`); compared for equality they do select.
const SYSTEM_COLUMNS: &[&str] = &["ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"];

impl Judge<'_> {
    /// The side of a comparison that names the target: [`Self::selective`], or one of
    /// [`FOLDS_BUT_SELECTS`] of it, or `x % n` compared for equality with one value
    /// (`id % 2 = 0`; an IN list may name every remainder).
    pub(super) fn compared_side(&self, e: &Value, equality: bool, one: bool, depth: usize) -> bool {
        if self.selective(e, equality, depth) {
            return true;
        }
        match node(e) {
            Some(("FuncCall", f)) => {
                FOLDS_BUT_SELECTS.contains(&function_name(f).as_str())
                    && self.of_target(&list(f, "args"), equality, depth + 1)
            }
            Some(("AExpr", f)) => {
                equality
                    && one
                    && operator(f).as_deref() == Some("%")
                    && f.get("lexpr")
                        .is_some_and(|l| self.selective(l, equality, depth + 1))
                    && f.get("rexpr")
                        .is_some_and(|r| self.independent(r, depth + 1))
            }
            _ => false,
        }
    }

    /// Operands of which one at least keeps the target's values apart and the others are
    /// independent of its row.
    fn of_target(&self, operands: &[&Value], equality: bool, depth: usize) -> bool {
        operands.iter().any(|a| self.selective(a, equality, depth))
            && operands
                .iter()
                .all(|a| self.selective(a, equality, depth) || self.independent(a, depth))
    }

    /// Whether `e` is the target's column, or computed from it by what keeps values apart;
    /// `equality`: the comparison is `=` (or IN), under which system columns select too.
    pub(super) fn selective(&self, e: &Value, equality: bool, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let Some((kind, f)) = node(e) else {
            return false;
        };
        match kind {
            "ColumnRef" => {
                let names = column_names(f);
                let Some(last) = names.last() else {
                    return false;
                };
                // `t` alone is the whole row (`t::text <> ''`).
                let whole_row = names.len() == 1 && self.target.names_target(last);
                let system = SYSTEM_COLUMNS.contains(&last.as_str());
                self.is_target_column(f, &[]) && !whole_row && (equality || !system)
            }
            "TypeCast" | "CollateClause" => f
                .get("arg")
                .is_some_and(|a| self.selective(a, equality, depth + 1)),
            "AIndirection" => f
                .get("arg")
                .is_some_and(|a| self.selective(a, equality, depth + 1)),
            "AExpr" => {
                let op = operator(f).unwrap_or_default();
                if f.get("kind").and_then(Value::as_i64) != Some(1)
                    || !KEEPS_VALUES_OP.contains(&op.as_str())
                {
                    return false;
                }
                let (l, r) = (
                    f.get("lexpr").unwrap_or(&Value::Null),
                    f.get("rexpr").unwrap_or(&Value::Null),
                );
                self.of_target(&[l, r], equality, depth + 1)
            }
            "FuncCall" => {
                KEEPS_VALUES.contains(&function_name(f).as_str())
                    && self.of_target(&list(f, "args"), equality, depth + 1)
            }
            "CoalesceExpr" => self.of_target(&list(f, "args"), equality, depth + 1),
            // `(id, a) = (1, 2)`: a row of the target's columns, under equality.
            "RowExpr" => equality && self.of_target(&list(f, "args"), equality, depth + 1),
            _ => false,
        }
    }
}

/// A node's list field (`args`), as references.
fn list<'v>(f: &'v Value, key: &str) -> Vec<&'v Value> {
    match f.get(key) {
        Some(Value::Array(a)) => a.iter().collect(),
        _ => vec![],
    }
}

/// The last part of a function's name, lower-cased.
pub(super) fn function_name(f: &Value) -> String {
    match f.get("funcname") {
        Some(Value::Array(parts)) => parts
            .last()
            .and_then(|p| p.get("node").unwrap_or(p).get("String"))
            .and_then(|s| s.get("sval"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase(),
        _ => String::new(),
    }
}
