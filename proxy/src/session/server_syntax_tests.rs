//! Unit tests of `server_syntax.rs`: the queue carries a guarded syntax error, and the
//! server's error is forwarded or replaced by its position.

use super::*;
use crate::protocol::BackendTag;
use crate::session::answer;
use crate::session::prepared::{Change, Prepared};
use crate::session::replies::ReplyQueue;

/// An ErrorResponse body as PostgreSQL writes it, with a position when given.
fn server_error(message: &str, position: Option<u32>) -> Vec<u8> {
    let mut err = PgError::error("42601", message).with_position(position);
    err = err.with_hint("Use NONE to denote the missing argument of a unary operator.");
    let mut out = BytesMut::new();
    backend::error_response(&err, &mut out);
    // Tag and length off: the body only.
    out[5..].to_vec()
}

fn own() -> PgError {
    PgError::error("42601", "syntax error at or near \"pgward\"").with_position(Some(3))
}

#[test]
fn an_error_inside_the_clients_text_is_the_servers() {
    // "drop operator === (int4);" is 25 characters; PostgreSQL points at the ')' (24).
    let body = server_error("syntax error at or near \")\"", Some(24));
    assert_eq!(reply(&body, &own(), 25), SyntaxReply::Forward);
    // The first and the last character of the text still belong to the client.
    assert_eq!(
        reply(&server_error("x", Some(1)), &own(), 25),
        SyntaxReply::Forward
    );
    assert_eq!(
        reply(&server_error("x", Some(25)), &own(), 25),
        SyntaxReply::Forward
    );
}

#[test]
fn an_error_in_the_guard_is_replaced_by_pgwards_own() {
    // The server's grammar read the whole text and stumbled on the guard.
    for p in [26, 27, 29, 30] {
        let body = server_error("syntax error at or near \")\"", Some(p));
        assert_eq!(
            reply(&body, &own(), 25),
            SyntaxReply::Own(own()),
            "position {p}"
        );
    }
}

#[test]
fn an_error_with_a_position_outside_the_text_is_replaced() {
    let body = server_error("x", Some(0));
    assert_eq!(reply(&body, &own(), 25), SyntaxReply::Own(own()));
}

#[test]
fn a_grammar_actions_error_without_position_is_the_servers() {
    let body = server_error(
        "WITH TIES cannot be specified without ORDER BY clause",
        None,
    );
    assert_eq!(reply(&body, &own(), 25), SyntaxReply::Forward);
}

#[test]
fn an_unterminated_token_quotes_the_clients_text_only() {
    // `SELECT 'abc` (11 characters): the server quotes the rest of the input, guard included.
    let guard = String::from_utf8_lossy(GUARD);
    let message = format!("unterminated quoted string at or near \"'abc{guard}\"");
    let body = server_error(&message, Some(8));
    let SyntaxReply::Trimmed(trimmed) = reply(&body, &own(), 11) else {
        panic!("the guard is not cut from the message");
    };
    assert_eq!(
        decode::error_field(&trimmed, b'M').as_deref(),
        Some("unterminated quoted string at or near \"'abc\"")
    );
    // Every other field stays as the server wrote it.
    for field in [b'C', b'P', b'H', b'S'] {
        assert_eq!(
            decode::error_field(&trimmed, field),
            decode::error_field(&body, field)
        );
    }
    assert_eq!(trimmed.last(), Some(&0));
}

#[test]
fn the_queue_hands_a_querys_error_to_the_position_check() {
    let mut q = ReplyQueue::default();
    let mut prepared = Prepared::default();
    q.push(
        Sent::Query,
        Handling::ServerSyntax {
            own: Box::new(own()),
            text_chars: 7,
        },
    );
    let a = answer::advance(&mut q, &mut prepared, BackendTag::ErrorResponse);
    assert_eq!(a.syntax, Some((Box::new(own()), 7)));
    assert!(a.replace.is_none());
    // The ReadyForQuery still ends the Query, for the client.
    let a = answer::advance(&mut q, &mut prepared, BackendTag::ReadyForQuery);
    assert!(a.ready.is_some());
    assert!(!q.owes());
}

#[test]
fn the_queue_hands_a_parses_error_to_the_position_check_and_skips_to_sync() {
    let mut q = ReplyQueue::default();
    let mut prepared = Prepared::default();
    q.push(
        Sent::Parse(Change::None),
        Handling::ServerSyntax {
            own: Box::new(own()),
            text_chars: 12,
        },
    );
    q.push(Sent::Sync, Handling::Forward);
    let a = answer::advance(&mut q, &mut prepared, BackendTag::ErrorResponse);
    assert_eq!(a.syntax, Some((Box::new(own()), 12)));
    let a = answer::advance(&mut q, &mut prepared, BackendTag::ReadyForQuery);
    assert_eq!(a.ready, Some(Handling::Forward));
    assert!(!q.owes());
}

#[test]
fn a_plain_forwarded_error_carries_no_position_check() {
    let mut q = ReplyQueue::default();
    let mut prepared = Prepared::default();
    q.push(Sent::Query, Handling::Forward);
    let a = answer::advance(&mut q, &mut prepared, BackendTag::ErrorResponse);
    assert!(a.syntax.is_none());
}
