//! Narrow decisions from PostgreSQL's own parse tree, for valid statements sqlparser 0.63
//! cannot parse. Only these forms are recognized; anything else sqlparser cannot parse is
//! refused as `unanalyzable`.
//!
//! | PostgreSQL statement | treated as | read-only | read-write |
//! | --- | --- | --- | --- |
//! | `VACUUM`, `ANALYZE` (any options), `CHECKPOINT`, `REINDEX`, `CLUSTER` | maintenance | refused | allowed with allow_ddl |
//! | `COPY table [(cols)] FROM STDIN [WITH (...)]` (no WHERE) | write | refused | allowed |
//! | `COPY table [(cols)] TO STDOUT [WITH (...)]` | read of the table | allowed | allowed |
//! | `TABLE t` (nothing else: no WHERE/ORDER/LIMIT/locks) | read of t | allowed | allowed |
//! | `CREATE TABLE` (no AS), `ALTER TABLE`, `DROP ...`, `CREATE INDEX`, `TRUNCATE` | DDL | refused | allowed with allow_ddl |
//! | `DO` | opaque code | refused | allowed with allow_ddl and without require_where |
//! | `FETCH`/`MOVE` on a cursor (forms sqlparser lacks, e.g. `FETCH cur`) | cursor read | allowed | allowed |
//!
//! These never look inside expressions: forms that could contain expressions (COPY ... WHERE,
//! COPY (query), CREATE TABLE AS) are not recognized here.

use pg_query::NodeEnum;

use crate::context::{Ctx, Judged};
use crate::denial::{deny, HINT_READ_WRITE};
use crate::rules::{ddl, do_or_call};
use crate::types::{Access, StatementKind as K};

/// A statement recognized from PostgreSQL's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgStatement {
    Maintenance(&'static str),
    CopyFromStdin,
    CopyToStdout,
    TableRead,
    Ddl(&'static str),
    Truncate,
    Do,
    /// The cursor's query was judged at DECLARE.
    Fetch,
}

fn is_table_star(s: &pg_query::protobuf::SelectStmt) -> bool {
    let star_only = match s.target_list.as_slice() {
        [t] => match t.node.as_ref() {
            Some(NodeEnum::ResTarget(rt)) => {
                rt.name.is_empty()
                    && rt.indirection.is_empty()
                    && match rt.val.as_ref().and_then(|v| v.node.as_ref()) {
                        Some(NodeEnum::ColumnRef(cr)) => matches!(
                            cr.fields.as_slice(),
                            [f] if matches!(f.node, Some(NodeEnum::AStar(_)))
                        ),
                        _ => false,
                    }
            }
            _ => false,
        },
        _ => false,
    };
    let one_relation = matches!(
        s.from_clause.as_slice(),
        [f] if matches!(f.node, Some(NodeEnum::RangeVar(_)))
    );
    star_only
        && one_relation
        && s.distinct_clause.is_empty()
        && s.into_clause.is_none()
        && s.where_clause.is_none()
        && s.group_clause.is_empty()
        && s.having_clause.is_none()
        && s.window_clause.is_empty()
        && s.values_lists.is_empty()
        && s.sort_clause.is_empty()
        && s.limit_offset.is_none()
        && s.limit_count.is_none()
        && s.locking_clause.is_empty()
        && s.with_clause.is_none()
        && s.larg.is_none()
        && s.rarg.is_none()
        && s.op <= 1
}

/// Recognizes one of the narrow forms, or `None`.
pub fn recognize(node: &NodeEnum) -> Option<PgStatement> {
    match node {
        NodeEnum::VacuumStmt(_) => Some(PgStatement::Maintenance("VACUUM/ANALYZE")),
        NodeEnum::CheckPointStmt(_) => Some(PgStatement::Maintenance("CHECKPOINT")),
        NodeEnum::ReindexStmt(_) => Some(PgStatement::Maintenance("REINDEX")),
        NodeEnum::ClusterStmt(_) => Some(PgStatement::Maintenance("CLUSTER")),
        NodeEnum::CopyStmt(c) => {
            let plain = c.relation.is_some()
                && c.query.is_none()
                && c.where_clause.is_none()
                && c.filename.is_empty()
                && !c.is_program;
            match (plain, c.is_from) {
                (true, true) => Some(PgStatement::CopyFromStdin),
                (true, false) => Some(PgStatement::CopyToStdout),
                (false, _) => None,
            }
        }
        NodeEnum::SelectStmt(s) if is_table_star(s) => Some(PgStatement::TableRead),
        NodeEnum::CreateStmt(_) => Some(PgStatement::Ddl("CREATE TABLE")),
        NodeEnum::AlterTableStmt(_) => Some(PgStatement::Ddl("ALTER TABLE")),
        NodeEnum::DropStmt(_) => Some(PgStatement::Ddl("DROP")),
        NodeEnum::IndexStmt(_) => Some(PgStatement::Ddl("CREATE INDEX")),
        NodeEnum::TruncateStmt(_) => Some(PgStatement::Truncate),
        NodeEnum::DoStmt(_) => Some(PgStatement::Do),
        NodeEnum::FetchStmt(_) => Some(PgStatement::Fetch),
        _ => None,
    }
}

/// Judges a recognized statement for the role in `ctx`.
pub fn judge(stmt: PgStatement, ctx: &Ctx<'_>) -> Judged {
    match stmt {
        PgStatement::Maintenance(what) => ddl(K::Maintenance, what, ctx, false),
        PgStatement::Ddl(what) => ddl(K::Ddl, what, ctx, false),
        PgStatement::Truncate => ddl(K::Truncate, "TRUNCATE", ctx, true),
        PgStatement::Do => do_or_call(K::Do, "DO", ctx),
        PgStatement::TableRead => Judged::new(K::Select),
        PgStatement::Fetch => Judged::new(K::Fetch),
        PgStatement::CopyToStdout => Judged::new(K::CopyTo),
        PgStatement::CopyFromStdin => {
            let mut j = Judged::new(K::CopyFrom).writes();
            if ctx.role.access == Access::ReadOnly {
                j.deny(deny(
                    "read_only.write",
                    "read-only role may not run COPY FROM",
                    HINT_READ_WRITE,
                ));
            }
            j
        }
    }
}
