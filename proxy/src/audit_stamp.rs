//! The audit line's timestamp and fingerprint, written without `core::fmt`: the writer thread
//! formats one of each per statement, and the date part changes once a second.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// The first second of the year 10000.
const LAST_SECOND: u64 = 253_402_300_800;

/// RFC 3339 in UTC with milliseconds, as `humantime::format_rfc3339_millis` writes it
/// (`2026-12-02T15:04:05.123Z`), the part up to the seconds kept for the second it names.
#[derive(Default)]
pub struct StampCache {
    /// The whole second the prefix names, and `YYYY-MM-DDTHH:MM:SS`.
    second: Option<(u64, [u8; 19])>,
}

impl StampCache {
    pub fn write(&mut self, at: SystemTime, out: &mut impl Write) -> std::io::Result<()> {
        // RFC 3339 covers years 0000-9999 and humantime panics outside 1970-9999: a clock set
        // that wrong gets an error (logged by the writer), not a dead writer thread.
        let since = at
            .duration_since(UNIX_EPOCH)
            .ok()
            .filter(|d| d.as_secs() < LAST_SECOND)
            .ok_or_else(|| std::io::Error::other("the system clock is outside 1970-9999"))?;
        let second = since.as_secs();
        let prefix = match self.second {
            Some((s, p)) if s == second => p,
            _ => {
                let whole = UNIX_EPOCH + std::time::Duration::from_secs(second);
                let text = humantime::format_rfc3339_seconds(whole).to_string();
                let mut p = [0u8; 19];
                let head = text.as_bytes().get(..19).ok_or_else(|| {
                    std::io::Error::other("the system clock is outside 1970-9999")
                })?;
                p.copy_from_slice(head);
                self.second = Some((second, p));
                p
            }
        };
        let millis = since.subsec_millis();
        let tail = [
            b'.',
            b'0' + (millis / 100) as u8,
            b'0' + (millis / 10 % 10) as u8,
            b'0' + (millis % 10) as u8,
            b'Z',
        ];
        out.write_all(&prefix)?;
        out.write_all(&tail)
    }
}

/// `{:016x}` of a fingerprint.
pub fn write_hex16(value: u64, out: &mut impl Write) -> std::io::Result<()> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 16];
    for (i, b) in text.iter_mut().enumerate() {
        *b = DIGITS[((value >> (60 - 4 * i)) & 0xf) as usize];
    }
    out.write_all(&text)
}

#[cfg(test)]
#[path = "audit_stamp_tests.rs"]
mod tests;
