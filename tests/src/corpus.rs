//! The shared statement corpora (`policy/tests/data/corpus/*.toml`).

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    pub sql: String,
    #[serde(default)]
    pub expect: Option<String>,
    #[serde(default)]
    pub masked: Option<Vec<usize>>,
}

impl Case {
    pub fn is_allow(&self) -> bool {
        self.expect.as_deref() == Some("allow")
    }
    pub fn is_deny(&self) -> bool {
        self.expect.as_deref() == Some("deny")
    }
    /// Whether the text holds more than one statement (a rough check, good enough for the
    /// corpus: a `;` followed by more SQL).
    pub fn is_multi_statement(&self) -> bool {
        let t = self.sql.trim().trim_end_matches(';');
        t.contains(';')
    }
    /// `COPY ... TO STDOUT` (needs the COPY sub-protocol on the client side).
    pub fn is_copy_out(&self) -> bool {
        let u = self.sql.to_ascii_uppercase();
        u.trim_start().starts_with("COPY") && u.contains("TO STDOUT")
    }
}

#[derive(Deserialize)]
struct File {
    case: Vec<Case>,
}

/// Load `policy/tests/data/corpus/NAME` (e.g. `readonly.toml`).
pub fn load(name: &str) -> Vec<Case> {
    let path = crate::corpus_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let f: File =
        toml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    assert!(!f.case.is_empty(), "{} has no cases", path.display());
    f.case
}
