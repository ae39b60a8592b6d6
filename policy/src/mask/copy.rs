//! Masking COPY ... TO STDOUT data, one CopyData payload at a time, in text, CSV and binary
//! formats (PostgreSQL sends one row per CopyData; the binary header comes first).
//!
//! Used when `masking.allow` contains `copy`; otherwise a COPY of masked columns is refused.

use pg_query::protobuf::CopyStmt;
use pg_query::NodeEnum;

use super::copy_csv::mask_csv_row;
use super::copy_mask::{check_count, mask_one};
pub use super::copy_mask::{CopyMask, CopyMaskError};

/// The format of a COPY's data, from its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    Text {
        delimiter: u8,
        null: Vec<u8>,
        header: bool,
    },
    Csv {
        delimiter: u8,
        null: Vec<u8>,
        quote: u8,
        escape: u8,
        header: bool,
    },
    Binary,
}

impl CopyFormat {
    /// The format a COPY statement asks for (`None` for options pgward does not read, such as
    /// a multi-byte delimiter: refuse such a COPY).
    pub fn of(stmt: &CopyStmt) -> Option<CopyFormat> {
        let mut format = "text".to_string();
        let mut delimiter = None;
        let mut null = None;
        let mut quote = b'"';
        let mut escape = None;
        let mut header = false;
        for opt in &stmt.options {
            let Some(NodeEnum::DefElem(d)) = opt.node.as_ref() else {
                return None;
            };
            let arg = d.arg.as_deref().and_then(|a| match a.node.as_ref() {
                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                Some(NodeEnum::Boolean(b)) => Some(b.boolval.to_string()),
                Some(NodeEnum::Integer(i)) => Some(i.ival.to_string()),
                _ => None,
            });
            let one_byte = |v: &Option<String>| match v.as_deref().map(str::as_bytes) {
                Some([b]) => Some(*b),
                _ => None,
            };
            match d.defname.as_str() {
                "format" => format = arg?.to_ascii_lowercase(),
                "delimiter" => delimiter = Some(one_byte(&arg)?),
                "null" => null = Some(arg?.into_bytes()),
                "quote" => quote = one_byte(&arg)?,
                "escape" => escape = Some(one_byte(&arg)?),
                "header" => header = header_choice(d.arg.as_deref())?,
                "force_quote" | "encoding" => {}
                _ => return None,
            }
        }
        match format.as_str() {
            "text" => Some(CopyFormat::Text {
                delimiter: delimiter.unwrap_or(b'\t'),
                null: null.unwrap_or_else(|| b"\\N".to_vec()),
                header,
            }),
            "csv" => Some(CopyFormat::Csv {
                delimiter: delimiter.unwrap_or(b','),
                null: null.unwrap_or_default(),
                quote,
                escape: escape.unwrap_or(quote),
                header,
            }),
            "binary" => Some(CopyFormat::Binary),
            _ => None,
        }
    }
}

/// Whether `HEADER [value]` asks for a header line, read as PostgreSQL's `defGetBoolean`
/// reads it (no value, 0/1, or true/false/on/off in any case); `None` for anything else
/// (`match` is for COPY FROM), which the server refuses and pgward does not guess at.
fn header_choice(arg: Option<&pg_query::Node>) -> Option<bool> {
    let Some(arg) = arg else {
        return Some(true);
    };
    match arg.node.as_ref()? {
        NodeEnum::Boolean(b) => Some(b.boolval),
        NodeEnum::Integer(i) => match i.ival {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        },
        NodeEnum::String(s) => match s.sval.to_ascii_lowercase().as_str() {
            "true" | "on" => Some(true),
            "false" | "off" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Where a COPY stream is: the binary header comes once, a CSV header line once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyState {
    started: bool,
}

const BINARY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Masks one CopyData payload.
pub fn mask_copy_data(
    data: &[u8],
    format: &CopyFormat,
    mask: &CopyMask,
    state: &mut CopyState,
) -> Result<Vec<u8>, CopyMaskError> {
    let first = !state.started;
    state.started = true;
    match format {
        // The header line (PostgreSQL 15 has one for text too) names columns: no values.
        CopyFormat::Text { header: true, .. } | CopyFormat::Csv { header: true, .. } if first => {
            Ok(data.to_vec())
        }
        CopyFormat::Text {
            delimiter, null, ..
        } => mask_text_row(data, *delimiter, null, mask),
        CopyFormat::Csv {
            delimiter,
            null,
            quote,
            escape,
            ..
        } => mask_csv_row(data, *delimiter, null, *quote, *escape, mask),
        CopyFormat::Binary => mask_binary(data, first, mask),
    }
}

/// Text format: fields split on the delimiter, backslash escapes decoded before masking and
/// applied again after.
fn mask_text_row(
    data: &[u8],
    delimiter: u8,
    null: &[u8],
    mask: &CopyMask,
) -> Result<Vec<u8>, CopyMaskError> {
    let line = data.strip_suffix(b"\n").ok_or(CopyMaskError::Malformed)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let raw_fields: Vec<&[u8]> = line.split(|&b| b == delimiter).collect();
    check_count(raw_fields.len(), mask)?;
    let mut out = Vec::with_capacity(data.len());
    for (i, raw) in raw_fields.iter().enumerate() {
        if i > 0 {
            out.push(delimiter);
        }
        let column = mask.columns.get(i).copied().flatten();
        if column.is_none() {
            out.extend_from_slice(raw);
            continue;
        }
        let value = if *raw == null {
            None
        } else {
            Some(unescape_text(raw))
        };
        match mask_one(value.as_deref(), column, &mask.hash_key) {
            Some(v) => escape_text(&v, delimiter, &mut out),
            None => out.extend_from_slice(null),
        }
    }
    out.push(b'\n');
    Ok(out)
}

fn unescape_text(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' || i + 1 >= raw.len() {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let c = raw[i + 1];
        i += 2;
        match c {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' if raw.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut v = 0u32;
                for _ in 0..2 {
                    match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            other => out.push(other),
        }
    }
    out
}

fn escape_text(value: &[u8], delimiter: u8, out: &mut Vec<u8>) {
    for &b in value {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' if delimiter == b'\t' => out.extend_from_slice(b"\\t"),
            d if d == delimiter => {
                out.push(b'\\');
                out.push(d);
            }
            _ => out.push(b),
        }
    }
}

/// Binary: the header (first payload only), then tuples (Int16 count, -1 = trailer; per field
/// Int32 length, -1 = NULL, and the bytes).
fn mask_binary(data: &[u8], first: bool, mask: &CopyMask) -> Result<Vec<u8>, CopyMaskError> {
    let mut out = Vec::with_capacity(data.len());
    let mut at = 0;
    if first {
        if !data.starts_with(BINARY_SIGNATURE) {
            return Err(CopyMaskError::Malformed);
        }
        at = BINARY_SIGNATURE.len();
        let ext = data
            .get(at + 4..at + 8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(CopyMaskError::Malformed)?;
        at += 8 + usize::try_from(ext).map_err(|_| CopyMaskError::Malformed)?;
        out.extend_from_slice(data.get(..at).ok_or(CopyMaskError::Malformed)?);
    }
    while at < data.len() {
        let count = data
            .get(at..at + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or(CopyMaskError::Malformed)?;
        out.extend_from_slice(&data[at..at + 2]);
        at += 2;
        if count == -1 {
            if at != data.len() {
                return Err(CopyMaskError::Malformed);
            }
            break;
        }
        let count = usize::try_from(count).map_err(|_| CopyMaskError::Malformed)?;
        check_count(count, mask)?;
        for i in 0..count {
            let len = data
                .get(at..at + 4)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or(CopyMaskError::Malformed)?;
            at += 4;
            let value = if len < 0 {
                None
            } else {
                let n = usize::try_from(len).map_err(|_| CopyMaskError::Malformed)?;
                let v = data.get(at..at + n).ok_or(CopyMaskError::Malformed)?;
                at += n;
                Some(v)
            };
            match mask_one(
                value,
                mask.columns.get(i).copied().flatten(),
                &mask.hash_key,
            ) {
                Some(v) => {
                    let n = i32::try_from(v.len()).map_err(|_| CopyMaskError::Malformed)?;
                    out.extend_from_slice(&n.to_be_bytes());
                    out.extend_from_slice(&v);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
    }
    Ok(out)
}
