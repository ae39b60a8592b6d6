//! Time settings read exactly as PostgreSQL's `parse_int` reads them (guc.c): `strtol` with
//! base 0 (hex `0x..`, octal `0..`), else `strtod` (fractions, exponents), optional spaces, a
//! case-sensitive unit (`us ms s min h d`), fractions of a unit rounded to the next smaller
//! unit, then `rint` (ties to even). `'0.4'` is 0 (no limit) to the server, so it is to us.

/// PostgreSQL's `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn skip_spaces(s: &[u8], mut i: usize) -> usize {
    while s.get(i).is_some_and(|b| is_c_space(*b)) {
        i += 1;
    }
    i
}

/// `strtol(s, &end, 0)`: the value and where it stopped; `None` value on overflow (ERANGE).
/// When nothing converts, the end is 0 (the start of the text), as in C.
fn strtol(s: &[u8]) -> (Option<i64>, usize) {
    let mut i = skip_spaces(s, 0);
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let (radix, digits_start) = if s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        (16, i + 2)
    } else if s.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let mut j = digits_start;
    let mut value: Option<i64> = Some(0);
    while let Some(d) = s.get(j).and_then(|b| (*b as char).to_digit(radix)) {
        value = value
            .and_then(|v| v.checked_mul(i64::from(radix)))
            .and_then(|v| v.checked_add(i64::from(d)));
        j += 1;
    }
    if j == digits_start {
        return (Some(0), 0);
    }
    (value.map(|v| if negative { -v } else { v }), j)
}

/// `strtod` for decimal text (`[+-]digits[.digits][e[+-]digits]`, `inf`, `nan`): the value and
/// where it stopped (0 when nothing converts). Hex floats are not read (refused by callers).
fn strtod(s: &[u8]) -> (f64, usize) {
    let start = skip_spaces(s, 0);
    let mut i = start;
    if matches!(s.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let rest = std::str::from_utf8(&s[i..])
        .unwrap_or("")
        .to_ascii_lowercase();
    for word in ["infinity", "inf", "nan"] {
        if rest.starts_with(word) {
            let end = i + word.len();
            let text = std::str::from_utf8(&s[start..end]).unwrap_or("nan");
            return (text.parse().unwrap_or(f64::NAN), end);
        }
    }
    let int_start = i;
    while s.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if s.get(i) == Some(&b'.') {
        let frac_start = i + 1;
        let mut k = frac_start;
        while s.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
        }
        digits += k - frac_start;
        if digits > 0 {
            i = k;
        }
    }
    if digits == 0 {
        return (0.0, 0);
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let mut k = i + 1;
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let exp_start = k;
        while s.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
        }
        if k > exp_start {
            i = k;
        }
    }
    let text = std::str::from_utf8(&s[start..i]).unwrap_or("");
    match text.parse::<f64>() {
        Ok(v) => (v, i),
        Err(_) => (0.0, 0),
    }
}

/// Milliseconds per unit, largest first, as guc.c's time table for a millisecond setting.
const UNITS_MS: &[(&str, f64)] = &[
    ("d", 86_400_000.0),
    ("h", 3_600_000.0),
    ("min", 60_000.0),
    ("s", 1_000.0),
    ("ms", 1.0),
    ("us", 0.001),
];

/// A time setting whose base unit is `base_unit_ms` milliseconds (1 for statement_timeout,
/// lock_timeout, idle_in_transaction_session_timeout), converted to that base unit as the
/// server converts it; `None` where the server would refuse the text.
pub fn parse_pg_duration(value: &str, base_unit_ms: f64) -> Option<i64> {
    let s = value.as_bytes();
    let (int, mut end) = strtol(s);
    let mut val = match int {
        Some(v) if !matches!(s.get(end), Some(b'.' | b'e' | b'E')) => v as f64,
        _ => {
            let (v, e) = strtod(s);
            end = e;
            v
        }
    };
    if end == 0 || val.is_nan() {
        return None;
    }
    let mut i = skip_spaces(s, end);
    if i < s.len() {
        let unit_start = i;
        while i < s.len() && !is_c_space(s[i]) {
            i += 1;
        }
        let unit = std::str::from_utf8(&s[unit_start..i]).ok()?;
        if skip_spaces(s, i) != s.len() {
            return None;
        }
        let pos = UNITS_MS.iter().position(|(u, _)| *u == unit)?;
        let multiplier = UNITS_MS[pos].1 / base_unit_ms;
        let mut converted = val * multiplier;
        if let Some((_, smaller)) = UNITS_MS.get(pos + 1) {
            let smaller = smaller / base_unit_ms;
            converted = (converted / smaller).round_ties_even() * smaller;
        }
        val = converted;
    }
    let val = val.round_ties_even();
    if !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&val) {
        return None;
    }
    Some(val as i64)
}

#[cfg(test)]
mod tests {
    use super::parse_pg_duration as p;

    #[test]
    fn reads_as_postgres_reads() {
        assert_eq!(p("10s", 1.0), Some(10_000));
        assert_eq!(p(" 10 s ", 1.0), Some(10_000));
        assert_eq!(p("250", 1.0), Some(250));
        assert_eq!(p("0.4", 1.0), Some(0));
        assert_eq!(p("0.5", 1.0), Some(0));
        assert_eq!(p("1.5", 1.0), Some(2));
        assert_eq!(p("2.5", 1.0), Some(2));
        assert_eq!(p("-0.4", 1.0), Some(0));
        assert_eq!(p("400us", 1.0), Some(0));
        assert_eq!(p("1e-4s", 1.0), Some(0));
        assert_eq!(p("1e3", 1.0), Some(1000));
        assert_eq!(p("0x10", 1.0), Some(16));
        assert_eq!(p("010", 1.0), Some(8));
        assert_eq!(p("1min", 1.0), Some(60_000));
        assert_eq!(p("0.001d", 1.0), Some(0));
        assert_eq!(p("1.5s", 1.0), Some(1_500));
        assert_eq!(p("1 S", 1.0), None);
        assert_eq!(p("1 fortnight", 1.0), None);
        assert_eq!(p("1e10", 1.0), None);
        assert_eq!(p("", 1.0), None);
        assert_eq!(p(".5s", 1.0), Some(500));
        assert_eq!(p("nan", 1.0), None);
        assert_eq!(p("-5", 1.0), Some(-5));
    }
}
