//! Server side of SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL speaks it, without channel
//! binding, so clients authenticate to pgward with their own passwords while pgward only stores
//! pg_authid-style verifiers (never passwords).
//!
//! Sans-IO: the caller feeds the SASLInitialResponse / SASLResponse payloads in and sends the
//! returned payloads in AuthenticationSASLContinue / AuthenticationSASLFinal.

use std::fmt;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use super::AuthError;

/// The only mechanism we advertise in AuthenticationSASL.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
/// Iteration count for verifiers we create; PostgreSQL's default `scram_iterations`.
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// Client messages are tiny (a nonce, a proof); anything bigger is garbage or an attack.
const MAX_MESSAGE_LEN: usize = 4096;
/// Raw server nonce length, as PostgreSQL's SCRAM_RAW_NONCE_LEN.
const RAW_NONCE_LEN: usize = 18;
const KEY_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; KEY_LEN] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Comparison whose duration does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A SCRAM-SHA-256 verifier in PostgreSQL's pg_authid format.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: [u8; KEY_LEN],
    server_key: [u8; KEY_LEN],
}

impl ScramVerifier {
    /// Parses `SCRAM-SHA-256$<iter>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`.
    pub fn parse(s: &str) -> Result<ScramVerifier, AuthError> {
        let rest = s
            .strip_prefix("SCRAM-SHA-256$")
            .ok_or(AuthError::InvalidVerifier("must start with SCRAM-SHA-256$"))?;
        let (params, keys) = rest
            .split_once('$')
            .ok_or(AuthError::InvalidVerifier("missing '$' before the keys"))?;
        let (iter, salt) = params.split_once(':').ok_or(AuthError::InvalidVerifier(
            "missing ':' after the iteration count",
        ))?;
        let (stored, server) = keys
            .split_once(':')
            .ok_or(AuthError::InvalidVerifier("missing ':' between the keys"))?;
        let iterations: u32 = iter
            .parse()
            .map_err(|_| AuthError::InvalidVerifier("iteration count is not a number"))?;
        if iterations == 0 {
            return Err(AuthError::InvalidVerifier(
                "iteration count must be positive",
            ));
        }
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| AuthError::InvalidVerifier("salt is not valid base64"))?;
        if salt.is_empty() {
            return Err(AuthError::InvalidVerifier("salt is empty"));
        }
        let key = |k: &str, what| -> Result<[u8; KEY_LEN], AuthError> {
            let raw = STANDARD
                .decode(k)
                .map_err(|_| AuthError::InvalidVerifier(what))?;
            raw.try_into().map_err(|_| AuthError::InvalidVerifier(what))
        };
        Ok(ScramVerifier {
            iterations,
            salt,
            stored_key: key(stored, "StoredKey is not 32 bytes of base64")?,
            server_key: key(server, "ServerKey is not 32 bytes of base64")?,
        })
    }

    /// The PBKDF2 iteration count clients must use.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl fmt::Display for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(self.stored_key),
            STANDARD.encode(self.server_key)
        )
    }
}

// The keys let anyone who has them impersonate the server to the user; keep them out of logs.
impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramVerifier")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for ScramVerifier {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        ScramVerifier::parse(s)
    }
}

/// Hashes a password into a verifier with a random salt, applying SASLprep exactly as
/// PostgreSQL does (so the result can be pasted into `ALTER ROLE ... PASSWORD` too).
pub fn hash_password(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

/// Random secret mixed into fake verifiers, so they cannot be predicted from outside.
fn process_secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(|| {
        let mut s = [0u8; 32];
        OsRng.fill_bytes(&mut s);
        s
    })
}

/// A verifier for a user that does not exist. Deterministic per user name (within a process), so
/// repeated probes see a stable salt, exactly like a real user's.
fn mock_verifier(user: &str) -> ScramVerifier {
    let secret = process_secret();
    let salt = hmac(secret, &[b"salt\0", user.as_bytes()]);
    ScramVerifier {
        iterations: DEFAULT_ITERATIONS,
        salt: salt[..16].to_vec(),
        stored_key: hmac(secret, &[b"stored\0", user.as_bytes()]),
        server_key: hmac(secret, &[b"server\0", user.as_bytes()]),
    }
}

enum State {
    AwaitClientFirst,
    AwaitClientFinal {
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    Done,
}

/// One SCRAM-SHA-256 exchange with one client.
pub struct ScramServer {
    verifier: ScramVerifier,
    /// The user does not exist: go through the motions, then fail like a wrong password.
    mock: bool,
    server_nonce: String,
    state: State,
}

impl ScramServer {
    /// Starts an exchange for `user` (from the startup message; SCRAM's own `n=` is ignored, as
    /// in PostgreSQL). `None` means the user is unknown.
    pub fn new(user: &str, verifier: Option<ScramVerifier>) -> ScramServer {
        ScramServer::with_rng(user, verifier, &mut OsRng)
    }

    /// Like [`ScramServer::new`] with the server nonce drawn from `rng`.
    pub fn with_rng<R: RngCore + CryptoRng>(
        user: &str,
        verifier: Option<ScramVerifier>,
        rng: &mut R,
    ) -> ScramServer {
        let mut raw = [0u8; RAW_NONCE_LEN];
        rng.fill_bytes(&mut raw);
        let (verifier, mock) = match verifier {
            Some(v) => (v, false),
            None => (mock_verifier(user), true),
        };
        ScramServer {
            verifier,
            mock,
            server_nonce: STANDARD.encode(raw),
            state: State::AwaitClientFirst,
        }
    }

    /// Handles client-first-message; returns server-first-message.
    pub fn client_first(&mut self, data: &[u8]) -> Result<Vec<u8>, AuthError> {
        if !matches!(self.state, State::AwaitClientFirst) {
            return Err(AuthError::OutOfSequence);
        }
        self.state = State::Done; // any error below ends the exchange
        let msg = as_message(data)?;
        let (gs2_header, bare) = split_gs2_header(msg)?;
        let client_nonce = parse_client_first_bare(bare)?;
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&self.verifier.salt),
            self.verifier.iterations
        );
        self.state = State::AwaitClientFinal {
            gs2_header: gs2_header.to_owned(),
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok(server_first.into_bytes())
    }

    /// Handles client-final-message; returns server-final-message (`v=...`) when the proof is
    /// right, [`AuthError::PasswordMismatch`] when it is not (or the user is unknown).
    pub fn client_final(&mut self, data: &[u8]) -> Result<Vec<u8>, AuthError> {
        let State::AwaitClientFinal {
            gs2_header,
            client_first_bare,
            server_first,
            nonce,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(AuthError::OutOfSequence);
        };
        let msg = as_message(data)?;
        // The proof is the last attribute; everything before it is signed.
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or(AuthError::Malformed("client-final-message has no proof"))?;
        let mut attrs = without_proof.split(',');
        let cbind = attr(attrs.next(), 'c')?;
        let cbind = STANDARD
            .decode(cbind)
            .map_err(|_| AuthError::Malformed("channel binding is not valid base64"))?;
        // Without channel binding, c= must repeat the gs2 header byte for byte.
        if cbind != gs2_header.as_bytes() {
            return Err(AuthError::Malformed("channel binding does not match"));
        }
        if attr(attrs.next(), 'r')? != nonce {
            return Err(AuthError::Malformed("nonce does not match"));
        }
        for ext in attrs {
            check_extension(ext)?;
        }
        let proof: [u8; KEY_LEN] = STANDARD
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or(AuthError::Malformed("proof is not 32 bytes of base64"))?;

        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = hmac(&self.verifier.stored_key, &[auth_message.as_bytes()]);
        let mut client_key = proof;
        for (k, s) in client_key.iter_mut().zip(client_signature) {
            *k ^= s;
        }
        let computed: [u8; KEY_LEN] = Sha256::digest(client_key).into();
        let matches = ct_eq(&computed, &self.verifier.stored_key);
        if !matches || self.mock {
            return Err(AuthError::PasswordMismatch);
        }
        let server_signature = hmac(&self.verifier.server_key, &[auth_message.as_bytes()]);
        Ok(format!("v={}", STANDARD.encode(server_signature)).into_bytes())
    }
}

fn as_message(data: &[u8]) -> Result<&str, AuthError> {
    if data.len() > MAX_MESSAGE_LEN {
        return Err(AuthError::Malformed("message too long"));
    }
    std::str::from_utf8(data).map_err(|_| AuthError::Malformed("message is not UTF-8"))
}

/// Splits `gs2-header client-first-message-bare`.
fn split_gs2_header(msg: &str) -> Result<(&str, &str), AuthError> {
    let bare = if let Some(rest) = msg.strip_prefix("n,").or_else(|| msg.strip_prefix("y,")) {
        rest
    } else if msg.starts_with("p=") {
        return Err(AuthError::ChannelBindingNotSupported);
    } else {
        return Err(AuthError::Malformed("invalid gs2 channel binding flag"));
    };
    // PostgreSQL rejects an authorization identity (a=) rather than ignoring it.
    let bare = bare.strip_prefix(',').ok_or(AuthError::Malformed(
        "authorization identity is not supported",
    ))?;
    Ok((&msg[..msg.len() - bare.len()], bare))
}

/// Returns the client nonce from `n=user,r=nonce[,ext...]`.
fn parse_client_first_bare(bare: &str) -> Result<&str, AuthError> {
    if bare.starts_with("m=") {
        return Err(AuthError::Malformed(
            "mandatory extensions are not supported",
        ));
    }
    let mut attrs = bare.split(',');
    let _user = attr(attrs.next(), 'n')?; // PostgreSQL uses the startup message's user
    let nonce = attr(attrs.next(), 'r')?;
    if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(AuthError::Malformed("invalid client nonce"));
    }
    for ext in attrs {
        check_extension(ext)?;
    }
    Ok(nonce)
}

/// Returns the value of `key=value`, or an error if the attribute is missing or another one.
fn attr(part: Option<&str>, key: char) -> Result<&str, AuthError> {
    let part = part.ok_or(AuthError::Malformed("missing attribute"))?;
    let mut chars = part.chars();
    if chars.next() != Some(key) || chars.next() != Some('=') {
        return Err(AuthError::Malformed("unexpected attribute"));
    }
    Ok(&part[2..])
}

/// Optional extensions are `letter=value`; we ignore them as PostgreSQL does.
fn check_extension(ext: &str) -> Result<(), AuthError> {
    let b = ext.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b'=' {
        Ok(())
    } else {
        Err(AuthError::Malformed("invalid attribute"))
    }
}

#[cfg(test)]
#[path = "scram_tests.rs"]
mod tests;
