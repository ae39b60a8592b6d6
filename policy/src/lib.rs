//! pgward-policy: pure, sans-IO SQL analysis and guardrail decisions.
//!
//! Given SQL text and the facts of a session (its role's rules, its search_path, whether a
//! transaction is open) [`Engine::decide`] returns a [`Decision`]: allowed (with what the
//! statements do) or denied (with the rule, a message, a detail and a hint). No tokio, no
//! sockets, no clock, no environment: everything comes in as arguments, so the most
//! security-critical code is the easiest to test, fuzz and benchmark.
//!
//! A query's path: [`normalize`] (PostgreSQL's lexer: literal-free text, cache key) →
//! [`cache`] lookup → [`parse`] (libpg_query and sqlparser must agree; [`fallback`] for the few
//! valid forms sqlparser cannot parse) → [`classify`] per statement (with [`dml`], [`walk`],
//! [`functions`], [`where_clause`], [`settings`]) → one [`Decision`].

mod cache;
pub mod catalog;
mod classify;
mod code_effects;
mod context;
mod denial;
mod dml;
mod duration;
mod fallback;
mod family;
mod filter;
mod functions;
mod ident;
pub mod mask;
mod normalize;
mod operators;
mod parse;
mod path_change;
pub use path_change::resolves_names;
mod pg_alone;
mod pg_facts;
mod pg_fields;
mod pg_judge;
mod pg_tree;
mod planner_lock;
mod raw_scan;
#[cfg(test)]
mod raw_scan_tests;
mod reach;
mod rules;
mod search_path;
mod settings;
mod settings_update;
mod startup;
mod state_facts;
mod string_syntax;
mod syntax;
mod types;
mod walk;
mod where_clause;

pub use catalog::Catalog;
pub use duration::parse_pg_duration;
pub use ident::{fold_identifier, parse_search_path};
pub use normalize::UNPARSED;
pub use settings::is_unsafe_encoding;
pub use settings::parse_bool;
pub use startup::parse_startup_options;
pub use string_syntax::{mode_independent_strings, Escape, EscapeKind, StringSyntax};
pub use syntax::unreadable_text;
pub use syntax::DEFAULT_MAX_STATEMENT_BYTES;
pub use types::*;

use std::sync::Arc;

use cache::DecisionCache;

/// Texts up to this size are analyzed on the caller's thread: on its own stack when enough
/// of it is left ([`stack_needed`]), else on a fresh stack segment of [`ANALYSIS_STACK_BYTES`]
/// (a thread would cost milliseconds of scheduling on a loaded machine); longer texts on a
/// thread with that stack. The tree decoder has no depth limit (prost's `no-recursion-limit`:
/// its default of 100 refused SQL PostgreSQL runs) and decoding, walking and dropping a tree
/// recurse once per level. libpg_query bounds the depth with its own stack check, sized from
/// the thread's real stack (at most 2 MiB of C stack, as PostgreSQL); on a segment it keeps
/// its default of 100 KiB, which still allows hundreds of levels; a thread gives the longest
/// texts the full bound.
const SEGMENT_MAX_BYTES: usize = 32 * 1024;
/// Stack of an analysis segment or thread (reserved address space; only touched pages are
/// committed).
const ANALYSIS_STACK_BYTES: usize = 256 * 1024 * 1024;

/// The stack an analysis of `len` bytes of text may use: a fixed part plus a bound per byte
/// (a nesting level takes at least 2 bytes of text; measured in a release build: 1,000 levels
/// of `1+` overflow 2 MiB, 800 fit, and no shape costs more per byte; twice that here, and
/// twelve times in a debug build, whose frames are larger).
fn stack_needed(len: usize) -> usize {
    let per_byte = if cfg!(debug_assertions) {
        24 << 10
    } else {
        2 << 10
    };
    (256usize << 10).saturating_add(len.saturating_mul(per_byte))
}
/// Run an analysis of `len` bytes of text with the stack it may need (see [`stack_needed`]);
/// `None` when no thread could be started or the analysis panicked.
pub(crate) fn on_analysis_stack<R: Send>(len: usize, run: impl FnOnce() -> R + Send) -> Option<R> {
    if len <= SEGMENT_MAX_BYTES {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            stacker::maybe_grow(stack_needed(len), ANALYSIS_STACK_BYTES, run)
        }))
        .ok()
    } else {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("pgward-judge".into())
                .stack_size(ANALYSIS_STACK_BYTES)
                .spawn_scoped(scope, run)
                .ok()
                .and_then(|worker| worker.join().ok())
        })
    }
}

use context::{Ctx, Judged};
use functions::FunctionPolicy;

/// `[masking]` resolved against `catalog`; `None` when masking names no column.
fn mask_index_for(config: &PolicyConfig, catalog: &Catalog) -> Option<Arc<mask::MaskIndex>> {
    let masking = config.masking.as_ref().filter(|m| !m.is_empty())?;
    Some(Arc::new(mask::MaskIndex::from_catalog(
        masking.clone(),
        catalog,
        vec!["pg_catalog".into()],
    )))
}

/// The policy engine: immutable config, the upstream's catalog snapshot (when known) and a
/// decision cache keyed by normalized text. A new catalog means a new engine (empty cache).
pub struct Engine {
    config: PolicyConfig,
    functions: FunctionPolicy,
    catalog: Option<Arc<Catalog>>,
    /// `[masking]` resolved against the catalog (against an empty one without a snapshot:
    /// then relations are unknown and the analysis masks whatever patterns may cover).
    mask_index: Option<Arc<mask::MaskIndex>>,
    cache: DecisionCache,
}

impl Engine {
    pub fn new(config: PolicyConfig) -> Self {
        Self::with_cache_capacity(config, cache::DEFAULT_CAPACITY)
    }

    /// Like [`Engine::new`] with a cache bound other than 10,000 entries.
    pub fn with_cache_capacity(config: PolicyConfig, capacity: usize) -> Self {
        let functions = FunctionPolicy::new(&config.safe_functions, &config.denied_functions);
        let mask_index = mask_index_for(&config, &Catalog::default());
        Engine {
            config,
            functions,
            catalog: None,
            mask_index,
            cache: DecisionCache::new(capacity),
        }
    }

    /// An engine that judges with the upstream's catalog (casts, domains, operators and views
    /// that reach user code; pg_catalog functions by volatility).
    pub fn with_catalog(config: PolicyConfig, catalog: Arc<Catalog>) -> Self {
        let mut engine = Self::new(config);
        engine.mask_index = mask_index_for(&engine.config, &catalog);
        engine.catalog = Some(catalog);
        engine
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The catalog snapshot this engine judges with, if any.
    pub fn catalog(&self) -> Option<&Arc<Catalog>> {
        self.catalog.as_ref()
    }

    /// The masking policy resolved against the catalog (`None`: `[masking]` names no column).
    pub fn mask_index(&self) -> Option<&Arc<mask::MaskIndex>> {
        self.mask_index.as_ref()
    }

    /// The longest statement text judged (longer ones are refused unread, 54001).
    pub fn max_statement_bytes(&self) -> usize {
        match self.config.max_statement_bytes {
            0 => syntax::DEFAULT_MAX_STATEMENT_BYTES,
            n => n,
        }
    }

    /// Entries in the decision cache (for metrics and tests).
    pub fn cached_decisions(&self) -> usize {
        self.cache.len()
    }

    /// Judge `sql` (one or more statements) for the session; cached per shape.
    pub fn decide(&self, sql: &str, facts: &SessionFacts<'_>) -> Arc<Decision> {
        let norm = normalize::normalize(sql);
        let key = norm
            .key
            .as_ref()
            .map(|k| cache::key(k, facts.role, facts.search_path));
        if let Some(key) = &key {
            if let Some(hit) = self.cache.get(key) {
                return hit;
            }
        }
        let (decision, cacheable) = self.judge(sql, facts, norm.text);
        let decision = Arc::new(decision);
        if let (Some(key), true) = (key, cacheable) {
            self.cache.insert(key, Arc::clone(&decision));
        }
        decision
    }

    /// Judge `sql` without the cache (benches, tests, `pgward explain`).
    pub fn decide_uncached(&self, sql: &str, facts: &SessionFacts<'_>) -> Decision {
        let norm = normalize::normalize(sql);
        self.judge(sql, facts, norm.text).0
    }

    /// The decision and whether it may be cached. Every walk is iterative or depth-bounded
    /// except the tree decoder's: the stack it runs on is sized for the deepest tree
    /// PostgreSQL's parser accepts. A panic in the analysis refuses the text, never crashes.
    fn judge(&self, sql: &str, facts: &SessionFacts<'_>, normalized: String) -> (Decision, bool) {
        let judged = on_analysis_stack(sql.len(), || self.judge_here(sql, facts, &normalized));
        match judged {
            Some(judged) => judged,
            // No thread could be started, or the analysis panicked: refuse, never crash.
            None => {
                let decision = Decision {
                    verdict: Verdict::Deny(syntax::too_deep()),
                    fingerprint: normalize::fingerprint(&normalized),
                    normalized: Arc::from(normalized.as_str()),
                    statements: vec![],
                    mask: None,
                };
                (decision, false)
            }
        }
    }

    fn judge_here(
        &self,
        sql: &str,
        facts: &SessionFacts<'_>,
        normalized: &str,
    ) -> (Decision, bool) {
        let fingerprint = normalize::fingerprint(normalized);
        let normalized: Arc<str> = Arc::from(normalized);
        // `$user` is the current user's schema: the upstream login's, for a role that cannot
        // SET ROLE.
        let user = Some(facts.role.upstream_user.as_str())
            .filter(|u| !u.is_empty() && !facts.role.allow_set_role);
        let user_schema = match (user, self.catalog.as_deref()) {
            (Some(u), Some(c)) if c.has_schema(u) => search_path::UserSchema::Exists(u),
            (Some(_), Some(_)) => search_path::UserSchema::Missing,
            _ => search_path::UserSchema::Unknown,
        };
        let path = search_path::resolve_user(facts.search_path, user_schema);
        let ctx = Ctx {
            role: facts.role,
            search_path: &path,
            functions: &self.functions,
            catalog: self.catalog.as_deref(),
            masked: self.masks(facts.role),
        };
        let max = self.max_statement_bytes();
        if sql.len() > max {
            let decision = Decision {
                verdict: Verdict::Deny(syntax::too_large(sql.len(), max)),
                fingerprint,
                normalized,
                statements: vec![],
                mask: None,
            };
            return (decision, false);
        }
        let units = match parse::parse(sql) {
            Ok(units) => units,
            Err(denial) => {
                let decision = Decision {
                    verdict: Verdict::Deny(denial),
                    fingerprint,
                    normalized,
                    statements: vec![],
                    mask: None,
                };
                // A parse failure depends only on the text's shape... except where a literal's
                // content made a parser fail; judge such text every time.
                return (decision, false);
            }
        };
        let mut statements = Vec::with_capacity(units.len());
        let mut verdict = Verdict::Allow;
        let mut cacheable = true;
        for parsed in &units {
            let judged: Judged = if pg_alone::decides_alone(&parsed.facts) {
                pg_alone::judge_alone(&parsed.facts, &ctx)
            } else {
                match &parsed.unit {
                    parse::Unit::Sql(stmt) => {
                        let mut j = classify::judge(stmt, &ctx);
                        if matches!(&j.verdict, Err(d) if d.rule == "unanalyzable") {
                            // A construct sqlparser's tree does not carry (TABLESAMPLE, ...):
                            // PostgreSQL's reading decides.
                            pg_alone::judge_alone(&parsed.facts, &ctx)
                        } else {
                            pg_judge::check(&parsed.facts, &ctx, &mut j);
                            j
                        }
                    }
                    parse::Unit::Pg(pg) => {
                        let mut j = fallback::judge(*pg, &ctx);
                        pg_judge::check(&parsed.facts, &ctx, &mut j);
                        j
                    }
                    parse::Unit::PgOnly => pg_alone::judge_alone(&parsed.facts, &ctx),
                }
            };
            cacheable &= judged.cacheable;
            if let (Verdict::Allow, Err(d)) = (&verdict, judged.verdict) {
                verdict = Verdict::Deny(d);
            }
            let mut info = judged.info;
            info.state = state_facts::of(&parsed.facts);
            let (catalog, path) = (ctx.catalog, ctx.search_path);
            code_effects::note(&mut info, &parsed.facts, catalog, path, ctx.functions);
            statements.push(info);
        }
        path_change::judge(&mut verdict, &statements, &ctx);
        let mut mask = None;
        if let (Verdict::Allow, Some(index)) = (&verdict, &self.mask_index) {
            if !facts.role.unmasked {
                match mask::mask_plan(sql, index, &path) {
                    Ok(plans) => {
                        mask = Some(Arc::new(mask::DecisionMask {
                            plans,
                            index: Arc::clone(index),
                        }))
                    }
                    Err(d) => verdict = Verdict::Deny(d),
                }
            }
        }
        (
            Decision {
                verdict,
                fingerprint,
                normalized,
                statements,
                mask,
            },
            cacheable,
        )
    }

    /// Judge one startup parameter (name as sent, value as sent).
    pub fn check_startup_parameter(
        &self,
        name: &str,
        value: &str,
        role: &RoleRules,
    ) -> StartupParamVerdict {
        startup::check(name, value, role, self.masks(role))
    }

    /// Whether `role`'s results are masked (it is not `unmasked` and `[masking]` names columns).
    fn masks(&self, role: &RoleRules) -> bool {
        !role.unmasked && self.mask_index.is_some()
    }
}

/// The statements of a text as PostgreSQL's own grammar splits them, for a proxy that must
/// run a multi-statement string one statement at a time; `None` when it does not split.
pub fn split_statements(sql: &str) -> Option<Vec<String>> {
    pg_query::split_with_parser(sql)
        .ok()
        .map(|parts| parts.into_iter().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
    }
}
