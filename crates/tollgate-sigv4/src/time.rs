//! Calendar arithmetic for SigV4 dates (`YYYYMMDDTHHMMSSZ`) and HTTP dates, without a clock.

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

fn to_epoch(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    let valid = (1..=12).contains(&mo)
        && d >= 1
        && d <= days_in_month(y, mo)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..60).contains(&s);
    valid.then(|| days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Parses an ISO-8601 basic date-time `YYYYMMDDTHHMMSSZ` (the `X-Amz-Date` form) to Unix seconds.
pub fn parse_amz_date(s: &[u8]) -> Option<i64> {
    if s.len() != 16 || s.get(8) != Some(&b'T') || s.get(15) != Some(&b'Z') {
        return None;
    }
    let f = |a: usize, b: usize| s.get(a..b).and_then(digits);
    to_epoch(
        f(0, 4)?,
        f(4, 6)?,
        f(6, 8)?,
        f(9, 11)?,
        f(11, 13)?,
        f(13, 15)?,
    )
}

/// Formats Unix seconds as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Parses an IMF-fixdate HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
pub fn parse_http_date(s: &[u8]) -> Option<i64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT" is 29 bytes.
    if s.len() != 29 || s.get(3..5) != Some(b", ") || s.get(25..29) != Some(b" GMT") {
        return None;
    }
    let month = match s.get(8..11)? {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    };
    let sep = [s.get(7), s.get(11), s.get(16), s.get(19), s.get(22)];
    if sep
        != [
            Some(&b' '),
            Some(&b' '),
            Some(&b' '),
            Some(&b':'),
            Some(&b':'),
        ]
    {
        return None;
    }
    let f = |a: usize, b: usize| s.get(a..b).and_then(digits);
    to_epoch(
        f(12, 16)?,
        month,
        f(5, 7)?,
        f(17, 19)?,
        f(20, 22)?,
        f(23, 25)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_round_trip() {
        let e = parse_amz_date(b"20150830T123600Z").unwrap();
        assert_eq!(e, 1_440_938_160);
        assert_eq!(format_amz_date(e), "20150830T123600Z");
        assert_eq!(format_amz_date(0), "19700101T000000Z");
        for e in [951_782_400, 4_107_542_399, 1_709_164_800] {
            assert_eq!(parse_amz_date(format_amz_date(e).as_bytes()), Some(e));
        }
    }

    #[test]
    fn amz_date_rejects_bad_forms() {
        for bad in [
            &b"2015-08-30T12:36:00Z"[..],
            b"20150830T123600",
            b"20150830 123600Z",
            b"20150230T123600Z",
            b"20151330T123600Z",
            b"20150830T243600Z",
            b"2015083xT123600Z",
            b"",
        ] {
            assert_eq!(
                parse_amz_date(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_amz_date(b"20160229T000000Z").is_some());
        assert!(parse_amz_date(b"21000229T000000Z").is_none());
    }

    #[test]
    fn http_date() {
        assert_eq!(
            parse_http_date(b"Sun, 30 Aug 2015 12:36:00 GMT"),
            parse_amz_date(b"20150830T123600Z")
        );
        assert_eq!(parse_http_date(b"Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(parse_http_date(b"Sun, 30 Foo 2015 12:36:00 GMT"), None);
    }
}
