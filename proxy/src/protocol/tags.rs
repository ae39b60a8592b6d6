//! The wire's vocabulary, named: frontend and backend message types and the transaction status
//! of ReadyForQuery, as PostgreSQL's protocol documentation (chapter 55.7) lists them. A byte
//! that is none of these stays `Unknown` and is never guessed at.

/// A message a client sends after startup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrontendTag {
    Query,
    Parse,
    Bind,
    Execute,
    Describe,
    Close,
    Sync,
    Flush,
    FunctionCall,
    CopyData,
    CopyDone,
    CopyFail,
    Terminate,
    Unknown(u8),
}

impl FrontendTag {
    pub fn from_byte(b: u8) -> FrontendTag {
        match b {
            b'Q' => FrontendTag::Query,
            b'P' => FrontendTag::Parse,
            b'B' => FrontendTag::Bind,
            b'E' => FrontendTag::Execute,
            b'D' => FrontendTag::Describe,
            b'C' => FrontendTag::Close,
            b'S' => FrontendTag::Sync,
            b'H' => FrontendTag::Flush,
            b'F' => FrontendTag::FunctionCall,
            b'd' => FrontendTag::CopyData,
            b'c' => FrontendTag::CopyDone,
            b'f' => FrontendTag::CopyFail,
            b'X' => FrontendTag::Terminate,
            other => FrontendTag::Unknown(other),
        }
    }
}

/// A message a server sends after startup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendTag {
    ParseComplete,
    BindComplete,
    CloseComplete,
    ParameterDescription,
    RowDescription,
    NoData,
    DataRow,
    CommandComplete,
    EmptyQueryResponse,
    PortalSuspended,
    ErrorResponse,
    NoticeResponse,
    ParameterStatus,
    NotificationResponse,
    ReadyForQuery,
    CopyInResponse,
    CopyOutResponse,
    CopyBothResponse,
    CopyData,
    CopyDone,
    FunctionCallResponse,
    BackendKeyData,
    Authentication,
    NegotiateProtocolVersion,
    Unknown(u8),
}

impl BackendTag {
    pub fn from_byte(b: u8) -> BackendTag {
        match b {
            b'1' => BackendTag::ParseComplete,
            b'2' => BackendTag::BindComplete,
            b'3' => BackendTag::CloseComplete,
            b't' => BackendTag::ParameterDescription,
            b'T' => BackendTag::RowDescription,
            b'n' => BackendTag::NoData,
            b'D' => BackendTag::DataRow,
            b'C' => BackendTag::CommandComplete,
            b'I' => BackendTag::EmptyQueryResponse,
            b's' => BackendTag::PortalSuspended,
            b'E' => BackendTag::ErrorResponse,
            b'N' => BackendTag::NoticeResponse,
            b'S' => BackendTag::ParameterStatus,
            b'A' => BackendTag::NotificationResponse,
            b'Z' => BackendTag::ReadyForQuery,
            b'G' => BackendTag::CopyInResponse,
            b'H' => BackendTag::CopyOutResponse,
            b'W' => BackendTag::CopyBothResponse,
            b'd' => BackendTag::CopyData,
            b'c' => BackendTag::CopyDone,
            b'V' => BackendTag::FunctionCallResponse,
            b'K' => BackendTag::BackendKeyData,
            b'R' => BackendTag::Authentication,
            b'v' => BackendTag::NegotiateProtocolVersion,
            other => BackendTag::Unknown(other),
        }
    }

    /// Messages a server may send at any time, outside the reply to any one message.
    pub fn is_asynchronous(self) -> bool {
        matches!(
            self,
            BackendTag::NoticeResponse
                | BackendTag::ParameterStatus
                | BackendTag::NotificationResponse
        )
    }
}

/// The transaction status a ReadyForQuery reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    /// 'I': not in a transaction block.
    #[default]
    Idle,
    /// 'T': in a transaction block.
    InTransaction,
    /// 'E': in a failed transaction block (commands ignored until its end).
    Failed,
}

impl TransactionStatus {
    /// The status from its byte; an unknown byte is `None` (never guessed).
    pub fn from_byte(b: u8) -> Option<TransactionStatus> {
        match b {
            b'I' => Some(TransactionStatus::Idle),
            b'T' => Some(TransactionStatus::InTransaction),
            b'E' => Some(TransactionStatus::Failed),
            _ => None,
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InTransaction => b'T',
            TransactionStatus::Failed => b'E',
        }
    }

    /// A transaction block is open (possibly failed).
    pub fn in_block(self) -> bool {
        self != TransactionStatus::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_round_trips_its_byte_class() {
        for b in 0u8..=255 {
            // Never panics; known bytes map to named tags.
            let _ = FrontendTag::from_byte(b);
            let _ = BackendTag::from_byte(b);
        }
        assert_eq!(FrontendTag::from_byte(b'P'), FrontendTag::Parse);
        assert_eq!(BackendTag::from_byte(b's'), BackendTag::PortalSuspended);
        assert_eq!(FrontendTag::from_byte(b'?'), FrontendTag::Unknown(b'?'));
    }

    #[test]
    fn transaction_status_bytes() {
        for s in [
            TransactionStatus::Idle,
            TransactionStatus::InTransaction,
            TransactionStatus::Failed,
        ] {
            assert_eq!(TransactionStatus::from_byte(s.byte()), Some(s));
        }
        assert_eq!(TransactionStatus::from_byte(b'x'), None);
    }
}
