//! `[masking]` as policy sees it: which columns are PII (patterns), how each is masked, the
//! HMAC key of the `hash` strategy, and which predicate uses of PII a masked role may make.

use thiserror::Error;

use super::hash_key::HashKey;

/// How a masked value is shown (the contract's "Masked values" table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strategy {
    /// `****`.
    Redact,
    /// e-mail `z****@example.com`; other text keeps its last 4 characters.
    Partial,
    /// `hash:` + 16 hex digits of HMAC-SHA-256 under the key.
    Hash,
    /// NULL.
    Null,
}

impl Strategy {
    /// From the config word (`redact` | `partial` | `hash` | `null`).
    pub fn parse(word: &str) -> Option<Strategy> {
        match word {
            "redact" => Some(Strategy::Redact),
            "partial" => Some(Strategy::Partial),
            "hash" => Some(Strategy::Hash),
            "null" => Some(Strategy::Null),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Redact => "redact",
            Strategy::Partial => "partial",
            Strategy::Hash => "hash",
            Strategy::Null => "null",
        }
    }

    /// The strategy for a value computed from several PII sources or transformed: `partial`
    /// of a transformed value could show a transformed slice of the original (`reverse(email)`
    /// would show the local part), and `hash` of one would turn equal outputs into a
    /// dictionary of fragments (`substr(ssn, k, 1)` for each k); so only `null` survives and
    /// anything else is redacted.
    pub fn combined(strategies: impl IntoIterator<Item = Strategy>) -> Strategy {
        if strategies.into_iter().any(|s| s == Strategy::Null) {
            Strategy::Null
        } else {
            Strategy::Redact
        }
    }
}

/// Uses of a PII column that steer a result and are refused unless allowed here
/// (`masking.allow`). Equality lookups (`=`, `IN`, `= ANY`, equality joins) are always allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InferenceAllowances {
    /// ORDER BY (also window ORDER BY and aggregate ORDER BY).
    pub order_by: bool,
    /// GROUP BY and window PARTITION BY.
    pub group_by: bool,
    /// DISTINCT, DISTINCT ON, UNION (without ALL).
    pub distinct: bool,
    /// LIKE/ILIKE/SIMILAR/regex, ranges, functions of PII compared, IS NULL, CASE conditions,
    /// FILTER, HAVING, non-equality joins, LIMIT/OFFSET, set-returning functions of PII.
    pub predicates: bool,
    /// COPY ... TO STDOUT of masked columns is masked row by row instead of refused.
    pub copy: bool,
}

impl InferenceAllowances {
    /// From the config words (`order_by`, `group_by`, `distinct`, `predicates`).
    pub fn parse(words: &[String]) -> Result<Self, MaskConfigError> {
        let mut a = InferenceAllowances::default();
        for w in words {
            match w.as_str() {
                "order_by" => a.order_by = true,
                "group_by" => a.group_by = true,
                "distinct" => a.distinct = true,
                "predicates" => a.predicates = true,
                "copy" => a.copy = true,
                _ => return Err(MaskConfigError::UnknownAllowance(w.clone())),
            }
        }
        Ok(a)
    }
}

/// `[masking]`, validated.
#[derive(Clone, Debug, Default)]
pub struct MaskConfig {
    /// `schema.table.column` patterns, `*` matches any run of characters within a part.
    pub columns: Vec<ColumnPattern>,
    /// `masking.strategy` (default `redact`).
    pub strategy: Option<Strategy>,
    /// `[masking.strategies]`: pattern → strategy; the first matching entry wins.
    pub strategies: Vec<(ColumnPattern, Strategy)>,
    /// The key of the `hash` strategy (from `masking.hash_key_env`).
    pub hash_key: HashKey,
    pub allow: InferenceAllowances,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MaskConfigError {
    #[error(
        "masking column pattern {0:?} must have three dot-separated parts: schema.table.column"
    )]
    BadPattern(String),
    #[error("unknown masking strategy {0:?} (redact | partial | hash | null)")]
    UnknownStrategy(String),
    #[error(
        "unknown masking.allow entry {0:?} (order_by | group_by | distinct | predicates | copy)"
    )]
    UnknownAllowance(String),
    #[error("masking strategy hash needs a key (masking.hash_key_env)")]
    MissingHashKey,
}

/// One `schema.table.column` pattern, each part matched separately.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnPattern {
    parts: [String; 3],
}

impl ColumnPattern {
    pub fn parse(text: &str) -> Result<Self, MaskConfigError> {
        let parts: Vec<&str> = text.split('.').collect();
        match parts.as_slice() {
            [s, t, c] if !s.is_empty() && !t.is_empty() && !c.is_empty() => Ok(ColumnPattern {
                parts: [s.to_string(), t.to_string(), c.to_string()],
            }),
            _ => Err(MaskConfigError::BadPattern(text.to_string())),
        }
    }

    pub fn matches(&self, schema: &str, table: &str, column: &str) -> bool {
        glob(&self.parts[0], schema) && glob(&self.parts[1], table) && glob(&self.parts[2], column)
    }

    /// Whether some column of `schema.table` could match (for relations the snapshot lacks).
    pub fn matches_relation(&self, schema: &str, table: &str) -> bool {
        glob(&self.parts[0], schema) && glob(&self.parts[1], table)
    }
}

impl MaskConfig {
    /// Builds from the config's words; `hash_key` may be empty unless some strategy is `hash`.
    pub fn new(
        columns: &[String],
        strategy: Option<&str>,
        strategies: &[(String, String)],
        hash_key: Vec<u8>,
        allow: &[String],
    ) -> Result<Self, MaskConfigError> {
        let parse_strategy = |w: &str| {
            Strategy::parse(w).ok_or_else(|| MaskConfigError::UnknownStrategy(w.to_string()))
        };
        let config = MaskConfig {
            columns: columns
                .iter()
                .map(|c| ColumnPattern::parse(c))
                .collect::<Result<_, _>>()?,
            strategy: strategy.map(parse_strategy).transpose()?,
            strategies: strategies
                .iter()
                .map(|(p, s)| Ok((ColumnPattern::parse(p)?, parse_strategy(s)?)))
                .collect::<Result<_, MaskConfigError>>()?,
            hash_key: HashKey::new(&hash_key),
            allow: InferenceAllowances::parse(allow)?,
        };
        let uses_hash = config.strategy == Some(Strategy::Hash)
            || config.strategies.iter().any(|(_, s)| *s == Strategy::Hash);
        if uses_hash && config.hash_key.is_empty() {
            return Err(MaskConfigError::MissingHashKey);
        }
        Ok(config)
    }

    /// The strategy of a column that is PII, or `None` when no pattern names it.
    pub fn strategy_for(&self, schema: &str, table: &str, column: &str) -> Option<Strategy> {
        if is_system_schema(schema)
            || !self
                .columns
                .iter()
                .any(|p| p.matches(schema, table, column))
        {
            return None;
        }
        let named = self
            .strategies
            .iter()
            .find(|(p, _)| p.matches(schema, table, column))
            .map(|(_, s)| *s);
        Some(named.or(self.strategy).unwrap_or(Strategy::Redact))
    }

    /// Whether a relation the snapshot does not know could hold a PII column.
    pub fn may_cover_relation(&self, schema: &str, table: &str) -> bool {
        !is_system_schema(schema)
            && self
                .columns
                .iter()
                .any(|p| p.matches_relation(schema, table))
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

/// PostgreSQL's own schemas hold no user data: patterns (`*.*.password*`) never reach them
/// (pg_statistic, which holds samples of user data, is refused by name instead).
pub fn is_system_schema(schema: &str) -> bool {
    matches!(schema, "pg_catalog" | "information_schema" | "pg_toast")
}

/// `*` matches any run of characters (also none); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("password*", "password_hash"));
        assert!(!glob("password*", "rolpassword"));
        assert!(glob("*pass*", "rolpassword"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("users", "users"));
        assert!(!glob("users", "users2"));
    }

    #[test]
    fn strategies_first_match_then_default() {
        let c = MaskConfig::new(
            &["public.users.*".into(), "*.*.password*".into()],
            Some("redact"),
            &[("public.users.email".into(), "partial".into())],
            vec![],
            &[],
        )
        .unwrap();
        assert_eq!(
            c.strategy_for("public", "users", "email"),
            Some(Strategy::Partial)
        );
        assert_eq!(
            c.strategy_for("public", "users", "ssn"),
            Some(Strategy::Redact)
        );
        assert_eq!(
            c.strategy_for("app", "accounts", "password_hash"),
            Some(Strategy::Redact)
        );
        assert_eq!(c.strategy_for("public", "documents", "name"), None);
        assert_eq!(
            c.strategy_for("pg_catalog", "pg_authid", "password_x"),
            None
        );
        assert!(!c.may_cover_relation("pg_catalog", "pg_class"));
        assert!(MaskConfig::new(&["users.email".into()], None, &[], vec![], &[]).is_err());
        assert_eq!(
            MaskConfig::new(&["a.b.c".into()], Some("hash"), &[], vec![], &[]).unwrap_err(),
            MaskConfigError::MissingHashKey
        );
    }

    #[test]
    fn combined_strategy_is_never_partial_or_hash() {
        use Strategy::*;
        assert_eq!(Strategy::combined([Partial]), Redact);
        assert_eq!(Strategy::combined([Hash, Hash]), Redact);
        assert_eq!(Strategy::combined([Hash, Partial]), Redact);
        assert_eq!(Strategy::combined([Redact, Null]), Null);
    }
}
