//! Literal-free text of a statement, by PostgreSQL's own lexer (libpg_query's scanner).
//!
//! Every constant token (strings of every flavour including dollar-quoted ones, numbers, bit
//! strings) becomes `$n`, and comments become a space: the result is what the audit log may
//! write and what the decision cache is keyed on. Two texts with the same result are read by
//! PostgreSQL as the same statements with possibly different constant values. Keywords such as
//! TRUE, FALSE and NULL are not constants for the lexer and stay in the text.

use std::fmt::Write;

use pg_query::protobuf::Token;
use sha2::{Digest, Sha256};

/// What a token becomes in the literal-free text.
enum Replacement {
    /// The n-th constant: `$n`.
    Constant(u32),
    /// A comment: one space.
    Space,
}

/// What audit writes for text PostgreSQL's lexer cannot read.
pub const UNPARSED: &str = "<unparsed statement>";

pub struct Normalized {
    /// The literal-free text (or [`UNPARSED`]).
    pub text: String,
    /// The cache key material (text plus the kinds of the replaced constants); `None` when
    /// the lexer failed (such text is never cached).
    pub key: Option<Vec<u8>>,
}

/// Normalizes `sql` with PostgreSQL's scanner.
pub fn normalize(sql: &str) -> Normalized {
    let tokens = match crate::raw_scan::scan(sql) {
        Ok(t) => t,
        Err(_) => {
            return Normalized {
                text: UNPARSED.to_string(),
                key: None,
            }
        }
    };
    let mut text = String::with_capacity(sql.len());
    let mut kinds = Vec::new();
    let mut pos = 0usize;
    let mut n = 0u32;
    for t in &tokens {
        let (Ok(start), Ok(end)) = (usize::try_from(t.start), usize::try_from(t.end)) else {
            return Normalized {
                text: UNPARSED.to_string(),
                key: None,
            };
        };
        let replacement = match Token::try_from(t.token) {
            Ok(
                Token::Sconst
                | Token::Usconst
                | Token::Iconst
                | Token::Fconst
                | Token::Bconst
                | Token::Xconst,
            ) => {
                n += 1;
                kinds.push(t.token as u8);
                Some(Replacement::Constant(n))
            }
            Ok(Token::SqlComment | Token::CComment) => Some(Replacement::Space),
            _ => None,
        };
        if let Some(r) = replacement {
            let (Some(before), true) = (sql.get(pos..start), end >= start) else {
                return Normalized {
                    text: UNPARSED.to_string(),
                    key: None,
                };
            };
            text.push_str(before);
            match r {
                Replacement::Constant(n) => {
                    text.push('$');
                    // Writing into a String cannot fail.
                    let _ = write!(text, "{n}");
                }
                Replacement::Space => text.push(' '),
            }
            pos = end;
        }
    }
    match sql.get(pos..) {
        Some(rest) => text.push_str(rest),
        None => {
            return Normalized {
                text: UNPARSED.to_string(),
                key: None,
            }
        }
    }
    let mut key = Vec::with_capacity(text.len() + kinds.len() + 1);
    key.extend_from_slice(text.as_bytes());
    key.push(0);
    key.extend_from_slice(&kinds);
    Normalized {
        text,
        key: Some(key),
    }
}

/// A stable 64-bit hash of the normalized text.
pub fn fingerprint(normalized: &str) -> u64 {
    let digest = Sha256::digest(normalized.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_constants_and_comments() {
        let n = normalize(
            "SELECT 'secret', 42, E'x\\'y', $$dollar$$ -- note\n/* c */ FROM t WHERE a = $1",
        );
        assert_eq!(n.text, "SELECT $1, $2, $3, $4  \n  FROM t WHERE a = $1");
        assert!(!n.text.contains("secret"));
        assert_eq!(normalize("SELECT 'unterminated").text, UNPARSED);
    }
}
