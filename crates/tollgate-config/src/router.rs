//! Route lookup: host -> API, first segment -> stage, the rest -> a path-template trie.
//!
//! Each trie node holds its exact-segment children in a `HashMap`, at most one `{param}`
//! child and at most one `{name+}` greedy leaf, and a method table (seven slots plus an
//! `ANY` fallback). Lookup walks one node per path segment, trying exact, then param, then
//! greedy, backtracking when a branch has no route for the method, so its cost grows with
//! the path's depth, not with the number of routes.

use std::collections::HashMap;
use std::ops::Range;

use crate::schema::Method;

/// Method table of one trie node: route indices by concrete method, `ANY` as fallback.
#[derive(Debug, Clone, Default)]
struct Methods {
    by_method: [Option<usize>; 7],
    any: Option<usize>,
}

fn slot(m: Method) -> Option<usize> {
    Method::CONCRETE.iter().position(|c| *c == m)
}

impl Methods {
    fn get(&self, m: Method) -> Option<usize> {
        slot(m)
            .and_then(|i| self.by_method.get(i).copied().flatten())
            .or(self.any)
    }

    /// Insert; on a duplicate, the route already there.
    fn insert(&mut self, m: Method, route: usize) -> Result<(), usize> {
        let cell = if m == Method::Any {
            &mut self.any
        } else {
            match slot(m).and_then(|i| self.by_method.get_mut(i)) {
                Some(c) => c,
                None => return Ok(()),
            }
        };
        match cell {
            Some(prev) => Err(*prev),
            None => {
                *cell = Some(route);
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Node {
    exact: FastMap<Box<[u8]>, Node>,
    param: Option<(String, Box<Node>)>,
    greedy: Option<(String, Methods)>,
    methods: Methods,
}

/// One segment of a parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSegment {
    Literal(String),
    Param(String),
    Greedy(String),
}

/// Parse a path template (`/pets/{petId}`, `/{proxy+}`, `/`), or say what is wrong with it.
pub fn parse_template(path: &str) -> Result<Vec<TemplateSegment>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("a path must start with '/'".to_owned());
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let mut out = Vec::with_capacity(parts.len());
    let mut names: Vec<&str> = Vec::new();
    for (i, seg) in parts.iter().enumerate() {
        if seg.is_empty() {
            return Err("empty path segment (no '//' and no trailing '/')".to_owned());
        }
        if let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            {
                return Err(format!(
                    "invalid path parameter \"{seg}\" (use {{name}} or {{name+}} with [A-Za-z0-9_.-])"
                ));
            }
            if names.contains(&name) {
                return Err(format!("duplicate path parameter \"{name}\""));
            }
            names.push(name);
            if greedy {
                if i + 1 != parts.len() {
                    return Err(format!(
                        "greedy parameter \"{seg}\" must be the last segment"
                    ));
                }
                out.push(TemplateSegment::Greedy(name.to_owned()));
            } else {
                out.push(TemplateSegment::Param(name.to_owned()));
            }
        } else {
            if let Some(bad) = seg.chars().find(|c| {
                matches!(c, '{' | '}' | '?' | '#' | '%') || c.is_whitespace() || c.is_control()
            }) {
                return Err(format!(
                    "invalid character {bad:?} in path segment \"{seg}\""
                ));
            }
            out.push(TemplateSegment::Literal((*seg).to_owned()));
        }
    }
    Ok(out)
}

/// A conflict found while inserting a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertError {
    /// Same template shape and method as an earlier route (its index).
    Duplicate { method: Method, other_route: usize },
    /// A sibling parameter at the same position has another name.
    ParamName { existing: String, new: String },
}

/// The routes of one API (shared by all its stages).
#[derive(Debug, Clone, Default)]
pub struct ApiRouter {
    root: Node,
    templates: Vec<String>,
    stages: FastMap<Box<[u8]>, usize>,
    stage_names: Vec<String>,
}

impl ApiRouter {
    /// Stages in index order (the config's `BTreeMap` order).
    pub fn new(stage_names: Vec<String>) -> Self {
        let stages = stage_names
            .iter()
            .enumerate()
            .map(|(i, s)| (Box::from(s.as_bytes()), i))
            .collect();
        ApiRouter {
            root: Node::default(),
            templates: Vec::new(),
            stages,
            stage_names,
        }
    }

    /// Add route number `route` (its index in the API's `routes`) under `segments`.
    pub fn insert(
        &mut self,
        route: usize,
        template: &str,
        segments: &[TemplateSegment],
        methods: &[Method],
    ) -> Result<(), InsertError> {
        if self.templates.len() <= route {
            self.templates.resize(route + 1, String::new());
        }
        if let Some(t) = self.templates.get_mut(route) {
            *t = template.to_owned();
        }
        let mut node = &mut self.root;
        for seg in segments {
            match seg {
                TemplateSegment::Literal(l) => {
                    node = node.exact.entry(Box::from(l.as_bytes())).or_default();
                }
                TemplateSegment::Param(name) => {
                    if let Some((existing, _)) = &node.param
                        && existing != name
                    {
                        return Err(InsertError::ParamName {
                            existing: existing.clone(),
                            new: name.clone(),
                        });
                    }
                    node = node
                        .param
                        .get_or_insert_with(|| (name.clone(), Box::default()))
                        .1
                        .as_mut();
                }
                TemplateSegment::Greedy(name) => {
                    if let Some((existing, _)) = &node.greedy
                        && existing != name
                    {
                        return Err(InsertError::ParamName {
                            existing: existing.clone(),
                            new: name.clone(),
                        });
                    }
                    let table = &mut node
                        .greedy
                        .get_or_insert_with(|| (name.clone(), Methods::default()))
                        .1;
                    return insert_methods(table, route, methods);
                }
            }
        }
        insert_methods(&mut node.methods, route, methods)
    }
}

fn insert_methods(
    table: &mut Methods,
    route: usize,
    methods: &[Method],
) -> Result<(), InsertError> {
    for m in methods {
        table
            .insert(*m, route)
            .map_err(|other_route| InsertError::Duplicate {
                method: *m,
                other_route,
            })?;
    }
    Ok(())
}

/// A successful lookup. Ranges index into the `path` given to [`Router::lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// Index into `config.apis`.
    pub api: usize,
    /// Stage name and its index in the API's `stages` (BTreeMap order).
    pub stage: &'a str,
    pub stage_index: usize,
    /// Index into `config.apis[api].routes`.
    pub route: usize,
    /// The route's template, e.g. `/pets/{petId}`.
    pub template: &'a str,
    /// The resource path after the stage, e.g. `/pets/a1b2`; empty means `/`
    /// (use [`RouteMatch::resource_path`]).
    pub resource_range: Range<usize>,
    /// Path parameters: name and raw (still percent-encoded) value range in `path`.
    pub params: Vec<(&'a str, Range<usize>)>,
}

impl RouteMatch<'_> {
    /// The resource path after the stage; `/` for the stage root.
    pub fn resource_path<'p>(&self, path: &'p [u8]) -> &'p [u8] {
        match path.get(self.resource_range.clone()) {
            Some(p) if !p.is_empty() => p,
            _ => b"/",
        }
    }

    /// The raw value of path parameter `name`.
    pub fn param<'p>(&self, path: &'p [u8], name: &str) -> Option<&'p [u8]> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, r)| path.get(r.clone()))
    }
}

/// Host + stage + path template + method -> route, built once per configuration.
#[derive(Debug, Clone, Default)]
pub struct Router {
    hosts: FastMap<Box<[u8]>, usize>,
    wildcard: Option<usize>,
    apis: Vec<ApiRouter>,
}

impl Router {
    /// An empty router; add APIs with [`Router::add_api`] in `config.apis` order.
    pub fn new() -> Self {
        Router::default()
    }

    /// Add the next API (index = number added before) with its hosts (`"*"` = any).
    /// Host names are matched case-insensitively. Later duplicates are ignored
    /// (validation rejects them before this point).
    pub fn add_api(&mut self, hosts: &[String], api: ApiRouter) -> usize {
        let idx = self.apis.len();
        for h in hosts {
            if h == "*" {
                self.wildcard.get_or_insert(idx);
            } else {
                self.hosts
                    .entry(Box::from(h.to_ascii_lowercase().as_bytes()))
                    .or_insert(idx);
            }
        }
        self.apis.push(api);
        idx
    }

    /// Number of APIs.
    pub fn len(&self) -> usize {
        self.apis.len()
    }

    /// True when there is no API.
    pub fn is_empty(&self) -> bool {
        self.apis.is_empty()
    }

    /// The API selected by `host` (without port): exact match, else the `"*"` API.
    pub fn api_for_host(&self, host: &[u8]) -> Option<usize> {
        if let Some(i) = self.hosts.get(host) {
            return Some(*i);
        }
        if host.iter().any(u8::is_ascii_uppercase) {
            let lower = host.to_ascii_lowercase();
            if let Some(i) = self.hosts.get(lower.as_slice()) {
                return Some(*i);
            }
        }
        self.wildcard
    }

    /// Find the route for a request. `host` is the Host value without port; `path` the
    /// raw path without query, starting with `/`. `None`: unknown host, stage, path or
    /// method (the gateway answers MISSING_AUTHENTICATION_TOKEN).
    pub fn lookup(&self, host: &[u8], method: &[u8], path: &[u8]) -> Option<RouteMatch<'_>> {
        let m = Method::from_request(method)?;
        let api_idx = self.api_for_host(host)?;
        let api = self.apis.get(api_idx)?;
        let rest = path.strip_prefix(b"/")?;
        let stage_end = rest.iter().position(|b| *b == b'/').unwrap_or(rest.len());
        let stage_bytes = rest.get(..stage_end)?;
        let stage_index = *api.stages.get(stage_bytes)?;
        let stage = api.stage_names.get(stage_index)?;
        // Resource path starts at the '/' after the stage (absolute offset in `path`).
        let res_start = 1 + stage_end;
        // Resource path "" or "/" is the root (no segments); otherwise the segments of
        // "/a/b/c" are walked in place, ignoring one trailing '/'.
        let mut body_end = path.len();
        if body_end > res_start + 1 && path.last() == Some(&b'/') {
            body_end -= 1;
        }
        let (start, end) = if body_end > res_start + 1 {
            (res_start + 1, body_end)
        } else {
            (1, 0)
        };
        let mut params = Vec::new();
        let route = find(&api.root, path, start, end, m, &mut params)?;
        let template = api.templates.get(route)?;
        Some(RouteMatch {
            api: api_idx,
            stage,
            stage_index,
            route,
            template,
            resource_range: res_start..path.len(),
            params,
        })
    }
}

/// Match the segments of `path[start..end]` (no segments left when `start > end`).
fn find<'a>(
    node: &'a Node,
    path: &[u8],
    start: usize,
    end: usize,
    m: Method,
    params: &mut Vec<(&'a str, Range<usize>)>,
) -> Option<usize> {
    if start > end {
        return node.methods.get(m);
    }
    let rest = path.get(start..end)?;
    let seg_end = rest
        .iter()
        .position(|b| *b == b'/')
        .map_or(end, |e| start + e);
    let bytes = path.get(start..seg_end)?;
    let next = seg_end + 1;
    if let Some(child) = node.exact.get(bytes)
        && let Some(r) = find(child, path, next, end, m, params)
    {
        return Some(r);
    }
    if !bytes.is_empty()
        && let Some((name, child)) = &node.param
    {
        params.push((name.as_str(), start..seg_end));
        if let Some(r) = find(child, path, next, end, m, params) {
            return Some(r);
        }
        params.pop();
    }
    if let Some((name, table)) = &node.greedy
        && !bytes.is_empty()
        && let Some(r) = table.get(m)
    {
        params.push((name.as_str(), start..path.len()));
        return Some(r);
    }
    None
}

/// A small, fast hasher for the router's maps (FxHash-style multiply-rotate, murmur3 finalizer). The tables
/// hold only configured keys; request bytes are only looked up, never inserted, so an
/// attacker cannot build long collision chains: DoS-resistant hashing buys nothing here.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastHash;

/// The hasher of [`FastHash`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        }
        let mut tail = [0u8; 8];
        let rem = chunks.remainder();
        for (d, s) in tail.iter_mut().zip(rem) {
            *d = *s;
        }
        self.add(u64::from_le_bytes(tail) ^ ((rem.len() as u64) << 59));
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply only carries low bits upward: fold the high bits back down
        // (murmur3's finalizer) so hashbrown's bucket index (low bits) sees every byte.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher::default()
    }
}

type FastMap<K, V> = HashMap<K, V, FastHash>;

/// `arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{METHOD}/{path}` (docs/decisions.md R3):
/// the resource path without its leading `/`; the root gives a trailing `/`.
pub fn method_arn(
    region: &str,
    account: &str,
    api_id: &str,
    stage: &str,
    method: &str,
    resource_path: &str,
) -> String {
    let p = resource_path.strip_prefix('/').unwrap_or(resource_path);
    // Built on every authorized request: one exact allocation, no formatting machinery.
    let parts = [
        "arn:aws:execute-api:",
        region,
        ":",
        account,
        ":",
        api_id,
        "/",
        stage,
        "/",
        method,
        "/",
        p,
    ];
    let mut arn = String::with_capacity(parts.iter().map(|s| s.len()).sum());
    for s in parts {
        arn.push_str(s);
    }
    arn
}
