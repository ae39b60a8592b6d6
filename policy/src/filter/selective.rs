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
    "initcap",
    "date_trunc",
    "date",
    "date_part",
    "extract",
    "md5",
    "timezone",
    "unaccent",
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

/// Of [`KEEPS_VALUES`], those whose result lies in a small range whatever the value.
const BOUNDED: &[&str] = &["date_part", "extract", "md5"];

/// Functions that keep a prefix, a part or the trimmed text: only with one argument (the
/// characters trimmed may be every character the column holds) or positive lengths written
/// out (`left(v, 0)` is `''` for every row).
const KEEPS_VALUES_WITH_COUNTS: &[&str] = &[
    "btrim",
    "trim",
    "ltrim",
    "rtrim",
    "substr",
    "substring",
    "left",
    "right",
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
                let args = list(f, "args");
                FOLDS_BUT_SELECTS.contains(&function_name(f).unwrap_or_default())
                    && args.len() == 1
                    && self.nullable_side(args[0])
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

    /// The target's column itself (possibly cast, or a JSON field of it with a key written
    /// out): what `IS NULL`, `<>` and the folding functions count on.
    pub(super) fn nullable_side(&self, e: &Value) -> bool {
        match node(e) {
            Some(("ColumnRef", f)) => {
                let names = column_names(f);
                let Some(last) = names.last() else {
                    return false;
                };
                let whole_row = (names.len() == 1 && self.target.names_target(last)) || last == "*";
                self.is_target_column(f, &[]) && !whole_row
            }
            Some(("TypeCast" | "CollateClause", f)) => {
                f.get("arg").is_some_and(|a| self.nullable_side(a))
            }
            Some(("AExpr", f)) => {
                matches!(operator(f).as_deref(), Some("->" | "->>"))
                    && f.get("lexpr").is_some_and(|l| {
                        matches!(node(l), Some(("ColumnRef", _))) && self.nullable_side(l)
                    })
                    && f.get("rexpr")
                        .is_some_and(|r| matches!(node(r), Some(("AConst", _))))
            }
            _ => false,
        }
    }

    /// Whether a boolean function used as a predicate may count as a filter: the functions
    /// behind comparison and containment operators never do (`int4ge(id, -2147483648)`),
    /// pattern functions only with a pattern written out that does not match every text (or
    /// a parameter), `starts_with` only of the column with a prefix written out (or a
    /// parameter), a JSON path only other than the root. Any other function (`overlaps`,
    /// PostGIS's) is taken at its word.
    pub(super) fn predicate_function_counts(&self, name: &str, args: &[&Value]) -> bool {
        let arg = |i: usize| args.get(i).copied();
        let param = |v: Option<&Value>| matches!(v.and_then(node), Some(("ParamRef", _)));
        let text = |v: Option<&Value>| v.and_then(crate::pg_facts::const_text);
        const TYPES: &[&str] = &[
            "int2",
            "int4",
            "int8",
            "float4",
            "float8",
            "numeric_",
            "text",
            "bpchar",
            "name",
            "date_",
            "timestamp_",
            "timestamptz_",
            "bool",
            "oid",
            "char",
            "bytea",
            "uuid_",
            "interval_",
            "time_",
            "jsonb_",
            "array_",
        ];
        let operator_function = ["eq", "ne", "lt", "le", "gt", "ge"]
            .iter()
            .any(|op| name.strip_suffix(op).is_some_and(|t| TYPES.contains(&t)));
        match name {
            _ if operator_function => false,
            "jsonb_exists" | "jsonb_exists_any" | "jsonb_exists_all" | "jsonb_contains"
            | "jsonb_contained" | "arraycontains" | "arraycontained" | "arrayoverlap"
            | "isfinite" | "textnlike" | "texticnlike" | "bpcharnlike" | "namenlike"
            | "textregexne" | "texticregexne" => false,
            "textlike" | "texticlike" | "bpcharlike" | "namelike" => {
                param(arg(1))
                    || text(arg(1)).is_some_and(|p| !super::patterns::like_wildcards_only(&p))
            }
            "regexp_like" | "textregexeq" | "texticregexeq" => {
                param(arg(1))
                    || text(arg(1)).is_some_and(|p| !super::patterns::regex_matches_empty(&p))
            }
            "starts_with" => {
                arg(0).is_some_and(|a| self.nullable_side(a))
                    && (param(arg(1)) || text(arg(1)).is_some_and(|p| !p.is_empty()))
            }
            "jsonb_path_exists" | "jsonb_path_match" => {
                param(arg(1)) || text(arg(1)).is_some_and(|p| p.trim() != "$")
            }
            _ => true,
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
                // `t` alone (or `t.*`) is the whole row (`t::text <> ''`).
                let whole_row = (names.len() == 1 && self.target.names_target(last)) || last == "*";
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
                    // Integer division by a large divisor is 0 for every row.
                    || (op == "/" && !equality)
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
                let name = function_name(f).unwrap_or_default();
                let args = list(f, "args");
                // A bounded result (a month, a weekday, a hash's first character) may sit
                // inside a range every row meets: compared for equality only.
                if BOUNDED.contains(&name) && !equality {
                    return false;
                }
                let counts_ok = KEEPS_VALUES_WITH_COUNTS.contains(&name)
                    && args.len() > 1
                    && !name.ends_with("trim")
                    && args[1..].iter().all(|a| number(a).is_some_and(|n| n > 0.0));
                (KEEPS_VALUES.contains(&name)
                    || counts_ok
                    || (KEEPS_VALUES_WITH_COUNTS.contains(&name) && args.len() == 1))
                    && self.of_target(&args, equality, depth + 1)
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

/// Two branches of an OR comparing the same `x % n`: the remainders may be listed until they
/// cover every value (`id % 2 = 0 OR id % 2 = 1`), which the coverage test cannot see.
pub(super) fn remainders_listed(branches: &[&Value]) -> bool {
    let mut seen: Vec<Value> = Vec::new();
    for b in branches {
        let Some(("AExpr", f)) = node(b) else {
            continue;
        };
        for side in [f.get("lexpr"), f.get("rexpr")].into_iter().flatten() {
            if let Some(("AExpr", m)) = node(side) {
                if operator(m).as_deref() == Some("%") {
                    let key = canonical(side, 0);
                    if seen.contains(&key) {
                        return true;
                    }
                    seen.push(key);
                }
            }
        }
    }
    false
}
