//! Statement text in the client's encoding, read as PostgreSQL reads it. The server converts a
//! client's text to its own encoding (UTF-8) before its lexer sees it, so pgward judges the
//! same conversion and forwards the original bytes. Only encodings whose bytes can never hide
//! an ASCII quote or backslash inside a character are read (the others are refused by the
//! client_encoding pin); an encoding pgward cannot convert exactly is refused, fail closed.

use std::borrow::Cow;

use encoding_rs::Encoding;

/// PostgreSQL's own name for a client encoding (what its ParameterStatus reports), for the
/// names and common aliases it accepts.
pub fn canonical_encoding(name: &str) -> Option<&'static str> {
    const NAMES: &[&str] = &[
        "SQL_ASCII",
        "EUC_JP",
        "EUC_CN",
        "EUC_KR",
        "EUC_TW",
        "EUC_JIS_2004",
        "UTF8",
        "MULE_INTERNAL",
        "LATIN1",
        "LATIN2",
        "LATIN3",
        "LATIN4",
        "LATIN5",
        "LATIN6",
        "LATIN7",
        "LATIN8",
        "LATIN9",
        "LATIN10",
        "WIN1256",
        "WIN1258",
        "WIN866",
        "WIN874",
        "KOI8R",
        "WIN1251",
        "WIN1252",
        "ISO_8859_5",
        "ISO_8859_6",
        "ISO_8859_7",
        "ISO_8859_8",
        "WIN1250",
        "WIN1253",
        "WIN1254",
        "WIN1255",
        "WIN1257",
        "KOI8U",
        "SJIS",
        "BIG5",
        "GBK",
        "UHC",
        "GB18030",
        "JOHAB",
        "SHIFT_JIS_2004",
    ];
    const ALIASES: &[(&str, &str)] = &[
        ("unicode", "UTF8"),
        ("iso88591", "LATIN1"),
        ("iso88592", "LATIN2"),
        ("iso88593", "LATIN3"),
        ("iso88594", "LATIN4"),
        ("iso88599", "LATIN5"),
        ("iso885910", "LATIN6"),
        ("iso885913", "LATIN7"),
        ("iso885914", "LATIN8"),
        ("iso885915", "LATIN9"),
        ("iso885916", "LATIN10"),
        ("koi8", "KOI8R"),
        ("shiftjis", "SJIS"),
        ("mskanji", "SJIS"),
        ("windows1252", "WIN1252"),
        ("windows1251", "WIN1251"),
        ("windows1250", "WIN1250"),
    ];
    let clean = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = clean(name);
    NAMES
        .iter()
        .find(|n| clean(n) == wanted)
        .copied()
        .or_else(|| ALIASES.iter().find(|(a, _)| *a == wanted).map(|(_, n)| *n))
}

/// How a client's text is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientText {
    /// UTF8, and SQL_ASCII (which the server does not convert: it must be valid UTF-8 for a
    /// UTF-8 database anyway).
    Utf8,
    /// A single-byte ISO 8859 encoding: bytes 0x80-0x9F are the C1 controls U+0080-U+009F
    /// in PostgreSQL's tables, where the WHATWG decoders (which this uses for the rest) put
    /// Windows characters.
    Iso8859(&'static Encoding),
    /// Any other encoding the decoder reads exactly as PostgreSQL's conversion does.
    Other(&'static Encoding),
    /// Not one pgward can read: its text is refused.
    Unsupported,
}

/// Why a text could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TextError {
    #[error("invalid byte sequence for encoding \"{0}\"")]
    Invalid(String),
    #[error("pgward cannot read statements in client encoding \"{0}\"")]
    Unsupported(String),
}

impl ClientText {
    /// The reading for a client_encoding as PostgreSQL names it (its ParameterStatus, or
    /// one of the names and aliases it accepts).
    pub fn for_encoding(name: &str) -> ClientText {
        let canonical = canonical_encoding(name).unwrap_or(name);
        let iso = |label: &[u8]| {
            Encoding::for_label(label).map_or(ClientText::Unsupported, ClientText::Iso8859)
        };
        let other = |label: &[u8]| {
            Encoding::for_label(label).map_or(ClientText::Unsupported, ClientText::Other)
        };
        match canonical.to_ascii_uppercase().as_str() {
            "UTF8" | "SQL_ASCII" => ClientText::Utf8,
            // LATIN1 and LATIN5 map to windows-1252/1254 in WHATWG: the same outside C1.
            "LATIN1" => iso(b"windows-1252"),
            "LATIN2" => iso(b"iso-8859-2"),
            "LATIN3" => iso(b"iso-8859-3"),
            "LATIN4" => iso(b"iso-8859-4"),
            "LATIN5" => iso(b"windows-1254"),
            "LATIN6" => iso(b"iso-8859-10"),
            "LATIN7" => iso(b"iso-8859-13"),
            "LATIN8" => iso(b"iso-8859-14"),
            "LATIN9" => iso(b"iso-8859-15"),
            "LATIN10" => iso(b"iso-8859-16"),
            "ISO_8859_5" => iso(b"iso-8859-5"),
            "ISO_8859_6" => iso(b"iso-8859-6"),
            "ISO_8859_7" => iso(b"iso-8859-7"),
            "ISO_8859_8" => iso(b"iso-8859-8"),
            "KOI8R" => other(b"koi8-r"),
            "KOI8U" => other(b"koi8-u"),
            "WIN866" => other(b"ibm866"),
            "WIN1250" => other(b"windows-1250"),
            "WIN1251" => other(b"windows-1251"),
            "WIN1252" => other(b"windows-1252"),
            "WIN1253" => other(b"windows-1253"),
            "WIN1254" => other(b"windows-1254"),
            "WIN1255" => other(b"windows-1255"),
            "WIN1256" => other(b"windows-1256"),
            "WIN1257" => other(b"windows-1257"),
            "WIN1258" => other(b"windows-1258"),
            "EUC_JP" => other(b"euc-jp"),
            "EUC_KR" => other(b"euc-kr"),
            _ => ClientText::Unsupported,
        }
    }

    /// The text as the server will read it; borrowed when it is UTF-8 already.
    pub fn read<'a>(&self, bytes: &'a [u8], encoding: &str) -> Result<Cow<'a, str>, TextError> {
        let invalid = || TextError::Invalid(encoding.to_string());
        if let Ok(s) = std::str::from_utf8(bytes) {
            // ASCII reads the same in every encoding read here; other UTF-8 only in UTF8.
            if *self == ClientText::Utf8 || s.is_ascii() {
                return Ok(Cow::Borrowed(s));
            }
        }
        match self {
            ClientText::Utf8 => Err(TextError::Invalid("UTF8".to_string())),
            ClientText::Iso8859(enc) => {
                let mut out = String::with_capacity(bytes.len() * 2);
                for &b in bytes {
                    if (0x80..0xA0).contains(&b) {
                        out.push(char::from(b));
                    } else {
                        let one = [b];
                        let decoded = enc
                            .decode_without_bom_handling_and_without_replacement(&one)
                            .ok_or_else(invalid)?;
                        out.push_str(&decoded);
                    }
                }
                Ok(Cow::Owned(out))
            }
            ClientText::Other(enc) => enc
                .decode_without_bom_handling_and_without_replacement(bytes)
                .map(|s| Cow::Owned(s.into_owned()))
                .ok_or_else(invalid),
            ClientText::Unsupported => Err(TextError::Unsupported(encoding.to_string())),
        }
    }
}

/// `rewritten` in the client's encoding, where `rewritten` is `original` (the client's
/// `bytes`, read) with ASCII characters inserted. Every encoding read here keeps ASCII as
/// itself and writes every other character with bytes of 0x80 and above, so the ASCII bytes
/// of the two correspond in order and each run of other characters is one run of high bytes.
/// `None` when the texts do not correspond so (nothing is guessed).
pub fn with_ascii_inserted(original: &str, bytes: &[u8], rewritten: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() + rewritten.len().saturating_sub(original.len()));
    let (mut o, mut b) = (original, bytes);
    let mut r = rewritten;
    while let Some(c) = r.chars().next() {
        if c.is_ascii() {
            // The original's next character, or one inserted.
            if o.starts_with(c) && b.first() == Some(&(c as u8)) {
                o = &o[1..];
                b = &b[1..];
            }
            out.push(c as u8);
            r = &r[1..];
            continue;
        }
        // A run of other characters: the original's next, and the client's next high bytes.
        let run = o.len() - o.trim_start_matches(|c: char| !c.is_ascii()).len();
        let high = b.iter().take_while(|&&x| x >= 0x80).count();
        if run == 0 || high == 0 || !r.starts_with(&o[..run]) {
            return None;
        }
        out.extend_from_slice(&b[..high]);
        o = &o[run..];
        b = &b[high..];
        r = &r[run..];
    }
    (o.is_empty() && b.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_inserted_into_text_in_another_encoding() {
        let original = "SELECT '€\\x', 'ü'";
        let bytes = b"SELECT '\xa4\\x', '\xfc'";
        let rewritten = "SELECT E'€\\\\x', 'ü'";
        assert_eq!(
            with_ascii_inserted(original, bytes, rewritten).as_deref(),
            Some(&b"SELECT E'\xa4\\\\x', '\xfc'"[..])
        );
        // Texts that do not correspond are not guessed at.
        assert_eq!(with_ascii_inserted(original, bytes, "SELECT 'x'"), None);
        assert_eq!(with_ascii_inserted(original, b"SELECT", rewritten), None);
    }

    fn read(enc: &str, bytes: &[u8]) -> Result<String, TextError> {
        ClientText::for_encoding(enc)
            .read(bytes, enc)
            .map(|c| c.into_owned())
    }

    #[test]
    fn single_byte_encodings_read_as_postgresql_converts_them() {
        // LATIN9 has the euro sign at 0xA4; LATIN1 has the currency sign there.
        assert_eq!(
            read("LATIN9", b"select '\xa4'").as_deref(),
            Ok("select '€'")
        );
        assert_eq!(
            read("latin1", b"select '\xa4'").as_deref(),
            Ok("select '¤'")
        );
        // C1 bytes are controls in ISO 8859, not Windows characters.
        assert_eq!(read("LATIN1", b"\x80").as_deref(), Ok("\u{80}"));
        assert_eq!(read("LATIN5", b"\x80\xdd").as_deref(), Ok("\u{80}İ"));
        assert_eq!(read("WIN1252", b"\x80").as_deref(), Ok("€"));
        assert_eq!(read("KOI8R", b"\xc1").as_deref(), Ok("а"));
        // Aliases PostgreSQL accepts.
        assert_eq!(read("iso-8859-15", b"\xa4").as_deref(), Ok("€"));
    }

    #[test]
    fn utf8_is_strict_and_unknown_encodings_fail_closed() {
        assert_eq!(read("UTF8", b"select 1").as_deref(), Ok("select 1"));
        assert!(matches!(read("UTF8", b"\xa4"), Err(TextError::Invalid(_))));
        // Multi-byte: an invalid EUC-JP sequence is refused.
        assert_eq!(read("EUC_JP", b"\xa4\xa2").as_deref(), Ok("あ"));
        assert!(matches!(
            read("EUC_JP", b"\xa4"),
            Err(TextError::Invalid(_))
        ));
        assert!(matches!(
            read("MULE_INTERNAL", b"\x81\x82"),
            Err(TextError::Unsupported(_))
        ));
        // ASCII reads the same everywhere, even where the encoding is not supported.
        assert_eq!(read("EUC_TW", b"select 1").as_deref(), Ok("select 1"));
    }
}
