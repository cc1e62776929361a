//! Reading an OpenAPI document: parsing (JSON or YAML), JSON pointers, in-document `$ref`s,
//! CloudFormation intrinsics, and the diagnostics the converter collects.

use serde_json::{Map, Value};

/// Longest chain of `$ref`s followed before giving up (also stops cycles).
pub const MAX_REF_HOPS: usize = 32;

/// Largest document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 16 << 20;

/// A problem (error or warning) at a place in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    /// JSON pointer (RFC 6901) into the document, `""` for the whole document.
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for Diag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "#{}: {}", self.pointer, self.message)
        }
    }
}

/// Parse a document: JSON if it starts with `{`, else YAML.
pub fn parse_document(text: &str) -> Result<Value, Diag> {
    let err = |m: String| Diag {
        pointer: String::new(),
        message: m,
    };
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(err(format!(
            "document larger than {MAX_DOCUMENT_BYTES} bytes"
        )));
    }
    let v: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| err(format!("JSON syntax error: {e}")))?
    } else {
        // The YAML parser's cost grows with the square of the nesting depth: bound it first,
        // as for configuration files.
        crate::load::check_depth(text).map_err(err)?;
        serde_yaml_ng::from_str(text).map_err(|e| err(format!("YAML syntax error: {e}")))?
    };
    if !v.is_object() {
        return Err(err("an OpenAPI document must be a mapping".to_owned()));
    }
    Ok(v)
}

/// `base` + `/key`, with `~` and `/` escaped.
pub fn ptr(base: &str, key: &str) -> String {
    let mut s = String::with_capacity(base.len() + key.len() + 1);
    s.push_str(base);
    s.push('/');
    for c in key.chars() {
        match c {
            '~' => s.push_str("~0"),
            '/' => s.push_str("~1"),
            c => s.push(c),
        }
    }
    s
}

/// Follow `$ref`s (`#/...` only) from `v`, at most [`MAX_REF_HOPS`]. Returns the target and
/// its pointer.
pub fn deref<'a>(root: &'a Value, v: &'a Value, at: &str) -> Result<(&'a Value, String), Diag> {
    let mut cur = v;
    let mut here = at.to_owned();
    for _ in 0..MAX_REF_HOPS {
        let Some(r) = cur.as_object().and_then(|o| o.get("$ref")) else {
            return Ok((cur, here));
        };
        let Some(r) = r.as_str() else {
            return Err(Diag {
                pointer: ptr(&here, "$ref"),
                message: "$ref must be a string".to_owned(),
            });
        };
        let Some(p) = r.strip_prefix('#') else {
            return Err(Diag {
                pointer: ptr(&here, "$ref"),
                message: format!(
                    "external reference \"{r}\" (only references within the document, #/..., are resolved)"
                ),
            });
        };
        let Some(t) = root.pointer(p) else {
            return Err(Diag {
                pointer: ptr(&here, "$ref"),
                message: format!("unresolved reference \"{r}\""),
            });
        };
        cur = t;
        here = p.to_owned();
    }
    Err(Diag {
        pointer: here,
        message: format!("more than {MAX_REF_HOPS} chained $refs (a reference cycle?)"),
    })
}

/// `Some("Fn::Join")` when `v` is a CloudFormation intrinsic (`{"Fn::X": ...}` or `{"Ref": ...}`).
pub fn intrinsic(v: &Value) -> Option<&str> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    let k = o.keys().next()?;
    (k.starts_with("Fn::") || k == "Ref" || k == "Condition").then_some(k.as_str())
}

/// What a string-valued field holds: a string, or a diagnostic naming why not.
pub fn want_str<'a>(v: &'a Value, at: &str) -> Result<&'a str, Diag> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(Diag {
            pointer: at.to_owned(),
            message: match intrinsic(other) {
                Some(f) => format!(
                    "a CloudFormation intrinsic ({f}) where a string belongs: resolve the template (e.g. `aws cloudformation package` / the deployed API's export) before importing"
                ),
                None => format!("expected a string, found {}", crate::de::kind(other)),
            },
        }),
    }
}

/// A string or a number as text (`statusCode: 200` and `"200"` alike).
pub fn str_or_num(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Every `x-amazon-apigateway-*` key in the document, with its pointer (bounded depth).
pub fn extension_pointers(root: &Value) -> Vec<String> {
    fn walk(v: &Value, at: &str, depth: usize, out: &mut Vec<String>) {
        if depth > 64 {
            return;
        }
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    let p = ptr(at, k);
                    if k.starts_with("x-amazon-apigateway-") {
                        out.push(p.clone());
                    }
                    walk(c, &p, depth + 1, out);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    walk(c, &ptr(at, &i.to_string()), depth + 1, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(root, "", 0, &mut out);
    out
}

/// The object at `v`, or none.
pub fn obj(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(Value::as_object)
}
