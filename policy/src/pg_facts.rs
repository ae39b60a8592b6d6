//! Facts from PostgreSQL's own parse tree: what the server will run, whatever sqlparser read.
//!
//! The walk is generic and therefore exhaustive: the statement's protobuf tree is turned into
//! a plain value (every node type derives `Serialize`) and every node of it is visited with an
//! explicit stack, so no node type (present or added in a later libpg_query) can hide a
//! function call, an operator, a cast or a nested write. Depth is bounded before we get here:
//! libpg_query checks its stack and the protobuf decoder refuses trees deeper than 100.

use serde_json::Value;

/// What one statement does, as PostgreSQL reads it.
#[derive(Debug, Default, Clone)]
pub struct PgFacts {
    /// The statement's node type (`SelectStmt`, `InsertStmt`, ...).
    pub kind: String,
    /// Every function call: name parts as PostgreSQL folded them (`["pg_catalog", "now"]`).
    /// Includes calls PostgreSQL builds from SQL syntax (`EXTRACT`, `TRIM`, ...), which are
    /// pg_catalog functions.
    pub functions: Vec<Vec<String>>,
    /// Every operator name (`["="]`, `["public", "==="]` for `OPERATOR(public.===)`).
    pub operators: Vec<Vec<String>>,
    /// Every type named in the statement (casts, column definitions): name parts.
    pub types: Vec<Vec<String>>,
    /// Every relation named: (schema, name).
    pub relations: Vec<(Option<String>, String)>,
    /// INSERT/UPDATE/DELETE/MERGE below the top level (writable CTEs, rules of EXPLAIN ...).
    pub nested_writes: Vec<&'static str>,
    /// `SELECT ... INTO table`.
    pub select_into: bool,
    /// A locking clause (`FOR UPDATE/NO KEY UPDATE/SHARE/KEY SHARE`) anywhere.
    pub row_locks: bool,
    /// Sum of the arguments of every AND/OR: how deep sqlparser's binary tree for the same
    /// text grows (PostgreSQL keeps such chains flat).
    pub bool_args: usize,
    /// Nodes visited.
    pub nodes: usize,
    /// Calls PostgreSQL built from SQL syntax (`EXTRACT`, `TRIM`, `AT TIME ZONE`, ...):
    /// fixed pg_catalog functions, indexes into `functions`.
    pub syntax_calls: Vec<usize>,
    /// The literal arguments of each `set_config` call (`None` for a non-literal).
    pub set_config_calls: Vec<Vec<Option<String>>>,
    /// The statement's own node (its fields), for judging statement kinds from it alone.
    pub top: Value,
    /// Every UPDATE/DELETE/MERGE (top level and nested): node type and fields.
    pub writes: Vec<(&'static str, Value)>,
}

fn write_label(kind: &str) -> Option<&'static str> {
    match kind {
        "InsertStmt" => Some("INSERT"),
        "UpdateStmt" => Some("UPDATE"),
        "DeleteStmt" => Some("DELETE"),
        "MergeStmt" => Some("MERGE"),
        _ => None,
    }
}

/// The `sval`s of a list of `String` nodes (`funcname`, `names`, `name`).
fn name_parts(list: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(items)) = list else {
        return vec![];
    };
    items
        .iter()
        .filter_map(|n| {
            n.get("node")
                .and_then(|n| n.get("String"))
                .and_then(|s| s.get("sval"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

/// The text of a constant node (`AConst`, possibly under a cast): strings, numbers, booleans.
pub fn const_text(node: &Value) -> Option<String> {
    let inner = node.get("node").unwrap_or(node);
    if let Some(cast) = inner.get("TypeCast") {
        return cast.get("arg").and_then(const_text);
    }
    let val = inner.get("AConst")?.get("val")?;
    if let Some(s) = val.get("Sval").and_then(|v| v.get("sval")) {
        return s.as_str().map(str::to_string);
    }
    if let Some(i) = val.get("Ival") {
        return Some(
            i.get("ival")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .to_string(),
        );
    }
    if let Some(f) = val.get("Fval").and_then(|v| v.get("fval")) {
        return f.as_str().map(str::to_string);
    }
    if let Some(b) = val.get("Boolval") {
        return Some(
            b.get("boolval")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        );
    }
    None
}

fn non_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

impl PgFacts {
    /// Collects the facts of one statement node.
    pub fn of(stmt: &pg_query::NodeEnum) -> Result<PgFacts, String> {
        let tree = serde_json::to_value(stmt).map_err(|e| e.to_string())?;
        let mut facts = PgFacts::default();
        if let Value::Object(top) = &tree {
            if let Some(k) = top.keys().next() {
                facts.kind = k.clone();
            }
        }
        // (value, is the statement's own top node)
        let mut stack: Vec<(&Value, bool)> = vec![(&tree, true)];
        while let Some((value, top)) = stack.pop() {
            match value {
                Value::Object(map) => {
                    facts.shape(map);
                    for (key, inner) in map {
                        if let (Some(label), false) = (write_label(key), top) {
                            facts.nested_writes.push(label);
                        }
                        if let Some(kind) = ["UpdateStmt", "DeleteStmt", "MergeStmt"]
                            .into_iter()
                            .find(|k| k == key)
                        {
                            facts.writes.push((kind, inner.clone()));
                        }
                        stack.push((inner, false));
                    }
                }
                Value::Array(items) => stack.extend(items.iter().map(|v| (v, false))),
                _ => {}
            }
        }
        // The statement's own fields, moved rather than copied.
        if let Value::Object(top) = tree {
            if let Some((_, v)) = top.into_iter().next() {
                facts.top = v;
            }
        }
        Ok(facts)
    }

    /// Recognizes a node by its fields: a struct-typed field (`TypeCast.type_name`,
    /// `InsertStmt.relation`, `CallStmt.funccall`, `SelectStmt.larg`) is serialized without its
    /// type's name, so shapes, not tags, are what every occurrence has in common.
    fn shape(&mut self, map: &serde_json::Map<String, Value>) {
        self.nodes += 1;
        // One pass over the keys (most nodes have none of interest), then lookups only for
        // the shapes present.
        let mut keys = 0u32;
        for k in map.keys() {
            keys |= match k.as_str() {
                "funcname" => 1,
                "funcformat" => 1 << 1,
                "names" => 1 << 2,
                "typemod" => 1 << 3,
                "array_bounds" => 1 << 4,
                "relname" => 1 << 5,
                "inh" => 1 << 6,
                "kind" => 1 << 7,
                "lexpr" => 1 << 8,
                "rexpr" => 1 << 9,
                "name" => 1 << 10,
                "oper_name" | "use_op" | "opername" => 1 << 11,
                "strength" => 1 << 12,
                "locked_rels" => 1 << 13,
                "wait_policy" => 1 << 14,
                "boolop" => 1 << 15,
                "args" => 1 << 16,
                "into_clause" => 1 << 17,
                "casetype" | "sub_link_type" | "is_natural" => 1 << 18,
                _ => 0,
            };
        }
        if keys == 0 {
            return;
        }
        let all = |bits: u32| keys & bits == bits;
        if all(1 | 1 << 1) {
            let name = name_parts(map.get("funcname"));
            // CoercionForm::CoerceSqlSyntax
            if map.get("funcformat").and_then(Value::as_i64) == Some(4) {
                self.syntax_calls.push(self.functions.len());
            }
            let base = name.last().map(String::as_str);
            let schema_ok =
                name.len() == 1 || name.first().map(String::as_str) == Some("pg_catalog");
            if base == Some("set_config") && schema_ok {
                let args = match map.get("args") {
                    Some(Value::Array(a)) => a.iter().map(const_text).collect(),
                    _ => vec![],
                };
                self.set_config_calls.push(args);
            }
            self.functions.push(name);
        }
        if all(1 << 2 | 1 << 3 | 1 << 4) {
            self.types.push(name_parts(map.get("names")));
        }
        if all(1 << 5 | 1 << 6) {
            let schema = map
                .get("schemaname")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            if let Some(rel) = map.get("relname").and_then(Value::as_str) {
                self.relations.push((schema, rel.to_string()));
            }
        }
        if all(1 << 7 | 1 << 8 | 1 << 9 | 1 << 10) {
            self.operator(map.get("name"));
        }
        // BETWEEN (an A_Expr), CaseExpr, SubLink and JoinExpr imply operators.
        if keys & (1 << 7 | 1 << 18) != 0 {
            self.implied_operators(map);
        }
        if all(1 << 11) {
            for key in ["oper_name", "use_op", "opername"] {
                self.operator(map.get(key));
            }
        }
        if all(1 << 12 | 1 << 13 | 1 << 14) {
            self.row_locks = true;
        }
        if all(1 << 15 | 1 << 16) {
            if let Some(Value::Array(args)) = map.get("args") {
                self.bool_args += args.len();
            }
        }
        if all(1 << 17) && non_empty(map.get("into_clause")) {
            self.select_into = true;
        }
    }

    /// Operators PostgreSQL looks up through search_path although the text names none:
    /// `BETWEEN` (as `>=`/`<=`, `<`/`>` when negated), `CASE x WHEN` and `IN (SELECT ...)`
    /// (`=`), `JOIN ... USING` and `NATURAL JOIN` (`=` per column).
    fn implied_operators(&mut self, map: &serde_json::Map<String, Value>) {
        let has = |k: &str| map.contains_key(k);
        let int = |k: &str| map.get(k).and_then(Value::as_i64);
        let mut implied: &[&str] = &[];
        // A_Expr kinds AEXPR_BETWEEN .. AEXPR_NOT_BETWEEN_SYM
        if has("kind") && has("lexpr") && has("rexpr") && has("name") {
            if let Some(11..=14) = int("kind") {
                implied = &["<", ">", "<=", ">="];
            }
        }
        // CaseExpr with a test value
        if has("casetype") && has("defresult") && non_empty(map.get("arg")) {
            implied = &["="];
        }
        // SubLink ANY_SUBLINK without an operator: `x IN (SELECT ...)`
        if has("sub_link_type")
            && int("sub_link_type") == Some(3)
            && !non_empty(map.get("oper_name"))
        {
            implied = &["="];
        }
        // JoinExpr USING (...) / NATURAL
        if has("is_natural") && has("using_clause") {
            let natural = map.get("is_natural").and_then(Value::as_bool) == Some(true);
            if natural || non_empty(map.get("using_clause")) {
                implied = &["="];
            }
        }
        for op in implied {
            self.operators.push(vec![(*op).to_string()]);
        }
    }

    fn operator(&mut self, name: Option<&Value>) {
        let name = name_parts(name);
        if !name.is_empty() {
            self.operators.push(name);
        }
    }
}

/// The facts of every statement of `sql` (a view's definition, say).
pub fn facts_of_text(sql: &str) -> Result<Vec<PgFacts>, String> {
    let parsed = pg_query::parse(sql, 0).map_err(|e| e.to_string())?;
    parsed
        .protobuf
        .stmts
        .iter()
        .filter_map(|r| r.stmt.as_ref().and_then(|n| n.node.as_ref()))
        .map(PgFacts::of)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(sql: &str) -> PgFacts {
        let parsed = pg_query::parse(sql, 0).expect("valid SQL");
        let node = parsed.protobuf.stmts[0]
            .stmt
            .as_ref()
            .and_then(|n| n.node.as_ref())
            .expect("a statement");
        PgFacts::of(node).expect("facts")
    }

    #[test]
    fn sees_what_postgres_runs_behind_a_dollar_tag() {
        let f = facts(
            "SELECT $\u{2605}$,'$\u{2605}$ , set_config('default_transaction_read_only','off',false) AS x , $\u{2605}$' AS z,$\u{2605}$",
        );
        assert_eq!(f.functions, vec![vec!["set_config".to_string()]]);
        let f =
            facts("WITH a AS (SELECT 1), b AS (UPDATE t SET x = 1 RETURNING 1) SELECT 1 FROM a");
        assert_eq!(f.nested_writes, vec!["UPDATE"]);
        assert_eq!(f.kind, "SelectStmt");
    }

    #[test]
    fn operators_types_locks_and_into() {
        let f = facts("SELECT a OPERATOR(public.===) b, x::public.dom FROM s.t FOR NO KEY UPDATE");
        assert!(f.operators.contains(&vec!["public".into(), "===".into()]));
        assert!(f.types.contains(&vec!["public".into(), "dom".into()]));
        assert!(f.relations.contains(&(Some("s".into()), "t".into())));
        assert!(f.row_locks);
        assert!(facts("SELECT 1 INTO newt").select_into);
        assert!(facts("SELECT extract(year from now())").functions.len() == 2);
    }
}
