//! One CSV row of COPY data: quoted fields (the escape character before a quote inside),
//! NULL as the unquoted null string.

use super::copy_mask::{check_count, mask_one, CopyMask, CopyMaskError};

/// CSV: quoted fields (with the escape character before a quote inside), NULL as the null
/// string unquoted.
pub(super) fn mask_csv_row(
    data: &[u8],
    delimiter: u8,
    null: &[u8],
    quote: u8,
    escape: u8,
    mask: &CopyMask,
) -> Result<Vec<u8>, CopyMaskError> {
    let line = data.strip_suffix(b"\n").ok_or(CopyMaskError::Malformed)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // (value, was quoted, raw bytes)
    let mut fields: Vec<(Vec<u8>, bool, &[u8])> = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        let mut value = Vec::new();
        let mut quoted = false;
        let mut in_quotes = false;
        while i < line.len() {
            let b = line[i];
            if in_quotes {
                // As PostgreSQL's CSV reader: the escape character quotes the next byte when
                // that is the quote or the escape character itself.
                let next = line.get(i + 1).copied();
                if b == escape && escape != quote && (next == Some(quote) || next == Some(escape)) {
                    value.push(line[i + 1]);
                    i += 2;
                } else if b == quote {
                    if escape == quote && line.get(i + 1) == Some(&quote) {
                        value.push(quote);
                        i += 2;
                    } else {
                        in_quotes = false;
                        i += 1;
                    }
                } else {
                    value.push(b);
                    i += 1;
                }
            } else if b == quote {
                in_quotes = true;
                quoted = true;
                i += 1;
            } else if b == delimiter {
                break;
            } else {
                value.push(b);
                i += 1;
            }
        }
        if in_quotes {
            return Err(CopyMaskError::Malformed);
        }
        fields.push((value, quoted, &line[start..i]));
        if i >= line.len() {
            break;
        }
        i += 1;
    }
    check_count(fields.len(), mask)?;
    let mut out = Vec::with_capacity(data.len());
    for (n, (value, quoted, raw)) in fields.iter().enumerate() {
        if n > 0 {
            out.push(delimiter);
        }
        let column = mask.columns.get(n).copied().flatten();
        if column.is_none() {
            out.extend_from_slice(raw);
            continue;
        }
        let is_null = !quoted && value.as_slice() == null;
        let input = (!is_null).then_some(value.as_slice());
        match mask_one(input, column, &mask.hash_key) {
            Some(v) => {
                out.push(quote);
                for &b in &v {
                    if b == quote || b == escape {
                        out.push(escape);
                    }
                    out.push(b);
                }
                out.push(quote);
            }
            None => out.extend_from_slice(null),
        }
    }
    out.push(b'\n');
    Ok(out)
}
