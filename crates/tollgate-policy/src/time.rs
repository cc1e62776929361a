//! ISO 8601 / epoch date parsing and formatting for `Date*` operators and `aws:CurrentTime`.

/// `2024-01-02T03:04:05Z`.
pub(crate) fn format_iso(secs: i64) -> String {
    tollgate_time::format_rfc3339(secs)
}

fn num(s: &str, len: usize) -> Option<(i64, &str)> {
    let head = s.get(..len)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, s.get(len..)?))
}

fn lit(s: &str, c: char) -> Option<&str> {
    s.strip_prefix(c)
}

/// Parses epoch seconds (`1700000000`) or ISO 8601 (`2024-01-02`, `2024-01-02T03:04Z`,
/// `2024-01-02T03:04:05.123+01:00`, ...). Fractions of a second are dropped. A date-time without
/// a zone is taken as UTC.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let (y, r) = num(s, 4)?;
    let r = lit(r, '-')?;
    let (mo, r) = num(r, 2)?;
    let r = lit(r, '-')?;
    let (d, r) = num(r, 2)?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = tollgate_time::days_from_civil(y, mo, d) * tollgate_time::SECS_PER_DAY;
    if r.is_empty() {
        return Some(secs);
    }
    let r = r.strip_prefix('T').or_else(|| r.strip_prefix('t'))?;
    let (h, r) = num(r, 2)?;
    let r = lit(r, ':')?;
    let (mi, mut r) = num(r, 2)?;
    let mut sec = 0;
    if let Some(rr) = r.strip_prefix(':') {
        let (sv, rr) = num(rr, 2)?;
        sec = sv;
        r = rr;
        if let Some(frac) = r.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            r = frac.get(n..)?;
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    secs += h * 3600 + mi * 60 + sec;
    match r {
        "" | "Z" | "z" => Some(secs),
        _ => {
            let (sign, rr) = match r.strip_prefix('+') {
                Some(rr) => (1, rr),
                None => (-1, r.strip_prefix('-')?),
            };
            let (oh, rr) = num(rr, 2)?;
            let rr = rr.strip_prefix(':').unwrap_or(rr);
            let (om, rr) = num(rr, 2)?;
            if !rr.is_empty() {
                return None;
            }
            Some(secs - sign * (oh * 3600 + om * 60))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("2024-02-29T12:30:00Z"), Some(1_709_209_800));
        assert_eq!(format_iso(1_709_209_800), "2024-02-29T12:30:00Z");
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_date("2024-02-29T13:30:00+01:00"), Some(1_709_209_800));
        assert_eq!(parse_date("2024-02-29T12:30:00.250Z"), Some(1_709_209_800));
        assert_eq!(parse_date("1709209800"), Some(1_709_209_800));
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("2024-13-01"), None);
        for t in [-86_400 * 400, 0, 951_782_400, 4_102_444_800] {
            assert_eq!(parse_date(&format_iso(t)), Some(t));
        }
    }
}
