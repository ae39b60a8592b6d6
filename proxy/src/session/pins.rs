//! The upstream session's pinned settings, watched: PostgreSQL reports each of them in
//! ParameterStatus whenever it changes, so a change is seen, not assumed away. A value that
//! contradicts a pin (a read-only role's server turned read-write, another identity, an encoding
//! whose bytes can hide a quote) ends the client's session and closes the server.
//! `standard_conforming_strings` is no pin: pgward sends no text whose reading depends on it
//! (`statement_text.rs`).

/// What a server connection must keep, for the pool it belongs to.
#[derive(Clone, Debug)]
pub struct Pins {
    /// The pool connects with `default_transaction_read_only=on`.
    pub read_only: bool,
    /// The upstream login's user name (`session_authorization`).
    pub login_user: String,
    /// The role may change the session's identity (`allow_set_role`): SET SESSION
    /// AUTHORIZATION and a role without superuser are its rules' business, not a broken pin.
    pub identity_may_change: bool,
}

/// A reported setting that contradicts a pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinBroken {
    pub setting: &'static str,
    pub value: String,
    pub expected: String,
}

impl Pins {
    /// Judge one ParameterStatus. `previous` is the value the server reported before (for
    /// `is_superuser`, which only the login decides: any change means another identity).
    pub fn check(&self, name: &str, value: &str, previous: Option<&str>) -> Option<PinBroken> {
        let lower = name.to_ascii_lowercase();
        let broken = |setting: &'static str, expected: &str| {
            Some(PinBroken {
                setting,
                value: value.to_string(),
                expected: expected.to_string(),
            })
        };
        match lower.as_str() {
            "default_transaction_read_only" if self.read_only && !is_on(value) => {
                broken("default_transaction_read_only", "on")
            }
            // Encodings whose multi-byte characters may hold `'` or `\` bytes (SJIS, BIG5,
            // GBK, ...) would make the policy's reading of the text differ from the server's;
            // any other encoding reads the same (text that is not UTF-8 is refused anyway).
            "client_encoding" if pgward_policy::is_unsafe_encoding(value) => broken(
                "client_encoding",
                "an encoding without quote or backslash bytes",
            ),
            "session_authorization" if !self.identity_may_change && value != self.login_user => {
                broken("session_authorization", &self.login_user)
            }
            "is_superuser" if !self.identity_may_change => match previous {
                Some(prev) if prev != value => broken("is_superuser", prev),
                _ => None,
            },
            _ => None,
        }
    }
}

fn is_on(v: &str) -> bool {
    v.eq_ignore_ascii_case("on")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins(read_only: bool) -> Pins {
        Pins {
            read_only,
            login_user: "app_ro".into(),
            identity_may_change: false,
        }
    }

    #[test]
    fn each_pin_is_watched() {
        let ro = pins(true);
        assert!(ro
            .check("default_transaction_read_only", "on", None)
            .is_none());
        assert_eq!(
            ro.check("default_transaction_read_only", "off", None)
                .map(|b| b.setting),
            Some("default_transaction_read_only")
        );
        // A read-write role's server has no read-only pin.
        assert!(pins(false)
            .check("default_transaction_read_only", "off", None)
            .is_none());
        assert!(ro
            .check("standard_conforming_strings", "off", None)
            .is_none());
        assert!(ro.check("client_encoding", "SJIS", None).is_some());
        assert!(ro.check("client_encoding", "BIG5", None).is_some());
        assert!(ro.check("client_encoding", "LATIN1", None).is_none());
        assert!(ro.check("client_encoding", "UTF8", None).is_none());
        assert!(ro.check("client_encoding", "utf-8", None).is_none());
        assert!(ro
            .check("session_authorization", "postgres", None)
            .is_some());
        assert!(ro.check("session_authorization", "app_ro", None).is_none());
        assert!(ro.check("is_superuser", "on", Some("off")).is_some());
        assert!(ro.check("is_superuser", "off", Some("off")).is_none());
        assert!(ro.check("TimeZone", "UTC", None).is_none());
        // A role allowed SET ROLE / SESSION AUTHORIZATION changes its identity by its rules;
        // the encoding pin stays.
        let may = Pins {
            identity_may_change: true,
            ..pins(false)
        };
        assert!(may
            .check("session_authorization", "postgres", None)
            .is_none());
        assert!(may.check("is_superuser", "off", Some("on")).is_none());
        assert!(may.check("client_encoding", "SJIS", None).is_some());
        // Names are matched as PostgreSQL reports them, in any case.
        assert!(ro.check("Client_Encoding", "SJIS", None).is_some());
    }
}
