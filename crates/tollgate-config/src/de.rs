//! Error-collecting deserialization: one serde call per item, several errors per item.
//!
//! serde stops at the first error. [`deser`] retries after removing the offending key (an
//! unknown key, or a value of the wrong type), so one item reports each of its bad keys;
//! the walker in `load/` calls it once per list element / map entry, so a file with
//! errors in three routes reports three (or more) errors.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use crate::error::ConfigError;

/// `base.key` (or `key` at the top).
pub(crate) fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// `base[i]`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// The human name of a JSON value's type.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn render_path(base: &str, segs: &[Segment]) -> String {
    let mut p = base.to_owned();
    for s in segs {
        match s {
            Segment::Seq { index: i } => p = index(&p, *i),
            Segment::Map { key } => p = join(&p, key),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    p
}

/// Backquoted names in a serde message, e.g. "unknown field `x`, expected `a` or `b`".
fn quoted(msg: &str) -> Vec<&str> {
    msg.split('`').skip(1).step_by(2).collect()
}

/// Rewrite serde's wording into ours.
fn tidy(msg: &str) -> String {
    if msg.starts_with("unknown field") {
        let names = quoted(msg);
        let expected: Vec<&str> = names.iter().skip(1).copied().collect();
        if expected.is_empty() {
            "unknown key (this mapping takes no keys)".to_owned()
        } else {
            format!("unknown key (expected one of: {})", expected.join(", "))
        }
    } else if msg.starts_with("unknown variant") {
        let names = quoted(msg);
        let got = names.first().copied().unwrap_or("");
        let expected: Vec<&str> = names.iter().skip(1).copied().collect();
        format!(
            "unknown value \"{got}\" (expected one of: {})",
            expected.join(", ")
        )
    } else if msg.starts_with("invalid type: integer") && msg.ends_with("expected a string") {
        format!(
            "{} (quote it)",
            msg.replace("invalid type: ", "wrong type: ")
        )
    } else {
        plain_types(
            &msg.replace("invalid type: ", "wrong type: ")
                .replace("expected a map", "expected a mapping")
                .replace("expected a sequence", "expected a list"),
        )
    }
}

/// serde names Rust types in its messages (`expected u64`, ``integer `-1` ``); say what the
/// key takes instead.
fn plain_types(msg: &str) -> String {
    let mut out = msg.to_owned();
    for (rust, plain) in [
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        if let Some(head) = out.strip_suffix(rust) {
            out = format!("{head}{plain}");
            break;
        }
    }
    // "invalid value: integer `-1`" -> "invalid value: -1"
    for lit in ["integer ", "floating point ", "string "] {
        out = out.replace(&format!("value: {lit}`"), "value: `");
    }
    out
}

/// Remove the value at `segs` from `v`; false if that is impossible.
fn remove_at(v: &mut Value, segs: &[Segment]) -> bool {
    let Some((last, parents)) = segs.split_last() else {
        return false;
    };
    let mut cur = v;
    for s in parents {
        let next = match (s, cur) {
            (Segment::Map { key }, Value::Object(m)) => m.get_mut(key.as_str()),
            (Segment::Seq { index: i }, Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    match (last, cur) {
        (Segment::Map { key }, Value::Object(m)) => m.remove(key.as_str()).is_some(),
        // Removing a list element would shift the indices of later errors: stop instead.
        _ => false,
    }
}

/// Deserialize one item, collecting every error found in it (paths under `path`).
pub(crate) fn deser<T: DeserializeOwned>(
    value: &Value,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let before = errors.len();
    let t = deser_partial(value, path, errors);
    if errors.len() == before { t } else { None }
}

/// [`deser`], but an item whose only faults were keys that could be removed (unknown keys,
/// values of the wrong type for an optional key) is still returned, without those keys, so
/// the checks that follow (names it refers to, stage variables) run on the rest of it and
/// one pass reports every error. The caller must treat the result as broken when errors
/// were added.
pub(crate) fn deser_partial<T: DeserializeOwned>(
    value: &Value,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    // Fast path: a valid item deserializes straight from the borrowed value (no copy).
    if let Ok(t) = T::deserialize(value) {
        return Some(t);
    }
    let mut v = value.clone();
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, T>(&v) {
            Ok(t) => return Some(t),
            Err(e) => {
                let segs: Vec<Segment> = e.path().iter().cloned().collect();
                let msg = e.inner().to_string();
                let at = render_path(path, &segs);
                if msg.starts_with("missing field") {
                    let field = quoted(&msg).first().copied().unwrap_or("").to_owned();
                    let full = join(&at, &field);
                    // A key we removed for being wrong is now "missing": already reported.
                    if !removed.contains(&full) {
                        errors.push(ConfigError::new(full, "missing required key"));
                    }
                    return None;
                }
                errors.push(ConfigError::new(at.clone(), tidy(&msg)));
                if !remove_at(&mut v, &segs) {
                    return None;
                }
                removed.push(at);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u16,
        #[serde(default)]
        b: Vec<u8>,
        c: String,
    }

    #[test]
    fn collects_several_errors_in_one_item() {
        let v: Value = serde_json::json!({"a": "x", "zz": 1, "yy": 2, "c": 3});
        let mut errs = Vec::new();
        assert!(deser::<T>(&v, "p[0]", &mut errs).is_none());
        let got: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(
            got.iter().any(|e| e.starts_with("p[0].a: wrong type")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|e| e.starts_with("p[0].zz: unknown key (expected one of: a, b, c)")),
            "{got:?}"
        );
        assert!(
            got.iter().any(|e| e.starts_with("p[0].yy: unknown key")),
            "{got:?}"
        );
        assert!(
            got.iter().any(|e| e.starts_with("p[0].c: wrong type")),
            "{got:?}"
        );
    }

    #[test]
    fn messages_name_no_rust_types() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct N {
            n: usize,
            p: u16,
            f: bool,
        }
        let v: Value = serde_json::json!({"n": -1, "p": 70000, "f": "yes"});
        let mut errs = Vec::new();
        assert!(deser::<N>(&v, "", &mut errs).is_none());
        let mut got: Vec<String> = errs.iter().map(ToString::to_string).collect();
        got.sort();
        assert_eq!(
            got,
            [
                "f: wrong type: string \"yes\", expected true or false",
                "n: invalid value: `-1`, expected a whole number, 0 or more",
                "p: invalid value: `70000`, expected a whole number from 0 to 65535",
            ]
        );
        for e in &got {
            for t in ["usize", "u16", "u64", "bool"] {
                assert!(!e.contains(t), "{e}");
            }
        }
    }

    #[test]
    fn missing_and_nested_paths() {
        let v: Value = serde_json::json!({"b": [1, "x"]});
        let mut errs = Vec::new();
        assert!(deser::<T>(&v, "", &mut errs).is_none());
        assert_eq!(errs[0].path, "b[1]");
        let v: Value = serde_json::json!({"c": "s"});
        let mut errs = Vec::new();
        assert!(deser::<T>(&v, "x", &mut errs).is_none());
        assert_eq!(errs, vec![ConfigError::new("x.a", "missing required key")]);
    }
}
