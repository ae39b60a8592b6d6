//! Authentication: SCRAM-SHA-256 towards clients, SCRAM/md5/cleartext towards the upstream.
//!
//! Everything here is sans-IO: the connection code reads and writes the messages, these modules
//! only compute them, so the cryptography can be unit-tested byte for byte.

pub mod scram;
pub mod upstream;
pub mod wire;

use crate::sqlstate;
pub use scram::{hash_password, ScramServer, ScramVerifier, SCRAM_SHA_256};
pub use upstream::UpstreamAuth;

/// Why an authentication exchange (client-facing or upstream) failed.
///
/// Only [`AuthError::PasswordMismatch`] may be shown to a client as "password authentication
/// failed"; the others are protocol problems or configuration problems worth logging.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A stored verifier (config `users.*.password`) is not in pg_authid's SCRAM format.
    #[error("invalid SCRAM-SHA-256 verifier: {0}")]
    InvalidVerifier(&'static str),
    /// The client sent a SASL message that does not follow RFC 5802.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The client picked a SASL mechanism we did not advertise.
    #[error("client selected an unsupported SASL mechanism {0:?}")]
    UnsupportedMechanism(String),
    /// The client asked for channel binding (`p=`), which we never advertise.
    #[error("SCRAM channel binding is not supported")]
    ChannelBindingNotSupported,
    /// A message arrived in a state where it is not expected.
    #[error("SCRAM message received out of sequence")]
    OutOfSequence,
    /// Wrong password or unknown user: deliberately the same error for both.
    #[error("password authentication failed")]
    PasswordMismatch,
    /// The upstream asked for a method we cannot perform (GSSAPI, SSPI, Kerberos, ...).
    #[error("upstream requested unsupported authentication method: {0}")]
    UnsupportedUpstreamMethod(String),
    /// The upstream offered no SASL mechanism we implement.
    #[error("upstream offered no supported SASL mechanism (offered: {0})")]
    NoCommonMechanism(String),
    /// The upstream's SCRAM proof of knowing our password was wrong: it may be an impostor.
    #[error("upstream SCRAM server signature verification failed: {0}")]
    UpstreamVerification(String),
    /// The upstream sent an authentication message we could not parse or did not expect.
    #[error("upstream authentication protocol error: {0}")]
    UpstreamProtocol(String),
    /// The configured upstream password cannot be sent (e.g. it contains a NUL byte).
    #[error("upstream password cannot be used: {0}")]
    InvalidPassword(&'static str),
}

impl AuthError {
    /// The SQLSTATE PostgreSQL uses for this kind of failure, for the ErrorResponse to a client.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            AuthError::PasswordMismatch => sqlstate::INVALID_PASSWORD,
            AuthError::Malformed(_)
            | AuthError::UnsupportedMechanism(_)
            | AuthError::ChannelBindingNotSupported
            | AuthError::OutOfSequence => sqlstate::PROTOCOL_VIOLATION,
            AuthError::InvalidVerifier(_) => sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
            // Upstream failures are the proxy's problem, not the client's credentials.
            AuthError::UnsupportedUpstreamMethod(_)
            | AuthError::NoCommonMechanism(_)
            | AuthError::UpstreamVerification(_)
            | AuthError::UpstreamProtocol(_)
            | AuthError::InvalidPassword(_) => {
                sqlstate::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION
            }
        }
    }
}
