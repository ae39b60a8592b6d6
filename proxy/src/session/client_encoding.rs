//! The client's encoding: statement text is judged as the server will read it, converted
//! from the client's client_encoding (`crate::client_text`); the bytes go to the server as
//! they came.

use super::*;

impl Session {
    /// A statement's text as the server will read it: the client's bytes in its
    /// client_encoding (`client_text.rs`), refused with 22021 when they are not valid there.
    pub(super) fn client_text<'a>(
        &self,
        bytes: &'a [u8],
    ) -> Result<std::borrow::Cow<'a, str>, PgError> {
        let encoding = self
            .desired
            .iter()
            .find(|(k, _)| k == "client_encoding")
            .map_or("UTF8", |(_, v)| v.as_str());
        if let Ok(s) = std::str::from_utf8(bytes) {
            // ASCII reads the same in every encoding read here; the usual UTF8 client needs
            // no encoding lookup.
            if s.is_ascii() || encoding.eq_ignore_ascii_case("UTF8") {
                return Ok(std::borrow::Cow::Borrowed(s));
            }
        }
        crate::client_text::ClientText::for_encoding(encoding)
            .read(bytes, encoding)
            .map_err(|e| PgError::error(sqlstate::CHARACTER_NOT_IN_REPERTOIRE, e.to_string()))
    }

    pub(super) fn client_is_utf8(&self) -> bool {
        self.desired
            .iter()
            .find(|(k, _)| k == "client_encoding")
            .is_none_or(|(_, v)| {
                crate::client_text::ClientText::for_encoding(v)
                    == crate::client_text::ClientText::Utf8
            })
    }
}
