//! Computations that may fail on the value they are given. A masked value fed to one is an
//! oracle even though its result is masked: whether the statement fails tells the value
//! (`1 / (substr(ssn, 1, 1)::int - 1)` fails exactly when the first digit is 1), so such a use
//! is judged as a predicate on the value. Total computations (every value of their argument
//! types gives a result) are listed here; everything else is taken to be fallible.

use pg_query::protobuf::TypeName;
use pg_query::{Node, NodeEnum};

use super::nodes::strings;

/// pg_catalog functions that give a result for every value of their arguments, whatever
/// those values are (their other, constant arguments may still be invalid, which does not
/// depend on a masked value).
#[rustfmt::skip]
const TOTAL_FUNCTIONS: &[&str] = &[
    // text
    "lower", "upper", "initcap", "length", "char_length", "character_length",
    "octet_length", "bit_length", "md5", "concat", "concat_ws", "left", "right",
    "substr", "substring", "btrim", "ltrim", "rtrim", "trim", "replace", "translate",
    "reverse", "lpad", "rpad", "strpos", "position", "starts_with", "quote_literal",
    "quote_ident", "quote_nullable", "ascii", "to_hex", "split_part", "string_to_array",
    // null handling and comparison
    "coalesce", "nullif", "greatest", "least", "num_nulls", "num_nonnulls",
    // JSON built from values (never parsed from them)
    "to_json", "to_jsonb", "json_build_object", "jsonb_build_object", "json_build_array",
    "jsonb_build_array", "array_to_json",
    // arrays
    "array_length", "cardinality", "array_position", "array_positions", "array_to_string",
    "array_append", "array_prepend", "array_cat",
    // bytes to text forms
    "encode",
    // window functions: they move values between rows
    "lag", "lead", "first_value", "last_value", "nth_value", "row_number", "rank",
    "dense_rank", "percent_rank", "cume_dist", "ntile",
    // aggregates that only collect or compare
    "count", "string_agg", "array_agg", "json_agg", "jsonb_agg", "json_object_agg",
    "jsonb_object_agg", "min", "max", "bool_and", "bool_or", "every",
];

/// pg_catalog functions total in their first argument only: the others are read as a
/// pattern or flags (regular expressions), which a malformed value fails.
#[rustfmt::skip]
const TOTAL_IN_FIRST: &[&str] = &[
    "regexp_replace", "regexp_match", "regexp_matches", "regexp_like", "regexp_count",
    "regexp_instr", "regexp_substr", "regexp_split_to_array",
];

/// Which arguments of a call may fail on their value.
pub(super) enum Fallible {
    /// Every argument (a function not known to be total).
    All,
    /// None.
    None,
    /// Those past the first.
    AfterFirst,
    /// The first (`format`'s format string).
    First,
}

/// Which arguments of `schema.name` (called with `args`) a value may make fail.
pub(super) fn function_args(schema: Option<&str>, name: &str, args: &[Node]) -> Fallible {
    if !matches!(schema, None | Some("pg_catalog")) {
        return Fallible::All;
    }
    if TOTAL_FUNCTIONS.contains(&name) || (name == "convert_to" && to_utf8(args.get(1))) {
        Fallible::None
    } else if TOTAL_IN_FIRST.contains(&name) {
        Fallible::AfterFirst
    } else if name == "format" {
        Fallible::First
    } else {
        Fallible::All
    }
}

/// Whether a cast to `t` gives a result for every value: a cast to a text type (an
/// explicit cast to a bounded one truncates rather than fails).
pub(super) fn cast_total(t: Option<&TypeName>) -> bool {
    let Some(t) = t else { return false };
    let name = strings(&t.names).last().copied().unwrap_or("");
    t.array_bounds.is_empty()
        && matches!(
            name,
            "text" | "varchar" | "bpchar" | "char" | "character" | "citext" | "name"
        )
}

/// An operator (AExpr kind and name) that cannot fail on its operands' values: comparisons
/// and concatenation. Arithmetic can overflow or divide by zero.
pub(super) fn operator_total(kind: i32, op: &str) -> bool {
    match kind {
        // OP, OP ANY, OP ALL
        1..=3 => matches!(
            op,
            "=" | "<>"
                | "!="
                | "<"
                | "<="
                | ">"
                | ">="
                | "||"
                | "~~"
                | "!~~"
                | "~~*"
                | "!~~*"
                | "~"
                | "!~"
                | "~*"
                | "!~*"
        ),
        // DISTINCT, NOT DISTINCT, NULLIF, IN, LIKE, ILIKE, SIMILAR, the BETWEENs
        4..=14 => true,
        _ => false,
    }
}

/// Whether an operator reads its right operand as a pattern (LIKE, regular expressions):
/// a malformed pattern fails, so a masked value there is fallible.
pub(super) fn right_is_pattern(kind: i32, op: &str) -> bool {
    match kind {
        8..=10 => true,
        1..=3 => matches!(
            op,
            "~~" | "!~~" | "~~*" | "!~~*" | "~" | "!~" | "~*" | "!~*"
        ),
        _ => false,
    }
}

/// `convert_to(x, 'UTF8')`: every character has a UTF-8 form (other encodings lack some).
fn to_utf8(encoding: Option<&Node>) -> bool {
    let Some(NodeEnum::AConst(c)) = encoding.and_then(|n| n.node.as_ref()) else {
        return false;
    };
    match &c.val {
        Some(pg_query::protobuf::a_const::Val::Sval(s)) => {
            let e = s.sval.to_ascii_lowercase().replace(['-', '_'], "");
            e == "utf8" || e == "unicode"
        }
        _ => false,
    }
}
