//! Building [`Denial`]s with one shape: plain-words message, `rule: <name>` detail, a hint.

use crate::types::Denial;

/// A denial for `rule` with `message` (no `pgward: ` prefix) and `hint`.
pub fn deny(rule: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Denial {
    Denial {
        rule,
        message: message.into(),
        detail: format!("rule: {rule}"),
        hint: hint.into(),
        sqlstate: crate::types::SQLSTATE_DENIED,
        position: None,
        audited: true,
    }
}

/// Like [`deny`] with extra words after the rule name in `detail`.
pub fn deny_with_detail(
    rule: &'static str,
    message: impl Into<String>,
    extra: impl AsRef<str>,
    hint: impl Into<String>,
) -> Denial {
    Denial {
        rule,
        message: message.into(),
        detail: format!("rule: {rule}; {}", extra.as_ref()),
        hint: hint.into(),
        sqlstate: crate::types::SQLSTATE_DENIED,
        position: None,
        audited: true,
    }
}

pub const HINT_READ_WRITE: &str = "ask for a read-write role";
