//! Wildcard matching: `*` (any sequence, including `/`) and `?` (one character).

/// One element of a wildcard pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PChar {
    /// A literal character.
    Ch(char),
    /// `*`: any sequence of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

fn chars_eq(a: char, b: char, ci: bool) -> bool {
    a == b
        || (ci
            && if a.is_ascii() && b.is_ascii() {
                a.eq_ignore_ascii_case(&b)
            } else {
                a.to_lowercase().eq(b.to_lowercase())
            })
}

fn next_char(s: &str, at: usize) -> Option<char> {
    s.get(at..).and_then(|r| r.chars().next())
}

/// Matches `s` against the whole pattern `p` (greedy with single backtrack point, which is exact
/// for `*`/`?` patterns).
pub(crate) fn wild_match(p: &[PChar], s: &str, ci: bool) -> bool {
    let mut pi = 0usize;
    let mut si = 0usize;
    let mut back: Option<(usize, usize)> = None;
    while let Some(c) = next_char(s, si) {
        match p.get(pi) {
            Some(PChar::Star) => {
                pi += 1;
                back = Some((pi, si));
                continue;
            }
            Some(PChar::One) => {
                pi += 1;
                si += c.len_utf8();
                continue;
            }
            Some(PChar::Ch(pc)) if chars_eq(*pc, c, ci) => {
                pi += 1;
                si += c.len_utf8();
                continue;
            }
            _ => {}
        }
        let Some((bp, bs)) = back else { return false };
        let Some(bc) = next_char(s, bs) else {
            return false;
        };
        let ns = bs + bc.len_utf8();
        back = Some((bp, ns));
        pi = bp;
        si = ns;
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|t| *t == PChar::Star))
}

/// Splits a pattern into the six ARN parts (`arn`, partition, service, region, account, resource)
/// at its first five `:` characters; `None` when it has fewer.
pub(crate) fn split_arn_pattern(p: &[PChar]) -> Option<[&[PChar]; 6]> {
    let mut parts: [&[PChar]; 6] = [&[]; 6];
    let mut rest = p;
    for slot in parts.iter_mut().take(5) {
        let pos = rest.iter().position(|c| *c == PChar::Ch(':'))?;
        *slot = rest.get(..pos)?;
        rest = rest.get(pos + 1..)?;
    }
    if let Some(last) = parts.get_mut(5) {
        *last = rest;
    }
    Some(parts)
}

/// ARN matching as IAM does it: a pattern with six parts is matched part by part (so a `*` in the
/// region cannot run into the account), the resource part being everything after the fifth `:`.
/// A pattern with fewer parts (e.g. `*`) is matched against the whole string.
pub(crate) fn arn_match(p: &[PChar], s: &str) -> bool {
    match split_arn_pattern(p) {
        Some(parts) => {
            let mut sp = s.splitn(6, ':');
            for part in parts {
                match sp.next() {
                    Some(seg) if wild_match(part, seg, false) => {}
                    _ => return false,
                }
            }
            true
        }
        None => wild_match(p, s, false),
    }
}

/// A precompiled pattern: literal and `literal*` patterns (the common cases) skip the general
/// wildcard matcher. Always equivalent to [`wild_match`] over `glob`.
#[derive(Debug, Clone)]
pub(crate) struct Seg {
    kind: SegKind,
    glob: Vec<PChar>,
}

#[derive(Debug, Clone)]
enum SegKind {
    /// `*`.
    Any,
    /// No wildcard.
    Lit(String),
    /// Literal followed by one trailing `*`.
    Prefix(String),
    Glob,
}

impl Seg {
    /// `ci`: the pattern will be matched case-insensitively; literal fast paths are then used
    /// only for ASCII patterns and ASCII inputs.
    pub(crate) fn new(p: &[PChar], ci: bool) -> Seg {
        let lit = |p: &[PChar]| -> Option<String> {
            p.iter()
                .map(|c| match c {
                    PChar::Ch(c) if !ci || c.is_ascii() => Some(*c),
                    _ => None,
                })
                .collect()
        };
        let kind = match p {
            [PChar::Star] => SegKind::Any,
            [head @ .., PChar::Star] => lit(head).map_or(SegKind::Glob, SegKind::Prefix),
            _ => lit(p).map_or(SegKind::Glob, SegKind::Lit),
        };
        Seg {
            kind,
            glob: p.to_vec(),
        }
    }

    pub(crate) fn matches(&self, s: &str, ci: bool) -> bool {
        if ci && !s.is_ascii() {
            return wild_match(&self.glob, s, ci);
        }
        match &self.kind {
            SegKind::Any => true,
            SegKind::Lit(l) if ci => l.eq_ignore_ascii_case(s),
            SegKind::Lit(l) => l == s,
            SegKind::Prefix(l) if ci => s.get(..l.len()).is_some_and(|h| h.eq_ignore_ascii_case(l)),
            SegKind::Prefix(l) => s.starts_with(l.as_str()),
            SegKind::Glob => wild_match(&self.glob, s, ci),
        }
    }
}

/// A precompiled ARN pattern, equivalent to [`arn_match`].
#[derive(Debug, Clone)]
pub(crate) enum ArnPat {
    Parts(Box<[Seg; 6]>),
    Whole(Seg),
}

impl ArnPat {
    pub(crate) fn new(p: &[PChar]) -> ArnPat {
        match split_arn_pattern(p) {
            Some(parts) => ArnPat::Parts(Box::new(parts.map(|x| Seg::new(x, false)))),
            None => ArnPat::Whole(Seg::new(p, false)),
        }
    }

    pub(crate) fn matches(&self, s: &str) -> bool {
        match self {
            ArnPat::Parts(parts) => {
                let mut sp = s.splitn(6, ':');
                parts
                    .iter()
                    .all(|part| sp.next().is_some_and(|seg| part.matches(seg, false)))
            }
            ArnPat::Whole(seg) => seg.matches(s, false),
        }
    }
}

/// A literal or wildcard pattern from a plain string (no policy variables).
pub(crate) fn compile_glob(s: &str) -> Vec<PChar> {
    s.chars()
        .map(|c| match c {
            '*' => PChar::Star,
            '?' => PChar::One,
            c => PChar::Ch(c),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        wild_match(&compile_glob(p), s, false)
    }

    #[test]
    fn wildcards() {
        assert!(m("*", ""));
        assert!(m("*", "a/b/c"));
        assert!(m("a*c", "abbbc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*c", "acb"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*/GET/*", "prod/GET/pets/1"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("é?", "éü"));
        assert!(!m("abc", "ABC"));
        assert!(wild_match(
            &compile_glob("execute-api:inv*"),
            "EXECUTE-API:Invoke",
            true
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, failure_persistence: None, ..Default::default() })]
        /// The literal/prefix fast paths agree with the general matcher.
        #[test]
        fn fast_paths_agree(p in "[aB:/*?\u{212A}k]{0,8}", s in "[abAB:/k\u{212A}]{0,10}", ci in proptest::bool::ANY) {
            let g = compile_glob(&p);
            proptest::prop_assert_eq!(Seg::new(&g, ci).matches(&s, ci), wild_match(&g, &s, ci));
            proptest::prop_assert_eq!(ArnPat::new(&g).matches(&s), arn_match(&g, &s));
        }
    }

    #[test]
    fn arns() {
        let p = compile_glob("arn:aws:execute-api:*:*:a123/*/GET/pets");
        assert!(arn_match(
            &p,
            "arn:aws:execute-api:us-east-1:1234:a123/prod/GET/pets"
        ));
        assert!(!arn_match(
            &p,
            "arn:aws:execute-api:us-east-1:1234:a124/prod/GET/pets"
        ));
        assert!(!arn_match(&p, "arn:aws:execute-api:us-east-1:1234"));
        assert!(arn_match(&compile_glob("*"), "anything:at:all"));
        // a `*` in the region segment does not cross into the account segment
        let p = compile_glob("arn:aws:execute-api:*:123:api/x");
        assert!(!arn_match(&p, "arn:aws:execute-api:us:east:123:api/x"));
    }
}
