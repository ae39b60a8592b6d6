//! Readers of fields of PostgreSQL's tree in its JSON form (statement nodes judged field by
//! field: SET, COPY, LOCK, transaction statements, pg_settings lookups).

use serde_json::Value;

pub fn i64_field(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

pub fn bool_field(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

pub fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}
