//! What masking reads of a result's frames: the fields a RowDescription describes, a
//! DataRow's width, and the row of NULLs sent in place of one that cannot be masked.

use pgward_policy::mask::wire::FieldInfo;

/// Parses a RowDescription body into field infos; `None` when malformed.
pub(super) fn fields_of(body: &[u8]) -> Option<Vec<FieldInfo>> {
    let mut c = crate::protocol::decode::Cursor::new(body);
    let n = c.count16().ok()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        c.cstr_bytes().ok()?;
        let table_oid = c.i32().ok()? as u32;
        let attnum = c.i16().ok()?;
        let type_oid = c.i32().ok()? as u32;
        c.i16().ok()?;
        c.i32().ok()?;
        let format = c.i16().ok()?;
        out.push(FieldInfo {
            table_oid,
            attnum,
            type_oid,
            format,
        });
    }
    Some(out)
}

/// Fields of unknown type and origin (an Execute nobody described): masked values become
/// NULL, which every type accepts.
pub(super) fn unknown_fields(count: usize) -> Vec<FieldInfo> {
    vec![
        FieldInfo {
            table_oid: 0,
            attnum: 0,
            type_oid: 0,
            format: 0,
        };
        count
    ]
}

/// The column count of a DataRow body.
pub(super) fn row_width(body: &[u8]) -> usize {
    body.get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        .unwrap_or(0)
}

/// A DataRow of `count` NULLs (a row pgward could not mask as planned).
pub(super) fn null_row(count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + 4 * count);
    out.extend_from_slice(&u16::try_from(count).unwrap_or(0).to_be_bytes());
    for _ in 0..count {
        out.extend_from_slice(&(-1i32).to_be_bytes());
    }
    out
}
