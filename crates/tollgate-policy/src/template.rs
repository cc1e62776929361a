//! Strings that may hold policy variables (`${aws:username}`, `${aws:PrincipalTag/team, 'x'}`,
//! `${*}`, `${?}`, `${$}`), resolved per request.

use std::borrow::Cow;

use crate::glob::{ArnPat, PChar, Seg, arn_match, wild_match};
use crate::request::{Key, Request, lookup};

#[derive(Debug, Clone, PartialEq)]
enum TTok {
    /// A literal character (including `*`/`?` produced by `${*}`/`${?}`).
    Lit(char),
    /// A raw `*` in the source: a wildcard for `Like` matching, a plain `*` for equality.
    Star,
    /// A raw `?` in the source.
    One,
    Var {
        key: Key,
        default: Option<String>,
    },
}

/// A policy string, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    toks: Vec<TTok>,
    /// Precomputed forms when there are no variables.
    fixed: Option<Fixed>,
}

#[derive(Debug, Clone)]
struct Fixed {
    text: String,
    glob: Vec<PChar>,
    like: Seg,
    arn: ArnPat,
}

impl Template {
    /// Parses `s`; `vars` is false for policies whose Version is not `2012-10-17` (then `${...}`
    /// is literal text).
    pub(crate) fn parse(s: &str, vars: bool) -> Template {
        let mut toks = Vec::with_capacity(s.len());
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if vars
                && rest.starts_with("${")
                && let Some(end) = rest.find('}')
            {
                let inner = rest.get(2..end).unwrap_or_default();
                toks.push(parse_var(inner));
                rest = rest.get(end + 1..).unwrap_or_default();
                continue;
            }
            toks.push(match c {
                '*' => TTok::Star,
                '?' => TTok::One,
                c => TTok::Lit(c),
            });
            rest = rest.get(c.len_utf8()..).unwrap_or_default();
        }
        let fixed = if toks.iter().any(|t| matches!(t, TTok::Var { .. })) {
            None
        } else {
            let text = toks.iter().filter_map(tok_char).collect();
            let glob: Vec<PChar> = toks.iter().filter_map(tok_pchar).collect();
            Some(Fixed {
                text,
                like: Seg::new(&glob, false),
                arn: ArnPat::new(&glob),
                glob,
            })
        };
        Template { toks, fixed }
    }

    /// The string for equality operators; `None` when a variable has no value.
    pub(crate) fn text<'r>(&'r self, req: &Request<'_>) -> Option<Cow<'r, str>> {
        if let Some(f) = &self.fixed {
            return Some(Cow::Borrowed(&f.text));
        }
        let mut out = String::new();
        for t in &self.toks {
            match t {
                TTok::Var { key, default } => out.push_str(&resolve(key, default.as_deref(), req)?),
                t => out.extend(tok_char(t)),
            }
        }
        Some(Cow::Owned(out))
    }

    /// The wildcard pattern for `Like` operators and resources; `None` when a variable has no
    /// value. Substituted values are literal (a `*` in a user name is not a wildcard).
    pub(crate) fn glob<'r>(&'r self, req: &Request<'_>) -> Option<Cow<'r, [PChar]>> {
        if let Some(f) = &self.fixed {
            return Some(Cow::Borrowed(&f.glob));
        }
        let mut out = Vec::with_capacity(self.toks.len());
        for t in &self.toks {
            match t {
                TTok::Var { key, default } => {
                    out.extend(
                        resolve(key, default.as_deref(), req)?
                            .chars()
                            .map(PChar::Ch),
                    );
                }
                t => out.extend(tok_pchar(t)),
            }
        }
        Some(Cow::Owned(out))
    }

    /// Keys of the variables that have no default (`${aws:username}`, not
    /// `${aws:username, 'x'}`); the escapes `${*}`, `${?}`, `${$}` are not variables.
    pub(crate) fn required_keys(&self) -> impl Iterator<Item = &Key> {
        self.toks.iter().filter_map(|t| match t {
            TTok::Var { key, default: None } => Some(key),
            _ => None,
        })
    }

    /// The text of a template without variables.
    pub(crate) fn fixed_text(&self) -> Option<&str> {
        self.fixed.as_ref().map(|f| f.text.as_str())
    }

    /// `StringLike` match of `s` (case-sensitive); false when a variable has no value.
    pub(crate) fn like_matches(&self, req: &Request<'_>, s: &str) -> bool {
        match &self.fixed {
            Some(f) => f.like.matches(s, false),
            None => self.glob(req).is_some_and(|g| wild_match(&g, s, false)),
        }
    }

    /// ARN match of `s` (Resource, `ArnLike`); false when a variable has no value.
    pub(crate) fn arn_matches(&self, req: &Request<'_>, s: &str) -> bool {
        match &self.fixed {
            Some(f) => f.arn.matches(s),
            None => self.glob(req).is_some_and(|g| arn_match(&g, s)),
        }
    }

    /// The wildcard pattern up to the first variable, and whether that is the whole template.
    pub(crate) fn static_prefix(&self) -> (Vec<PChar>, bool) {
        let mut out = Vec::new();
        for t in &self.toks {
            match tok_pchar(t) {
                Some(p) => out.push(p),
                None => return (out, false),
            }
        }
        (out, true)
    }
}

fn tok_char(t: &TTok) -> Option<char> {
    match t {
        TTok::Lit(c) => Some(*c),
        TTok::Star => Some('*'),
        TTok::One => Some('?'),
        TTok::Var { .. } => None,
    }
}

fn tok_pchar(t: &TTok) -> Option<PChar> {
    match t {
        TTok::Lit(c) => Some(PChar::Ch(*c)),
        TTok::Star => Some(PChar::Star),
        TTok::One => Some(PChar::One),
        TTok::Var { .. } => None,
    }
}

fn parse_var(inner: &str) -> TTok {
    match inner {
        "*" => return TTok::Lit('*'),
        "?" => return TTok::Lit('?'),
        "$" => return TTok::Lit('$'),
        _ => {}
    }
    let (name, default) = match inner.split_once(',') {
        Some((name, d)) => {
            let d = d.trim();
            let d = d
                .strip_prefix('\'')
                .and_then(|x| x.strip_suffix('\''))
                .unwrap_or(d);
            (name, Some(d.to_string()))
        }
        None => (inner, None),
    };
    TTok::Var {
        key: Key::parse(name),
        default,
    }
}

fn resolve<'r>(key: &Key, default: Option<&'r str>, req: &Request<'_>) -> Option<Cow<'r, str>> {
    match lookup(key, req) {
        Some(v) => Some(Cow::Owned(v.as_str().into_owned())),
        None => default.map(Cow::Borrowed),
    }
}
