//! Byte-level tests of the upstream authentication client, using our own SCRAM server as peer.

use super::*;
use crate::auth::scram::{hash_password, ScramServer, ScramVerifier};
use crate::auth::wire::parse_sasl_initial_response;

/// Splits a frontend message into its type byte and body, checking the length field.
fn frame(msg: &[u8]) -> (u8, &[u8]) {
    let len = i32::from_be_bytes(msg[1..5].try_into().unwrap()) as usize;
    assert_eq!(len + 1, msg.len(), "length field must cover the message");
    (msg[0], &msg[5..])
}

#[test]
fn cleartext_password() {
    let mut a = UpstreamAuth::new("app", "secret");
    let msg = a.respond(3, b"").unwrap().unwrap();
    assert_eq!(msg, b"p\0\0\0\x0bsecret\0");
    assert!(!a.is_authenticated());
    assert_eq!(a.respond(0, b"").unwrap(), None);
    assert!(a.is_authenticated());
}

#[test]
fn md5_password() {
    // Known answer from postgres-protocol's own test vector.
    let mut a = UpstreamAuth::new("md5_user", "password");
    let msg = a
        .respond_to_message(b"\0\0\0\x05\x2a\x3d\x8f\xe0")
        .unwrap()
        .unwrap();
    let (tag, body) = frame(&msg);
    assert_eq!(tag, b'p');
    assert_eq!(body, b"md562af4dd09bbb41884907a838a3233294\0");
    assert_eq!(a.respond(0, b"").unwrap(), None);
    assert!(a.is_authenticated());

    let mut a = UpstreamAuth::new("u", "p");
    assert!(matches!(
        a.respond(5, b"abc"),
        Err(AuthError::UpstreamProtocol(_))
    ));
}

#[test]
fn trust_needs_nothing() {
    let mut a = UpstreamAuth::new("u", "p");
    assert_eq!(a.respond(0, b"").unwrap(), None);
    assert!(a.is_authenticated());
    // A second AuthenticationOk is a protocol error.
    assert!(a.respond(0, b"").is_err());
}

/// Drives a SCRAM exchange against our server; `tamper` may corrupt the server-final message.
fn scram_exchange(
    client_pw: &str,
    server_pw: &str,
    tamper: impl Fn(Vec<u8>) -> Vec<u8>,
) -> Result<UpstreamAuth, AuthError> {
    let verifier = ScramVerifier::parse(&hash_password(server_pw)).unwrap();
    let mut server = ScramServer::new("app", Some(verifier));
    let mut a = UpstreamAuth::new("app", client_pw);
    let init = a
        .respond(10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0")?
        .unwrap();
    let (tag, body) = frame(&init);
    assert_eq!(tag, b'p');
    let client_first = parse_sasl_initial_response(body).unwrap();
    assert!(client_first.starts_with(b"n,,n=,r="));
    let server_first = server.client_first(client_first).unwrap();
    let resp = a.respond(11, &server_first)?.unwrap();
    let (tag, client_final) = frame(&resp);
    assert_eq!(tag, b'p');
    let server_final = server.client_final(client_final)?;
    assert_eq!(a.respond(12, &tamper(server_final))?, None);
    assert!(!a.is_authenticated());
    assert_eq!(a.respond(0, b"")?, None);
    Ok(a)
}

#[test]
fn scram_success() {
    let a = scram_exchange("pw", "pw", |m| m).unwrap();
    assert!(a.is_authenticated());
}

#[test]
fn scram_wrong_password_is_refused_by_server() {
    let r = scram_exchange("pw", "other", |m| m);
    assert!(matches!(r, Err(AuthError::PasswordMismatch)));
}

#[test]
fn scram_verifies_server_signature() {
    let flip = |mut m: Vec<u8>| {
        // Change one base64 character of the signature.
        m[3] = if m[3] == b'A' { b'B' } else { b'A' };
        m
    };
    let r = scram_exchange("pw", "pw", flip);
    assert!(
        matches!(r, Err(AuthError::UpstreamVerification(_))),
        "{r:?}"
    );
    let r = scram_exchange("pw", "pw", |_| b"e=invalid-proof".to_vec());
    assert!(matches!(r, Err(AuthError::UpstreamVerification(_))));
}

#[test]
fn scram_ok_without_final_is_refused() {
    let mut a = UpstreamAuth::new("app", "pw");
    a.respond(10, b"SCRAM-SHA-256\0\0").unwrap();
    let r = a.respond(0, b"");
    assert!(matches!(r, Err(AuthError::UpstreamProtocol(_))));
    assert!(!a.is_authenticated());
    // After an error the exchange is over.
    assert!(a.respond(0, b"").is_err());
}

#[test]
fn scram_rejects_bad_server_first() {
    let mut a = UpstreamAuth::new("app", "pw");
    a.respond(10, b"SCRAM-SHA-256\0\0").unwrap();
    // Nonce that does not extend ours.
    let r = a.respond(11, b"r=zzz,s=c2FsdA==,i=4096");
    assert!(matches!(r, Err(AuthError::UpstreamProtocol(_))));
}

#[test]
fn sasl_mechanism_lists() {
    for bad in [
        &b""[..],
        b"SCRAM-SHA-256",
        b"SCRAM-SHA-256\0",
        b"SCRAM-SHA-256\0\0x",
    ] {
        let r = UpstreamAuth::new("u", "p").respond(10, bad);
        assert!(matches!(r, Err(AuthError::UpstreamProtocol(_))), "{bad:?}");
    }
    let r = UpstreamAuth::new("u", "p").respond(10, b"SCRAM-SHA-256-PLUS\0\0");
    assert!(matches!(r, Err(AuthError::NoCommonMechanism(m)) if m == "SCRAM-SHA-256-PLUS"));
}

#[test]
fn unsupported_methods_and_sequence() {
    for code in [2, 6, 7, 8, 9, 42] {
        let r = UpstreamAuth::new("u", "p").respond(code, b"");
        assert!(
            matches!(r, Err(AuthError::UnsupportedUpstreamMethod(_))),
            "{code}: {r:?}"
        );
    }
    let msg = UpstreamAuth::new("u", "p")
        .respond(7, b"")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("GSSAPI"), "{msg}");
    // Continue/final without a started exchange.
    assert!(UpstreamAuth::new("u", "p").respond(11, b"r=x").is_err());
    assert!(UpstreamAuth::new("u", "p").respond(12, b"v=x").is_err());
    assert!(UpstreamAuth::new("u", "p")
        .respond_to_message(b"\0\0")
        .is_err());
}

#[test]
fn password_with_nul_is_refused() {
    let r = UpstreamAuth::new("u", "a\0b").respond(3, b"");
    assert!(matches!(r, Err(AuthError::InvalidPassword(_))));
    let dbg = format!("{:?}", UpstreamAuth::new("u", "hunter2"));
    assert!(!dbg.contains("hunter2"));
}
