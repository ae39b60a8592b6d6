//! Parsing with two parsers that must agree.
//!
//! PostgreSQL's own grammar (libpg_query) splits and parses the text; sqlparser parses it
//! too. The statement count and each statement's family must match, or the text is refused
//! (`parser_disagreement`): a disagreement means one of them reads the bytes differently
//! (lexer differences are how guards like this one are usually bypassed).
//!
//! When sqlparser cannot parse the whole text, each statement (as PostgreSQL split it) is
//! parsed on its own; a statement sqlparser still cannot parse gets a narrow decision from
//! PostgreSQL's tree when it is one of the forms in [`crate::fallback`], and is refused as
//! `unanalyzable` otherwise.

use pg_query::NodeEnum;
use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::dml::query_kind;
use crate::fallback::{self, PgStatement};
use crate::pg_facts::PgFacts;
use crate::types::{Denial, StatementKind};

/// One statement ready to be judged.
pub enum Unit {
    Sql(Box<Statement>),
    Pg(PgStatement),
    /// Judged from PostgreSQL's facts alone ([`crate::pg_judge::judge_alone`]).
    PgOnly,
}

/// Families compared between the two parsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Read,
    Insert,
    Update,
    Delete,
    Merge,
    Copy,
    Explain,
    Set,
    Show,
    Transaction,
    Prepare,
    Execute,
    Deallocate,
    Listen,
    Unlisten,
    Notify,
    Declare,
    Fetch,
    Close,
    Discard,
    Lock,
    Truncate,
    Maintenance,
    Ddl,
    Call,
    Do,
    Other,
}

pub(crate) fn sql_family(stmt: &Statement) -> Family {
    match stmt {
        Statement::Query(q) => match query_kind(q) {
            StatementKind::Insert => Family::Insert,
            StatementKind::Update => Family::Update,
            StatementKind::Delete => Family::Delete,
            StatementKind::Merge => Family::Merge,
            _ => Family::Read,
        },
        Statement::Insert(_) => Family::Insert,
        Statement::Update(_) => Family::Update,
        Statement::Delete(_) => Family::Delete,
        Statement::Merge(_) => Family::Merge,
        Statement::Copy { .. } => Family::Copy,
        Statement::Explain { .. } => Family::Explain,
        Statement::Set(_) | Statement::Reset(_) => Family::Set,
        Statement::ShowVariable { .. } => Family::Show,
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => Family::Transaction,
        Statement::Prepare { .. } => Family::Prepare,
        Statement::Execute { .. } => Family::Execute,
        Statement::Deallocate { .. } => Family::Deallocate,
        Statement::LISTEN { .. } => Family::Listen,
        Statement::UNLISTEN { .. } => Family::Unlisten,
        Statement::NOTIFY { .. } => Family::Notify,
        Statement::Declare { .. } => Family::Declare,
        Statement::Fetch { .. } => Family::Fetch,
        Statement::Close { .. } => Family::Close,
        Statement::Discard { .. } => Family::Discard,
        Statement::Lock(_) => Family::Lock,
        Statement::Truncate(_) => Family::Truncate,
        Statement::Vacuum(_) | Statement::Analyze(_) => Family::Maintenance,
        Statement::Call(_) => Family::Call,
        Statement::Grant(_)
        | Statement::Revoke(_)
        | Statement::CreateRole(_)
        | Statement::AlterRole { .. }
        | Statement::CreateUser(_)
        | Statement::AlterUser(_)
        | Statement::CreateTable(_)
        | Statement::CreateView(_)
        | Statement::CreateIndex(_)
        | Statement::CreateSchema { .. }
        | Statement::CreateDatabase { .. }
        | Statement::CreateFunction(_)
        | Statement::CreateTrigger(_)
        | Statement::CreateProcedure { .. }
        | Statement::CreateSequence { .. }
        | Statement::CreateDomain(_)
        | Statement::CreateType { .. }
        | Statement::CreateExtension(_)
        | Statement::CreatePolicy(_)
        | Statement::CreateOperator(_)
        | Statement::CreateOperatorFamily(_)
        | Statement::CreateOperatorClass(_)
        | Statement::CreateTextSearch(_)
        | Statement::CreateCollation(_)
        | Statement::CreateServer(_)
        | Statement::AlterTable(_)
        | Statement::AlterSchema(_)
        | Statement::AlterIndex { .. }
        | Statement::AlterView { .. }
        | Statement::AlterFunction(_)
        | Statement::AlterType(_)
        | Statement::AlterCollation(_)
        | Statement::AlterOperator(_)
        | Statement::AlterOperatorFamily(_)
        | Statement::AlterOperatorClass(_)
        | Statement::AlterTextSearch(_)
        | Statement::AlterPolicy(_)
        | Statement::Drop { .. }
        | Statement::DropFunction(_)
        | Statement::DropDomain(_)
        | Statement::DropProcedure { .. }
        | Statement::DropPolicy(_)
        | Statement::DropExtension(_)
        | Statement::DropOperator(_)
        | Statement::DropOperatorFamily(_)
        | Statement::DropOperatorClass(_)
        | Statement::DropTrigger(_)
        | Statement::Comment { .. } => Family::Ddl,
        _ => Family::Other,
    }
}

fn pg_family(node: &NodeEnum) -> Family {
    use pg_query::protobuf::TransactionStmtKind as T;
    match node {
        NodeEnum::SelectStmt(_) => Family::Read,
        NodeEnum::InsertStmt(_) => Family::Insert,
        NodeEnum::UpdateStmt(_) => Family::Update,
        NodeEnum::DeleteStmt(_) => Family::Delete,
        NodeEnum::MergeStmt(_) => Family::Merge,
        NodeEnum::CopyStmt(_) => Family::Copy,
        NodeEnum::ExplainStmt(_) => Family::Explain,
        NodeEnum::VariableSetStmt(_) => Family::Set,
        NodeEnum::VariableShowStmt(_) => Family::Show,
        NodeEnum::TransactionStmt(t) => match T::try_from(t.kind) {
            Ok(T::TransStmtPrepare | T::TransStmtCommitPrepared | T::TransStmtRollbackPrepared) => {
                Family::Other
            }
            Ok(_) => Family::Transaction,
            Err(_) => Family::Other,
        },
        NodeEnum::PrepareStmt(_) => Family::Prepare,
        NodeEnum::ExecuteStmt(_) => Family::Execute,
        NodeEnum::DeallocateStmt(_) => Family::Deallocate,
        NodeEnum::ListenStmt(_) => Family::Listen,
        NodeEnum::UnlistenStmt(_) => Family::Unlisten,
        NodeEnum::NotifyStmt(_) => Family::Notify,
        NodeEnum::DeclareCursorStmt(_) => Family::Declare,
        NodeEnum::FetchStmt(_) => Family::Fetch,
        NodeEnum::ClosePortalStmt(_) => Family::Close,
        NodeEnum::DiscardStmt(_) => Family::Discard,
        NodeEnum::LockStmt(_) => Family::Lock,
        NodeEnum::TruncateStmt(_) => Family::Truncate,
        NodeEnum::VacuumStmt(_)
        | NodeEnum::CheckPointStmt(_)
        | NodeEnum::ReindexStmt(_)
        | NodeEnum::ClusterStmt(_) => Family::Maintenance,
        NodeEnum::CallStmt(_) => Family::Call,
        NodeEnum::DoStmt(_) => Family::Do,
        NodeEnum::GrantStmt(_)
        | NodeEnum::GrantRoleStmt(_)
        | NodeEnum::CreateRoleStmt(_)
        | NodeEnum::AlterRoleStmt(_)
        | NodeEnum::DropRoleStmt(_)
        | NodeEnum::CreateStmt(_)
        | NodeEnum::CreateTableAsStmt(_)
        | NodeEnum::ViewStmt(_)
        | NodeEnum::IndexStmt(_)
        | NodeEnum::CreateSchemaStmt(_)
        | NodeEnum::CreatedbStmt(_)
        | NodeEnum::CreateFunctionStmt(_)
        | NodeEnum::CreateTrigStmt(_)
        | NodeEnum::CreateSeqStmt(_)
        | NodeEnum::AlterSeqStmt(_)
        | NodeEnum::CreateDomainStmt(_)
        | NodeEnum::CompositeTypeStmt(_)
        | NodeEnum::CreateEnumStmt(_)
        | NodeEnum::CreateRangeStmt(_)
        | NodeEnum::CreateExtensionStmt(_)
        | NodeEnum::CreatePolicyStmt(_)
        | NodeEnum::AlterPolicyStmt(_)
        | NodeEnum::CreateOpClassStmt(_)
        | NodeEnum::CreateOpFamilyStmt(_)
        | NodeEnum::DefineStmt(_)
        | NodeEnum::CreateForeignServerStmt(_)
        | NodeEnum::AlterTableStmt(_)
        | NodeEnum::AlterDomainStmt(_)
        | NodeEnum::AlterEnumStmt(_)
        | NodeEnum::AlterFunctionStmt(_)
        | NodeEnum::AlterTypeStmt(_)
        | NodeEnum::AlterCollationStmt(_)
        | NodeEnum::AlterOperatorStmt(_)
        | NodeEnum::AlterOpFamilyStmt(_)
        | NodeEnum::AlterTsconfigurationStmt(_)
        | NodeEnum::AlterTsdictionaryStmt(_)
        | NodeEnum::AlterObjectSchemaStmt(_)
        | NodeEnum::AlterOwnerStmt(_)
        | NodeEnum::RenameStmt(_)
        | NodeEnum::DropStmt(_)
        | NodeEnum::CommentStmt(_) => Family::Ddl,
        _ => Family::Other,
    }
}

/// Keeps a parser's error message short and free of literal values: a quoted token after
/// "at or near" longer than a keyword, or one that starts like a constant, is elided.
pub fn sanitize_error(msg: &str) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start + 1]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else {
            rest = after;
            break;
        };
        let token = &after[..end];
        let literal_like = token.starts_with(['\'', '$', 'E', 'e', 'U', 'u', 'B', 'b', 'X', 'x'])
            && token.contains(['\'', '$'])
            || token.chars().next().is_some_and(|c| c.is_ascii_digit())
            || token.len() > 32;
        out.push_str(if literal_like { "<literal>" } else { token });
        out.push('"');
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    // sqlparser's messages end with "at Line: x, Column: y": keep them, they are positions.
    if out.len() > 200 {
        let mut cut = 200;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

fn unanalyzable(parser: &str, msg: &str) -> Denial {
    crate::denial::deny_with_detail(
        "unanalyzable",
        "could not analyze statement",
        format!("{parser}: {}", sanitize_error(msg)),
        "check the statement's syntax; pgward refuses SQL it cannot analyze",
    )
}

fn disagreement(what: &str) -> Denial {
    crate::denial::deny_with_detail(
        "parser_disagreement",
        "could not analyze statement: the parsers disagree on what it means",
        what,
        "rewrite the statement more plainly (no exotic quoting or escapes)",
    )
}

/// More AND/OR terms than this and sqlparser's binary tree for the text grows too deep to
/// walk safely: the statement is judged from PostgreSQL's (flat) tree alone.
const MAX_SQLPARSER_BOOL_TERMS: usize = 256;

/// One statement as both parsers read it.
pub struct Parsed {
    pub unit: Unit,
    /// PostgreSQL's facts: the authority for what the statement runs.
    pub facts: PgFacts,
}

/// The text of statement `r` of `sql`, as PostgreSQL split it.
fn statement_text<'a>(sql: &'a str, r: &pg_query::protobuf::RawStmt) -> Option<&'a str> {
    let start = usize::try_from(r.stmt_location).ok()?;
    if r.stmt_len == 0 {
        sql.get(start..)
    } else {
        let len = usize::try_from(r.stmt_len).ok()?;
        sql.get(start..start.checked_add(len)?)
    }
}

/// Parses `sql` into statements to judge, or the reason it cannot be analyzed.
pub fn parse(sql: &str) -> Result<Vec<Parsed>, Denial> {
    let pg = pg_query::parse(sql, 0).map_err(|e| crate::syntax::parse_failure(sql, &e))?;
    let raw = &pg.protobuf.stmts;
    let mut pg_nodes: Vec<&NodeEnum> = Vec::with_capacity(raw.len());
    let mut facts: Vec<PgFacts> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let Some(node) = r.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
            return Err(disagreement(&format!("statement {}: empty", i + 1)));
        };
        pg_nodes.push(node);
        facts.push(PgFacts::of(node).map_err(|e| unanalyzable("postgres tree", &e))?);
    }
    let sqlparser_safe = facts
        .iter()
        .all(|f| f.bool_args <= MAX_SQLPARSER_BOOL_TERMS);
    let whole = if sqlparser_safe {
        Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()
    } else {
        None
    };
    let mut units = Vec::with_capacity(raw.len());
    match whole {
        Some(stmts) => {
            if stmts.len() != pg_nodes.len() {
                return Err(disagreement(&format!(
                    "statement count: {} vs {}",
                    stmts.len(),
                    pg_nodes.len()
                )));
            }
            for (i, (stmt, node)) in stmts.into_iter().zip(&pg_nodes).enumerate() {
                let (a, b) = (sql_family(&stmt), pg_family(node));
                if a != b {
                    return Err(disagreement(&format!(
                        "statement {}: {a:?} vs {b:?}",
                        i + 1
                    )));
                }
                units.push(Unit::Sql(Box::new(stmt)));
            }
        }
        None => {
            for (i, r) in raw.iter().enumerate() {
                let node = pg_nodes[i];
                let Some(text) = statement_text(sql, r) else {
                    return Err(unanalyzable("split", "statement boundary"));
                };
                let one = if sqlparser_safe {
                    Parser::parse_sql(&PostgreSqlDialect {}, text).ok()
                } else {
                    None
                };
                match one {
                    Some(mut one) if one.len() == 1 => {
                        let stmt = one.remove(0);
                        let (a, b) = (sql_family(&stmt), pg_family(node));
                        if a != b {
                            return Err(disagreement(&format!(
                                "statement {}: {a:?} vs {b:?}",
                                i + 1
                            )));
                        }
                        units.push(Unit::Sql(Box::new(stmt)));
                    }
                    Some(other) if !other.is_empty() => {
                        return Err(disagreement(&format!(
                            "statement {}: split into {} by sqlparser",
                            i + 1,
                            other.len()
                        )))
                    }
                    // sqlparser cannot read valid PostgreSQL: PostgreSQL's reading decides.
                    _ => units.push(match fallback::recognize(node) {
                        Some(pg_stmt) => Unit::Pg(pg_stmt),
                        None => Unit::PgOnly,
                    }),
                }
            }
        }
    }
    Ok(units
        .into_iter()
        .zip(facts)
        .map(|(unit, facts)| Parsed { unit, facts })
        .collect())
}
