//! Statements that write: INSERT/UPDATE/DELETE/MERGE (values written from PII are copies
//! out, WHERE steers, RETURNING comes back) and DDL naming a relation with PII.

use pg_query::protobuf::{ReturningClause, WithClause};
use pg_query::{Node, NodeEnum};

use super::analyzer::{Analyzer, Check};
use super::nodes::unreadable;
use super::scope::{Columns, Scope};
use super::sources::Lineage;
use crate::denial::deny;
use crate::denial::Denial;

impl Analyzer<'_> {
    /// Statements without rows (DDL, SET, ...): one that names a relation with PII has its
    /// errors scrubbed (`ALTER TABLE users ALTER email TYPE int` reports values), and those
    /// that would run expressions over such a relation later or now (USING, rules, triggers,
    /// row security policies) are refused.
    pub(super) fn other_statement(&mut self, node: &NodeEnum) -> Result<(), Denial> {
        let named = match node {
            NodeEnum::AlterTableStmt(s) => s.relation.as_ref(),
            NodeEnum::RuleStmt(s) => s.relation.as_ref(),
            NodeEnum::CreateTrigStmt(s) => s.relation.as_ref(),
            NodeEnum::CreatePolicyStmt(s) => s.table.as_ref(),
            NodeEnum::AlterPolicyStmt(s) => s.table.as_ref(),
            NodeEnum::IndexStmt(s) => s.relation.as_ref(),
            _ => None,
        };
        // Renaming a schema moves every name the masking patterns match in it.
        if let NodeEnum::RenameStmt(r) = node {
            if r.rename_type == pg_query::protobuf::ObjectType::ObjectSchema as i32 {
                return Err(renames());
            }
        }
        let mut touches_pii = false;
        let mut relations: Vec<&pg_query::protobuf::RangeVar> = named.into_iter().collect();
        crate::pg_tree::walk(node.to_ref(), |inner, _| {
            if let pg_query::NodeRef::RangeVar(rv) = inner {
                relations.push(rv);
            }
        });
        for rv in relations {
            let relation = if rv.schemaname.is_empty() {
                self.index.resolve(&rv.relname, self.path())
            } else {
                self.index.relation(&rv.schemaname, &rv.relname)
            };
            touches_pii |= match relation {
                Some(r) => self.index.has_pii(r.oid),
                // Made since the snapshot was read: PII wherever a pattern may cover it.
                None if rv.schemaname.is_empty() => {
                    crate::mask::index::schemas_searched(self.path())
                        .any(|s| self.index.config().may_cover_relation(s, &rv.relname))
                }
                None => self
                    .index
                    .config()
                    .may_cover_relation(&rv.schemaname, &rv.relname),
            };
        }
        if !touches_pii {
            return Ok(());
        }
        self.reads_pii = true;
        // Masking follows names: a relation or column renamed or moved away from them would
        // come back in clear once the catalog is read again.
        if matches!(
            node,
            NodeEnum::RenameStmt(_) | NodeEnum::AlterObjectSchemaStmt(_)
        ) {
            return Err(renames());
        }
        let runs_expressions = match node {
            // Any expression that reads rows: `ALTER COLUMN ... TYPE ... USING expr`, a
            // default, a generated column (`GENERATED ALWAYS AS (password) STORED` copies
            // the value into a column no pattern names), a CHECK constraint (whether it
            // holds tells a fact about the values).
            NodeEnum::AlterTableStmt(s) => computes(&s.cmds),
            // An index over expressions or with a WHERE: whether it builds (a unique one, an
            // expression that fails) tells a fact about the values.
            NodeEnum::IndexStmt(i) => i.where_clause.is_some() || computes(&i.index_params),
            NodeEnum::RuleStmt(_)
            | NodeEnum::CreateTrigStmt(_)
            | NodeEnum::CreatePolicyStmt(_)
            | NodeEnum::AlterPolicyStmt(_) => true,
            _ => false,
        };
        if runs_expressions {
            return Err(deny(
                "masking.ddl",
                "this statement would run expressions over masked columns",
                "ask a role without masking to make this change",
            ));
        }
        Ok(())
    }

    /// INSERT/UPDATE/DELETE/MERGE: values written from PII are copies out; WHERE steers; the
    /// RETURNING list is what comes back.
    pub(super) fn dml(&mut self, node: &Node, parent: &Scope) -> Result<Columns, Denial> {
        let mut scope = Scope::child(parent);
        let (with, relation, returning): (Option<&WithClause>, _, Option<&ReturningClause>) =
            match node.node.as_ref() {
                Some(NodeEnum::InsertStmt(s)) => (
                    s.with_clause.as_ref(),
                    s.relation.as_ref(),
                    s.returning_clause.as_ref(),
                ),
                Some(NodeEnum::UpdateStmt(s)) => (
                    s.with_clause.as_ref(),
                    s.relation.as_ref(),
                    s.returning_clause.as_ref(),
                ),
                Some(NodeEnum::DeleteStmt(s)) => (
                    s.with_clause.as_ref(),
                    s.relation.as_ref(),
                    s.returning_clause.as_ref(),
                ),
                Some(NodeEnum::MergeStmt(s)) => (
                    s.with_clause.as_ref(),
                    s.relation.as_ref(),
                    s.returning_clause.as_ref(),
                ),
                _ => return Err(unreadable()),
            };
        if let Some(w) = with {
            self.with_clause(w, &mut scope)?;
        }
        if let Some(rel) = relation {
            let node = Node {
                node: Some(NodeEnum::RangeVar(rel.clone())),
            };
            let before = self.reads_pii;
            self.reads_pii = false;
            let out = self.range_item(&node, &scope)?;
            // Writing a relation with PII fires its triggers, whose RAISE may print any
            // value: their messages are hidden whole.
            self.opaque_code |= self.reads_pii;
            self.reads_pii |= before;
            scope.items.extend(out.items);
            scope.star.extend(out.star);
        }
        match node.node.as_ref() {
            Some(NodeEnum::InsertStmt(s)) => {
                if let Some(q) = s.select_stmt.as_deref() {
                    let cols = self.query_node(q, &scope)?;
                    self.checks.push(Check::CopyOut {
                        lineage: cols.all(),
                        what: "INSERT ... SELECT",
                    });
                }
                if let Some(oc) = s.on_conflict_clause.as_deref() {
                    // EXCLUDED holds the row being inserted, whose values were judged above.
                    let excluded = scope
                        .star
                        .cols
                        .iter()
                        .map(|c| super::scope::Col {
                            name: c.name.clone(),
                            lineage: Lineage::default(),
                        })
                        .collect();
                    scope
                        .items
                        .push(super::scope::Item::new("excluded", excluded));
                    let mut l = Lineage::default();
                    for t in &oc.target_list {
                        l.add(&self.expr(t, &scope)?);
                    }
                    self.checks.push(Check::CopyOut {
                        lineage: l,
                        what: "INSERT ... ON CONFLICT DO UPDATE",
                    });
                    if let Some(w) = oc.where_clause.as_deref() {
                        self.predicate(w, &scope, "ON CONFLICT ... WHERE")?;
                    }
                }
            }
            Some(NodeEnum::UpdateStmt(s)) => {
                self.add_from(&s.from_clause, &mut scope)?;
                if let Some(w) = s.where_clause.as_deref() {
                    self.predicate(w, &scope, "WHERE")?;
                }
                let mut l = Lineage::default();
                for t in &s.target_list {
                    l.add(&self.expr(t, &scope)?);
                }
                self.checks.push(Check::CopyOut {
                    lineage: l,
                    what: "UPDATE ... SET",
                });
            }
            Some(NodeEnum::DeleteStmt(s)) => {
                self.add_from(&s.using_clause, &mut scope)?;
                if let Some(w) = s.where_clause.as_deref() {
                    self.predicate(w, &scope, "WHERE")?;
                }
            }
            Some(NodeEnum::MergeStmt(s)) => {
                if let Some(src) = s.source_relation.as_deref() {
                    self.add_from(std::slice::from_ref(src), &mut scope)?;
                }
                if let Some(on) = s.join_condition.as_deref() {
                    self.predicate(on, &scope, "MERGE ... ON")?;
                }
                for w in &s.merge_when_clauses {
                    if let Some(NodeEnum::MergeWhenClause(mw)) = w.node.as_ref() {
                        if let Some(c) = mw.condition.as_deref() {
                            self.predicate(c, &scope, "MERGE ... WHEN")?;
                        }
                        let mut l = Lineage::default();
                        for t in mw.target_list.iter().chain(&mw.values) {
                            l.add(&self.expr(t, &scope)?);
                        }
                        self.checks.push(Check::CopyOut {
                            lineage: l,
                            what: "MERGE",
                        });
                    }
                }
            }
            _ => {}
        }
        match returning {
            Some(r) if !r.exprs.is_empty() => self.target_list(&r.exprs, &scope),
            _ => Ok(Columns::default()),
        }
    }

    fn add_from(&mut self, items: &[Node], scope: &mut Scope) -> Result<(), Denial> {
        for item in items {
            let out = self.range_item(item, scope)?;
            scope.items.extend(out.items);
            scope.star.extend(out.star);
        }
        Ok(())
    }
}

/// A rename or move of what masking names.
fn renames() -> Denial {
    deny(
        "masking.ddl",
        "renaming or moving a relation, column or schema with masked columns would unmask them",
        "ask a role without masking to make this change",
    )
}

/// Whether any of `nodes` holds an expression that reads or computes values (a column
/// reference, a subquery, a function call, an operator), however deep.
fn computes(nodes: &[Node]) -> bool {
    let mut found = false;
    for n in nodes.iter().filter_map(|n| n.node.as_ref()) {
        crate::pg_tree::walk(n.to_ref(), |inner, _| {
            found |= matches!(
                inner,
                pg_query::NodeRef::ColumnRef(_)
                    | pg_query::NodeRef::SubLink(_)
                    | pg_query::NodeRef::FuncCall(_)
                    | pg_query::NodeRef::AExpr(_)
            );
        });
    }
    found
}
