//! Small helpers over pg_query's tree, and the refusal for a tree pgward cannot read.

use pg_query::{Node, NodeEnum};

use crate::denial::deny;
use crate::denial::Denial;

/// The text of a `String` node.
pub fn str_of(node: &Node) -> Option<&str> {
    match node.node.as_ref() {
        Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
        _ => None,
    }
}

/// The strings of a name list (`funcname`, `colnames`, ...).
pub fn strings(nodes: &[Node]) -> Vec<&str> {
    nodes.iter().filter_map(str_of).collect()
}

pub fn unreadable() -> Denial {
    deny(
        "masking.unanalyzable",
        "could not trace the masked columns of this statement",
        "simplify the query or ask for an unmasked role",
    )
}

/// A call's (schema, name) as written: the schema when qualified.
pub fn func_name(f: &pg_query::protobuf::FuncCall) -> (Option<&str>, &str) {
    let parts = strings(&f.funcname);
    let name = parts.last().copied().unwrap_or("");
    let schema = parts
        .len()
        .checked_sub(2)
        .and_then(|i| parts.get(i).copied());
    (schema, name)
}
