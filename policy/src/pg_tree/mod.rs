//! PostgreSQL's parse tree as pg_query's typed protobuf values: an exhaustive walk (every
//! node type's children come from [`children`], generated from pg_query's own definitions)
//! and small readers of typed nodes (name lists, constants).

mod children;

use pg_query::protobuf::a_const::Val;
use pg_query::protobuf::Node;
use pg_query::{NodeEnum, NodeRef};

pub use children::kind;

/// Visits every node below and including `root`, each once, with an explicit stack (no
/// recursion, whatever the depth). `visit` gets the node and whether it is `root` itself.
pub fn walk<'a>(root: NodeRef<'a>, mut visit: impl FnMut(NodeRef<'a>, bool)) {
    let mut stack = Vec::with_capacity(64);
    stack.push(root);
    let mut is_root = true;
    while let Some(n) = stack.pop() {
        visit(n, is_root);
        is_root = false;
        children::children(n, &mut stack);
    }
}

/// The `sval`s of a list of `String` nodes (`funcname`, `names`, `fields`).
pub fn name_parts(list: &[Node]) -> Vec<String> {
    list.iter()
        .filter_map(|n| match n.node.as_ref() {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

/// The text of a constant node (`A_Const`, possibly under a cast): strings, numbers,
/// booleans; `None` for anything else (NULL, bit strings, expressions).
pub fn const_text(node: &Node) -> Option<String> {
    match node.node.as_ref()? {
        NodeEnum::TypeCast(c) => c.arg.as_deref().and_then(const_text),
        NodeEnum::AConst(c) => match c.val.as_ref()? {
            Val::Sval(s) => Some(s.sval.clone()),
            Val::Ival(i) => Some(i.ival.to_string()),
            Val::Fval(f) => Some(f.fval.clone()),
            Val::Boolval(b) => Some(b.boolval.to_string()),
            Val::Bsval(_) => None,
        },
        _ => None,
    }
}

/// pg_catalog's functions that cancel or end another backend by pid.
pub fn is_backend_signal(name: &[String]) -> bool {
    matches!(
        name.last().map(String::as_str),
        Some("pg_cancel_backend" | "pg_terminate_backend")
    ) && (name.len() == 1 || name.first().map(String::as_str) == Some("pg_catalog"))
}

/// The `set_config` of pg_catalog (unqualified or qualified so).
pub fn is_set_config(name: &[String]) -> bool {
    name.last().map(String::as_str) == Some("set_config")
        && (name.len() == 1 || name.first().map(String::as_str) == Some("pg_catalog"))
}

/// The relation a write node writes: INSERT/UPDATE/DELETE/MERGE's target, COPY FROM's table.
pub fn write_target(node: NodeRef<'_>) -> Option<&pg_query::protobuf::RangeVar> {
    match node {
        NodeRef::InsertStmt(i) => i.relation.as_ref(),
        NodeRef::UpdateStmt(u) => u.relation.as_ref(),
        NodeRef::DeleteStmt(d) => d.relation.as_ref(),
        NodeRef::MergeStmt(m) => m.relation.as_ref(),
        NodeRef::CopyStmt(c) if c.is_from => c.relation.as_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::Value;

    use super::*;

    /// Every `sql` string of the repository's corpora, plus statements of kinds they lack.
    fn corpus() -> Vec<String> {
        fn collect(v: &toml::Value, out: &mut Vec<String>) {
            match v {
                toml::Value::Table(t) => t.iter().for_each(|(k, v)| match (k.as_str(), v) {
                    ("sql", toml::Value::String(s)) => out.push(s.clone()),
                    _ => collect(v, out),
                }),
                toml::Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
                _ => {}
            }
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
        let mut out = vec![
            "CREATE TABLE t (a int CHECK (a > f(1)) DEFAULT g(), b text COLLATE \"C\") PARTITION BY RANGE (a)".to_string(),
            "CREATE INDEX ON t USING gin (lower(b)) WHERE a > 0".into(),
            "ALTER TABLE t ADD CONSTRAINT c CHECK (h(a)), ALTER b SET DEFAULT k()".into(),
            "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'select 1'".into(),
            "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN UPDATE SET b = m() WHEN NOT MATCHED THEN INSERT VALUES (n())".into(),
            "SELECT * FROM JSON_TABLE(j(), '$' COLUMNS (a int PATH '$.a' DEFAULT d() ON EMPTY)) jt".into(),
            "SELECT xmlelement(name x, xmlattributes(x() AS a)), row(1, r()) IS NOT NULL".into(),
            "COPY (SELECT c() FROM t TABLESAMPLE system (s())) TO STDOUT".into(),
            "WITH RECURSIVE w(a) AS (SELECT 1 UNION ALL SELECT a + 1 FROM w) SEARCH DEPTH FIRST BY a SET o SELECT * FROM w".into(),
            "EXPLAIN (ANALYZE) INSERT INTO t SELECT * FROM u ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING *".into(),
            "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW WHEN (w()) EXECUTE FUNCTION tf()".into(),
        ];
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let paths = if path.is_dir() {
                std::fs::read_dir(&path)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .collect()
            } else {
                vec![path]
            };
            for p in paths
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            {
                let text = std::fs::read_to_string(p).expect("corpus file");
                let value: toml::Value = toml::from_str(&text).expect("corpus TOML");
                collect(&value, &mut out);
            }
        }
        out
    }

    /// Node types named in the JSON form of the tree (a `Node`-wrapped node is an object
    /// with its type's name as its only key).
    fn json_kinds(v: &Value, counts: &mut HashMap<String, usize>) {
        match v {
            Value::Object(m) => {
                if let (1, Some(Value::Object(inner))) = (m.len(), m.get("node")) {
                    if let Some(k) = inner.keys().next() {
                        *counts.entry(k.clone()).or_default() += 1;
                    }
                }
                m.values().for_each(|v| json_kinds(v, counts));
            }
            Value::Array(a) => a.iter().for_each(|v| json_kinds(v, counts)),
            _ => {}
        }
    }

    /// The generated walk reaches every node the serde form of the tree holds.
    #[test]
    fn walk_reaches_every_node_serde_sees() {
        let sqls = corpus();
        assert!(sqls.len() > 100, "corpus found: {}", sqls.len());
        for sql in &sqls {
            let Ok(parsed) = pg_query::parse(sql, 0) else {
                continue;
            };
            for raw in &parsed.protobuf.stmts {
                let Some(stmt) = raw.stmt.as_deref() else {
                    continue;
                };
                let mut expected = HashMap::new();
                json_kinds(&serde_json::to_value(stmt).expect("json"), &mut expected);
                let mut seen: HashMap<String, usize> = HashMap::new();
                if let Some(root) = stmt.node.as_ref() {
                    walk(root.to_ref(), |n, _| {
                        *seen.entry(kind(n).to_string()).or_default() += 1
                    });
                }
                for (k, n) in &expected {
                    let got = seen.get(k).copied().unwrap_or(0);
                    assert!(got >= *n, "{sql}: {k} seen {got} times, serde has {n}");
                }
            }
        }
    }
}
