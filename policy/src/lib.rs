//! pgward-policy: pure, sans-IO SQL analysis and guardrail decisions.
//!
//! Given SQL text and the facts of a session (its role's rules, its search_path, whether a
//! transaction is open) [`Engine::decide`] returns a [`Decision`]: allowed (with what the
//! statements do) or denied (with the rule, a message, a detail and a hint). No tokio, no
//! sockets, no clock, no environment: everything comes in as arguments, so the most
//! security-critical code is the easiest to test, fuzz and benchmark.

mod types;

pub use types::*;

use std::sync::Arc;

/// The policy engine: immutable config plus a decision cache keyed by normalized text.
pub struct Engine {
    config: PolicyConfig,
}

impl Engine {
    pub fn new(config: PolicyConfig) -> Self {
        Engine { config }
    }

    /// Judge `sql` (one or more statements) for the session.
    pub fn decide(&self, sql: &str, facts: &SessionFacts<'_>) -> Arc<Decision> {
        let _ = (&self.config, sql, facts);
        todo!("policy helper implements this")
    }

    /// Judge one startup parameter (name as sent, value as sent).
    pub fn check_startup_parameter(
        &self,
        name: &str,
        value: &str,
        role: &RoleRules,
    ) -> StartupParamVerdict {
        let _ = (name, value, role);
        todo!("policy helper implements this")
    }
}
