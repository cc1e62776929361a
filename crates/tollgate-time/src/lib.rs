//! Calendar arithmetic on Unix seconds, without a clock and without dependencies.
//!
//! One implementation of the proleptic Gregorian calendar (Howard Hinnant's `days_from_civil` /
//! `civil_from_days`) and the few textual forms the gateway reads and writes:
//!
//! - RFC 3339 (`2024-02-29T12:30:00Z`, with or without milliseconds), written by the logs and the
//!   admin API and read by the configuration;
//! - ISO 8601 basic (`20240229T123000Z`), the SigV4 `X-Amz-Date` form.
//!
//! Day counts are days since 1970-01-01; months are `1..=12`; days of month `1..=31`. Every
//! function is total: out-of-range input gives `None` (parsers, [`DateTime::to_unix`]) rather
//! than a panic. Lenient, caller-specific formats (the policy language's dates, HTTP dates) are
//! parsed by their callers on top of [`DateTime::to_unix`] / [`days_from_civil`].

use std::fmt::Write as _;

/// Seconds in a civil day (Unix time has no leap seconds).
pub const SECS_PER_DAY: i64 = 86_400;

/// English month abbreviations, `MONTH_ABBR[month - 1]`.
pub const MONTH_ABBR: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// English weekday abbreviations, `WEEKDAY_ABBR[weekday(days)]` (0 = Sunday).
pub const WEEKDAY_ABBR: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Gregorian leap year.
#[must_use]
pub const fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` of `year`; 0 when `month` is not `1..=12`.
#[must_use]
pub const fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a civil date. The date is not validated: day 0 or 32 counts from
/// the month's start like any other offset, so callers validate first when they must.
#[must_use]
pub const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day count since 1970-01-01.
#[must_use]
pub const fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// Day of the week of a day count since 1970-01-01: 0 = Sunday ... 6 = Saturday.
#[must_use]
pub const fn weekday(days: i64) -> usize {
    // 1970-01-01 was a Thursday; rem_euclid(7) is in 0..7.
    (days + 4).rem_euclid(7) as usize
}

/// A UTC civil date-time, split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    /// `1..=12`.
    pub month: i64,
    /// `1..=31`.
    pub day: i64,
    /// `0..=23`.
    pub hour: i64,
    /// `0..=59`.
    pub minute: i64,
    /// `0..=59`.
    pub second: i64,
}

impl DateTime {
    /// Splits Unix seconds (any `i64`) into UTC fields.
    #[must_use]
    pub const fn from_unix(secs: i64) -> Self {
        let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
        let rem = secs.rem_euclid(SECS_PER_DAY);
        Self {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
        }
    }

    /// Unix seconds, or `None` when a field is out of range (February 30th, hour 24, second 60,
    /// a year beyond ±1,000,000).
    #[must_use]
    pub const fn to_unix(&self) -> Option<i64> {
        let valid = self.year.abs() <= 1_000_000
            && self.month >= 1
            && self.month <= 12
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour >= 0
            && self.hour < 24
            && self.minute >= 0
            && self.minute < 60
            && self.second >= 0
            && self.second < 60;
        if !valid {
            return None;
        }
        Some(
            days_from_civil(self.year, self.month, self.day) * SECS_PER_DAY
                + self.hour * 3600
                + self.minute * 60
                + self.second,
        )
    }

    /// The English month abbreviation (`Jan` ... `Dec`).
    #[must_use]
    pub fn month_abbr(&self) -> &'static str {
        usize::try_from(self.month - 1)
            .ok()
            .and_then(|i| MONTH_ABBR.get(i))
            .copied()
            .unwrap_or("???")
    }
}

/// RFC 3339 UTC with seconds: `2024-02-29T12:30:00Z`.
#[must_use]
pub fn format_rfc3339(secs: i64) -> String {
    let t = DateTime::from_unix(secs);
    let mut out = String::with_capacity(20);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    out
}

/// RFC 3339 UTC with milliseconds: `2024-02-29T12:30:00.123Z` (`millis` is taken modulo 1000).
#[must_use]
pub fn format_rfc3339_millis(secs: i64, millis: u32) -> String {
    let t = DateTime::from_unix(secs);
    let mut out = String::with_capacity(24);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        millis % 1000
    );
    out
}

/// Common Log Format time, as API Gateway's `$context.requestTime`: `04/Mar/2020:19:15:17 +0000`.
#[must_use]
pub fn format_clf(secs: i64) -> String {
    let t = DateTime::from_unix(secs);
    let mut out = String::with_capacity(26);
    let _ = write!(
        out,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        t.day,
        t.month_abbr(),
        t.year,
        t.hour,
        t.minute,
        t.second
    );
    out
}

/// ISO 8601 basic UTC: `20240229T123000Z` (the SigV4 `X-Amz-Date` form).
#[must_use]
pub fn format_iso8601_basic(secs: i64) -> String {
    let t = DateTime::from_unix(secs);
    let mut out = String::with_capacity(16);
    let _ = write!(
        out,
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    out
}

/// The value of a run of ASCII digits; `None` when empty or when any byte is not a digit.
#[must_use]
pub fn ascii_digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 18 {
        return None;
    }
    s.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// Parses ISO 8601 basic UTC `YYYYMMDDTHHMMSSZ` (exactly 16 bytes) to Unix seconds.
#[must_use]
pub fn parse_iso8601_basic(s: &[u8]) -> Option<i64> {
    if s.len() != 16 || s.get(8) != Some(&b'T') || s.get(15) != Some(&b'Z') {
        return None;
    }
    let f = |a: usize, b: usize| s.get(a..b).and_then(ascii_digits);
    DateTime {
        year: f(0, 4)?,
        month: f(4, 6)?,
        day: f(6, 8)?,
        hour: f(9, 11)?,
        minute: f(11, 13)?,
        second: f(13, 15)?,
    }
    .to_unix()
}

/// Parses an RFC 3339 date-time (`2024-02-29T12:30:00Z`, `...00.5+01:00`; `T`, `t` or a space
/// between date and time; `Z`, `z` or `±HH:MM`) to Unix seconds. Fractions of a second are
/// dropped and a leap second (`:60`) is read as `:59`. A date alone, a missing offset or an
/// offset without its colon are rejected.
#[must_use]
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let num = |from: usize, len: usize| b.get(from..from + len).and_then(ascii_digits);
    let second = num(17, 2)?;
    if second > 60 {
        return None;
    }
    let t = DateTime {
        year: num(0, 4)?,
        month: num(5, 2)?,
        day: num(8, 2)?,
        hour: num(11, 2)?,
        minute: num(14, 2)?,
        second: second.min(59),
    };
    let mut i = 19;
    if sep(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    Some(t.to_unix()? - offset)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(1600, 1, 1), -135_140);
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
        assert_eq!(days_from_civil(-1, 12, 31), -719_529);
        assert_eq!(weekday(0), 4); // Thursday
        assert_eq!(WEEKDAY_ABBR[weekday(days_from_civil(2023, 4, 4))], "Tue");
        assert_eq!(weekday(-1), 3);
    }

    #[test]
    fn leap_years_and_month_lengths() {
        assert!(is_leap_year(2000) && is_leap_year(2024) && is_leap_year(-4));
        assert!(!is_leap_year(1900) && !is_leap_year(2100) && !is_leap_year(2023));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 13), 0);
        assert_eq!(days_in_month(2023, 0), 0);
    }

    #[test]
    fn formats() {
        assert_eq!(format_clf(1_583_349_317), "04/Mar/2020:19:15:17 +0000");
        assert_eq!(format_clf(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_709_209_800), "2024-02-29T12:30:00Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(
            format_rfc3339_millis(1_700_000_000, 123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(format_iso8601_basic(1_440_938_160), "20150830T123600Z");
        assert_eq!(format_iso8601_basic(0), "19700101T000000Z");
        let t = DateTime::from_unix(1_680_633_579);
        assert_eq!((t.month_abbr(), t.day, t.hour), ("Apr", 4, 18));
    }

    #[test]
    fn iso8601_basic() {
        assert_eq!(
            parse_iso8601_basic(b"20150830T123600Z"),
            Some(1_440_938_160)
        );
        assert!(parse_iso8601_basic(b"20160229T000000Z").is_some());
        for bad in [
            &b"2015-08-30T12:36:00Z"[..],
            b"20150830T123600",
            b"20150830 123600Z",
            b"20150230T123600Z",
            b"20151330T123600Z",
            b"20150830T243600Z",
            b"20150830T123660Z",
            b"2015083xT123600Z",
            b"21000229T000000Z",
            b"",
        ] {
            assert_eq!(parse_iso8601_basic(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.5+01:00"),
            Some(1_709_204_400)
        );
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00-00:30"),
            Some(951_870_600)
        );
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Some(1_483_228_799));
        assert_eq!(parse_rfc3339("2024-02-29 12:30:00z"), Some(1_709_209_800));
        for bad in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:61Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00Zjunk",
            "+024-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn to_unix_rejects_out_of_range() {
        let ok = DateTime::from_unix(1_709_209_800);
        assert_eq!(ok.to_unix(), Some(1_709_209_800));
        for bad in [
            DateTime {
                day: 30,
                month: 2,
                ..ok
            },
            DateTime { hour: 24, ..ok },
            DateTime { minute: -1, ..ok },
            DateTime { second: 60, ..ok },
            DateTime {
                year: i64::MAX,
                ..ok
            },
        ] {
            assert_eq!(bad.to_unix(), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn days_round_trip(days in -400_000_000i64..400_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m));
            prop_assert!(d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn next_day_is_successor(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            let next = civil_from_days(days + 1);
            let expected = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            prop_assert_eq!(next, expected);
            prop_assert_eq!(weekday(days + 7), weekday(days));
        }

        #[test]
        fn text_round_trip(secs in -62_135_596_800i64..253_402_300_800) {
            // 0001-01-01 ..= 9999-12-31: the four-digit years both forms can carry.
            prop_assert_eq!(DateTime::from_unix(secs).to_unix(), Some(secs));
            prop_assert_eq!(parse_rfc3339(&format_rfc3339(secs)), Some(secs));
            prop_assert_eq!(parse_rfc3339(&format_rfc3339_millis(secs, 999)), Some(secs));
            prop_assert_eq!(parse_iso8601_basic(format_iso8601_basic(secs).as_bytes()), Some(secs));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = parse_rfc3339(&s);
            let _ = parse_iso8601_basic(s.as_bytes());
        }
    }
}
