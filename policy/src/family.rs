//! Statement families compared between the two parsers: both must read each statement of a
//! text as the same kind of statement.

use pg_query::NodeEnum;
use sqlparser::ast::Statement;

use crate::dml::query_kind;
use crate::types::StatementKind;

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

pub(crate) fn pg_family(node: &NodeEnum) -> Family {
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
        | NodeEnum::AlterRoleSetStmt(_)
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
