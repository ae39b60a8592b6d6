//! The planner stays as PostgreSQL configured it for a masked role: its methods on, its
//! costs unweighed. Rows that come back in a masked column's order (a probe row among them)
//! read its values, and the plan decides the order.

use crate::denial::deny;
use crate::settings::{first, parse_bool, SettingValue};
use crate::types::Denial;

/// Settings that weigh one plan against another (costs, memory for hashing, join search,
/// parallelism, generic plans): set for a masked role, they pick a merge join or a sort as
/// surely as turning hashing off does.
const PLANNER_WEIGHTS: &[&str] = &[
    "seq_page_cost",
    "random_page_cost",
    "cpu_tuple_cost",
    "cpu_index_tuple_cost",
    "cpu_operator_cost",
    "parallel_setup_cost",
    "parallel_tuple_cost",
    "min_parallel_table_scan_size",
    "min_parallel_index_scan_size",
    "effective_cache_size",
    "cursor_tuple_fraction",
    "from_collapse_limit",
    "join_collapse_limit",
    "geqo",
    "geqo_threshold",
    "geqo_effort",
    "geqo_pool_size",
    "geqo_generations",
    "geqo_selection_bias",
    "geqo_seed",
    "constraint_exclusion",
    "recursive_worktable_factor",
    "work_mem",
    "hash_mem_multiplier",
    "max_parallel_workers_per_gather",
    "parallel_leader_participation",
    "plan_cache_mode",
];

/// A masked role may not turn a planner method off (`enable_hashjoin`, `enable_hashagg`,
/// ...) nor weigh plans differently (`random_page_cost`, `work_mem`, ...): without hashing
/// PostgreSQL sorts to join or compare, and rows that come back in a masked column's order
/// (a probe row among them) read its values. Back to the default is always allowed.
pub fn planner_lock(name: &str, value: &SettingValue, masked: bool) -> Result<(), Denial> {
    if !masked || matches!(value, SettingValue::Default) {
        return Ok(());
    }
    let lower = name.to_ascii_lowercase();
    if PLANNER_WEIGHTS.contains(&lower.as_str()) {
        return Err(deny(
            "masking.inference",
            format!("a masked role may not change {name}"),
            "planner costs decide whether rows come back in a masked column's order; ask a role without masking",
        ));
    }
    if !lower.starts_with("enable_") {
        return Ok(());
    }
    match first(value).and_then(parse_bool) {
        Some(true) => Ok(()),
        _ => Err(deny(
            "masking.inference",
            format!("a masked role may not turn {name} off"),
            "planner methods decide whether rows come back in a masked column's order; ask a role without masking",
        )),
    }
}
