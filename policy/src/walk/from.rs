//! The FROM half of the walk: tables, joins and their constraints, and every `TableFactor`
//! variant (derived tables, table functions, UNNEST, pivots, ...).

use sqlparser::ast::{JoinConstraint, JoinOperator, TableFactor, TableWithJoins};

use super::{Facts, FuncCall};

impl<'a> Facts<'a> {
    pub fn table_with_joins(&mut self, twj: &'a TableWithJoins) {
        self.table_factor(&twj.relation);
        for join in &twj.joins {
            self.table_factor(&join.relation);
            let constraint = match &join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c) => c,
                JoinOperator::Semi(_)
                | JoinOperator::LeftSemi(_)
                | JoinOperator::RightSemi(_)
                | JoinOperator::Anti(_)
                | JoinOperator::LeftAnti(_)
                | JoinOperator::RightAnti(_)
                | JoinOperator::CrossApply
                | JoinOperator::OuterApply
                | JoinOperator::AsOf { .. }
                | JoinOperator::StraightJoin(_)
                | JoinOperator::ArrayJoin
                | JoinOperator::LeftArrayJoin
                | JoinOperator::InnerArrayJoin => {
                    self.unsupported("join kind");
                    continue;
                }
            };
            match constraint {
                JoinConstraint::On(e) => self.expr(e),
                JoinConstraint::Using(_) | JoinConstraint::Natural | JoinConstraint::None => {}
            }
        }
    }

    pub fn table_factor(&mut self, tf: &'a TableFactor) {
        match tf {
            TableFactor::Table {
                name,
                args,
                with_hints,
                version,
                partitions,
                json_path,
                sample,
                index_hints,
                ..
            } => {
                if let Some(args) = args {
                    // `FROM f(args)`: a table function call.
                    self.function_call(name, args.args.iter());
                    if args.settings.is_some() {
                        self.unsupported("SETTINGS");
                    }
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || !index_hints.is_empty()
                {
                    self.unsupported("table hints");
                }
                if sample.is_some() {
                    // TABLESAMPLE method(args): the method is a function; not analyzed.
                    self.unsupported("TABLESAMPLE");
                }
            }
            TableFactor::Derived {
                subquery, sample, ..
            } => {
                self.query(subquery);
                if sample.is_some() {
                    self.unsupported("TABLESAMPLE");
                }
            }
            TableFactor::TableFunction { expr, .. } => self.expr(expr),
            TableFactor::Function { name, args, .. } => self.function_call(name, args.iter()),
            TableFactor::UNNEST {
                array_exprs,
                with_offset,
                ..
            } => {
                self.functions.push(FuncCall {
                    name: vec!["unnest".into()],
                });
                self.exprs(array_exprs);
                if *with_offset {
                    self.unsupported("UNNEST WITH OFFSET");
                }
            }
            TableFactor::JsonTable { json_expr, .. } => {
                self.functions.push(FuncCall {
                    name: vec!["json_table".into()],
                });
                self.expr(json_expr);
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.table_with_joins(table_with_joins),
            TableFactor::XmlTable {
                row_expression,
                passing,
                ..
            } => {
                self.functions.push(FuncCall {
                    name: vec!["xmltable".into()],
                });
                self.expr(row_expression);
                for arg in &passing.arguments {
                    self.expr(&arg.expr);
                }
            }
            TableFactor::OpenJsonTable { .. } => self.unsupported("OPENJSON"),
            TableFactor::Pivot { .. }
            | TableFactor::Unpivot { .. }
            | TableFactor::UnpivotExpr { .. } => self.unsupported("PIVOT"),
            TableFactor::MatchRecognize { .. } => self.unsupported("MATCH_RECOGNIZE"),
            TableFactor::SemanticView { .. } => self.unsupported("SEMANTIC_VIEW"),
        }
    }
}
