//! What the code a statement runs beyond its own text may do: functions it calls, and those
//! it reaches through views, operators and domains (`reach.rs`, with the catalog snapshot).
//! Two facts come of it: whether that code may change the session unseen (transaction
//! pooling then asks the server and keeps the server from other clients until it is reset),
//! and whether it may change rows no CommandComplete counts (`max_affected_rows` refuses it).

use crate::catalog::{Catalog, Function};
use crate::functions::{FunctionPolicy, FunctionVerdict};
use crate::pg_facts::PgFacts;
use crate::reach::{self, Reached};
use crate::state_facts::may_be_user_code;
use crate::types::StatementInfo;

/// pg_catalog functions that change session state: reached through a view (where the
/// statement's own text does not show them) they make the statement user code.
const SESSION_STATE_BUILTINS: &[&str] = &[
    "set_config",
    "setseed",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
];

/// Record in `info` what the statement's code may do.
pub fn note(
    info: &mut StatementInfo,
    facts: &PgFacts,
    catalog: Option<&Catalog>,
    search_path: &[String],
    functions: &FunctionPolicy,
) {
    // A function `[functions] safe` lists is read-only by the administrator's word.
    let listed_safe =
        |n: &[String]| matches!(functions.judge(n, search_path), FunctionVerdict::Safe);
    let mut writes = facts.functions.iter().any(|n| {
        runs_a_portal(n)
            || may_be_user_code(n) && !listed_safe(n) && may_write(n, catalog, search_path)
    });
    for r in reach::reached(facts, catalog, search_path) {
        match r {
            Reached::Function(name, _) => {
                if may_be_user_code(&name) || changes_session(&name) {
                    info.state.user_code = true;
                    info.state.settings = true;
                }
                if runs_a_portal(&name)
                    || may_be_user_code(&name)
                        && !listed_safe(&name)
                        && may_write(&name, catalog, search_path)
                {
                    writes = true;
                }
            }
            Reached::Unresolved(_) => {
                info.state.user_code = true;
                info.state.settings = true;
                writes = true;
            }
        }
    }
    // A relation pgward cannot see (no snapshot yet, or one taken before it was created)
    // may be a view that calls anything or a table whose triggers do.
    let unseen_relation = facts.relations.iter().any(|(schema, name)| match schema {
        None if facts.cte_names.contains(name) => false,
        Some(s) if s == "pg_catalog" || s == "information_schema" => false,
        _ => catalog.is_none_or(|c| match schema {
            Some(s) => c.relation_by_name(s, name).is_none(),
            None => c.resolve_relation(name, search_path).is_none(),
        }),
    });
    if unseen_relation {
        info.state.user_code = true;
        info.state.settings = true;
        info.state.unseen_relations = true;
    }
    // A write sets off the triggers and rules of what it writes, and foreign keys that
    // cascade from it. A target the snapshot lacks (after pgward read it again) may have
    // any of them: uncountable. Without any snapshot (several databases in use) pgward
    // cannot tell and takes the target at its word, as it takes operators and types.
    if let Some(c) = catalog {
        for (schema, name) in &facts.write_targets {
            let rel = match schema {
                Some(s) => c.relation_by_name(s, name),
                None => c.resolve_relation(name, search_path),
            };
            let Some(on_write) = rel.map(|r| r.on_write) else {
                writes = true;
                continue;
            };
            if on_write.user_code {
                info.state.user_code = true;
                info.state.settings = true;
                writes = true;
            }
            writes |= on_write.cascades;
        }
    }
    // EXPLAIN ANALYZE EXECUTE, CREATE TABLE AS EXECUTE: a prepared statement's rows.
    if matches!(facts.kind.as_str(), "ExplainStmt" | "CreateTableAsStmt")
        && info.state.statement_used.is_some()
    {
        writes = true;
    }
    // Code pgward cannot see may call nextval too.
    if info.state.user_code {
        info.state.may_set_sequences = true;
    }
    info.code_may_write = writes;
}

/// `cursor_to_xml` fetches from the portal its first argument names (through SPI): a bound
/// `UPDATE ... RETURNING` runs whole there, its rows counted by no CommandComplete. The
/// built-ins that run a query given as text (`query_to_xml('select w()', ...)`, `ts_stat`,
/// `ts_rewrite`) run whatever it calls, as uncounted.
fn runs_a_portal(name: &[String]) -> bool {
    match name {
        [n] => crate::mask::runs_query_text(None, n),
        [schema, n] => crate::mask::runs_query_text(Some(schema), n),
        _ => false,
    }
}

fn changes_session(name: &[String]) -> bool {
    match name {
        [n] | [_, n] => SESSION_STATE_BUILTINS.contains(&n.as_str()),
        _ => false,
    }
}

/// A call of `name` may write: some function it may resolve to is volatile and outside
/// pg_catalog, or nothing in the catalog says what it is (PostgreSQL forbids writes in
/// stable and immutable SQL and PL/pgSQL functions).
fn may_write(name: &[String], catalog: Option<&Catalog>, search_path: &[String]) -> bool {
    let Some(c) = catalog else { return true };
    let candidates: Vec<&Function> = match name {
        [n] => c.resolve_functions(n, search_path),
        [schema, n] => c.functions_named(schema, n),
        _ => return true,
    };
    // Not in the snapshot (created since it was taken): anything. A user function of any
    // volatility may call a volatile one (PostgreSQL does not stop a STABLE or IMMUTABLE
    // function from calling one that writes).
    candidates.is_empty() || candidates.iter().any(|f| f.schema != "pg_catalog")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg_facts::facts_of_text;

    fn noted(sql: &str) -> StatementInfo {
        let facts = facts_of_text(sql).unwrap_or_default();
        let mut info = crate::context::Judged::new(crate::types::StatementKind::Select).info;
        if let Some(f) = facts.first() {
            info.state = crate::state_facts::of(f);
            let path = ["public".to_string()];
            note(&mut info, f, None, &path, &FunctionPolicy::default());
        }
        info
    }

    #[test]
    fn user_functions_may_write_without_a_catalog() {
        assert!(noted("SELECT app.bump()").code_may_write);
        assert!(noted("SELECT bump_all()").code_may_write);
        assert!(!noted("SELECT lower('A'), now()").code_may_write);
        assert!(!noted("UPDATE t SET v = 1 WHERE id = 2").code_may_write);
    }

    #[test]
    fn user_code_and_seeds_are_session_state() {
        assert!(noted("SELECT app.set_tenant('a')").state.user_code);
        assert!(noted("SELECT setseed(0.5)").state.user_code);
        assert!(noted("DO $$ BEGIN END $$").state.user_code);
        assert!(noted("EXECUTE p(1)").state.user_code);
        assert!(!noted("SELECT 1").state.user_code);
        assert!(
            !noted("WITH x AS (SELECT 1) SELECT * FROM x")
                .state
                .user_code
        );
        assert!(
            !noted("SELECT count(*) FROM pg_catalog.pg_class")
                .state
                .user_code
        );
        // Without a snapshot a relation may be a view calling anything.
        assert!(noted("SELECT 1 FROM t WHERE id = $1").state.user_code);
        assert!(noted("SELECT 1 INTO TEMP x").state.check_after);
        assert!(noted("CREATE TABLE x AS SELECT 1").state.check_after);
        assert!(
            noted("EXPLAIN ANALYZE CREATE TEMP TABLE x AS SELECT 1")
                .state
                .check_after
        );
        assert!(!noted("SELECT 1").state.check_after);
    }
}
