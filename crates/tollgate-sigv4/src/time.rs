//! SigV4 dates (`YYYYMMDDTHHMMSSZ`) and HTTP dates, on the shared calendar of `tollgate-time`.

/// Parses an ISO-8601 basic date-time `YYYYMMDDTHHMMSSZ` (the `X-Amz-Date` form) to Unix seconds.
pub fn parse_amz_date(s: &[u8]) -> Option<i64> {
    tollgate_time::parse_iso8601_basic(s)
}

/// Formats Unix seconds as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(epoch: i64) -> String {
    tollgate_time::format_iso8601_basic(epoch)
}

/// Parses an IMF-fixdate HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
pub fn parse_http_date(s: &[u8]) -> Option<i64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT" is 29 bytes.
    if s.len() != 29 || s.get(3..5) != Some(b", ") || s.get(25..29) != Some(b" GMT") {
        return None;
    }
    let month_name = s.get(8..11)?;
    let month = tollgate_time::MONTH_ABBR
        .iter()
        .position(|m| m.as_bytes() == month_name)?;
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
    let f = |a: usize, b: usize| s.get(a..b).and_then(tollgate_time::ascii_digits);
    tollgate_time::DateTime {
        year: f(12, 16)?,
        month: i64::try_from(month).ok()? + 1,
        day: f(5, 7)?,
        hour: f(17, 19)?,
        minute: f(20, 22)?,
        second: f(23, 25)?,
    }
    .to_unix()
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
