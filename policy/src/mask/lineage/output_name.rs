//! The name PostgreSQL gives an output column without an alias (`?column?`, the column's or
//! function's name, ...): subquery and CTE columns are referred to by it.

use pg_query::{Node, NodeEnum};

use super::nodes::{str_of, strings};

/// The name PostgreSQL gives an output column without an alias.
pub fn output_name(node: &Node) -> String {
    match node.node.as_ref() {
        Some(NodeEnum::ColumnRef(cr)) => cr
            .fields
            .last()
            .and_then(str_of)
            .unwrap_or("?column?")
            .to_string(),
        Some(NodeEnum::FuncCall(f)) => strings(&f.funcname)
            .last()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "?column?".into()),
        Some(NodeEnum::TypeCast(tc)) => match tc.arg.as_deref().map(output_name) {
            Some(n) if n != "?column?" => n,
            _ => tc
                .type_name
                .as_ref()
                .and_then(|t| strings(&t.names).last().map(|s| s.to_string()))
                .unwrap_or_else(|| "?column?".into()),
        },
        Some(NodeEnum::AIndirection(ai)) => ai
            .indirection
            .iter()
            .rev()
            .find_map(str_of)
            .map(str::to_string)
            .unwrap_or_else(|| "?column?".into()),
        Some(NodeEnum::CaseExpr(_)) => "case".into(),
        Some(NodeEnum::CoalesceExpr(_)) => "coalesce".into(),
        Some(NodeEnum::RowExpr(_)) => "row".into(),
        Some(NodeEnum::AArrayExpr(_)) => "array".into(),
        Some(NodeEnum::SubLink(s)) => match s.subselect.as_deref().and_then(|q| q.node.as_ref()) {
            Some(NodeEnum::SelectStmt(sel)) if s.sub_link_type == 5 => sel
                .target_list
                .first()
                .and_then(|t| match t.node.as_ref() {
                    Some(NodeEnum::ResTarget(rt)) if !rt.name.is_empty() => Some(rt.name.clone()),
                    Some(NodeEnum::ResTarget(rt)) => rt.val.as_deref().map(output_name),
                    _ => None,
                })
                .unwrap_or_else(|| "?column?".into()),
            _ => match s.sub_link_type {
                1 => "exists".into(),
                7 => "array".into(),
                _ => "?column?".into(),
            },
        },
        _ => "?column?".into(),
    }
}
