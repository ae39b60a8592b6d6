//! Tests for the SCRAM server: against postgres-protocol's client, PostgreSQL's own verifiers,
//! and hostile input.

use super::*;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

/// Copied from a real PostgreSQL 15 (`SELECT rolpassword FROM pg_authid`) after
/// `CREATE ROLE alice LOGIN PASSWORD 'correct horse'`.
const PG15_ALICE: &str = "SCRAM-SHA-256$4096:tapcNiU6jMi6/yjUO0OdGA==$YWwZJ/kXOjpz0w1ObSxBjgbQqxR63CD6kXhJ2krfYA0=:EXzQShIEFQS0V5jSftduRG6uKmpdA7sxiYe0Q0qDnRM=";
/// PostgreSQL 15, password E'I\u2168\u00ADX': SASLprep maps it to "IIXX".
const PG15_BOB: &str = "SCRAM-SHA-256$4096:9Ietw/lTwjtefmnHxBZXRw==$KYkqHx4FsJJFw1hcdbb6ypEVUJYWp8uOliUFqW6jaT8=:lf3Je2s1jd0i5dlx2u6cxF4nNLtQFpD9Lz5+yMSMDqs=";

/// Runs a full exchange with postgres-protocol's client; Ok when both sides accept.
fn exchange(
    verifier: Option<ScramVerifier>,
    password: &str,
    cb: ChannelBinding,
) -> Result<(), AuthError> {
    let mut server = ScramServer::new("alice", verifier);
    let mut client = ScramSha256::new(password.as_bytes(), cb);
    let server_first = server.client_first(client.message())?;
    client.update(&server_first).unwrap();
    let server_final = server.client_final(client.message())?;
    // The client checks the server signature: mutual authentication.
    client.finish(&server_final).unwrap();
    Ok(())
}

#[test]
fn verifier_round_trips_pg_format() {
    for s in [PG15_ALICE, PG15_BOB] {
        let v = ScramVerifier::parse(s).unwrap();
        assert_eq!(v.to_string(), s);
        assert_eq!(v.iterations(), 4096);
        assert!(
            !format!("{v:?}").contains("YWwZ"),
            "keys must not be in Debug"
        );
    }
}

#[test]
fn rejects_malformed_verifiers() {
    let good = PG15_ALICE;
    for bad in [
        "",
        "md5abcdef",
        "SCRAM-SHA-256$4096:tapcNiU6jMi6/yjUO0OdGA==",
        &good.replace("$4096:", "$0:"),
        &good.replace("$4096:", "$x:"),
        &good.replace("$4096:", "$-1:"),
        &good.replace("tapcNiU6jMi6/yjUO0OdGA==", ""),
        &good.replace("tapcNiU6jMi6/yjUO0OdGA==", "!!"),
        &good.replace("YWwZJ/kXOjpz0w1ObSxBjgbQqxR63CD6kXhJ2krfYA0=", "YWwZ"),
        &good.replace(":EXzQ", "EXzQ"),
    ] {
        assert!(
            matches!(
                ScramVerifier::parse(bad),
                Err(AuthError::InvalidVerifier(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn accepts_postgres_15_verifiers() {
    let alice = ScramVerifier::parse(PG15_ALICE).unwrap();
    exchange(
        Some(alice.clone()),
        "correct horse",
        ChannelBinding::unsupported(),
    )
    .unwrap();
    // y,, (client could bind but we did not offer it) is fine too.
    exchange(
        Some(alice.clone()),
        "correct horse",
        ChannelBinding::unrequested(),
    )
    .unwrap();
    let wrong = exchange(Some(alice), "correct horsE", ChannelBinding::unsupported());
    assert!(matches!(wrong, Err(AuthError::PasswordMismatch)));
    // SASLprep: both spellings normalise to what PostgreSQL hashed.
    let bob = ScramVerifier::parse(PG15_BOB).unwrap();
    exchange(
        Some(bob.clone()),
        "I\u{2168}\u{AD}X",
        ChannelBinding::unsupported(),
    )
    .unwrap();
    exchange(Some(bob), "IIXX", ChannelBinding::unsupported()).unwrap();
}

#[test]
fn hash_password_round_trips() {
    let s = hash_password("s3cret \u{e9}");
    let v = ScramVerifier::parse(&s).unwrap();
    assert_eq!(v.to_string(), s);
    assert_eq!(v.iterations(), DEFAULT_ITERATIONS);
    exchange(
        Some(v.clone()),
        "s3cret \u{e9}",
        ChannelBinding::unsupported(),
    )
    .unwrap();
    assert!(exchange(Some(v), "s3cret", ChannelBinding::unsupported()).is_err());
    assert_ne!(
        hash_password("x"),
        hash_password("x"),
        "salt must be random"
    );
}

#[test]
fn unknown_user_fails_like_a_wrong_password() {
    // Same step, same error.
    let r = exchange(None, "whatever", ChannelBinding::unsupported());
    assert!(matches!(r, Err(AuthError::PasswordMismatch)));
    // The fake salt is stable per user and differs between users, like real ones.
    let first = |user: &str| {
        let mut s = ScramServer::new(user, None);
        let sf = s.client_first(b"n,,n=,r=abc").unwrap();
        let sf = String::from_utf8(sf).unwrap();
        sf.split(',').skip(1).collect::<Vec<_>>().join(",")
    };
    assert_eq!(first("mallory"), first("mallory"));
    assert_ne!(first("mallory"), first("trudy"));
    assert!(first("mallory").ends_with(",i=4096"));
}

#[test]
fn server_first_carries_client_nonce_and_salt() {
    let v = ScramVerifier::parse(PG15_ALICE).unwrap();
    let mut s = ScramServer::new("alice", Some(v));
    let sf = String::from_utf8(s.client_first(b"n,,n=alice,r=abc,x=ext").unwrap()).unwrap();
    let parts: Vec<&str> = sf.split(',').collect();
    assert!(parts[0].starts_with("r=abc") && parts[0].len() == 2 + 3 + 24);
    assert_eq!(parts[1], "s=tapcNiU6jMi6/yjUO0OdGA==");
    assert_eq!(parts[2], "i=4096");
}

#[test]
fn rejects_malformed_client_first() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "malformed"),
        (b"x,,n=,r=abc", "malformed"),
        (b"n,a=bob,n=,r=abc", "malformed"),
        (b"n,,m=x,n=,r=abc", "malformed"),
        (b"n,,n=,r=", "malformed"),
        (b"n,,r=abc", "malformed"),
        (b"n,,n=", "malformed"),
        (b"n,,n=,r=ab c", "malformed"),
        (b"n,,n=,r=abc,", "malformed"),
        (b"n,,n=,r=\xff", "malformed"),
        (b"p=tls-server-end-point,,n=,r=abc", "binding"),
    ];
    for (msg, kind) in cases {
        let mut s = ScramServer::new("alice", None);
        let err = s.client_first(msg).unwrap_err();
        match (kind, &err) {
            (&"malformed", AuthError::Malformed(_)) => {}
            (&"binding", AuthError::ChannelBindingNotSupported) => {}
            _ => panic!("{msg:?}: {err:?}"),
        }
        // A failed exchange cannot be continued.
        assert!(matches!(
            s.client_final(b"c=biws,r=abc,p=x"),
            Err(AuthError::OutOfSequence)
        ));
    }
    let long = vec![b'a'; MAX_MESSAGE_LEN + 1];
    assert!(ScramServer::new("a", None).client_first(&long).is_err());
}

#[test]
fn rejects_malformed_client_final() {
    let v = ScramVerifier::parse(PG15_ALICE).unwrap();
    let start = || {
        let mut s = ScramServer::new("alice", Some(v.clone()));
        let sf = String::from_utf8(s.client_first(b"n,,n=,r=abc").unwrap()).unwrap();
        let nonce = sf.split(',').next().unwrap()[2..].to_owned();
        (s, nonce)
    };
    let proof = STANDARD.encode([0u8; 32]);
    let cases = |n: &str| {
        vec![
            format!("c=biws,r={n}"),                                       // no proof
            format!("c=eSws,r={n},p={proof}"),                             // y,, but n,, was sent
            format!("c=biws,r={n}x,p={proof}"),                            // wrong nonce
            format!("c=biws,r=abc,p={proof}"),                             // only the client's part
            format!("r={n},c=biws,p={proof}"),                             // order
            format!("c=biws,r={n},p=AAAA"),                                // short proof
            format!("c=biws,r={n},p=!!!!"),                                // bad base64
            format!("c=biws,r={n},,p={proof}"),                            // empty attribute
            format!("c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r={n},p={proof}"), // p= binding
        ]
    };
    // Each server draws its own nonce, so build each case for the server it is sent to.
    for i in 0..cases("").len() {
        let (mut s, n) = start();
        let msg = &cases(&n)[i];
        let err = s.client_final(msg.as_bytes()).unwrap_err();
        assert!(matches!(err, AuthError::Malformed(_)), "{msg}: {err:?}");
    }
    // Well-formed but wrong proof is a password failure, not a protocol error.
    let (mut s, n) = start();
    let msg = format!("c=biws,r={n},p={proof}");
    assert!(matches!(
        s.client_final(msg.as_bytes()),
        Err(AuthError::PasswordMismatch)
    ));
    // Out of order: final before first, first twice.
    let mut s = ScramServer::new("alice", Some(v.clone()));
    assert!(matches!(
        s.client_final(b"c=biws"),
        Err(AuthError::OutOfSequence)
    ));
    let (mut s, _) = start();
    assert!(matches!(
        s.client_first(b"n,,n=,r=abc"),
        Err(AuthError::OutOfSequence)
    ));
}
