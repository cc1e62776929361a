//! Line numbers for errors. The loader works on a parsed value, which has no positions; the
//! line of an error's path is found by reading the text again with a deserializer that walks
//! to the node the path names and fails there: the parser gives that failure the node's
//! position (for a mapping key, the key's). A path whose last key is absent (a missing
//! required key) gets the line of the nearest node that exists.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::ConfigError;

/// The error a walk ends with at its node (never seen by users: it only marks the spot).
const HERE: &str = "\u{1}tollgate-config: the node is here";
/// The error a walk ends with when the path's next step does not exist.
const ABSENT: &str = "\u{1}tollgate-config: no such node";

/// How much text (in bytes, summed over the re-reads) locating may parse for one load: a
/// file with very many errors gets lines for the first ones only.
const BUDGET_BYTES: usize = 16 << 20;
/// At most this many errors are located.
const MAX_LOCATED: usize = 200;

/// Set `line` on every error whose path names a node of `text` (within the budget).
pub(crate) fn locate_all(text: &str, json: bool, errors: &mut [ConfigError]) {
    let mut spent = 0usize;
    for e in errors.iter_mut().take(MAX_LOCATED) {
        if e.path.is_empty() || e.line.is_some() {
            continue;
        }
        let mut path = e.path.as_str();
        loop {
            spent = spent.saturating_add(text.len());
            if spent > BUDGET_BYTES {
                return;
            }
            match locate(text, json, path) {
                Found::Line(l) => {
                    e.line = Some(l);
                    break;
                }
                Found::Absent => match parent(path) {
                    Some(p) => path = p,
                    None => break,
                },
                Found::Unknown => break,
            }
        }
    }
}

enum Found {
    Line(u32),
    Absent,
    Unknown,
}

/// The line (1-based) of the node `path` names in `text`.
fn locate(text: &str, json: bool, path: &str) -> Found {
    let seek = Seek { rest: path };
    let (message, line) = if json {
        let mut d = serde_json::Deserializer::from_str(text);
        match seek.deserialize(&mut d) {
            Ok(()) => return Found::Unknown,
            Err(e) => (e.to_string(), u32::try_from(e.line()).ok()),
        }
    } else {
        match seek.deserialize(serde_yaml_ng::Deserializer::from_str(text)) {
            Ok(()) => return Found::Unknown,
            Err(e) => (
                e.to_string(),
                e.location().and_then(|l| u32::try_from(l.line()).ok()),
            ),
        }
    };
    if message.contains(HERE) {
        match line {
            Some(l) if l > 0 => Found::Line(l),
            _ => Found::Unknown,
        }
    } else if message.contains(ABSENT) {
        Found::Absent
    } else {
        Found::Unknown
    }
}

/// `a.b[2]` -> `a.b`, `a.b` -> `a`, `a` -> none.
fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    path.get(..cut).filter(|p| !p.is_empty())
}

/// Walk to the node `rest` names (a path relative to the current node: `.key`, `key`, `[i]`).
struct Seek<'p> {
    rest: &'p str,
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(Walk { rest: self.rest })
    }
}

struct Walk<'p> {
    rest: &'p str,
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    // A scalar node: the default `visit_*` refuse it, with this text in the message, at the
    // scalar's position. A scalar is always the end of a walk (or a path that goes on
    // below a scalar, which the loader does not produce).
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HERE)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.rest.is_empty() {
            return Err(de::Error::custom(HERE));
        }
        let rest = self.rest.strip_prefix('.').unwrap_or(self.rest);
        while let Some(step) = map.next_key_seed(Key { rest })? {
            match step {
                Some(after) => return map.next_value_seed(Seek { rest: after }),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Err(de::Error::custom(ABSENT))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((i, after)) = self
            .rest
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .and_then(|(n, after)| Some((n.parse::<usize>().ok()?, after)))
        else {
            return Err(de::Error::custom(HERE));
        };
        for _ in 0..i {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom(ABSENT));
            }
        }
        match seq.next_element_seed(Seek { rest: after })? {
            Some(()) => Ok(()),
            None => Err(de::Error::custom(ABSENT)),
        }
    }
}

/// A mapping key: `Some(rest after it)` when the path goes through it; the walk's end
/// (an error at the key's position) when the path ends with it; `None` for another key.
struct Key<'p> {
    rest: &'p str,
}

impl<'de, 'p> DeserializeSeed<'de> for Key<'p> {
    type Value = Option<&'p str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'p> Key<'p> {
    fn step<E: de::Error>(self, key: &str) -> Result<Option<&'p str>, E> {
        let Some(after) = self.rest.strip_prefix(key) else {
            return Ok(None);
        };
        if after.is_empty() {
            return Err(E::custom(HERE));
        }
        Ok(after.starts_with(['.', '[']).then_some(after))
    }
}

impl<'de, 'p> Visitor<'de> for Key<'p> {
    type Value = Option<&'p str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.step(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.step(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.step(&v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.step(if v { "true" } else { "false" })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.step("null")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "gateway:
  region: us-east-1
  limits: {max_body_bytes: 5}
apis:
  - id: a
    routes:
      - path: /x
        methods: [GET, FETCH]
      - path: /y
        authorizer: userz
    stages:
      prod:
";

    fn line(text: &str, json: bool, path: &str) -> Option<u32> {
        let mut e = [ConfigError::new(path, "m")];
        locate_all(text, json, &mut e);
        e[0].line
    }

    #[test]
    fn yaml_paths_find_their_lines() {
        for (path, want) in [
            ("gateway", Some(1)),
            ("gateway.region", Some(2)),
            ("gateway.limits.max_body_bytes", Some(3)),
            ("apis[0]", Some(5)),
            ("apis[0].routes[0].methods[1]", Some(8)),
            ("apis[0].routes[1].authorizer", Some(10)),
            ("apis[0].stages.prod", Some(12)),
            // absent: the nearest existing node
            ("gateway.account_id", Some(1)),
            ("apis[0].routes[5].path", Some(6)),
            ("", None),
            ("nothing", None),
        ] {
            assert_eq!(line(YAML, false, path), want, "{path}");
        }
    }

    #[test]
    fn json_paths_find_their_lines() {
        let text = "{\n \"gateway\": {\n  \"region\": 1\n },\n \"apis\": [\n  {\"id\": \"a\"},\n  {\"id\": \"b\"}\n ]\n}\n";
        assert_eq!(line(text, true, "gateway.region"), Some(3));
        assert_eq!(line(text, true, "apis[1].id"), Some(7));
    }

    #[test]
    fn keys_with_dots_and_prefixes() {
        let text = "a:\n  x.y: 1\n  x: 2\n  xy: 3\n";
        assert_eq!(line(text, false, "a.x.y"), Some(2));
        assert_eq!(line(text, false, "a.xy"), Some(4));
        assert_eq!(line(text, false, "a.x"), Some(3));
    }
}
