//! Nodes the lineage does not read: their origin is unknown, so their value counts as PII
//! where the statement reads any, and they may not steer; what they contain is still checked.

use pg_query::{Node, NodeRef};

use super::analyzer::{Analyzer, SteerKind};
use super::names;
use super::nodes::func_name;
use super::scope::Scope;
use super::sources::Lineage;
use crate::denial::deny;

impl Analyzer<'_> {
    /// A node pgward does not read: its origin is unknown (masked when the statement reads
    /// PII; a relation inside it counts as PII) and it may not steer. Relations and functions inside are still checked.
    pub(super) fn opaque_node(&mut self, node: &Node, scope: &Scope) -> Lineage {
        let mut l = Lineage::opaque();
        if let Some(n) = node.node.as_ref() {
            for (inner, _, _, _) in n.nodes() {
                match inner {
                    NodeRef::ColumnRef(cr) => {
                        let c = self.column_ref(cr, scope);
                        l.add(&c);
                    }
                    NodeRef::FuncCall(f) => {
                        let (schema, name) = func_name(f);
                        if names::is_query_string_function(schema, name) {
                            self.pending_denial
                                .get_or_insert(names::query_string_denial(name));
                        }
                    }
                    NodeRef::RangeVar(rv) => {
                        // A relation pgward cannot place in the query: assume it reads PII.
                        self.reads_pii = true;
                        let schema = (!rv.schemaname.is_empty()).then_some(rv.schemaname.as_str());
                        if names::is_statistics_relation(schema, &rv.relname) {
                            self.pending_denial.get_or_insert(deny(
                                "masking.statistics",
                                format!(
                                    "{} holds sample values of columns, masked ones included",
                                    rv.relname
                                ),
                                "ask for an unmasked role",
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        self.steer_value(
            l.clone(),
            SteerKind::Predicate,
            "an expression pgward cannot trace",
        );
        l
    }
}
