//! Facts from PostgreSQL's own parse tree: what the server will run, whatever sqlparser read.
//!
//! The walk is exhaustive: [`pg_tree::walk`] visits every node of the typed protobuf tree (the
//! children of each node type are generated from pg_query's own definitions, and a node type
//! added in a later pg_query fails to compile until it is covered), with an explicit stack, so
//! no node can hide a function call, an operator, a cast or a nested write, and no depth can
//! overflow the stack here. Only the few values the judgement reads as fields (the statement's
//! own node for kinds judged from PostgreSQL's reading alone, each UPDATE/DELETE/MERGE for
//! require_where) are turned into `serde_json` values.

use pg_query::protobuf::a_const::Val;
use pg_query::protobuf::{AExpr, AExprKind, CoercionForm, Node, SubLinkType};
use pg_query::{NodeEnum, NodeRef};
use serde_json::Value;

use crate::pg_tree;

/// What one statement does, as PostgreSQL reads it.
#[derive(Debug, Default, Clone)]
pub struct PgFacts {
    /// The statement's node type (`SelectStmt`, `InsertStmt`, ...).
    pub kind: String,
    /// Every function call: name parts as PostgreSQL folded them (`["pg_catalog", "now"]`).
    /// Includes calls PostgreSQL builds from SQL syntax (`EXTRACT`, `TRIM`, ...), which are
    /// pg_catalog functions.
    pub functions: Vec<Vec<String>>,
    /// Every operator used: its name (`["="]`, `["public", "==="]` for
    /// `OPERATOR(public.===)`) and what can be told of its operands' types.
    pub operators: Vec<OperatorUse>,
    /// A FROM item other than a plain relation (CTE, subquery, function, VALUES, ...):
    /// columns may come from somewhere the catalog does not describe.
    pub other_sources: bool,
    /// Every type named in the statement (casts, column definitions): name parts.
    pub types: Vec<Vec<String>>,
    /// Every relation named: (schema, name). A CTE's name used in FROM is among them.
    pub relations: Vec<(Option<String>, String)>,
    /// The names of the statement's CTEs (`WITH name AS ...`).
    pub cte_names: Vec<String>,
    /// The relations it writes (INSERT/UPDATE/DELETE/MERGE targets, COPY FROM), nested too.
    pub write_targets: Vec<(Option<String>, String)>,
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
    /// The literal first argument (the pid) of each `pg_cancel_backend` /
    /// `pg_terminate_backend` call (`None` for a non-literal).
    pub signal_calls: Vec<Option<String>>,
    /// The statement's own node (its fields), for judging statement kinds from it alone;
    /// `Null` for SELECT/INSERT/UPDATE/DELETE/MERGE without `set_config` (never read there).
    pub top: Value,
    /// Every UPDATE/DELETE/MERGE (top level and nested): node type and fields.
    pub writes: Vec<(&'static str, Value)>,
}

/// What can be told of an operator's operand from the text alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// No operand: the left side of a prefix operator.
    Absent,
    /// An untyped literal (`'x'`, NULL): PostgreSQL gives it the other operand's type.
    Literal,
    /// A constant or a cast of this type: name parts as the grammar writes them
    /// (`["pg_catalog", "int4"]` for `1` or `::int`, `["citext"]` for `::citext`).
    Typed(Vec<String>),
    /// A column reference: the column's name.
    Column(String),
    /// Anything else (expressions, parameters, subqueries, lists): unknown here.
    Unknown,
}

/// One use of an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorUse {
    pub name: Vec<String>,
    pub left: Operand,
    pub right: Operand,
}

fn typed(schema_type: [&str; 2]) -> Operand {
    Operand::Typed(schema_type.iter().map(|s| (*s).to_string()).collect())
}

/// The operand `node` is, as far as its type goes.
fn operand(node: Option<&Node>) -> Operand {
    let Some(node) = node else {
        return Operand::Absent;
    };
    match node.node.as_ref() {
        Some(NodeEnum::AConst(c)) => match &c.val {
            None => Operand::Literal,
            Some(Val::Sval(_)) => Operand::Literal,
            Some(Val::Ival(_)) => typed(["pg_catalog", "int4"]),
            Some(Val::Boolval(_)) => typed(["pg_catalog", "bool"]),
            // A large integer is int8 or numeric, a bit string bit or varbit.
            Some(Val::Fval(_) | Val::Bsval(_)) => Operand::Unknown,
        },
        Some(NodeEnum::TypeCast(t)) => match &t.type_name {
            // An array cast (`::int[]`) is of another type than its name says.
            Some(tn) if tn.array_bounds.is_empty() => {
                Operand::Typed(pg_tree::name_parts(&tn.names))
            }
            _ => Operand::Unknown,
        },
        Some(NodeEnum::ColumnRef(c)) => match c.fields.last().and_then(|f| f.node.as_ref()) {
            Some(NodeEnum::String(s)) => Operand::Column(s.sval.clone()),
            _ => Operand::Unknown,
        },
        _ => Operand::Unknown,
    }
}

/// The operands of an `A_Expr` whose operator applies to them as written: plain operators,
/// IS [NOT] DISTINCT FROM, NULLIF and LIKE; `IN (...)` compares with each listed value (known
/// when all are alike); the rest (ANY/ALL arrays, BETWEEN, SIMILAR) are unknown here.
fn operands(e: &AExpr) -> (Operand, Operand) {
    use AExprKind as K;
    let kind = AExprKind::try_from(e.kind).unwrap_or(K::Undefined);
    let left = operand(e.lexpr.as_deref());
    match kind {
        K::AexprOp
        | K::AexprDistinct
        | K::AexprNotDistinct
        | K::AexprNullif
        | K::AexprLike
        | K::AexprIlike => (left, operand(e.rexpr.as_deref())),
        K::AexprIn => {
            let items = match e.rexpr.as_deref().and_then(|r| r.node.as_ref()) {
                Some(NodeEnum::List(l)) => l.items.iter().map(|i| operand(Some(i))).collect(),
                _ => vec![],
            };
            let right = match items.split_first() {
                Some((first, rest)) if rest.iter().all(|i| i == first) => first.clone(),
                _ => Operand::Unknown,
            };
            (left, right)
        }
        _ => (Operand::Unknown, Operand::Unknown),
    }
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

/// Statement kinds whose judgement reads the statement's own fields ([`PgFacts::top`]).
fn needs_top(kind: &str) -> bool {
    !matches!(
        kind,
        "SelectStmt" | "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt"
    )
}

fn to_value<T: serde::Serialize>(node: &T) -> Result<Value, String> {
    serde_json::to_value(node).map_err(|e| e.to_string())
}

impl PgFacts {
    /// Collects the facts of one statement node.
    pub fn of(stmt: &NodeEnum) -> Result<PgFacts, String> {
        let root = stmt.to_ref();
        let mut facts = PgFacts {
            kind: pg_tree::kind(root).to_string(),
            ..PgFacts::default()
        };
        let mut failed = None;
        pg_tree::walk(root, |node, is_root| {
            if let Err(e) = facts.node(node, is_root) {
                failed = Some(e);
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        if needs_top(&facts.kind) || !facts.set_config_calls.is_empty() {
            // The statement's own fields (the value under its node type's name).
            if let Value::Object(top) = to_value(stmt)? {
                if let Some((_, v)) = top.into_iter().next() {
                    facts.top = v;
                }
            }
        }
        Ok(facts)
    }

    /// The facts one node contributes (its children are walked by the caller).
    fn node(&mut self, node: NodeRef<'_>, is_root: bool) -> Result<(), String> {
        self.nodes += 1;
        // pg_settings' update rule calls set_config for each row (the UPDATE is a write too).
        if let Some(r) = pg_tree::write_target(node) {
            let schema = Some(r.schemaname.clone()).filter(|s| !s.is_empty());
            self.write_targets.push((schema, r.relname.clone()));
        }
        if let NodeRef::UpdateStmt(u) = node {
            if let Some(calls) = crate::settings_update::as_set_config_calls(u) {
                self.set_config_calls.extend(calls);
            }
        }
        match node {
            NodeRef::FuncCall(f) => {
                let name = pg_tree::name_parts(&f.funcname);
                if f.funcformat == CoercionForm::CoerceSqlSyntax as i32 {
                    self.syntax_calls.push(self.functions.len());
                }
                if pg_tree::is_backend_signal(&name) {
                    self.signal_calls
                        .push(f.args.first().and_then(pg_tree::const_text));
                }
                if pg_tree::is_set_config(&name) {
                    self.set_config_calls
                        .push(f.args.iter().map(pg_tree::const_text).collect());
                }
                self.functions.push(name);
            }
            NodeRef::TypeName(t) => self.types.push(pg_tree::name_parts(&t.names)),
            NodeRef::RangeVar(r) => {
                let schema = Some(r.schemaname.clone()).filter(|s| !s.is_empty());
                self.relations.push((schema, r.relname.clone()));
            }
            NodeRef::AExpr(e) => {
                self.operator(&e.name, operands(e));
                // BETWEEN (AEXPR_BETWEEN .. AEXPR_NOT_BETWEEN_SYM) is `>=`/`<=` (`<`/`>`
                // when negated), looked up through search_path.
                if (AExprKind::AexprBetween as i32..=AExprKind::AexprNotBetweenSym as i32)
                    .contains(&e.kind)
                {
                    self.implied(&["<", ">", "<=", ">="]);
                }
            }
            // `CASE x WHEN v`: `x = v`.
            NodeRef::CaseExpr(c) if c.arg.is_some() => self.implied(&["="]),
            NodeRef::SubLink(s) => {
                self.operator(&s.oper_name, (Operand::Unknown, Operand::Unknown));
                // `x IN (SELECT ...)`: `=`.
                if s.sub_link_type == SubLinkType::AnySublink as i32 && s.oper_name.is_empty() {
                    self.implied(&["="]);
                }
            }
            NodeRef::SortBy(s) => self.operator(&s.use_op, (Operand::Unknown, Operand::Unknown)),
            NodeRef::CommonTableExpr(c) => {
                self.cte_names.push(c.ctename.clone());
                self.other_sources = true;
            }
            NodeRef::RangeSubselect(_)
            | NodeRef::RangeFunction(_)
            | NodeRef::RangeTableFunc(_)
            | NodeRef::JsonTable(_)
            | NodeRef::RangeTableSample(_) => self.other_sources = true,
            // `JOIN ... USING (...)` and `NATURAL JOIN`: `=` per column.
            NodeRef::JoinExpr(j) if j.is_natural || !j.using_clause.is_empty() => {
                self.implied(&["="])
            }
            NodeRef::LockingClause(_) => self.row_locks = true,
            NodeRef::BoolExpr(b) => self.bool_args += b.args.len(),
            NodeRef::SelectStmt(s) if s.into_clause.is_some() => self.select_into = true,
            // ON CONFLICT DO UPDATE updates rows: require_where looks at it (`filter/upsert.rs`).
            NodeRef::InsertStmt(i) if i.on_conflict_clause.is_some() => {
                self.write("InsertStmt", "INSERT", i, is_root)?
            }
            NodeRef::InsertStmt(_) if !is_root => self.nested_writes.push("INSERT"),
            NodeRef::UpdateStmt(u) => self.write("UpdateStmt", "UPDATE", u, is_root)?,
            NodeRef::DeleteStmt(d) => self.write("DeleteStmt", "DELETE", d, is_root)?,
            NodeRef::MergeStmt(m) => self.write("MergeStmt", "MERGE", m, is_root)?,
            _ => {}
        }
        Ok(())
    }

    /// An UPDATE/DELETE/MERGE: its fields for require_where, and nested unless `is_root`.
    fn write<T: serde::Serialize>(
        &mut self,
        kind: &'static str,
        label: &'static str,
        node: &T,
        is_root: bool,
    ) -> Result<(), String> {
        if !is_root {
            self.nested_writes.push(label);
        }
        self.writes.push((kind, to_value(node)?));
        Ok(())
    }

    /// Operators PostgreSQL looks up through search_path although the text names none.
    fn implied(&mut self, ops: &[&str]) {
        self.operators.extend(ops.iter().map(|op| OperatorUse {
            name: vec![(*op).to_string()],
            left: Operand::Unknown,
            right: Operand::Unknown,
        }));
    }

    fn operator(&mut self, name: &[Node], (left, right): (Operand, Operand)) {
        let name = pg_tree::name_parts(name);
        if !name.is_empty() {
            self.operators.push(OperatorUse { name, left, right });
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
        assert!(f
            .operators
            .iter()
            .any(|o| o.name == vec!["public".to_string(), "===".to_string()]));
        assert!(f.types.contains(&vec!["public".into(), "dom".into()]));
        assert!(f.relations.contains(&(Some("s".into()), "t".into())));
        assert!(f.row_locks);
        assert!(facts("SELECT 1 INTO newt").select_into);
        assert!(facts("SELECT extract(year from now())").functions.len() == 2);
    }
}
