//! `UPDATE pg_settings SET setting = v WHERE name = n`: the view's update rule calls
//! `set_config(n, v, false)` for each row, so such an UPDATE (at the top or in a writable CTE)
//! is that many set_config calls, and is judged as them. A name or value pgward cannot read
//! from the text becomes an argument it cannot read (`None`), judged as set_config judges one.

use pg_query::protobuf::{node::Node as NodeEnum, AExprKind, BoolExprType, Node, UpdateStmt};

use crate::pg_tree::{const_text, name_parts};

/// The set_config calls an UPDATE of pg_settings amounts to (`None`: not pg_settings).
pub fn as_set_config_calls(u: &UpdateStmt) -> Option<Vec<Vec<Option<String>>>> {
    let rel = u.relation.as_ref()?;
    // Unqualified, the name is pg_catalog's unless a schema searched first has one: taken as
    // pg_catalog's either way (judged more, never less).
    if rel.relname != "pg_settings" || !matches!(rel.schemaname.as_str(), "" | "pg_catalog") {
        return None;
    }
    let value = u.target_list.iter().find_map(|t| match t.node.as_ref() {
        Some(NodeEnum::ResTarget(r)) if r.name == "setting" => {
            Some(r.val.as_deref().and_then(const_text))
        }
        _ => None,
    });
    // No `setting =` (other columns are not updatable): PostgreSQL refuses the rule's call.
    let value = value.unwrap_or(None);
    let local = Some("false".to_string());
    let calls = match u.where_clause.as_deref().and_then(names) {
        Some(names) => names
            .into_iter()
            .map(|n| vec![Some(n), value.clone(), local.clone()])
            .collect(),
        None => vec![vec![None, value, local]],
    };
    Some(calls)
}

/// The literal names `name = 'x'` or `name IN ('x', ...)` restricts the rows to (the first
/// such conjunct of an AND); `None` for any other predicate.
fn names(pred: &Node) -> Option<Vec<String>> {
    match pred.node.as_ref()? {
        NodeEnum::BoolExpr(b) if b.boolop == BoolExprType::AndExpr as i32 => {
            b.args.iter().find_map(names)
        }
        NodeEnum::AExpr(e) => {
            let is_name = matches!(
                e.lexpr.as_deref().and_then(|l| l.node.as_ref()),
                Some(NodeEnum::ColumnRef(c))
                    if matches!(name_parts(&c.fields).iter().map(String::as_str).collect::<Vec<_>>()[..], ["name"] | ["pg_settings", "name"])
            );
            if !is_name || name_parts(&e.name) != ["="] {
                return None;
            }
            let r = e.rexpr.as_deref()?;
            if e.kind == AExprKind::AexprOp as i32 {
                const_text(r).map(|n| vec![n])
            } else if e.kind == AExprKind::AexprIn as i32 {
                match r.node.as_ref()? {
                    NodeEnum::List(l) => l.items.iter().map(const_text).collect(),
                    _ => None,
                }
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(sql: &str) -> Option<Vec<Vec<Option<String>>>> {
        let parsed = pg_query::parse(sql, 0).expect("parses");
        let stmt = parsed.protobuf.stmts[0].stmt.as_ref()?.node.as_ref()?;
        match stmt {
            NodeEnum::UpdateStmt(u) => as_set_config_calls(u),
            _ => None,
        }
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn an_update_of_pg_settings_is_its_set_config_calls() {
        assert_eq!(
            calls("UPDATE pg_settings SET setting = '0' WHERE name = 'statement_timeout'"),
            Some(vec![vec![s("statement_timeout"), s("0"), s("false")]])
        );
        assert_eq!(
            calls(
                "UPDATE pg_catalog.pg_settings SET setting = 'x' WHERE name IN ('a', 'b') AND true"
            ),
            Some(vec![
                vec![s("a"), s("x"), s("false")],
                vec![s("b"), s("x"), s("false")]
            ])
        );
        // What pgward cannot read is an argument it cannot read.
        assert_eq!(
            calls("UPDATE pg_settings SET setting = reset_val WHERE name LIKE 'statement%'"),
            Some(vec![vec![None, None, s("false")]])
        );
        assert_eq!(calls("UPDATE other.pg_settings SET setting = '0'"), None);
        assert_eq!(calls("UPDATE t SET setting = '0' WHERE name = 'x'"), None);
    }
}
