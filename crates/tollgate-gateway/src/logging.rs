//! The process's stderr log: one line per event, each with an RFC 3339 UTC timestamp
//! (milliseconds), a level and a message, as text or as one JSON object per line.
//!
//! Code logs through the `log` crate's macros (`log::warn!(...)`); [`init`] installs this
//! logger once at start, and [`configure`] changes level and format live (a config reload, or
//! `--log-level` which then wins over `gateway.log.level`). A line is built in one buffer and
//! written with one `write_all` on a locked stderr, so lines from several threads never
//! interleave. Secrets are never passed to these macros (`docs/security.md`).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tollgate_config::schema::{LogFormat, LogLevel};

struct Stderr;

static LOGGER: Stderr = Stderr;
static JSON: AtomicBool = AtomicBool::new(false);
/// Set by `--log-level`: the config's level is then ignored.
static CLI_LEVEL: AtomicU8 = AtomicU8::new(0);

fn filter(l: LogLevel) -> log::LevelFilter {
    match l {
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
    }
}

/// Install the logger (idempotent). `cli_level` is `--log-level`, which overrides the config
/// for the life of the process.
pub fn init(cli_level: Option<LogLevel>, level: LogLevel, format: LogFormat) {
    let _ = log::set_logger(&LOGGER);
    if let Some(l) = cli_level {
        CLI_LEVEL.store(filter(l) as u8, Ordering::Relaxed);
    }
    configure(level, format);
}

/// Apply `gateway.log` (at start and on every accepted config).
pub fn configure(level: LogLevel, format: LogFormat) {
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    let cli = CLI_LEVEL.load(Ordering::Relaxed);
    let f = match cli {
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => filter(level),
    };
    log::set_max_level(f);
}

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = render(
            SystemTime::now(),
            r.level(),
            &r.args().to_string(),
            JSON.load(Ordering::Relaxed),
        );
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

fn level_name(l: log::Level) -> &'static str {
    match l {
        log::Level::Error => "error",
        log::Level::Warn => "warn",
        log::Level::Info => "info",
        log::Level::Debug => "debug",
        log::Level::Trace => "trace",
    }
}

/// One log line, newline included.
pub(crate) fn render(t: SystemTime, level: log::Level, msg: &str, json: bool) -> String {
    let ts = rfc3339_millis(t);
    if json {
        // Keys in reading order; the message is escaped by serde_json.
        let m = serde_json::to_string(msg).unwrap_or_default();
        format!(
            "{{\"timestamp\":\"{ts}\",\"level\":\"{}\",\"message\":{m}}}\n",
            level_name(level)
        )
    } else {
        // One event, one line: a message with a line break is continued on indented lines.
        let msg = msg.replace('\n', "\n    ");
        format!("{ts} {:<5} {msg}\n", level_name(level).to_uppercase())
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-26T09:00:00.123Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(0);
    tollgate_time::format_rfc3339_millis(secs, d.subsec_millis())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339_millis(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn text_and_json_lines() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let l = render(t, log::Level::Warn, "upstream refused", false);
        assert_eq!(l, "2023-11-14T22:13:20.000Z WARN  upstream refused\n");
        let l = render(t, log::Level::Info, "a \"quoted\"\nline", true);
        let v: serde_json::Value = serde_json::from_str(l.trim_end()).unwrap();
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["level"], "info");
        assert_eq!(v["message"], "a \"quoted\"\nline");
        assert_eq!(l.matches('\n').count(), 1);
        let l = render(t, log::Level::Error, "two\nlines", false);
        assert_eq!(l, "2023-11-14T22:13:20.000Z ERROR two\n    lines\n");
    }
}
