//! The one place that says which SQLSTATE a client sees: PostgreSQL's error codes as named
//! constants (names from PostgreSQL's `errcodes.txt`), and [`ToPg`], the mapping every internal
//! error type implements at the edge.

use crate::protocol::backend::PgError;

/// 08001: the upstream could not be reached or refused pgward's login.
pub const SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION: &str = "08001";
/// 08006: a connection (client or upstream) was lost.
pub const CONNECTION_FAILURE: &str = "08006";
/// 08P01: a message broke the wire protocol.
pub const PROTOCOL_VIOLATION: &str = "08P01";
/// 22021: text that is not valid in the encoding (UTF-8).
pub const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
/// 22P06: a backslash escape in a plain string with standard_conforming_strings off (a
/// warning, as PostgreSQL's).
pub const NONSTANDARD_USE_OF_ESCAPE_CHARACTER: &str = "22P06";
/// 22023: a parameter value the server refused.
pub const INVALID_PARAMETER_VALUE: &str = "22023";
/// 25P02: the transaction (or batch) failed; what follows is skipped.
pub const IN_FAILED_SQL_TRANSACTION: &str = "25P02";
/// 25P03: idle in transaction for too long.
pub const IDLE_IN_TRANSACTION_SESSION_TIMEOUT: &str = "25P03";
/// 26000: no such prepared statement.
pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
pub const DUPLICATE_PREPARED_STATEMENT: &str = "42P05";
/// 28000: not allowed to connect this way.
pub const INVALID_AUTHORIZATION_SPECIFICATION: &str = "28000";
/// 28P01: wrong user or password.
pub const INVALID_PASSWORD: &str = "28P01";
/// 34000: no such portal.
pub const INVALID_CURSOR_NAME: &str = "34000";
/// 42501: refused by policy.
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
/// 42601: the grammar rejects the text.
pub const SYNTAX_ERROR: &str = "42601";
/// 53200: a pgward memory budget is spent (large client messages, kept statements).
pub const OUT_OF_MEMORY: &str = "53200";
/// 53300: no connection slot (client limit, pool checkout timeout, upstream full).
pub const TOO_MANY_CONNECTIONS: &str = "53300";
/// 54000: a pgward limit (max_result_rows, max_affected_rows) was exceeded.
pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
/// 54001: a statement too large or too deep to analyze.
pub const STATEMENT_TOO_COMPLEX: &str = "54001";
/// 57014: statement cancelled (statement_timeout).
pub const QUERY_CANCELED: &str = "57014";
/// 57P03: the upstream is starting up or shutting down.
pub const CANNOT_CONNECT_NOW: &str = "57P03";

/// 0A000: the admin console does not support this (e.g. the extended protocol).
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
/// 22P02: a value of the wrong form (an admin command's argument).
pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
/// 3D000: no such database (admin PAUSE/RESUME/KILL of an unknown one).
pub const INVALID_CATALOG_NAME: &str = "3D000";
/// 42704: no such object (an admin command's target).
pub const UNDEFINED_OBJECT: &str = "42704";
/// 57P01: pgward is shutting down, or the admin ended this client.
pub const ADMIN_SHUTDOWN: &str = "57P01";
/// F0000: the config file cannot be loaded (admin RELOAD).
pub const CONFIG_FILE_ERROR: &str = "F0000";

/// How an internal error is shown to the client: one SQLSTATE, one message.
pub trait ToPg {
    fn to_pg(&self) -> PgError;
}

/// A client message that could not be read ends the session (FATAL).
impl ToPg for crate::protocol::frame::FrameError {
    fn to_pg(&self) -> PgError {
        match self {
            crate::protocol::frame::FrameError::OverBudget => {
                PgError::fatal(OUT_OF_MEMORY, format!("pgward: {self}"))
            }
            _ => PgError::fatal(
                PROTOCOL_VIOLATION,
                format!("pgward: invalid message from client: {self}"),
            ),
        }
    }
}

impl ToPg for crate::protocol::decode::DecodeError {
    fn to_pg(&self) -> PgError {
        let code = match self {
            crate::protocol::decode::DecodeError::NotUtf8 => CHARACTER_NOT_IN_REPERTOIRE,
            _ => PROTOCOL_VIOLATION,
        };
        PgError::error(code, self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::DecodeError;

    #[test]
    fn decode_errors_map_to_their_codes() {
        assert_eq!(
            DecodeError::NotUtf8.to_pg().code,
            CHARACTER_NOT_IN_REPERTOIRE
        );
        assert_eq!(DecodeError::Short.to_pg().code, PROTOCOL_VIOLATION);
    }
}
