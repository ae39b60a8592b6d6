//! What the statements of one unit (everything sent since the server was last idle) may
//! have left on the server, gathered from their decisions' facts and settled with the
//! server once it is idle (`session_state.rs`).

use pgward_policy::SessionState;

#[derive(Clone, Debug, Default)]
pub(super) struct UnitEffects {
    /// State that cannot move to another server (checked with the server when idle).
    pub may_pin: bool,
    /// Session-level settings changed (read back from the server when idle).
    pub settings: bool,
    /// The catalog may have changed (the snapshot is reloaded once the unit is over).
    pub catalog: bool,
    /// A setting whose name only the server knows changed (`set_config($1, ...)`): it
    /// cannot be read back, so the server is reset before another client has it.
    pub opaque_settings: bool,
    /// A statement that may set sequence state (`nextval`) ran.
    pub sets_sequences: bool,
    /// Code ran whose effects on the session no statement text shows (user functions,
    /// views calling set_config, DO, EXECUTE, setseed): settings are read back, the pin
    /// check runs, and the server is reset (and reseeded) before another client has it.
    pub user_code: bool,
    /// An object may have landed in the temporary schema unseen: the pin check runs.
    pub check_after: bool,
    /// Settings returned to their default this unit (`*`: all), and settings set to a value
    /// by name: a reported default the server shows for the first and not the second is
    /// its connection's, shown to the client as the client's own (`client_view.rs`).
    pub resets: Vec<String>,
    pub sets: Vec<String>,
    /// Prepared-statement names checked on a server this unit (`own_statements.rs`).
    pub claimed: Vec<Claimed>,
}

impl UnitEffects {
    /// One allowed statement's facts, as it starts to run.
    pub fn note(&mut self, state: &SessionState) {
        self.sets_sequences |= state.may_set_sequences;
        self.may_pin |= state.may_pin;
        self.settings |= state.settings;
        self.opaque_settings |= state.opaque_settings;
        self.user_code |= state.user_code;
        self.check_after |= state.check_after;
        for (names, into) in [
            (&state.resets, &mut self.resets),
            (&state.sets, &mut self.sets),
        ] {
            for name in names {
                if !into.contains(name) {
                    into.push(name.clone());
                }
            }
        }
    }

    /// Whether a reported value of `name` the server sends is its connection's default
    /// because this unit reset it, with nothing else that may have set it.
    pub fn shows_connection_default(&self, name: &str) -> bool {
        let reset = self.resets.iter().any(|r| r == "*" || r == name);
        reset && !self.sets.iter().any(|s| s == name) && !self.user_code && !self.opaque_settings
    }

    /// Whether the server must be asked what state remains once the unit is done.
    pub fn needs_pin_check(&self) -> bool {
        self.may_pin || self.opaque_settings || self.user_code || self.check_after
    }

    /// Whether the server carries state that cannot be listed (custom settings, the random
    /// seed): reset before another client has it.
    pub fn leaves_unlisted_state(&self) -> bool {
        self.opaque_settings || self.user_code
    }
}

/// A name found right on a server: which server (backend pid), and which of the client's
/// statements it held (`None`: none of its protocol statements).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Claimed {
    pub backend: i32,
    pub name: Box<str>,
    pub key: Option<crate::server_state::StatementKey>,
}
