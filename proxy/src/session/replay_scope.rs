//! What a kept statement's parse analysis depends on besides its text: the search_path and
//! the settings PostgreSQL reads literals and bytes with. It is part of the statement's
//! identity on the servers, so clients that differ get statements of their own. A statement
//! prepared again on a server that lacks it is parsed there under the client's settings of
//! now; when those differ from the ones of its Parse, it is filed under the new ones, so no
//! other client takes it for the statement it parsed under the old.

use std::sync::Arc;

use pgward_policy::Decision;

use super::replay::Replay;
use super::*;
use crate::server_state::StatementKey;

/// Settings that change how PostgreSQL reads a statement's literals or bytes.
const PARSE_SETTINGS: &[&str] = &[
    "client_encoding",
    "datestyle",
    "timezone",
    "intervalstyle",
    "lc_monetary",
    "default_text_search_config",
    "transform_null_equals",
    "timezone_abbreviations",
    // Read by array_in, xml_in and the scanner when a literal is folded at Parse.
    "array_nulls",
    "xmloption",
    "standard_conforming_strings",
    "backslash_quote",
];

/// A statement's scope: the text its key was made from, and whether it is the session's
/// own (FETCH and EXECUTE: never shared).
#[derive(Clone, Debug)]
pub struct Scope {
    text: Arc<str>,
    session_scoped: bool,
}

impl AsRef<str> for Scope {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// FETCH and EXECUTE name a cursor or prepared statement of the session's own; PostgreSQL
/// describes them by what that name held when they were parsed.
pub fn names_session_objects(decision: &Decision) -> bool {
    use pgward_policy::StatementKind as K;
    decision
        .statements
        .iter()
        .any(|s| matches!(s.kind, K::Fetch | K::Execute))
}

impl Session {
    /// The scope a statement parsed now has.
    pub(super) fn scope_now(&self, session_scoped: bool) -> Scope {
        let mut text = self.search_path.join(",");
        for name in PARSE_SETTINGS {
            if let Some((_, v)) = self.desired.iter().find(|(k, _)| k == name) {
                text.push('\0');
                text.push_str(name);
                text.push('=');
                text.push_str(v);
            }
        }
        // Settings this unit changed are known only once it is over (read back from the
        // server): until then what is parsed is the session's own. So is what a unit parses
        // after changing the catalog or making state of its own (a temporary table that
        // shadows another client's relation, DDL that changes a result's shape), and what a
        // client pinned to its server (temporary objects among the reasons) parses.
        let unit_own = self.unit.settings
            || self.unit.user_code
            || self.unit.catalog
            || self.unit.may_pin
            || self.unit.check_after;
        if session_scoped || unit_own || self.pinned.is_some() {
            text.push_str(&format!("\0session={}", self.id));
        }
        Scope {
            text: Arc::from(text),
            session_scoped,
        }
    }

    /// The bytes [`Session::scope_now`] would take (what a kept statement's scope holds).
    pub(super) fn scope_len_now(&self) -> usize {
        let path: usize = self.search_path.iter().map(|p| p.len() + 1).sum();
        let settings: usize = (self.desired.iter())
            .filter(|(k, _)| PARSE_SETTINGS.contains(&k.as_str()))
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum();
        path + settings + 32
    }

    /// The client's statement `name` (its `replay`), about to be prepared again: filed under
    /// the scope of now when that differs from its Parse's.
    pub(super) fn rescoped(&mut self, name: &str, replay: Arc<Replay>) -> Arc<Replay> {
        let scope = self.scope_now(replay.scope.session_scoped);
        if scope.text == replay.scope.text || replay.key.is_none() {
            return replay;
        }
        let again = Arc::new(Replay {
            key: Some(StatementKey::of(&replay.rest, scope.as_ref())),
            rest: replay.rest.clone(),
            seq: replay.seq,
            shape: replay.shape.carried(),
            scope,
        });
        // Its new scope is held besides the old one's: counted (a Bind cannot be refused for
        // it here, so the next Parse past the budget is).
        self.prepared.kept_more(again.scope.as_ref().len());
        self.prepared.set_replay(name, again.clone());
        again
    }
}
