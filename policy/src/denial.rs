//! Why a statement was refused ([`Denial`], part of the contract re-exported by `types`), and
//! building denials with one shape: plain-words message, `rule: <name>` detail, a hint. A
//! leaf module: every part of the crate may refuse, so this one imports none of them.

/// Why a statement was refused; the proxy sends it as SQLSTATE [`Denial::sqlstate`] (42501
/// for a guardrail: `pgward: <message>`, DETAIL `rule: <rule>...`, HINT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// Stable rule name, e.g. `read_only.write`, `require_where`, `unanalyzable`.
    pub rule: &'static str,
    /// Plain words, without the `pgward: ` prefix (for a syntax error: PostgreSQL's own
    /// message, sent without the prefix).
    pub message: String,
    pub detail: String,
    pub hint: String,
    /// The SQLSTATE to answer with: 42501 for a guardrail, 42601 for PostgreSQL's syntax
    /// error, 54001 for a statement too large or too deep.
    pub sqlstate: &'static str,
    /// PostgreSQL's cursor position (1-based, in characters) for a syntax error.
    pub position: Option<u32>,
    /// False when the refusal is not a guardrail's (a syntax error): the proxy answers it but
    /// does not audit it as a denial.
    pub audited: bool,
}

/// SQLSTATE of a guardrail refusal (insufficient_privilege).
pub const SQLSTATE_DENIED: &str = "42501";
/// SQLSTATE of a syntax error.
pub const SQLSTATE_SYNTAX_ERROR: &str = "42601";
/// SQLSTATE of a statement too large or too deeply nested (statement_too_complex).
pub const SQLSTATE_TOO_COMPLEX: &str = "54001";

impl Denial {
    /// A syntax error as PostgreSQL reports it (not a guardrail; not audited as a denial).
    pub fn is_syntax_error(&self) -> bool {
        self.sqlstate == SQLSTATE_SYNTAX_ERROR
    }
}

/// A denial for `rule` with `message` (no `pgward: ` prefix) and `hint`.
pub fn deny(rule: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Denial {
    Denial {
        rule,
        message: message.into(),
        detail: format!("rule: {rule}"),
        hint: hint.into(),
        sqlstate: SQLSTATE_DENIED,
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
        sqlstate: SQLSTATE_DENIED,
        position: None,
        audited: true,
    }
}

pub const HINT_READ_WRITE: &str = "ask for a read-write role";
