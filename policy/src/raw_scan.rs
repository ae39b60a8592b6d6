//! PostgreSQL's scanner (libpg_query's `pg_query_scan_tokens`), its tokens read straight from
//! the C array.
//!
//! `pg_query::scan` packs the tokens into protobuf and decodes them again (two thirds of a
//! scan's cost, on every statement the decision cache is asked about); `pg_query::scan_tokens`
//! skips that but builds a slice from a null pointer when a text has no token. This calls the
//! same C entry point and reads its array in place, an empty text included.

use std::ffi::{c_char, c_int, CString};

/// One token as libpg_query's `PgQueryScanToken` lays it out.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawToken {
    /// Byte offset of the token in the text.
    pub start: c_int,
    /// Byte offset just past it.
    pub end: c_int,
    /// The token kind, numbered as `pg_query::protobuf::Token`.
    pub token: c_int,
    pub keyword_kind: c_int,
}

#[repr(C)]
struct ScanTokensResult {
    tokens: *mut RawToken,
    n_tokens: c_int,
    error: *mut ScanError,
}

/// The head of libpg_query's `PgQueryError` (only the message is read).
#[repr(C)]
struct ScanError {
    message: *mut c_char,
}

extern "C" {
    fn pg_query_scan_tokens(input: *const c_char) -> ScanTokensResult;
    fn pg_query_free_scan_tokens_result(result: ScanTokensResult);
}

/// Why a text could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanFailure {
    /// The text holds a NUL byte (no PostgreSQL statement can).
    Nul,
    /// The scanner's own message (an unterminated string or comment, say).
    Scanner(String),
}

impl std::fmt::Display for ScanFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanFailure::Nul => f.write_str("the text holds a NUL byte"),
            ScanFailure::Scanner(m) => f.write_str(m),
        }
    }
}

/// The tokens of `sql` as PostgreSQL's scanner reads it (in the calling thread's scanner mode).
pub fn scan(sql: &str) -> Result<Vec<RawToken>, ScanFailure> {
    let input = CString::new(sql).map_err(|_| ScanFailure::Nul)?;
    // SAFETY: `input` is a valid NUL-terminated string that outlives the call; the result is
    // read according to libpg_query's header (the array holds `n_tokens` tokens when the
    // pointer is not null, the error's first field is its message) and freed once, by the
    // library's own function, after everything needed was copied out.
    unsafe {
        let result = pg_query_scan_tokens(input.as_ptr());
        let out = if !result.error.is_null() {
            let message = (*result.error).message;
            Err(ScanFailure::Scanner(if message.is_null() {
                String::from("syntax error")
            } else {
                std::ffi::CStr::from_ptr(message)
                    .to_string_lossy()
                    .into_owned()
            }))
        } else if result.n_tokens <= 0 {
            Ok(Vec::new())
        } else if result.tokens.is_null() {
            Err(ScanFailure::Scanner(String::from("out of memory")))
        } else {
            let n = usize::try_from(result.n_tokens).unwrap_or(0);
            Ok(std::slice::from_raw_parts(result.tokens, n).to_vec())
        };
        pg_query_free_scan_tokens_result(result);
        out
    }
}
