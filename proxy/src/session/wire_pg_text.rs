//! The wire model's reading of statement texts (first words, whether a write, how many
//! rows) and the backend messages it answers with (rows of `t` hold [`T_VALUE`]; pgward's
//! own questions get PostgreSQL's answers).

use bytes::{BufMut, BytesMut};

use super::BIG_WRITE;
use crate::protocol::backend;

/// What a statement is, by its first words.
pub(super) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ';' || c == '(')
        .filter(|w| !w.is_empty())
        .take(4)
        .map(|w| w.to_ascii_uppercase())
        .collect()
}

pub(super) fn first(text: &str) -> String {
    words(text).into_iter().next().unwrap_or_default()
}

pub(super) fn is_write(text: &str) -> bool {
    let w = first(text);
    matches!(w.as_str(), "UPDATE" | "DELETE" | "INSERT")
        || (w == "COPY" && text.to_ascii_uppercase().contains("FROM STDIN"))
}

pub(super) fn returns_rows(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    match first(text).as_str() {
        "SELECT" | "WITH" | "SHOW" | "VALUES" | "FETCH" => true,
        "UPDATE" | "DELETE" | "INSERT" => upper.contains("RETURNING"),
        _ => false,
    }
}

pub(super) fn row_count(text: &str) -> u64 {
    let upper = text.to_ascii_uppercase();
    if upper.contains("PG_SETTINGS") || upper.contains("PG_PREPARED_STATEMENTS") {
        0
    } else if upper.contains("ID > 0") {
        BIG_WRITE
    } else if upper.contains("FROM T") && !upper.contains("ID = ") {
        3
    } else {
        1
    }
}

pub(super) fn message(tag: u8, body: &[u8], out: &mut BytesMut) {
    backend::raw_message(tag, body, out);
}

/// One int4 column: `t.v` itself, or (`text` computes it, `||`) an expression of it, which
/// names no table column.
pub(super) fn row_description(text: &str, out: &mut BytesMut) {
    let (table, column) = if text.contains("||") {
        (0, 0)
    } else {
        (16384, 2)
    };
    let mut b = BytesMut::new();
    b.put_u16(1);
    b.put_slice(b"v\0");
    b.put_u32(table);
    b.put_u16(column);
    b.put_u32(23);
    b.put_i16(4);
    b.put_i32(-1);
    b.put_u16(0);
    message(b'T', &b, out);
}

/// The value every row of table `t` holds in column `v` (what a masked role must never see);
/// other results hold [`OTHER_VALUE`].
pub const T_VALUE: u8 = b'7';
pub(super) const OTHER_VALUE: u8 = b'1';

/// Whether the statement's rows come from table `t` (or write it and return its rows).
pub(super) fn reads_t(text: &str) -> bool {
    let w: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    w.windows(2).any(|p| {
        matches!(p[0].as_str(), "FROM" | "UPDATE" | "INTO" | "COPY" | "JOIN") && p[1] == "T"
    })
}

/// What PostgreSQL answers pgward's own questions with: the default search_path, and no
/// session state that would pin the client (six counts of 0, no SQL-prepared names).
pub(super) fn internal_row(text: &str) -> Option<Vec<Option<&'static str>>> {
    if text.eq_ignore_ascii_case("SHOW search_path") {
        return Some(vec![Some("\"$user\", public")]);
    }
    if text.contains("pg_my_temp_schema") {
        return Some(vec![
            Some("0"),
            Some("0"),
            Some("0"),
            Some("0"),
            Some("0"),
            Some("0"),
            None,
        ]);
    }
    None
}

/// The answer to one of pgward's own questions (its RowDescription first when `described`):
/// false when `text` is not one.
pub(super) fn internal_answer(text: &str, described: bool, out: &mut BytesMut) -> bool {
    let Some(row) = internal_row(text) else {
        return false;
    };
    if described {
        row_description(text, out);
    }
    internal_data_row(&row, out);
    complete("SELECT 1", out);
    true
}

pub(super) fn internal_data_row(row: &[Option<&str>], out: &mut BytesMut) {
    let mut b = BytesMut::new();
    b.put_u16(row.len() as u16);
    for value in row {
        match value {
            Some(v) => {
                b.put_i32(v.len() as i32);
                b.put_slice(v.as_bytes());
            }
            None => b.put_i32(-1),
        }
    }
    message(b'D', &b, out);
}

pub(super) fn data_rows(n: u64, from_t: bool, out: &mut BytesMut) {
    let value = if from_t { T_VALUE } else { OTHER_VALUE };
    for _ in 0..n {
        message(b'D', &[0, 1, 0, 0, 0, 1, value], out);
    }
}

pub(super) fn complete(tag: &str, out: &mut BytesMut) {
    let mut b = BytesMut::new();
    b.put_slice(tag.as_bytes());
    b.put_u8(0);
    message(b'C', &b, out);
}
