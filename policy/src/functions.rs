//! Which functions a read-only role may call, by schema-qualified name.
//!
//! An ALLOWLIST of side-effect-free built-in `pg_catalog` functions decides (string, math,
//! date/time, aggregates, window functions, json/jsonb, arrays, regex, formatting and the catalog
//! information functions psql, pgjdbc and DBeaver use); a DENIED list names the built-ins with
//! side effects so that their denials say so. A function on neither list is refused for
//! read-only roles unless `PolicyConfig::safe_functions` names it.
//!
//! Unqualified names resolve as PostgreSQL resolves them: `pg_catalog` first unless the
//! search_path lists it explicitly later; schemas are then tried in order. Assumptions (stated
//! in ARCHITECTURE.md): a name on neither built-in list does not exist in `pg_catalog`;
//! PostgreSQL never looks up functions in pg_temp. `$user` comes resolved (`search_path.rs`);
//! one left unresolved, like any other schema met before the name is decided, may define it,
//! so an unlisted name there is unknown.
//! A name qualified with another schema (`public.lower`) is never the pg_catalog one.

use std::collections::HashSet;

use crate::ident::fold_identifier;

/// Side-effect-free pg_catalog functions (and SQL-syntax functions sqlparser shows as calls).
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    // releasing one's own advisory locks (asyncpg's pool reset)
    "pg_advisory_unlock", "pg_advisory_unlock_shared", "pg_advisory_unlock_all",
    // SQL syntax that sqlparser presents as function calls
    "coalesce", "nullif", "greatest", "least", "row", "array", "current_user", "session_user",
    "current_role", "user", "current_catalog", "current_schema", "current_schemas", "current_date",
    "current_time", "current_timestamp", "localtime", "localtimestamp", "system_user", "grouping",
    "exists", "extract", "any", "some", "all",
    // aggregates
    "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "bool_and", "bool_or", "every",
    "bit_and", "bit_or", "bit_xor", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg",
    "json_agg_strict", "jsonb_agg_strict", "json_object_agg_strict", "jsonb_object_agg_strict",
    "json_object_agg_unique", "jsonb_object_agg_unique", "json_arrayagg", "json_objectagg",
    "xmlagg", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "corr",
    "covar_pop", "covar_samp", "regr_avgx", "regr_avgy", "regr_count", "regr_intercept", "regr_r2",
    "regr_slope", "regr_sxx", "regr_sxy", "regr_syy", "mode", "percentile_cont", "percentile_disc",
    "range_agg", "range_intersect_agg", "any_value",
    // window functions
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
    // math
    "abs", "cbrt", "ceil", "ceiling", "degrees", "div", "exp", "factorial", "floor", "gcd", "lcm",
    "ln", "log", "log10", "min_scale", "mod", "pi", "power", "pow", "radians", "round", "scale",
    "sign", "sqrt", "trim_scale", "trunc", "width_bucket", "acos", "asin", "atan", "atan2", "cos",
    "cot", "sin", "tan", "acosd", "asind", "atand", "atan2d", "cosd", "cotd", "sind", "tand",
    "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "numeric", "int4", "int8", "float8",
    "float4", "to_number", "erf", "erfc",
    // strings
    "ascii", "bit_length", "btrim", "char_length", "character_length", "chr", "concat",
    "concat_ws", "convert", "convert_from", "convert_to", "decode", "encode", "format", "initcap",
    "left", "length", "lower", "lpad", "ltrim", "md5", "normalize", "octet_length", "overlay",
    "parse_ident", "position", "quote_ident", "quote_literal", "quote_nullable", "regexp_count",
    "regexp_instr", "regexp_like", "regexp_match", "regexp_matches", "regexp_replace",
    "regexp_split_to_array", "regexp_split_to_table", "regexp_substr", "repeat", "replace",
    "reverse", "right", "rpad", "rtrim", "split_part", "starts_with", "string_to_array",
    "string_to_table", "strpos", "substr", "substring", "to_ascii", "to_hex", "translate", "trim",
    "upper", "unistr", "casefold", "sha224", "sha256", "sha384", "sha512", "crc32", "crc32c",
    "get_bit", "get_byte", "set_bit", "set_byte", "bit_count", "text", "textlen", "texteq", "like",
    "ilike", "similar_escape", "similar_to_escape", "textcat", "lower_inc", "upper_inc",
    "lower_inf", "upper_inf", "isempty", "range_merge", "bpchar", "varchar", "name", "char",
    "uuid_extract_timestamp", "uuid_extract_version", "to_char", "to_date", "to_timestamp",
    "pg_encoding_to_char", "pg_char_to_encoding", "getdatabaseencoding", "pg_client_encoding",
    // date/time
    "age", "clock_timestamp", "date_add", "date_bin", "date_part", "date_subtract", "date_trunc",
    "isfinite", "justify_days", "justify_hours", "justify_interval", "make_date", "make_interval",
    "make_time", "make_timestamp", "make_timestamptz", "now", "pg_sleep", "pg_sleep_for",
    "pg_sleep_until", "statement_timestamp", "timeofday",
    "transaction_timestamp", "timezone", "overlaps", "interval", "date", "time", "timestamp",
    "timestamptz", "to_timestamp", "generate_series", "generate_subscripts",
    // json / jsonb
    "to_json", "to_jsonb", "array_to_json", "row_to_json", "json_build_array", "jsonb_build_array",
    "json_build_object", "jsonb_build_object", "json_object", "jsonb_object",
    "json_array_elements", "jsonb_array_elements", "json_array_elements_text",
    "jsonb_array_elements_text", "json_array_length", "jsonb_array_length", "json_each",
    "jsonb_each", "json_each_text", "jsonb_each_text", "json_extract_path", "jsonb_extract_path",
    "json_extract_path_text", "jsonb_extract_path_text", "json_object_keys", "jsonb_object_keys",
    "json_populate_record", "jsonb_populate_record", "json_populate_recordset",
    "jsonb_populate_recordset", "json_to_record", "jsonb_to_record", "json_to_recordset",
    "jsonb_to_recordset", "json_strip_nulls", "jsonb_strip_nulls", "jsonb_set", "jsonb_set_lax",
    "jsonb_insert", "jsonb_pretty", "json_typeof", "jsonb_typeof", "jsonb_path_exists",
    "jsonb_path_match", "jsonb_path_query", "jsonb_path_query_array", "jsonb_path_query_first",
    "jsonb_path_exists_tz", "jsonb_path_match_tz", "jsonb_path_query_tz",
    "jsonb_path_query_array_tz", "jsonb_path_query_first_tz", "json_scalar", "json_serialize",
    "json_array", "json_exists", "json_query", "json_value", "json_table", "jsonb_contains",
    "jsonb_exists", "jsonb_concat", "jsonb_delete", "jsonb_delete_path",
    // arrays
    "array_append", "array_cat", "array_dims", "array_fill", "array_length", "array_lower",
    "array_ndims", "array_position", "array_positions", "array_prepend", "array_remove",
    "array_replace", "array_sample", "array_shuffle", "array_to_string", "array_upper",
    "cardinality", "trim_array", "unnest", "array_reverse", "array_sort", "array_in", "array_out",
    // ranges / network / geometry / text search / uuid / xml (pure)
    "lower", "upper", "range_merge", "multirange", "int4range", "int8range", "numrange", "tsrange",
    "tstzrange", "daterange", "abbrev", "broadcast", "family", "host", "hostmask", "inet_merge",
    "inet_same_family", "masklen", "netmask", "network", "set_masklen", "inet_client_addr",
    "inet_client_port", "inet_server_addr", "inet_server_port", "to_tsvector", "to_tsquery",
    "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery", "ts_rank", "ts_rank_cd",
    "ts_headline", "setweight", "strip", "numnode", "querytree", "tsvector_to_array",
    "array_to_tsvector", "ts_lexize", "gen_random_uuid", "uuidv4", "uuidv7", "random",
    "random_normal", "xmlcomment", "xmlconcat", "xmlelement", "xmlforest", "xmlpi", "xmlroot",
    "xmlparse", "xmlserialize", "xmlexists", "xml_is_well_formed", "xml_is_well_formed_document",
    "xml_is_well_formed_content", "xpath", "xpath_exists", "xmltable", "xmltext", "area", "center",
    "diameter", "height", "width", "box", "circle", "line", "lseg", "path", "point", "polygon",
    "radius", "npoints", "isclosed", "isopen", "bound_box",
    // session and system information
    "version", "current_setting", "current_database", "current_query", "pg_backend_pid",
    "pg_postmaster_start_time", "pg_conf_load_time", "pg_is_in_recovery",
    "pg_is_wal_replay_paused", "pg_last_wal_receive_lsn", "pg_last_wal_replay_lsn",
    "pg_last_xact_replay_timestamp", "pg_current_wal_lsn", "pg_current_wal_insert_lsn",
    "pg_current_wal_flush_lsn", "pg_wal_lsn_diff", "pg_walfile_name", "pg_walfile_name_offset",
    "pg_blocking_pids", "pg_safe_snapshot_blocking_pids", "pg_trigger_depth", "pg_my_temp_schema",
    "pg_is_other_temp_schema", "pg_jit_available", "pg_listening_channels",
    "pg_notification_queue_usage", "pg_stat_get_activity", "pg_stat_get_backend_pid",
    "pg_stat_get_backend_activity", "pg_stat_get_numscans", "pg_stat_get_tuples_returned",
    "pg_stat_get_live_tuples", "pg_stat_get_dead_tuples", "pg_lock_status", "pg_get_keywords",
    "pg_typeof", "pg_column_size", "pg_column_compression", "pg_database_size", "pg_indexes_size",
    "pg_relation_size", "pg_relation_filenode", "pg_relation_filepath", "pg_size_bytes",
    "pg_size_pretty", "pg_table_size", "pg_tablespace_size", "pg_total_relation_size",
    "pg_filenode_relation", "pg_partition_tree", "pg_partition_ancestors", "pg_partition_root",
    "pg_postmaster_start_time", "txid_current_snapshot", "txid_snapshot_xmin",
    "txid_snapshot_xmax", "txid_snapshot_xip", "txid_visible_in_snapshot", "txid_status",
    "pg_current_snapshot", "pg_snapshot_xmin", "pg_snapshot_xmax", "pg_snapshot_xip",
    "pg_visible_in_snapshot", "pg_xact_status", "pg_current_xact_id_if_assigned",
    "txid_current_if_assigned", "pg_xact_commit_timestamp", "pg_last_committed_xact",
    "pg_control_checkpoint", "pg_control_system", "pg_control_init", "pg_control_recovery",
    "pg_get_wal_replay_pause_state", "age", "mxid_age", "pg_backup_start_time",
    "pg_get_backend_memory_contexts", "pg_stat_get_wal_senders", "pg_stat_get_wal_receiver",
    "pg_stat_get_subscription", "pg_get_shmem_allocations", "pg_settings_get_flags",
    // catalog information (psql \d, pgjdbc, DBeaver)
    "pg_get_userbyid", "pg_table_is_visible", "pg_type_is_visible", "pg_function_is_visible",
    "pg_operator_is_visible", "pg_opclass_is_visible", "pg_opfamily_is_visible",
    "pg_collation_is_visible", "pg_conversion_is_visible", "pg_statistics_obj_is_visible",
    "pg_ts_config_is_visible", "pg_ts_dict_is_visible", "pg_ts_parser_is_visible",
    "pg_ts_template_is_visible", "format_type", "pg_get_expr", "pg_get_indexdef",
    "pg_get_constraintdef", "pg_get_triggerdef", "pg_get_viewdef", "pg_get_ruledef",
    "pg_get_functiondef", "pg_get_function_arguments", "pg_get_function_identity_arguments",
    "pg_get_function_result", "pg_get_function_arg_default", "pg_get_function_sqlbody",
    "pg_get_serial_sequence", "pg_get_statisticsobjdef", "pg_get_statisticsobjdef_columns",
    "pg_get_statisticsobjdef_expressions", "pg_get_partkeydef", "pg_get_partition_constraintdef",
    "pg_get_publication_tables", "pg_get_object_address", "pg_identify_object",
    "pg_identify_object_as_address", "pg_describe_object", "pg_get_catalog_foreign_keys",
    "pg_options_to_table", "pg_tablespace_location", "pg_tablespace_databases",
    "pg_index_column_has_property", "pg_index_has_property", "pg_indexam_has_property",
    "pg_get_replica_identity_index", "pg_sequence_parameters", "pg_sequence_last_value",
    "pg_get_acl", "pg_input_is_valid", "pg_input_error_info", "obj_description", "col_description",
    "shobj_description", "has_any_column_privilege", "has_column_privilege",
    "has_database_privilege", "has_foreign_data_wrapper_privilege", "has_function_privilege",
    "has_language_privilege", "has_largeobject_privilege", "has_parameter_privilege",
    "has_schema_privilege", "has_sequence_privilege", "has_server_privilege",
    "has_table_privilege", "has_tablespace_privilege", "has_type_privilege", "pg_has_role",
    "row_security_active", "acldefault", "aclexplode", "aclitemin", "makeaclitem",
    "array_to_string", "pg_get_viewdef", "to_regclass", "to_regcollation", "to_regnamespace",
    "to_regoper", "to_regoperator", "to_regproc", "to_regprocedure", "to_regrole", "to_regtype",
    "to_regtypemod", "format_type", "pg_collation_actual_version", "pg_char_to_encoding",
    "pg_get_keywords", "pg_get_constraintdef", "pg_available_extensions",
    "pg_available_extension_versions", "pg_extension_config_dump", "pg_show_all_settings",
    "pg_show_all_file_settings", "pg_hba_file_rules", "pg_ident_file_mappings", "pg_cursor",
    "pg_prepared_statement", "pg_prepared_xact", "pg_timezone_names", "pg_timezone_abbrevs",
    "pg_config", "pg_get_multixact_members", "pg_event_trigger_ddl_commands",
    "pg_stat_get_db_numbackends", "pg_stat_get_snapshot_timestamp", "oidvectortypes", "textin",
    "regclassin", "regprocin", "regtypein", "int2vectorout", "oidvectorout",
    "pg_encoding_max_length", "pg_tablespace_location", "quote_ident",
    "pg_relation_is_publishable", "pg_relation_is_updatable", "pg_column_is_updatable",
    "pg_get_publication_sequences", "information_schema._pg_expandarray",
];

/// Built-ins with side effects (writes, locks, session changes, files, signals, other
/// connections, or queries run from a string). Refused for read-only roles.
#[rustfmt::skip]
const DENIED: &[&str] = &[
    "nextval", "setval", "lastval", "currval", "set_config", "pg_terminate_backend",
    "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_switch_wal",
    "pg_create_restore_point", "pg_logical_emit_message", "pg_notify", "txid_current",
    "pg_current_xact_id", "pg_backup_start", "pg_backup_stop", "pg_start_backup", "pg_stop_backup",
    "pg_promote", "pg_wal_replay_pause", "pg_wal_replay_resume", "pg_log_backend_memory_contexts",
    "pg_stat_reset", "pg_stat_reset_shared", "pg_stat_reset_single_table_counters",
    "pg_stat_reset_single_function_counters", "pg_stat_reset_slru",
    "pg_stat_reset_replication_slot", "pg_stat_reset_subscription_stats",
    "pg_stat_reset_backend_stats", "pg_stat_clear_snapshot", "pg_stat_force_next_flush",
    "pg_advisory_lock", "pg_advisory_lock_shared", "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock_shared", "lo_import", "lo_export",
    "lo_create", "lo_creat", "lo_unlink", "lo_open", "lo_close", "lo_put", "lo_get",
    "lo_from_bytea", "lo_truncate", "lo_truncate64", "lo_lseek", "lo_lseek64", "lo_tell",
    "lo_tell64", "loread", "lowrite", "pg_read_file", "pg_read_binary_file", "pg_ls_dir",
    "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir",
    "pg_ls_logicalsnapdir", "pg_ls_logicalmapdir", "pg_ls_replslotdir", "pg_current_logfile",
    "pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync", "dblink", "dblink_exec",
    "dblink_connect", "dblink_connect_u", "dblink_disconnect", "dblink_open", "dblink_fetch",
    "dblink_close", "dblink_send_query", "dblink_get_result", "query_to_xml", "query_to_xmlschema",
    "query_to_xml_and_xmlschema", "table_to_xml", "table_to_xmlschema",
    "table_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema", "schema_to_xml",
    "schema_to_xmlschema", "schema_to_xml_and_xmlschema", "database_to_xml",
    "database_to_xmlschema", "database_to_xml_and_xmlschema", "pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
    "pg_drop_replication_slot", "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot", "pg_replication_slot_advance",
    "pg_logical_slot_get_changes", "pg_logical_slot_get_binary_changes",
    "pg_logical_slot_peek_changes", "pg_replication_origin_create", "pg_replication_origin_drop",
    "pg_replication_origin_advance", "pg_replication_origin_session_setup",
    "pg_import_system_collations", "pg_export_snapshot", "pg_sync_replication_slots", "pg_prewarm",
    "pg_stat_statements_reset", "pg_drop_all_subscriptions", "pg_truncate_visibility_map",
    "pg_restore_relation_stats", "pg_clear_relation_stats", "pg_restore_attribute_stats",
    "pg_clear_attribute_stats", "brin_summarize_new_values", "brin_summarize_range",
    "brin_desummarize_range", "gin_clean_pending_list", "binary_upgrade_set_next_pg_type_oid",
];

/// How one function call is judged for a read-only role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionVerdict {
    Safe,
    /// On the denied list (built-in or configured): has side effects.
    SideEffect(String),
    /// Not known to be safe (user-defined, extension, unknown built-in).
    Unknown(String),
}

/// The function lists in force for an engine.
#[derive(Debug, Default)]
pub struct FunctionPolicy {
    allowed: HashSet<&'static str>,
    denied: HashSet<&'static str>,
    safe_extra: HashSet<(String, String)>,
    denied_extra: HashSet<(String, String)>,
}

/// Splits `schema.name` (each part folded as an identifier) into a pair.
/// A pg_catalog function one of the built-in lists names (folded name): anything else may
/// be user code.
pub(crate) fn is_listed_builtin(name: &str) -> bool {
    ALLOWED.contains(&name) || DENIED.contains(&name)
}

fn split_qualified(name: &str) -> Option<(String, String)> {
    let (schema, func) = split_unquoted_dot(name)?;
    Some((fold_identifier(schema), fold_identifier(func)))
}

/// Finds the dot separating schema from name, ignoring dots inside double quotes.
fn split_unquoted_dot(name: &str) -> Option<(&str, &str)> {
    let mut in_quotes = false;
    for (i, c) in name.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '.' if !in_quotes => return Some((&name[..i], &name[i + 1..])),
            _ => {}
        }
    }
    None
}

impl FunctionPolicy {
    pub fn new(safe_functions: &[String], denied_functions: &[String]) -> Self {
        // A configured name without a schema means pg_catalog's (the only schema an unqualified
        // name is sure to reach first).
        let qualify = |n: &String| {
            split_qualified(n).unwrap_or_else(|| ("pg_catalog".into(), fold_identifier(n)))
        };
        FunctionPolicy {
            allowed: ALLOWED
                .iter()
                .copied()
                .filter(|n| !n.contains('.'))
                .collect(),
            denied: DENIED.iter().copied().collect(),
            safe_extra: safe_functions.iter().map(qualify).collect(),
            denied_extra: denied_functions.iter().map(qualify).collect(),
        }
    }

    fn pg_catalog_verdict(&self, name: &str) -> Option<FunctionVerdict> {
        let key = ("pg_catalog".to_string(), name.to_string());
        if self.denied_extra.contains(&key) || self.denied.contains(name) {
            return Some(FunctionVerdict::SideEffect(format!("pg_catalog.{name}")));
        }
        if self.allowed.contains(name) || self.safe_extra.contains(&key) {
            return Some(FunctionVerdict::Safe);
        }
        None
    }

    fn schema_verdict(&self, schema: &str, name: &str) -> Option<FunctionVerdict> {
        if schema == "pg_catalog" {
            return self.pg_catalog_verdict(name);
        }
        let key = (schema.to_string(), name.to_string());
        if self.denied_extra.contains(&key) {
            return Some(FunctionVerdict::SideEffect(format!("{schema}.{name}")));
        }
        if self.safe_extra.contains(&key) {
            return Some(FunctionVerdict::Safe);
        }
        if schema == "information_schema" && ALLOWED.contains(&format!("{schema}.{name}").as_str())
        {
            return Some(FunctionVerdict::Safe);
        }
        None
    }

    /// Judges a call by its folded name parts under `search_path`.
    pub fn judge(&self, parts: &[String], search_path: &[String]) -> FunctionVerdict {
        match parts {
            [name] => self.resolve_unqualified(name, search_path),
            [schema, name] => self
                .schema_verdict(schema, name)
                .unwrap_or_else(|| FunctionVerdict::Unknown(format!("{schema}.{name}"))),
            // database.schema.name: PostgreSQL accepts only the current database; we cannot
            // check which one that is, so judge by the last two parts and require them known.
            [_, schema, name] => match self.schema_verdict(schema, name) {
                Some(FunctionVerdict::Safe) => FunctionVerdict::Safe,
                Some(other) => other,
                None => FunctionVerdict::Unknown(parts.join(".")),
            },
            _ => FunctionVerdict::Unknown(if parts.is_empty() {
                "<unnamed>".into()
            } else {
                parts.join(".")
            }),
        }
    }

    fn resolve_unqualified(&self, name: &str, search_path: &[String]) -> FunctionVerdict {
        let explicit_catalog = search_path.iter().any(|s| s == "pg_catalog");
        if !explicit_catalog {
            if let Some(v) = self.pg_catalog_verdict(name) {
                return v;
            }
        }
        for schema in search_path {
            if schema == "pg_temp" || schema.starts_with("pg_temp_") {
                continue;
            }
            // `$user` left unresolved (no catalog, or a current user pgward cannot name) may
            // be any schema: one we know nothing about, as below.
            if schema == crate::search_path::USER {
                return FunctionVerdict::Unknown(format!("{schema}.{name}"));
            }
            match self.schema_verdict(schema, name) {
                Some(v) => return v,
                // Not a built-in: PostgreSQL goes on to the next schema.
                None if schema == "pg_catalog" => continue,
                // A schema we know nothing about may define the name and shadow what follows.
                None => return FunctionVerdict::Unknown(format!("{schema}.{name}")),
            }
        }
        FunctionVerdict::Unknown(name.to_string())
    }
}

#[cfg(test)]
#[path = "functions_tests.rs"]
mod tests;
