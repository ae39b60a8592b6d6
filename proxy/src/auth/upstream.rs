//! pgward's own login to the upstream PostgreSQL: answers each Authentication request with the
//! configured `logins.*` credentials (SCRAM-SHA-256, md5 or cleartext).
//!
//! Sans-IO: the connection code passes in each 'R' message and writes back what this returns.
//! SCRAM is mutual: we check the server's signature, so a server that does not know the
//! verifier cannot pose as the upstream (and an AuthenticationOk that skips it is refused).

use bytes::BytesMut;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::frontend;

use super::scram::SCRAM_SHA_256;
use super::AuthError;

enum State {
    /// Waiting for the server to name a method.
    Start,
    /// Sent SASLInitialResponse; expecting AuthenticationSASLContinue.
    SaslContinue(Box<ScramSha256>),
    /// Sent SASLResponse; expecting AuthenticationSASLFinal.
    SaslFinal(Box<ScramSha256>),
    /// Password sent, or SCRAM server signature verified; expecting AuthenticationOk.
    AwaitOk,
    /// AuthenticationOk received.
    Done,
    /// An error ended the exchange; every later message is refused.
    Failed,
}

/// Client side of one upstream authentication exchange.
pub struct UpstreamAuth {
    user: String,
    password: String,
    state: State,
}

// The password must never reach a log line through `{:?}`.
impl std::fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamAuth")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl UpstreamAuth {
    /// Credentials for one upstream connection attempt.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> UpstreamAuth {
        UpstreamAuth {
            user: user.into(),
            password: password.into(),
            state: State::Start,
        }
    }

    /// True once AuthenticationOk has been accepted.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Same as [`UpstreamAuth::respond`], given an 'R' message body that still starts with the
    /// 4-byte code.
    pub fn respond_to_message(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, AuthError> {
        let code: [u8; 4] = body
            .get(..4)
            .and_then(|c| c.try_into().ok())
            .ok_or_else(|| protocol("Authentication message shorter than its code"))?;
        self.respond(i32::from_be_bytes(code), &body[4..])
    }

    /// Answers one Authentication request (`auth_code` and the bytes after it). Returns the
    /// complete frontend message to send, or `None` when nothing is to be sent.
    pub fn respond(&mut self, auth_code: i32, body: &[u8]) -> Result<Option<Vec<u8>>, AuthError> {
        // Any early return leaves `Failed` behind; success paths set the next state.
        match (auth_code, std::mem::replace(&mut self.state, State::Failed)) {
            (0, State::Start | State::AwaitOk) => {
                self.state = State::Done;
                Ok(None)
            }
            (0, State::SaslContinue(_) | State::SaslFinal(_)) => Err(protocol(
                "AuthenticationOk before the server proved it knows the password",
            )),
            (3, State::Start) => {
                let msg = self.password_message(self.password.as_bytes())?;
                self.state = State::AwaitOk;
                Ok(Some(msg))
            }
            (5, State::Start) => {
                let salt: [u8; 4] = body
                    .try_into()
                    .map_err(|_| protocol("AuthenticationMD5Password salt is not 4 bytes"))?;
                let hash = md5_hash(self.user.as_bytes(), self.password.as_bytes(), salt);
                let msg = self.password_message(hash.as_bytes())?;
                self.state = State::AwaitOk;
                Ok(Some(msg))
            }
            (10, State::Start) => self.sasl_start(body).map(Some),
            (11, State::SaslContinue(mut scram)) => {
                scram
                    .update(body)
                    .map_err(|e| protocol(&format!("bad SCRAM server-first-message: {e}")))?;
                let mut buf = BytesMut::new();
                frontend::sasl_response(scram.message(), &mut buf)
                    .map_err(|e| protocol(&e.to_string()))?;
                self.state = State::SaslFinal(scram);
                Ok(Some(buf.to_vec()))
            }
            (12, State::SaslFinal(mut scram)) => {
                scram
                    .finish(body)
                    .map_err(|e| AuthError::UpstreamVerification(e.to_string()))?;
                self.state = State::AwaitOk;
                Ok(None)
            }
            (2, _) => Err(unsupported("Kerberos V5")),
            (6, _) => Err(unsupported("SCM credentials")),
            (7 | 8, _) => Err(unsupported("GSSAPI")),
            (9, _) => Err(unsupported("SSPI")),
            (0 | 3 | 5 | 10..=12, _) => Err(protocol(&format!(
                "authentication request {auth_code} out of sequence"
            ))),
            (code, _) => Err(unsupported(&format!("unknown request code {code}"))),
        }
    }

    fn password_message(&self, password: &[u8]) -> Result<Vec<u8>, AuthError> {
        // frontend::password_message would also refuse, but name the real problem.
        if password.contains(&0) {
            return Err(AuthError::InvalidPassword("contains a NUL byte"));
        }
        let mut buf = BytesMut::new();
        frontend::password_message(password, &mut buf)
            .map_err(|_| AuthError::InvalidPassword("cannot be encoded"))?;
        Ok(buf.to_vec())
    }

    fn sasl_start(&mut self, body: &[u8]) -> Result<Vec<u8>, AuthError> {
        let mechanisms = parse_mechanisms(body)?;
        if !mechanisms.iter().any(|m| m == SCRAM_SHA_256) {
            return Err(AuthError::NoCommonMechanism(mechanisms.join(", ")));
        }
        // We do not bind to the TLS channel: "n" tells the server so (even when it offers
        // SCRAM-SHA-256-PLUS), and keeps "y" from claiming the server offered no binding.
        let scram = ScramSha256::new(self.password.as_bytes(), ChannelBinding::unsupported());
        let mut buf = BytesMut::new();
        frontend::sasl_initial_response(SCRAM_SHA_256, scram.message(), &mut buf)
            .map_err(|e| protocol(&e.to_string()))?;
        self.state = State::SaslContinue(Box::new(scram));
        Ok(buf.to_vec())
    }
}

/// AuthenticationSASL's body: NUL-terminated names, then an empty name.
fn parse_mechanisms(body: &[u8]) -> Result<Vec<String>, AuthError> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| protocol("unterminated SASL mechanism list"))?;
        if nul == 0 {
            break;
        }
        out.push(String::from_utf8_lossy(&rest[..nul]).into_owned());
        rest = &rest[nul + 1..];
    }
    // `rest` is now just the empty name's NUL; anything after it is garbage.
    if rest.len() != 1 {
        return Err(protocol("trailing bytes after SASL mechanism list"));
    }
    Ok(out)
}

fn protocol(msg: &str) -> AuthError {
    AuthError::UpstreamProtocol(msg.to_owned())
}

fn unsupported(method: &str) -> AuthError {
    AuthError::UnsupportedUpstreamMethod(format!(
        "{method} (configure the upstream's pg_hba.conf for scram-sha-256, md5 or password)"
    ))
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "live_pg_tests.rs"]
mod live_pg_tests;
