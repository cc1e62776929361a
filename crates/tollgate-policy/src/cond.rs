//! Condition operators: parsing and evaluation.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::PolicyError;
use crate::ipset::IpTrie;
use crate::request::{Key, Request, Val, lookup};
use crate::template::Template;
use crate::time::parse_date;

/// The operator without `ForAnyValue:`/`ForAllValues:` and `IfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    StrEq,
    StrNotEq,
    StrEqIc,
    StrNotEqIc,
    StrLike,
    StrNotLike,
    NumEq,
    NumNotEq,
    NumLt,
    NumLe,
    NumGt,
    NumGe,
    DateEq,
    DateNotEq,
    DateLt,
    DateLe,
    DateGt,
    DateGe,
    Bool,
    BinEq,
    Ip,
    NotIp,
    ArnEq,
    ArnLike,
    ArnNotEq,
    ArnNotLike,
    Null,
}

const OPERATORS: &[(&str, Base)] = &[
    ("StringEquals", Base::StrEq),
    ("StringNotEquals", Base::StrNotEq),
    ("StringEqualsIgnoreCase", Base::StrEqIc),
    ("StringNotEqualsIgnoreCase", Base::StrNotEqIc),
    ("StringLike", Base::StrLike),
    ("StringNotLike", Base::StrNotLike),
    ("NumericEquals", Base::NumEq),
    ("NumericNotEquals", Base::NumNotEq),
    ("NumericLessThan", Base::NumLt),
    ("NumericLessThanEquals", Base::NumLe),
    ("NumericGreaterThan", Base::NumGt),
    ("NumericGreaterThanEquals", Base::NumGe),
    ("DateEquals", Base::DateEq),
    ("DateNotEquals", Base::DateNotEq),
    ("DateLessThan", Base::DateLt),
    ("DateLessThanEquals", Base::DateLe),
    ("DateGreaterThan", Base::DateGt),
    ("DateGreaterThanEquals", Base::DateGe),
    ("Bool", Base::Bool),
    ("BinaryEquals", Base::BinEq),
    ("IpAddress", Base::Ip),
    ("NotIpAddress", Base::NotIp),
    ("ArnEquals", Base::ArnEq),
    ("ArnLike", Base::ArnLike),
    ("ArnNotEquals", Base::ArnNotEq),
    ("ArnNotLike", Base::ArnNotLike),
    ("Null", Base::Null),
];

impl Base {
    /// Negated operators: AND over values ("differs from every value"), true when the key is
    /// absent.
    pub(crate) fn negated(self) -> bool {
        matches!(
            self,
            Base::StrNotEq
                | Base::StrNotEqIc
                | Base::StrNotLike
                | Base::NumNotEq
                | Base::DateNotEq
                | Base::NotIp
                | Base::ArnNotEq
                | Base::ArnNotLike
        )
    }
}

/// `ForAnyValue:` / `ForAllValues:` set qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Qual {
    Plain,
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone)]
pub(crate) enum Values {
    Str(Vec<Template>),
    Num(Vec<f64>),
    Date(Vec<i64>),
    Bool(Vec<bool>),
    Ip(Vec<IpNet>),
}

/// One `Operator: { key: values }` entry.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub(crate) base: Base,
    pub(crate) qual: Qual,
    pub(crate) if_exists: bool,
    pub(crate) key: Key,
    pub(crate) values: Values,
    /// Compiled IP set (built by the decision tree for `IpAddress`/`NotIpAddress`).
    pub(crate) ip_set: Option<IpTrie>,
}

fn parse_operator(name: &str) -> Option<(Base, Qual, bool)> {
    let lower = name.to_ascii_lowercase();
    let (qual, rest) = if let Some(r) = lower.strip_prefix("foranyvalue:") {
        (Qual::AnyValue, r)
    } else if let Some(r) = lower.strip_prefix("forallvalues:") {
        (Qual::AllValues, r)
    } else {
        (Qual::Plain, lower.as_str())
    };
    let (rest, if_exists) = match rest.strip_suffix("ifexists") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let base = OPERATORS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(rest))
        .map(|(_, b)| *b)?;
    if base == Base::Null && (if_exists || qual != Qual::Plain) {
        return None;
    }
    Some((base, qual, if_exists))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses a `Condition` block, pushing errors with paths under `path`.
pub(crate) fn parse_block(
    v: &Value,
    path: &str,
    vars: bool,
    errs: &mut Vec<PolicyError>,
) -> Vec<Condition> {
    let mut out = Vec::new();
    let Some(ops) = v.as_object() else {
        errs.push(PolicyError::new(
            path,
            "expected an object of condition operators",
        ));
        return out;
    };
    for (op, body) in ops {
        let op_path = format!("{path}.{op}");
        let Some((base, qual, if_exists)) = parse_operator(op) else {
            errs.push(PolicyError::new(
                &op_path,
                format!("unknown condition operator \"{op}\""),
            ));
            continue;
        };
        let Some(keys) = body.as_object() else {
            errs.push(PolicyError::new(
                &op_path,
                "expected an object of condition keys",
            ));
            continue;
        };
        for (key, vals) in keys {
            let key_path = format!("{op_path}.{key}");
            if key.trim().is_empty() {
                errs.push(PolicyError::new(&key_path, "empty condition key"));
                continue;
            }
            let items: Vec<(String, &Value)> = match vals {
                Value::Array(a) => a
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (format!("{key_path}[{i}]"), x))
                    .collect(),
                x => vec![(key_path.clone(), x)],
            };
            let mut raw = Vec::with_capacity(items.len());
            for (p, x) in &items {
                match scalar(x) {
                    Some(s) => raw.push((p.as_str(), s)),
                    None => errs.push(PolicyError::new(p, "expected a string, number or boolean")),
                }
            }
            let before = errs.len();
            let values = parse_values(base, &raw, vars, errs);
            if errs.len() > before {
                continue;
            }
            out.push(Condition {
                base,
                qual,
                if_exists,
                key: Key::parse(key),
                values,
                ip_set: None,
            });
        }
    }
    out
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

pub(crate) fn parse_ip_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

fn parse_values(
    base: Base,
    raw: &[(&str, String)],
    vars: bool,
    errs: &mut Vec<PolicyError>,
) -> Values {
    let mut bad = |p: &str, what: &str| errs.push(PolicyError::new(p, format!("expected {what}")));
    match base {
        Base::StrEq
        | Base::StrNotEq
        | Base::StrEqIc
        | Base::StrNotEqIc
        | Base::StrLike
        | Base::StrNotLike
        | Base::BinEq
        | Base::ArnEq
        | Base::ArnLike
        | Base::ArnNotEq
        | Base::ArnNotLike => {
            Values::Str(raw.iter().map(|(_, s)| Template::parse(s, vars)).collect())
        }
        Base::NumEq | Base::NumNotEq | Base::NumLt | Base::NumLe | Base::NumGt | Base::NumGe => {
            Values::Num(
                raw.iter()
                    .filter_map(|(p, s)| {
                        let n = s.trim().parse::<f64>().ok().filter(|n| n.is_finite());
                        if n.is_none() {
                            bad(p, "a number");
                        }
                        n
                    })
                    .collect(),
            )
        }
        Base::DateEq
        | Base::DateNotEq
        | Base::DateLt
        | Base::DateLe
        | Base::DateGt
        | Base::DateGe => Values::Date(
            raw.iter()
                .filter_map(|(p, s)| {
                    let d = parse_date(s);
                    if d.is_none() {
                        bad(p, "an ISO 8601 date or epoch seconds");
                    }
                    d
                })
                .collect(),
        ),
        Base::Bool | Base::Null => Values::Bool(
            raw.iter()
                .filter_map(|(p, s)| {
                    let b = parse_bool(s);
                    if b.is_none() {
                        bad(p, "\"true\" or \"false\"");
                    }
                    b
                })
                .collect(),
        ),
        Base::Ip | Base::NotIp => Values::Ip(
            raw.iter()
                .filter_map(|(p, s)| {
                    let n = parse_ip_net(s);
                    if n.is_none() {
                        bad(p, "an IP address or CIDR block");
                    }
                    n
                })
                .collect(),
        ),
    }
}

fn as_num(v: Val<'_>) -> Option<f64> {
    match v {
        Val::Str(s) => s.trim().parse::<f64>().ok(),
        Val::Date(t) | Val::Epoch(t) => Some(t as f64),
        Val::Bool(_) | Val::Ip(_) => None,
    }
}

fn as_date(v: Val<'_>) -> Option<i64> {
    match v {
        Val::Str(s) => parse_date(s),
        Val::Date(t) | Val::Epoch(t) => Some(t),
        Val::Bool(_) | Val::Ip(_) => None,
    }
}

fn as_ip(v: Val<'_>) -> Option<IpAddr> {
    match v {
        Val::Ip(ip) => Some(ip),
        Val::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Condition {
    /// Evaluates the condition. `accel` lets the compiled tree use `ip_set`; the reference
    /// evaluator passes false and scans the value list.
    pub(crate) fn eval(&self, req: &Request<'_>, accel: bool) -> bool {
        let v = lookup(&self.key, req);
        if self.base == Base::Null {
            let Values::Bool(want) = &self.values else {
                return false;
            };
            return want.iter().any(|absent| *absent == v.is_none());
        }
        let negated = self.base.negated();
        match v {
            // An absent key is an empty set of values. `ForAllValues:` is vacuously true and
            // `ForAnyValue:` false, whatever the base operator (negated ones too) and whether
            // or not `IfExists` is added: the set qualifier decides, as in AWS (a re:Post
            // report shows `ForAnyValue:StringEqualsIfExists` on an absent `aws:TagKeys`
            // denying) and in iam-simulate. Without a qualifier: `IfExists` and negated
            // operators are true, positive ones false.
            None => match self.qual {
                Qual::AllValues => true,
                Qual::AnyValue => false,
                Qual::Plain => self.if_exists || negated,
            },
            Some(v) => self.positive(v, req, accel) != negated,
        }
    }

    /// True when the request value matches at least one policy value under the positive form of
    /// the operator.
    fn positive(&self, v: Val<'_>, req: &Request<'_>, accel: bool) -> bool {
        match (&self.values, self.base) {
            (Values::Str(ts), Base::StrEq | Base::StrNotEq | Base::BinEq) => {
                let s = v.as_str();
                ts.iter().any(|t| t.text(req).is_some_and(|t| *t == *s))
            }
            (Values::Str(ts), Base::StrEqIc | Base::StrNotEqIc) => {
                let s = v.as_str().to_lowercase();
                ts.iter()
                    .any(|t| t.text(req).is_some_and(|t| t.to_lowercase() == s))
            }
            (Values::Str(ts), Base::StrLike | Base::StrNotLike) => {
                let s = v.as_str();
                ts.iter().any(|t| t.like_matches(req, &s))
            }
            (Values::Str(ts), _) => {
                let s = v.as_str();
                ts.iter().any(|t| t.arn_matches(req, &s))
            }
            (Values::Num(ns), b) => as_num(v).is_some_and(|x| {
                ns.iter().any(|n| match b {
                    Base::NumLt => x < *n,
                    Base::NumLe => x <= *n,
                    Base::NumGt => x > *n,
                    Base::NumGe => x >= *n,
                    _ => x == *n,
                })
            }),
            (Values::Date(ds), b) => as_date(v).is_some_and(|x| {
                ds.iter().any(|d| match b {
                    Base::DateLt => x < *d,
                    Base::DateLe => x <= *d,
                    Base::DateGt => x > *d,
                    Base::DateGe => x >= *d,
                    _ => x == *d,
                })
            }),
            (Values::Bool(bs), _) => {
                let x = match v {
                    Val::Bool(b) => Some(b),
                    Val::Str(s) => parse_bool(s),
                    _ => None,
                };
                x.is_some_and(|x| bs.contains(&x))
            }
            (Values::Ip(nets), _) => as_ip(v).is_some_and(|ip| match (&self.ip_set, accel) {
                (Some(set), true) => set.contains(ip),
                _ => nets.iter().any(|n| n.contains(&ip)),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        assert_eq!(
            parse_operator("StringEquals"),
            Some((Base::StrEq, Qual::Plain, false))
        );
        assert_eq!(
            parse_operator("ForAnyValue:StringLikeIfExists"),
            Some((Base::StrLike, Qual::AnyValue, true))
        );
        assert_eq!(
            parse_operator("NotIpAddressIfExists"),
            Some((Base::NotIp, Qual::Plain, true))
        );
        assert_eq!(parse_operator("NullIfExists"), None);
        assert_eq!(parse_operator("StringEqualz"), None);
    }
}
