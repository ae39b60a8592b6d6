//! The few authentication messages of the PostgreSQL wire protocol, built and parsed here so the
//! client-facing SCRAM exchange does not need the session code to know their layouts.

use super::scram::SCRAM_SHA_256;
use super::AuthError;

/// A complete backend Authentication ('R') message with the given code and payload.
fn authentication(code: i32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + payload.len());
    out.push(b'R');
    // Length counts itself, the code and the payload; payloads here are a few bytes.
    let len = (8 + payload.len()) as i32;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// AuthenticationOk.
pub fn authentication_ok() -> Vec<u8> {
    authentication(0, &[])
}

/// AuthenticationSASL advertising only SCRAM-SHA-256 (no -PLUS: we do no channel binding).
pub fn authentication_sasl() -> Vec<u8> {
    let mut payload = Vec::with_capacity(SCRAM_SHA_256.len() + 2);
    payload.extend_from_slice(SCRAM_SHA_256.as_bytes());
    payload.extend_from_slice(b"\0\0");
    authentication(10, &payload)
}

/// AuthenticationSASLContinue carrying server-first-message.
pub fn authentication_sasl_continue(data: &[u8]) -> Vec<u8> {
    authentication(11, data)
}

/// AuthenticationSASLFinal carrying server-final-message.
pub fn authentication_sasl_final(data: &[u8]) -> Vec<u8> {
    authentication(12, data)
}

/// Returns the client-first-message from the body (after type byte and length) of a
/// SASLInitialResponse ('p') message, refusing any mechanism but SCRAM-SHA-256.
pub fn parse_sasl_initial_response(body: &[u8]) -> Result<&[u8], AuthError> {
    let nul = body
        .iter()
        .position(|&b| b == 0)
        .ok_or(AuthError::Malformed("SASLInitialResponse has no mechanism"))?;
    let mechanism = &body[..nul];
    if mechanism != SCRAM_SHA_256.as_bytes() {
        return Err(AuthError::UnsupportedMechanism(
            String::from_utf8_lossy(mechanism).into_owned(),
        ));
    }
    let rest = &body[nul + 1..];
    let len_bytes: [u8; 4] = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(AuthError::Malformed("SASLInitialResponse is truncated"))?;
    let len = i32::from_be_bytes(len_bytes);
    let data = &rest[4..];
    // -1 means "no initial response", which SCRAM requires, so it is as bad as a wrong length.
    if len < 0 || len as usize != data.len() {
        return Err(AuthError::Malformed("SASLInitialResponse length mismatch"));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_advertises_only_scram_sha_256() {
        let m = authentication_sasl();
        assert_eq!(m, b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0");
        assert_eq!(authentication_ok(), b"R\0\0\0\x08\0\0\0\0");
        assert_eq!(
            authentication_sasl_final(b"v=x"),
            b"R\0\0\0\x0b\0\0\0\x0cv=x"
        );
        assert_eq!(
            authentication_sasl_continue(b"r"),
            b"R\0\0\0\x09\0\0\0\x0br"
        );
    }

    #[test]
    fn parses_initial_response() {
        let body = b"SCRAM-SHA-256\0\0\0\0\x05n,,ab";
        assert_eq!(parse_sasl_initial_response(body).unwrap(), b"n,,ab");
        for bad in [
            &b"SCRAM-SHA-256"[..],
            b"SCRAM-SHA-256\0\0\0",
            b"SCRAM-SHA-256\0\xff\xff\xff\xff",
            b"SCRAM-SHA-256\0\0\0\0\x06n,,ab",
            b"SCRAM-SHA-256\0\0\0\0\x04n,,ab",
        ] {
            assert!(matches!(
                parse_sasl_initial_response(bad),
                Err(AuthError::Malformed(_))
            ));
        }
        assert!(matches!(
            parse_sasl_initial_response(b"SCRAM-SHA-256-PLUS\0\0\0\0\0"),
            Err(AuthError::UnsupportedMechanism(m)) if m == "SCRAM-SHA-256-PLUS"
        ));
    }
}
