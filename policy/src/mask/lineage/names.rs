//! Built-in functions and relations whose meaning for masking is fixed by name.

/// pg_catalog functions that run a query string, read a table or cursor by name, or dump a
/// schema: their result cannot be traced to columns, so masked roles may not call them.
const QUERY_STRING_FUNCTIONS: &[&str] = &[
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "ts_stat",
    "ts_rewrite",
    "dblink",
    "dblink_exec",
    "dblink_open",
    "dblink_fetch",
    "pg_mcv_list_items",
];

/// Catalog relations that hold sample values of columns (most common values, histograms).
const STATISTICS_RELATIONS: &[&str] = &[
    "pg_stats",
    "pg_statistic",
    "pg_stats_ext",
    "pg_stats_ext_exprs",
    "pg_statistic_ext_data",
];

/// pg_catalog functions that return a set: with a PII argument their row count depends on
/// the value (`regexp_matches(email, '^z')` returns a row only for a match).
const SET_RETURNING: &[&str] = &[
    "unnest",
    "generate_series",
    "generate_subscripts",
    "regexp_matches",
    "regexp_split_to_table",
    "string_to_table",
    "json_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "json_each",
    "json_each_text",
    "jsonb_each",
    "jsonb_each_text",
    "json_object_keys",
    "jsonb_object_keys",
    "json_to_recordset",
    "jsonb_to_recordset",
    "json_populate_recordset",
    "jsonb_populate_recordset",
    "jsonb_path_query",
    "ts_parse",
    "ts_debug",
    "xpath_table",
];

/// Set-returning functions with exactly one output column.
const SINGLE_COLUMN_SRF: &[&str] = &[
    "unnest",
    "generate_series",
    "generate_subscripts",
    "regexp_matches",
    "regexp_split_to_table",
    "string_to_table",
    "json_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "json_object_keys",
    "jsonb_object_keys",
    "jsonb_path_query",
];

/// pg_catalog functions whose arguments end up somewhere a later statement (or another
/// session) can read them: a setting, a notification payload, a sequence, an advisory lock key,
/// a large object, the WAL.
const SIDE_CHANNEL_FUNCTIONS: &[&str] = &[
    "set_config",
    "pg_notify",
    "setval",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
    "lo_from_bytea",
    "lo_put",
    "lowrite",
    "pg_logical_emit_message",
    "pg_log_backend_memory_contexts",
];

/// System columns: never PII.
const SYSTEM_COLUMNS: &[&str] = &["ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"];

/// `(schema, name)` of a function as written; `schema` is `None` when unqualified.
pub fn is_query_string_function(schema: Option<&str>, name: &str) -> bool {
    matches!(schema, None | Some("pg_catalog") | Some("public"))
        && QUERY_STRING_FUNCTIONS.contains(&name)
}

pub fn is_side_channel_function(schema: Option<&str>, name: &str) -> bool {
    matches!(schema, None | Some("pg_catalog")) && SIDE_CHANNEL_FUNCTIONS.contains(&name)
}

pub fn is_statistics_relation(schema: Option<&str>, name: &str) -> bool {
    matches!(schema, None | Some("pg_catalog")) && STATISTICS_RELATIONS.contains(&name)
}

pub fn is_set_returning(name: &str) -> bool {
    SET_RETURNING.contains(&name)
}

pub fn is_single_column_srf(name: &str) -> bool {
    SINGLE_COLUMN_SRF.contains(&name)
}

pub fn is_system_column(name: &str) -> bool {
    SYSTEM_COLUMNS.contains(&name)
}

/// A function written with a schema other than PostgreSQL's own (pg_catalog,
/// information_schema) is user code: its result and its messages cannot be traced.
pub fn is_user_function(schema: Option<&str>) -> bool {
    !matches!(
        schema,
        None | Some("pg_catalog") | Some("information_schema")
    )
}

/// The refusal of a call that runs a query, or reads a table, named in its arguments.
pub fn query_string_denial(name: &str) -> crate::denial::Denial {
    crate::denial::deny(
        "masking.query_string",
        format!("{name}() runs a query or reads a table by name, so its result cannot be masked"),
        "select the columns you need directly",
    )
}
