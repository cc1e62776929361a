//! Error-collecting deserialization: one serde call per item, several errors per item.
//!
//! serde stops at the first error. [`deser`] retries after removing the offending key (an
//! unknown key, or a value of the wrong type), so one item reports each of its bad keys;
//! the walker in `load/` calls it once per list element / map entry, so a file with
//! errors in three routes reports three (or more) errors.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
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

/// The mapping holding the key at `segs` (whose last segment is that key), and the key.
fn parent_map<'v>(
    v: &'v mut Value,
    segs: &'v [Segment],
) -> Option<(&'v mut Map<String, Value>, &'v str)> {
    let (last, parents) = segs.split_last()?;
    let mut cur = v;
    for s in parents {
        cur = match (s, cur) {
            (Segment::Map { key }, Value::Object(m)) => m.get_mut(key.as_str())?,
            (Segment::Seq { index: i }, Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    match (last, cur) {
        (Segment::Map { key }, Value::Object(m)) => Some((m, key.as_str())),
        // Removing a list element would shift the indices of later errors: stop instead.
        _ => None,
    }
}

/// Remove the value at `segs` from `v`; false if that is impossible.
fn remove_at(v: &mut Value, segs: &[Segment]) -> bool {
    parent_map(v, segs).is_some_and(|(m, k)| m.remove(k).is_some())
}

/// Values put in place of a required key that had the wrong type, tried in turn until one
/// is accepted, so the rest of the item can still be checked.
fn placeholder(i: usize) -> Option<Value> {
    Some(match i {
        0 => Value::String(String::new()),
        1 => Value::from(0u8),
        2 => Value::Bool(false),
        3 => Value::Array(Vec::new()),
        4 => Value::Object(Map::new()),
        _ => return None,
    })
}

/// Deserialize one item, collecting every error found in it (paths under `path`).
pub(crate) fn deser<T: DeserializeOwned>(
    value: &Value,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let before = errors.len();
    let t = deser_partial(value, path, errors, &mut Vec::new());
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
    held: &mut Vec<String>,
) -> Option<T> {
    // Fast path: a valid item deserializes straight from the borrowed value (no copy).
    if let Ok(t) = T::deserialize(value) {
        return Some(t);
    }
    let mut v = value.clone();
    // Keys removed for a wrong value: (path, segments, placeholder tried next).
    let mut removed: Vec<(String, Vec<Segment>, usize)> = Vec::new();
    for _ in 0..64 {
        let e = match serde_path_to_error::deserialize::<_, T>(&v) {
            Ok(t) => return Some(t),
            Err(e) => e,
        };
        let segs: Vec<Segment> = e.path().iter().cloned().collect();
        let msg = e.inner().to_string();
        let at = render_path(path, &segs);
        let missing = msg.starts_with("missing field").then(|| {
            let field = quoted(&msg).first().copied().unwrap_or("").to_owned();
            join(&at, &field)
        });
        // A required key removed for its wrong value (already reported) is now missing,
        // or its placeholder was refused: put the next placeholder there.
        let retry = removed
            .iter_mut()
            .find(|(p, _, _)| Some(p) == missing.as_ref() || (p == &at && missing.is_none()));
        if let Some((p, key_segs, next)) = retry {
            let (Some(ph), Some((m, k))) = (placeholder(*next), parent_map(&mut v, key_segs))
            else {
                return None;
            };
            m.insert(k.to_owned(), ph);
            *next += 1;
            if !held.contains(p) {
                held.push(p.clone());
            }
            continue;
        }
        if let Some(full) = missing {
            errors.push(ConfigError::new(full, "missing required key"));
            return None;
        }
        errors.push(ConfigError::new(at.clone(), tidy(&msg)));
        if !remove_at(&mut v, &segs) {
            return None;
        }
        removed.push((at, segs, 0));
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

    #[test]
    fn partial_items_keep_the_rest_for_later_checks() {
        // `a` (required) has a wrong value: reported once, a placeholder stands in for it
        // and its path is held; the unknown key is reported; the item still comes back.
        let v: Value = serde_json::json!({"a": "x", "c": "s", "zz": 1});
        let (mut errs, mut held) = (Vec::new(), Vec::new());
        let t = deser_partial::<T>(&v, "p", &mut errs, &mut held).unwrap();
        assert_eq!(t.c, "s");
        assert_eq!(held, ["p.a"]);
        let got: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("p.a: wrong type"), "{got:?}");
        // strict deser gives nothing for the same item, with the same errors
        let mut strict = Vec::new();
        assert!(deser::<T>(&v, "p", &mut strict).is_none());
        assert_eq!(strict, errs);
        // a missing required key still ends the item
        let mut errs = Vec::new();
        assert!(
            deser_partial::<T>(&serde_json::json!({"a": 1}), "p", &mut errs, &mut held).is_none()
        );
        assert_eq!(errs, vec![ConfigError::new("p.c", "missing required key")]);
    }
}
