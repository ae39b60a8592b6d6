//! Computations that may fail on the value they are given. A masked value fed to one is an
//! oracle even though its result is masked: whether the statement fails tells the value
//! (`1 / (substr(ssn, 1, 1)::int - 1)` fails exactly when the first digit is 1), so such a use
//! is judged as a predicate on the value. Total computations (every value of their argument
//! types gives a result) are listed here; everything else is taken to be fallible.

use pg_query::protobuf::TypeName;
use pg_query::{Node, NodeEnum};

use super::nodes::strings;

/// pg_catalog functions that give a result whatever values their arguments hold.
#[rustfmt::skip]
const TOTAL_FUNCTIONS: &[&str] = &[
    // text
    "lower", "upper", "initcap", "length", "char_length", "character_length",
    "octet_length", "bit_length", "md5", "concat", "concat_ws", "left", "right", "btrim",
    "ltrim", "rtrim", "trim", "reverse", "strpos", "position",
    "starts_with", "ascii", "to_hex",
    "string_to_array",
    // null handling and comparison
    "coalesce", "nullif", "greatest", "least", "num_nulls", "num_nonnulls",
    // JSON built from values (never parsed from them)
    "to_json", "to_jsonb", "json_build_array", "jsonb_build_array", "array_to_json",
    // arrays
    "array_length", "cardinality",
    // aggregates that only collect or compare
    "count", "string_agg", "json_agg", "jsonb_agg", "min", "max", "bool_and", "bool_or",
    "every",
    // window functions of the current row's frame
    "first_value", "last_value", "row_number", "rank", "dense_rank", "percent_rank",
    "cume_dist",
];

/// Whether argument `index` of `schema.name(args)` may make the call fail, by its value.
/// Functions total in some arguments fail on others: a position or count (`substr`'s
/// length, `split_part`'s field, `lpad`'s length, `nth_value`'s n), a key that may be NULL
/// (`json_build_object`), a format or pattern (`format`, `encode`, regular expressions).
pub(super) fn fallible_arg(schema: Option<&str>, name: &str, index: usize, args: &[Node]) -> bool {
    if !matches!(schema, None | Some("pg_catalog")) {
        return true;
    }
    // `length(bytea, encoding)` decodes the bytes, and fails on what the encoding lacks.
    if name == "length" && args.len() > 1 {
        return true;
    }
    if TOTAL_FUNCTIONS.contains(&name) {
        return false;
    }
    match name {
        // `substring(text, pattern)` reads its second argument as a regular expression.
        "substr" | "substring" => index >= 1,
        "split_part" => index == 2,
        // A field, unit or format first or second; the date or number itself is total.
        "date_trunc" | "date_part" | "extract" => index == 0,
        "to_char" | "round" | "trunc" => index >= 1,
        "lpad" | "rpad" | "encode" | "nth_value" | "lag" | "lead" => index >= 1,
        "ntile" => true,
        "convert_to" => index == 1 || !to_utf8(args.get(1)),
        "json_build_object" | "jsonb_build_object" => index & 1 == 0,
        "json_object_agg" | "jsonb_object_agg" => index == 0,
        // A NULL array or arrays of other shapes fail: a plain column is one value a row.
        "array_agg" => !args
            .get(index)
            .is_some_and(|a| matches!(a.node, Some(NodeEnum::ColumnRef(_)))),
        // `%I` fails on NULL; a format that is not a constant may hold it.
        "format" => index == 0 || !format_without_identifiers(args.first()),
        // Deleting characters (a `to` shorter than `from`) makes the length follow the value
        // (0 or 1 for one digit), which repetition grows past 1 GB (out of memory).
        "translate" => index >= 1 || !translate_keeps_length(args),
        // Quotes and backslashes doubled: nested, the length doubles with each level where
        // the value holds one.
        "quote_literal" | "quote_ident" | "quote_nullable" => true,
        // A separator repeated once per element: a large array makes the result as large as
        // the separator is long (past 1 GB, out of memory).
        "array_to_string" => index >= 1,
        // Each match replaced: the result's size follows the value, and nested, one
        // character grows past 1 GB (out of memory). A column's own text with a short
        // replacement written out stays within a small multiple of the value.
        "replace" | "regexp_replace" => index >= 1 || !bounded_replacement(args),
        n if n.starts_with("regexp_") => index >= 1,
        _ => true,
    }
}

/// `translate(x, 'abc', 'xyz')` with `to` written out at least as long as `from`: every
/// character maps to one, the length is the value's.
fn translate_keeps_length(args: &[Node]) -> bool {
    match (const_text(args.get(1)), const_text(args.get(2))) {
        (Some(from), Some(to)) => to.chars().count() >= from.chars().count(),
        _ => false,
    }
}

/// `replace(col, from, 'short')`: a column read as it is, and a replacement of at most 64
/// bytes written in the statement.
fn bounded_replacement(args: &[Node]) -> bool {
    let column = matches!(
        args.first().and_then(|a| a.node.as_ref()),
        Some(NodeEnum::ColumnRef(_))
    );
    column && const_text(args.get(2)).is_some_and(|r| r.len() <= 64)
}

/// A constant format string with no `%I` (the one conversion that fails on a NULL), no
/// argument positions and no width or precision taken from an argument.
fn format_without_identifiers(f: Option<&Node>) -> bool {
    match const_text(f) {
        // `*` takes a width from an argument, read as an integer.
        Some(t) => !t.contains("%I") && !t.contains('$') && !t.contains('*'),
        None => false,
    }
}

fn const_text(n: Option<&Node>) -> Option<&str> {
    let Some(NodeEnum::AConst(c)) = n.and_then(|n| n.node.as_ref()) else {
        return None;
    };
    match &c.val {
        Some(pg_query::protobuf::a_const::Val::Sval(s)) => Some(&s.sval),
        _ => None,
    }
}

/// Whether a cast to `t` gives a result for every value: a cast to a text type (an
/// explicit cast to a bounded one truncates rather than fails).
pub(super) fn cast_total(t: Option<&TypeName>) -> bool {
    let Some(t) = t else { return false };
    // pg_catalog's types (a same-named domain elsewhere may CHECK the value), and citext,
    // the extension's case-insensitive text.
    let names = strings(&t.names);
    let name = match names.as_slice() {
        [n] | ["pg_catalog", n] => *n,
        [_, "citext"] => "citext",
        _ => return false,
    };
    t.array_bounds.is_empty()
        && matches!(
            name,
            "text" | "varchar" | "bpchar" | "char" | "character" | "name" | "citext"
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
    const_text(encoding).is_some_and(|s| {
        let e = s.to_ascii_lowercase().replace(['-', '_'], "");
        e == "utf8" || e == "unicode"
    })
}

/// An XML expression that gives a result whatever its arguments hold: building elements,
/// forests and concatenations escapes text. Parsing (`XMLPARSE`), processing instructions
/// (which refuse `?>`) and `XMLROOT` fail on some values.
pub(super) fn xml_total(op: i32) -> bool {
    use pg_query::protobuf::XmlExprOp;
    [
        XmlExprOp::IsXmlconcat,
        XmlExprOp::IsXmlelement,
        XmlExprOp::IsXmlforest,
        XmlExprOp::IsDocument,
    ]
    .iter()
    .any(|o| *o as i32 == op)
}

/// `XMLSERIALIZE(CONTENT x AS text)` gives a result for every value; `DOCUMENT` fails on
/// content that is not one document, and other target types may not hold the text.
pub(super) fn xml_serialize_total(option: i32, to: Option<&TypeName>) -> bool {
    option == pg_query::protobuf::XmlOptionType::XmloptionContent as i32 && cast_total(to)
}

/// Functions whose array result has a length that follows their arguments' values
/// (`string_to_array(ssn, '1')` has one element more than `ssn` has ones). Reading such an
/// array is total; combining it with arrays of another shape fails exactly when the shapes
/// differ (`ARRAY[string_to_array(..), ARRAY['a', 'b']]`, `||`, `array_agg`).
pub(super) fn shapes_array(name: &str) -> bool {
    matches!(
        name,
        "string_to_array"
            | "regexp_split_to_array"
            | "regexp_match"
            | "regexp_matches"
            | "array_remove"
            | "array_positions"
            | "tsvector_to_array"
    )
}

/// Functions that take an array of any shape and give a result: reading its elements,
/// length or text, collecting it into JSON.
pub(super) fn shape_safe(name: &str) -> bool {
    matches!(
        name,
        "array_to_string"
            | "array_length"
            | "cardinality"
            | "array_to_json"
            | "to_json"
            | "to_jsonb"
            | "json_agg"
            | "jsonb_agg"
            | "count"
            | "min"
            | "max"
            | "coalesce"
            | "nullif"
            | "greatest"
            | "least"
            | "num_nulls"
            | "num_nonnulls"
    )
}

/// Built-in functions that give another value at each call: a comparison with one is a
/// guess per row (`u.email = 'user' || floor(random() * 512) || '@example.com'` in a LATERAL
/// evaluated for each of thousands of rows).
pub(super) fn is_volatile_builtin(name: &str) -> bool {
    matches!(
        name,
        "random"
            | "random_normal"
            | "gen_random_uuid"
            | "uuid_generate_v1"
            | "uuid_generate_v1mc"
            | "uuid_generate_v4"
            | "clock_timestamp"
            | "timeofday"
            | "nextval"
            | "txid_current"
            | "pg_current_xact_id"
    )
}

/// Functions whose result is NULL or not according to their arguments' values (not only to
/// NULL arguments): a match that may not be found, an element that may be missing.
pub(super) fn nulls_by_value(name: &str, args: usize) -> bool {
    matches!(
        name,
        "nullif"
            | "regexp_match"
            | "regexp_substr"
            | "array_position"
            | "json_extract_path"
            | "json_extract_path_text"
            | "jsonb_extract_path"
            | "jsonb_extract_path_text"
            | "jsonb_path_query_first"
    ) || (matches!(name, "substring" | "substr") && args == 2)
}
