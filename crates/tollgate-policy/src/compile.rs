//! The compiled decision tree.
//!
//! Layout (see `docs/policies.md`): action → effect → resource-path trie (exact segments in
//! hash maps, statements whose pattern turns wild at a segment parked on that node) → per-node
//! groups where statements with a positive `IpAddress` condition on `aws:SourceIp` /
//! `aws:VpcSourceIp` sit in a binary prefix trie. Every candidate the index yields is checked
//! with the same statement matcher as the reference evaluator, so the index only prunes.

use std::collections::HashMap as StdHashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use crate::cond::{Base, Qual, Values};
use crate::eval::statement_matches;
use crate::glob::{PChar, split_arn_pattern};
use crate::ipset::IpTrie;
use crate::parse::{Effect, Statement};
use crate::request::{Key, Request, lookup};
use crate::template::Template;
use crate::{Decision, Policy, PolicyKind};

/// FNV-1a: the keys are short path segments and action names written by the API owner, and
/// lookups with request data never insert, so a keyed hash buys nothing here.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type HashMap<K, V> = StdHashMap<K, V, BuildHasherDefault<Fnv>>;

/// Above this many distinct literal actions the action switch is skipped (it copies the
/// wildcard-action statements into every branch).
const MAX_ACTION_BRANCHES: usize = 64;
/// `IpAddress`/`NotIpAddress` value lists at least this long get a prefix trie.
const IP_SET_MIN: usize = 4;

type ValueIndex = HashMap<Box<str>, Vec<u32>>;

#[derive(Debug, Clone, Default)]
struct Group {
    rest: Vec<u32>,
    source_ip: IpTrie,
    vpc_source_ip: IpTrie,
    /// Statements with a positive `StringEquals` on a known key and literal values: key ->
    /// value -> statement ids.
    by_str: Vec<(Key, ValueIndex)>,
}

/// Patterns that turn wild below a node: keyed by their literal last segment when they have
/// one, else in `any`.
#[derive(Debug, Clone, Default)]
struct Wild {
    by_last: HashMap<Box<str>, Group>,
    any: Group,
}

impl Wild {
    fn any(&self, last: &str, m: &mut dyn FnMut(u32) -> bool, req: &Request<'_>) -> bool {
        self.any.any(m, req) || self.by_last.get(last).is_some_and(|g| g.any(m, req))
    }
}

#[derive(Debug, Clone, Default)]
struct RNode {
    children: HashMap<Box<str>, u32>,
    wild: Wild,
    end: Group,
}

/// A node while building: children, wild ids by last segment, other wild ids, exact ids.
#[derive(Default)]
struct Building {
    children: HashMap<Box<str>, u32>,
    by_last: HashMap<String, Vec<u32>>,
    wild: Vec<u32>,
    end: Vec<u32>,
}

fn push_once(list: &mut Vec<u32>, id: u32) {
    if list.last() != Some(&id) {
        list.push(id);
    }
}

#[derive(Debug, Clone, Default)]
struct ResIndex {
    nodes: Vec<RNode>,
}

#[derive(Debug, Clone, Default)]
struct Branch {
    deny: ResIndex,
    allow: ResIndex,
}

/// One or more policies of one kind compiled into a decision tree. Decisions are identical to
/// [`crate::reference::evaluate`] over the same policies.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    kind: PolicyKind,
    stmts: Vec<Statement>,
    by_action: HashMap<String, Branch>,
    fallback: Branch,
}

/// Where a resource pattern hangs in the trie.
#[derive(Debug, Default)]
struct Placement {
    /// Literal leading segments of the resource part (the trie path).
    segs: Vec<String>,
    /// The whole pattern is literal: it can only match a request with exactly these segments.
    exact: bool,
    /// For a pattern that turns wild: its last segment, when that is literal and follows a `/`
    /// (e.g. `pets` in `api/*/GET/pets`). Any request it matches ends with `/pets`, so its last
    /// segment is exactly `pets`.
    last: Option<String>,
}

fn literal(seg: &[PChar]) -> Option<String> {
    seg.iter()
        .map(|c| match c {
            PChar::Ch(c) => Some(*c),
            _ => None,
        })
        .collect()
}

fn place(t: &Template) -> Placement {
    let (prefix, complete) = t.static_prefix();
    let Some(res) = split_arn_pattern(&prefix).and_then(|p| p.get(5).copied()) else {
        return Placement::default();
    };
    let mut segs: Vec<&[PChar]> = res.split(|c| *c == PChar::Ch('/')).collect();
    let last = if complete && segs.len() > 1 {
        segs.last().and_then(|s| literal(s))
    } else {
        None
    };
    if !complete {
        segs.pop();
    }
    let mut out = Vec::with_capacity(segs.len());
    for s in &segs {
        match literal(s) {
            Some(l) => out.push(l),
            None => {
                return Placement {
                    segs: out,
                    exact: false,
                    last,
                };
            }
        }
    }
    Placement {
        segs: out,
        exact: complete,
        last: None,
    }
}

impl Group {
    fn build(ids: &[u32], stmts: &[Statement]) -> Group {
        let mut g = Group::default();
        for &id in ids {
            let Some(st) = stmts.get(id as usize) else {
                continue;
            };
            let indexable = st.conditions.iter().find(|c| {
                c.base == Base::Ip
                    && !c.if_exists
                    && c.qual != Qual::AllValues
                    && matches!(c.key, Key::SourceIp | Key::VpcSourceIp)
            });
            if let Some(c) = indexable {
                let trie = if c.key == Key::SourceIp {
                    &mut g.source_ip
                } else {
                    &mut g.vpc_source_ip
                };
                if let Values::Ip(nets) = &c.values {
                    for n in nets {
                        trie.insert(n, id);
                    }
                }
                continue;
            }
            // a positive StringEquals whose values are all literal: the statement can only
            // match when the key's value is one of them
            let by_value = st.conditions.iter().find_map(|c| {
                let Values::Str(ts) = &c.values else {
                    return None;
                };
                if c.base != Base::StrEq
                    || c.if_exists
                    || c.qual == Qual::AllValues
                    || c.key == Key::Unknown
                {
                    return None;
                }
                let texts: Option<Vec<&str>> = ts.iter().map(Template::fixed_text).collect();
                texts.map(|t| (&c.key, t))
            });
            match by_value {
                Some((key, texts)) => {
                    let pos = match g.by_str.iter().position(|(k, _)| k == key) {
                        Some(p) => p,
                        None => {
                            g.by_str.push((key.clone(), HashMap::default()));
                            g.by_str.len() - 1
                        }
                    };
                    if let Some((_, map)) = g.by_str.get_mut(pos) {
                        for t in texts {
                            push_once(map.entry(t.into()).or_default(), id);
                        }
                    }
                }
                None => g.rest.push(id),
            }
        }
        g
    }

    fn any(&self, m: &mut dyn FnMut(u32) -> bool, req: &Request<'_>) -> bool {
        if self.rest.iter().any(|&id| m(id)) {
            return true;
        }
        let probe = |trie: &IpTrie, ip: Option<IpAddr>, m: &mut dyn FnMut(u32) -> bool| {
            !trie.is_empty() && ip.is_some_and(|ip| trie.find(ip, &mut *m))
        };
        probe(&self.source_ip, req.facts.source_ip, m)
            || probe(&self.vpc_source_ip, req.facts.vpc_source_ip, m)
            || self.by_str.iter().any(|(key, map)| {
                lookup(key, req).is_some_and(|v| {
                    map.get(v.as_str().as_ref())
                        .is_some_and(|ids| ids.iter().any(|&id| m(id)))
                })
            })
    }
}

impl ResIndex {
    fn build(ids: &[u32], stmts: &[Statement]) -> ResIndex {
        let mut nodes: Vec<Building> = vec![Building::default()];
        for &id in ids {
            let Some(st) = stmts.get(id as usize) else {
                continue;
            };
            if st.not_resource {
                if let Some(root) = nodes.get_mut(0) {
                    push_once(&mut root.wild, id);
                }
                continue;
            }
            for r in &st.resources {
                let pl = place(r);
                let mut at = 0usize;
                for s in pl.segs {
                    let next = nodes
                        .get(at)
                        .and_then(|n| n.children.get(s.as_str()))
                        .copied();
                    at = match next {
                        Some(n) => n as usize,
                        None => {
                            let idx = nodes.len();
                            nodes.push(Building::default());
                            if let Some(n) = nodes.get_mut(at) {
                                n.children.insert(
                                    s.into_boxed_str(),
                                    u32::try_from(idx).unwrap_or(u32::MAX),
                                );
                            }
                            idx
                        }
                    };
                }
                if let Some(n) = nodes.get_mut(at) {
                    match (pl.exact, pl.last) {
                        (true, _) => push_once(&mut n.end, id),
                        (false, Some(last)) => push_once(n.by_last.entry(last).or_default(), id),
                        (false, None) => push_once(&mut n.wild, id),
                    }
                }
            }
        }
        ResIndex {
            nodes: nodes
                .into_iter()
                .map(|b| RNode {
                    children: b.children,
                    wild: Wild {
                        by_last: b
                            .by_last
                            .into_iter()
                            .map(|(k, ids)| (k.into_boxed_str(), Group::build(&ids, stmts)))
                            .collect(),
                        any: Group::build(&b.wild, stmts),
                    },
                    end: Group::build(&b.end, stmts),
                })
                .collect(),
        }
    }

    fn any(&self, req: &Request<'_>, m: &mut dyn FnMut(u32) -> bool) -> bool {
        let Some(mut node) = self.nodes.first() else {
            return false;
        };
        let path = req.resource.splitn(6, ':').nth(5);
        // the request's last segment (whole resource part when it has no `/`); patterns keyed
        // by a last segment need a `/` before it, so this is only ever a superset
        let last = path.map_or(req.resource, |p| p.rsplit('/').next().unwrap_or(p));
        if node.wild.any(last, m, req) {
            return true;
        }
        let Some(path) = path else { return false };
        for seg in path.split('/') {
            let Some(next) = node
                .children
                .get(seg)
                .and_then(|&i| self.nodes.get(i as usize))
            else {
                return false;
            };
            node = next;
            if node.wild.any(last, m, req) {
                return true;
            }
        }
        node.end.any(m, req)
    }
}

impl CompiledPolicy {
    /// Compiles the statements of `policies` (a resource policy, the identity policies of one
    /// caller, or one authorizer reply) for evaluation as `kind`.
    pub fn new(kind: PolicyKind, policies: &[Policy]) -> CompiledPolicy {
        let mut stmts: Vec<Statement> = policies
            .iter()
            .flat_map(|p| p.statements.iter().cloned())
            .collect();
        for st in &mut stmts {
            for c in &mut st.conditions {
                if let Values::Ip(nets) = &c.values
                    && nets.len() >= IP_SET_MIN
                {
                    let mut t = IpTrie::default();
                    for n in nets {
                        t.insert(n, 0);
                    }
                    c.ip_set = Some(t);
                }
            }
        }
        let mut buckets: HashMap<String, Vec<u32>> = HashMap::default();
        let mut fallback: Vec<u32> = Vec::new();
        for (i, st) in stmts.iter().enumerate() {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            let literal =
                !st.not_action && st.actions.iter().all(|a| a.literal && a.lower.is_ascii());
            if literal {
                for a in &st.actions {
                    let list = buckets.entry(a.lower.clone()).or_default();
                    if list.last() != Some(&id) {
                        list.push(id);
                    }
                }
            } else {
                fallback.push(id);
            }
        }
        if buckets.len() > MAX_ACTION_BRANCHES {
            buckets.clear();
            fallback = (0..stmts.len())
                .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                .collect();
        }
        let branch = |ids: &[u32]| {
            let (deny, allow): (Vec<u32>, Vec<u32>) = ids.iter().partition(|&&id| {
                stmts
                    .get(id as usize)
                    .is_some_and(|s| s.effect == Effect::Deny)
            });
            Branch {
                deny: ResIndex::build(&deny, &stmts),
                allow: ResIndex::build(&allow, &stmts),
            }
        };
        let by_action = buckets
            .iter()
            .map(|(a, ids)| {
                let mut all = ids.clone();
                all.extend(&fallback);
                (a.clone(), branch(&all))
            })
            .collect();
        let fallback = branch(&fallback);
        CompiledPolicy {
            kind,
            stmts,
            by_action,
            fallback,
        }
    }

    /// How the statements are evaluated (resource policies check `Principal`).
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// Number of statements compiled in.
    pub fn len(&self) -> usize {
        self.stmts.len()
    }

    /// True when there is no statement (every decision is an implicit deny).
    pub fn is_empty(&self) -> bool {
        self.stmts.is_empty()
    }

    /// Explicit deny > allow > implicit deny, as [`crate::reference::evaluate`].
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        let mut buf = [0u8; 128];
        let branch = if self.by_action.is_empty() {
            &self.fallback
        } else if !req.action.is_ascii() {
            return self.linear(req);
        } else {
            let lower: std::borrow::Cow<'_, str> = match buf.get_mut(..req.action.len()) {
                Some(b) => {
                    b.copy_from_slice(req.action.as_bytes());
                    b.make_ascii_lowercase();
                    std::str::from_utf8(b)
                        .map_or_else(|_| req.action.to_ascii_lowercase().into(), Into::into)
                }
                None => req.action.to_ascii_lowercase().into(),
            };
            self.by_action.get(lower.as_ref()).unwrap_or(&self.fallback)
        };
        let kind = self.kind;
        let mut m = |id: u32| {
            self.stmts
                .get(id as usize)
                .is_some_and(|st| statement_matches(st, kind, req, true))
        };
        if branch.deny.any(req, &mut m) {
            Decision::ExplicitDeny
        } else if branch.allow.any(req, &mut m) {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }

    fn linear(&self, req: &Request<'_>) -> Decision {
        let mut allowed = false;
        for st in &self.stmts {
            if statement_matches(st, self.kind, req, true) {
                if st.effect == Effect::Deny {
                    return Decision::ExplicitDeny;
                }
                allowed = true;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}
