//! Strict decoding of the messages pgward inspects. Text that will be judged is checked as
//! UTF-8 on the raw bytes: nothing downstream ever sees a repaired string.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("message is missing a string terminator")]
    Unterminated,
    #[error("message is shorter than its contents")]
    Short,
    #[error("invalid byte sequence for encoding \"UTF8\"")]
    NotUtf8,
    #[error("invalid message format")]
    Trailing,
    #[error("invalid CLOSE or DESCRIBE message subtype {0}")]
    Subtype(u8),
}

/// A cursor over a message body.
pub struct Cursor<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        Cursor { body, pos: 0 }
    }
    pub fn cstr_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let rest = &self.body[self.pos..];
        let end = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or(DecodeError::Unterminated)?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }
    pub fn cstr(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.cstr_bytes()?).map_err(|_| DecodeError::NotUtf8)
    }
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    /// An Int16 count: PostgreSQL reads counts with `pq_getmsgint(msg, 2)`, unsigned, so a
    /// message may carry up to 65,535 parameters.
    pub fn count16(&mut self) -> Result<usize, DecodeError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.body.len() - self.pos < n {
            return Err(DecodeError::Short);
        }
        let s = &self.body[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn rest(&self) -> &'a [u8] {
        &self.body[self.pos..]
    }
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.pos == self.body.len() {
            Ok(())
        } else {
            Err(DecodeError::Trailing)
        }
    }
}

/// Query ('Q'): the SQL text.
pub fn query(body: &[u8]) -> Result<&str, DecodeError> {
    let mut c = Cursor::new(body);
    let sql = c.cstr()?;
    c.finish()?;
    Ok(sql)
}

/// Query ('Q') text as the client's bytes (read in its client_encoding by `client_text`).
pub fn query_bytes(body: &[u8]) -> Result<&[u8], DecodeError> {
    let mut c = Cursor::new(body);
    let sql = c.cstr_bytes()?;
    c.finish()?;
    Ok(sql)
}

/// Parse ('P'): statement name and SQL text (parameter types are forwarded untouched).
pub fn parse(body: &[u8]) -> Result<(&str, &str), DecodeError> {
    let mut c = Cursor::new(body);
    let name = c.cstr()?;
    let sql = c.cstr()?;
    let n = c.count16()?;
    c.take(n * 4)?;
    c.finish()?;
    Ok((name, sql))
}

/// Parse ('P') with the SQL text as the client's bytes (the statement name is UTF-8).
pub fn parse_bytes(body: &[u8]) -> Result<(&str, &[u8]), DecodeError> {
    let mut c = Cursor::new(body);
    let name = c.cstr()?;
    let sql = c.cstr_bytes()?;
    let n = c.count16()?;
    c.take(n * 4)?;
    c.finish()?;
    Ok((name, sql))
}

/// Bind ('B') checked field by field with the protocol's widths: format codes, parameter
/// values (Int32 length, -1 for NULL) and result formats; returns portal and statement names.
pub fn bind(body: &[u8]) -> Result<(&str, &str), DecodeError> {
    let mut c = Cursor::new(body);
    let portal = c.cstr()?;
    let stmt = c.cstr()?;
    let formats = c.count16()?;
    c.take(formats * 2)?;
    skip_values(&mut c)?;
    let results = c.count16()?;
    c.take(results * 2)?;
    c.finish()?;
    Ok((portal, stmt))
}

/// A parameter count (UInt16) and that many values (Int32 length, -1 for NULL, then the
/// bytes), as Bind and FunctionCall carry them. Returns the count.
fn skip_values(c: &mut Cursor<'_>) -> Result<usize, DecodeError> {
    let params = c.count16()?;
    for _ in 0..params {
        let len = c.i32()?;
        if len > 0 {
            c.take(len as usize)?; // ok: len > 0 was checked
        } else if len < -1 {
            return Err(DecodeError::Short);
        }
    }
    Ok(params)
}

/// FunctionCall ('F', the fastpath interface): the function's OID and how many arguments
/// the call carries.
pub fn function_call(body: &[u8]) -> Result<(u32, usize), DecodeError> {
    let mut c = Cursor::new(body);
    let oid = u32::from_be_bytes(c.i32()?.to_be_bytes());
    let formats = c.count16()?;
    c.take(formats * 2)?;
    let args = skip_values(&mut c)?;
    c.take(2)?; // the result's format code
    c.finish()?;
    Ok((oid, args))
}

/// Execute ('E'): portal name and the row limit (Int32; 0 or less means all rows).
pub fn execute(body: &[u8]) -> Result<(&str, i32), DecodeError> {
    let mut c = Cursor::new(body);
    let portal = c.cstr()?;
    let max_rows = c.i32()?;
    c.finish()?;
    Ok((portal, max_rows))
}

/// Close ('C') or Describe ('D'): kind byte ('S' statement, 'P' portal) and name. Checked as
/// PostgreSQL checks them (another kind, or bytes after the name, is its 08P01), so pgward
/// never answers in line, or forgets a name, for a message the server would refuse.
pub fn target(body: &[u8]) -> Result<(u8, &str), DecodeError> {
    let mut c = Cursor::new(body);
    let kind = c.u8()?;
    if kind != b'S' && kind != b'P' {
        return Err(DecodeError::Subtype(kind));
    }
    let name = c.cstr()?;
    c.finish()?;
    Ok((kind, name))
}

/// Sync ('S') and Flush ('H') carry nothing; PostgreSQL refuses one that does.
pub fn empty(body: &[u8]) -> Result<(), DecodeError> {
    Cursor::new(body).finish()
}

/// ParameterStatus ('S'): name and value.
pub fn parameter_status(body: &[u8]) -> Result<(&str, &str), DecodeError> {
    let mut c = Cursor::new(body);
    Ok((c.cstr()?, c.cstr()?))
}

/// CommandComplete ('C'): the number of rows from the tag (`UPDATE 5`, `INSERT 0 5`, ...).
pub fn command_rows(body: &[u8]) -> Option<u64> {
    let tag = std::str::from_utf8(body.strip_suffix(&[0])?).ok()?;
    tag.rsplit(' ').next()?.parse().ok()
}

/// ErrorResponse/NoticeResponse: the value of one field.
pub fn error_field(body: &[u8], field: u8) -> Option<String> {
    let mut c = Cursor::new(body);
    loop {
        let f = c.u8().ok()?;
        if f == 0 {
            return None;
        }
        let v = c.cstr_bytes().ok()?;
        if f == field {
            return Some(String::from_utf8_lossy(v).into_owned());
        }
    }
}

/// The startup message's parameters, in order (duplicates kept, unlike a map).
pub fn startup_params(body: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    let mut c = Cursor::new(body);
    let mut params = Vec::new();
    loop {
        let name = c.cstr()?;
        if name.is_empty() {
            break;
        }
        let value = c.cstr()?;
        params.push((name.to_string(), value.to_string()));
    }
    c.finish()?;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_strict_utf8() {
        assert_eq!(query(b"SELECT 1\0"), Ok("SELECT 1"));
        assert_eq!(query(b"SELECT '\xff'\0"), Err(DecodeError::NotUtf8));
        assert_eq!(query(b"SELECT 1"), Err(DecodeError::Unterminated));
        assert_eq!(query(b"SELECT 1\0x"), Err(DecodeError::Trailing));
    }

    #[test]
    fn function_call_fields() {
        // OID above i32::MAX, one format code, 40,000 NULL arguments, a result format.
        let mut b = 3_000_000_000u32.to_be_bytes().to_vec();
        b.extend_from_slice(&[0, 1, 0, 1]);
        b.extend_from_slice(&40_000u16.to_be_bytes());
        for _ in 0..40_000 {
            b.extend_from_slice(&(-1i32).to_be_bytes());
        }
        b.extend_from_slice(&[0, 0]);
        assert_eq!(function_call(&b), Ok((3_000_000_000, 40_000)));
        assert!(function_call(&b[..b.len() - 1]).is_err());
        assert!(function_call(&[b.as_slice(), &[0]].concat()).is_err());
    }

    #[test]
    fn parse_message_fields() {
        let body = b"s1\0SELECT $1\0\0\x01\0\0\0\x17";
        assert_eq!(parse(body), Ok(("s1", "SELECT $1")));
        assert!(parse(b"s1\0SELECT\0\0\x02\0\0\0\x17").is_err());
        // 65,535 declared parameter types but none present.
        assert!(parse(b"s1\0SELECT\0\xff\xff").is_err());
    }

    fn parse_with(n: usize) -> Vec<u8> {
        let mut b = b"s\0SELECT 1\0".to_vec();
        b.extend_from_slice(&(n as u16).to_be_bytes());
        b.extend(std::iter::repeat_n(0u8, n * 4));
        b
    }

    fn bind_with(n: usize) -> Vec<u8> {
        let mut b = b"p\0s\0\0\0".to_vec();
        b.extend_from_slice(&(n as u16).to_be_bytes());
        for _ in 0..n {
            b.extend_from_slice(&1i32.to_be_bytes());
            b.push(b'7');
        }
        b.extend_from_slice(&0u16.to_be_bytes());
        b
    }

    #[test]
    fn counts_are_unsigned_sixteen_bit() {
        for n in [0, 1, 32_767, 32_768, 65_535] {
            assert_eq!(
                parse(&parse_with(n)),
                Ok(("s", "SELECT 1")),
                "parse with {n}"
            );
            assert_eq!(bind(&bind_with(n)), Ok(("p", "s")), "bind with {n}");
        }
        let mut short = bind_with(3);
        short.truncate(short.len() - 3);
        assert!(bind(&short).is_err());
    }

    #[test]
    fn bind_null_and_bad_lengths() {
        let mut b = b"\0\0\0\0\0\x01".to_vec();
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        assert_eq!(bind(&b), Ok(("", "")));
        let mut bad = b"\0\0\0\0\0\x01".to_vec();
        bad.extend_from_slice(&(-2i32).to_be_bytes());
        bad.extend_from_slice(&0u16.to_be_bytes());
        assert!(bind(&bad).is_err());
    }

    #[test]
    fn close_and_describe_are_strict() {
        assert_eq!(target(b"Sname\0"), Ok((b'S', "name")));
        assert_eq!(target(b"P\0"), Ok((b'P', "")));
        assert_eq!(target(b"Sname\0x"), Err(DecodeError::Trailing));
        assert_eq!(target(b"Xname\0"), Err(DecodeError::Subtype(b'X')));
        assert_eq!(target(b"S"), Err(DecodeError::Unterminated));
        assert_eq!(empty(b""), Ok(()));
        assert_eq!(empty(b"\0"), Err(DecodeError::Trailing));
    }

    #[test]
    fn execute_fields() {
        assert_eq!(execute(b"p\0\0\0\0\x05"), Ok(("p", 5)));
        assert!(execute(b"p\0\0\0").is_err());
    }

    #[test]
    fn command_complete_rows() {
        assert_eq!(command_rows(b"UPDATE 12\0"), Some(12));
        assert_eq!(command_rows(b"INSERT 0 3\0"), Some(3));
        assert_eq!(command_rows(b"BEGIN\0"), None);
    }

    #[test]
    fn startup_params_keep_order_and_duplicates() {
        let body = b"user\0a\0options\0-c x=1\0user\0b\0\0";
        let p = startup_params(body).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[2], ("user".into(), "b".into()));
        assert!(startup_params(b"user\0a\0").is_err());
    }

    #[test]
    fn error_fields() {
        let body = b"SERROR\0C42501\0Mno\0\0";
        assert_eq!(error_field(body, b'C').as_deref(), Some("42501"));
        assert_eq!(error_field(body, b'D'), None);
    }
}
