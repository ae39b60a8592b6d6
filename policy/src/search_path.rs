//! The schemas a session's search_path names, as PostgreSQL resolves them: `pg_catalog`
//! implied first unless listed; `$user` is the schema named like the current user when one
//! exists (skipped when none does); `pg_temp` is never searched for functions, types or
//! operators.

use std::borrow::Cow;

use crate::catalog::Catalog;

/// search_path's placeholder for the current user's schema.
pub const USER: &str = "$user";

/// `search_path` with `$user` resolved: the current user's schema when `catalog` has a schema
/// of that name, dropped when it has none. Kept as `$user` (unresolved: a schema pgward
/// cannot name, judged as one it knows nothing about) when the user or the catalog is unknown.
pub fn resolve_user<'a>(
    search_path: &'a [String],
    user: Option<&str>,
    catalog: Option<&Catalog>,
) -> Cow<'a, [String]> {
    if !search_path.iter().any(|s| s == USER) {
        return Cow::Borrowed(search_path);
    }
    let (Some(user), Some(catalog)) = (user, catalog) else {
        return Cow::Borrowed(search_path);
    };
    let exists = catalog.has_schema(user);
    Cow::Owned(
        search_path
            .iter()
            .filter_map(|s| match s.as_str() {
                USER if exists => Some(user.to_string()),
                USER => None,
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
    use crate::catalog::{CatalogParts, Schema};

    fn catalog(schemas: &[&str]) -> Catalog {
        Catalog::new(CatalogParts {
            schemas: schemas
                .iter()
                .map(|s| Schema {
                    oid: 0,
                    name: s.to_string(),
                })
                .collect(),
            ..Default::default()
        })
    }

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn user_is_the_schema_named_like_the_user_when_it_exists() {
        let p = path(&["$user", "public"]);
        let with = catalog(&["public", "app_ro"]);
        assert_eq!(
            resolve_user(&p, Some("app_ro"), Some(&with)).as_ref(),
            path(&["app_ro", "public"]).as_slice()
        );
        let without = catalog(&["public"]);
        assert_eq!(
            resolve_user(&p, Some("app_ro"), Some(&without)).as_ref(),
            path(&["public"]).as_slice()
        );
        // Case matters: a role "App" has schema "App", not "app".
        let upper = catalog(&["app"]);
        assert_eq!(
            resolve_user(&p, Some("App"), Some(&upper)).as_ref(),
            path(&["public"]).as_slice()
        );
    }

    #[test]
    fn an_unknown_user_or_catalog_leaves_user_unresolved() {
        let p = path(&["$user", "public"]);
        let c = catalog(&["public"]);
        assert!(has_unresolved_user(&resolve_user(&p, None, Some(&c))));
        assert!(has_unresolved_user(&resolve_user(&p, Some("x"), None)));
        assert!(!has_unresolved_user(&resolve_user(&p, Some("x"), Some(&c))));
    }
}
