//! The schemas a session's search_path names, as PostgreSQL resolves them: `pg_catalog`
//! implied first unless listed; `$user` is the schema named like the current user when one
//! exists (skipped when none does); `pg_temp` is never searched for functions, types or
//! operators.

use std::borrow::Cow;

/// search_path's placeholder for the current user's schema.
pub const USER: &str = "$user";

/// What pgward knows of the current user's schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserSchema<'a> {
    /// A schema of the user's name exists (the name).
    Exists(&'a str),
    /// No schema has the user's name: PostgreSQL skips `$user`.
    Missing,
    /// The user or the catalog is unknown.
    Unknown,
}

/// `search_path` with `$user` resolved: the current user's schema when it exists, dropped
/// when it does not. Kept as `$user` (unresolved: a schema pgward cannot name, judged as one
/// it knows nothing about) when unknown.
pub fn resolve_user<'a>(search_path: &'a [String], user: UserSchema<'_>) -> Cow<'a, [String]> {
    if user == UserSchema::Unknown || !search_path.iter().any(|s| s == USER) {
        return Cow::Borrowed(search_path);
    }
    Cow::Owned(
        search_path
            .iter()
            .filter_map(|s| match (s.as_str(), user) {
                (USER, UserSchema::Exists(name)) => Some(name.to_string()),
                (USER, _) => None,
                _ => Some(s.clone()),
            })
            .collect(),
    )
}

/// The path still holds a `$user` pgward could not resolve.
pub fn has_unresolved_user(search_path: &[String]) -> bool {
    search_path.iter().any(|s| s == USER)
}

/// The schemas PostgreSQL searches for an unqualified function, type or operator name:
/// `pg_catalog` first unless the path names it, then the path; `$user` (unresolved) and
/// `pg_temp` are skipped (functions and operators are never looked up in `pg_temp`
/// implicitly).
pub fn effective_search_path(search_path: &[String]) -> impl Iterator<Item = &str> {
    let implicit_catalog = !search_path.iter().any(|s| s == "pg_catalog");
    implicit_catalog.then_some("pg_catalog").into_iter().chain(
        search_path
            .iter()
            .map(String::as_str)
            .filter(|s| *s != USER && *s != "pg_temp"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn user_is_the_schema_named_like_the_user_when_it_exists() {
        let p = path(&["$user", "public"]);
        assert_eq!(
            resolve_user(&p, UserSchema::Exists("app_ro")).as_ref(),
            path(&["app_ro", "public"]).as_slice()
        );
        assert_eq!(
            resolve_user(&p, UserSchema::Missing).as_ref(),
            path(&["public"]).as_slice()
        );
        assert!(has_unresolved_user(&resolve_user(&p, UserSchema::Unknown)));
        assert!(!has_unresolved_user(&resolve_user(&p, UserSchema::Missing)));
    }
}
