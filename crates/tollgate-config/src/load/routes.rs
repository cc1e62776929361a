//! One route: path template, methods, authorization, integration, header mapping, URI template.

use super::*;

/// Authorizer name -> (kind, index in `authorizers`), known even for broken authorizers.
pub(super) type AuthNames = BTreeMap<String, (AuthKind, usize)>;

/// What a route is checked against: its API's stages, the authorizer names, and the API's
/// other routes (for duplicate messages).
pub(super) struct RouteEnv<'e> {
    pub(super) stages: &'e BTreeMap<String, Stage>,
    pub(super) auth: &'e AuthNames,
    pub(super) all: &'e [(usize, Route)],
}

impl Loader<'_> {
    /// Check route `j` (at `at`) and insert it into its API's trie.
    pub(super) fn check_route(
        &mut self,
        r: &Route,
        at: &str,
        j: usize,
        env: &RouteEnv<'_>,
        api_router: &mut ApiRouter,
    ) -> Option<CompiledRoute> {
        let before = self.errors.len();
        let segs = match parse_template(&r.path) {
            Ok(s) => Some(s),
            Err(m) => {
                self.err(join(at, "path"), m);
                None
            }
        };
        let methods_ok = self.check_methods(r, at);
        let authorizer = self.route_authorizer(r, at, env.auth);
        self.check_scopes(r, at);
        let (uri, request_headers) = self.route_integration(r, at, segs.as_deref(), env.stages);
        // The trie finds duplicates and conflicting parameter names; it needs a valid
        // template and method list, nothing else, so those are found beside other errors.
        if let Some(segs) = &segs
            && methods_ok
            && let Err(e) = api_router.insert(j, &r.path, segs, &r.methods)
        {
            self.insert_error(e, r, at, env.all);
        }
        (self.errors.len() == before).then(|| CompiledRoute {
            config: r.clone(),
            authorizer,
            uri,
            request_headers,
        })
    }

    /// At least one method, each once.
    fn check_methods(&mut self, r: &Route, at: &str) -> bool {
        let before = self.errors.len();
        if r.methods.is_empty() {
            self.err(join(at, "methods"), "at least one method is required");
        }
        for (k, m) in r.methods.iter().enumerate() {
            if r.methods.iter().take(k).any(|o| o == m) {
                self.err(
                    index(&join(at, "methods"), k),
                    format!("duplicate method {m}"),
                );
            }
        }
        self.errors.len() == before
    }

    fn check_scopes(&mut self, r: &Route, at: &str) {
        if !r.scopes.is_empty() && r.authorization != Authorization::CognitoUserPools {
            self.err(
                join(at, "scopes"),
                "scopes apply only to COGNITO_USER_POOLS routes",
            );
        }
        for (k, s) in r.scopes.iter().enumerate() {
            if s.is_empty() || s.contains(char::is_whitespace) {
                self.err(
                    index(&join(at, "scopes"), k),
                    "a scope is a non-empty string without spaces",
                );
            }
        }
    }

    /// The route's authorizer: present exactly for COGNITO_USER_POOLS / CUSTOM, known, and
    /// of the kind the authorization needs. Returns its index.
    fn route_authorizer(&mut self, r: &Route, at: &str, auth: &AuthNames) -> Option<usize> {
        let ap = join(at, "authorizer");
        match (r.authorization, &r.authorizer) {
            (Authorization::None | Authorization::AwsIam, None) => None,
            (Authorization::None | Authorization::AwsIam, Some(_)) => {
                self.err(
                    ap,
                    "only COGNITO_USER_POOLS and CUSTOM routes take an authorizer",
                );
                None
            }
            (Authorization::CognitoUserPools | Authorization::Custom, None) => {
                self.err(
                    ap,
                    format!("required for authorization {}", auth_name(r.authorization)),
                );
                None
            }
            (Authorization::CognitoUserPools | Authorization::Custom, Some(name)) => {
                let &(k, raw_index) = self.known_authorizer(name, &ap, auth)?;
                let fits = matches!(
                    (r.authorization, k),
                    (_, AuthKind::Unknown)
                        | (Authorization::CognitoUserPools, AuthKind::Cognito)
                        | (Authorization::Custom, AuthKind::Lambda)
                );
                if !fits {
                    let need = if r.authorization == Authorization::Custom {
                        "a TOKEN or REQUEST authorizer"
                    } else {
                        "a COGNITO_USER_POOLS authorizer"
                    };
                    self.err(
                        ap,
                        format!(
                            "authorization {} needs {need}; \"{name}\" is not one",
                            auth_name(r.authorization)
                        ),
                    );
                }
                Some(raw_index)
            }
        }
    }

    /// `auth[name]`, or an "unknown authorizer" error at `ap` listing the known names.
    fn known_authorizer<'n>(
        &mut self,
        name: &str,
        ap: &str,
        auth: &'n AuthNames,
    ) -> Option<&'n (AuthKind, usize)> {
        let found = auth.get(name);
        if found.is_none() {
            // Config order, as in the documented example message.
            let mut known: Vec<(usize, &str)> =
                auth.iter().map(|(n, (_, i))| (*i, n.as_str())).collect();
            known.sort_unstable();
            let known: Vec<&str> = known.into_iter().map(|(_, n)| n).collect();
            self.err(
                ap,
                format!(
                    "unknown authorizer \"{name}\" (known: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        found
    }

    /// The integration's checks; for `http_proxy` its URI template and header mapping.
    #[allow(clippy::type_complexity)]
    fn route_integration(
        &mut self,
        r: &Route,
        at: &str,
        segs: Option<&[TemplateSegment]>,
        stages: &BTreeMap<String, Stage>,
    ) -> (Option<UriTemplate>, Vec<(String, ContextExpr)>) {
        let ip = join(at, "integration");
        match &r.integration {
            Integration::Mock(m) => {
                if !(100..=599).contains(&m.status) {
                    self.err(
                        join(&ip, "status"),
                        format!("must be between 100 and 599, found {}", m.status),
                    );
                }
                self.headers(&m.headers, &join(&ip, "headers"));
                (None, Vec::new())
            }
            Integration::HttpProxy(h) => {
                let params: Vec<(&str, bool)> = segs
                    .iter()
                    .copied()
                    .flatten()
                    .filter_map(|s| match s {
                        TemplateSegment::Param(n) => Some((n.as_str(), false)),
                        TemplateSegment::Greedy(n) => Some((n.as_str(), true)),
                        TemplateSegment::Literal(_) => None,
                    })
                    .collect();
                let uri = self.uri(&h.uri, &join(&ip, "uri"), segs.is_some(), &params, stages);
                if h.timeout_ms < 50 || h.timeout_ms > 300_000 {
                    self.err(
                        join(&ip, "timeout_ms"),
                        format!("must be between 50 and 300000, found {}", h.timeout_ms),
                    );
                }
                let headers = self.request_headers(&h.request_headers, &ip, stages);
                for (k, name) in h.drop_request_headers.iter().enumerate() {
                    if !valid_header_name(name) {
                        self.err(
                            format!("{}[{k}]", join(&ip, "drop_request_headers")),
                            "invalid header name",
                        );
                    }
                }
                (uri, headers)
            }
        }
    }

    /// An `http_proxy` integration's `request_headers`: upstream header name <- expression.
    fn request_headers(
        &mut self,
        mapping: &BTreeMap<String, String>,
        ip: &str,
        stages: &BTreeMap<String, Stage>,
    ) -> Vec<(String, ContextExpr)> {
        let hp = join(ip, "request_headers");
        let mut out = Vec::new();
        let mut folded_seen: Vec<(String, &str)> = Vec::new();
        for (name, expr) in mapping {
            let at = join(&hp, name);
            if !valid_header_name(name) {
                self.err(at, "invalid header name");
                continue;
            }
            // Two names a CGI-style backend reads as one (`x-a`, `X_A`) would both be
            // sent: refuse the second.
            let folded = name.to_ascii_lowercase().replace('_', "-");
            if let Some((_, first)) = folded_seen.iter().find(|(f, _)| *f == folded) {
                self.err(
                    at,
                    format!("same header as \"{first}\" once case and '_'/'-' are folded"),
                );
                continue;
            }
            folded_seen.push((folded, name.as_str()));
            let lower = name.to_ascii_lowercase();
            if HOP_BY_HOP.contains(&lower.as_str()) {
                self.err(at, "cannot set a hop-by-hop or framing header");
                continue;
            }
            match ContextExpr::parse(expr) {
                Ok(ContextExpr::StageVariable(v)) => {
                    self.stage_variable(&v, &at, stages);
                    out.push((lower, ContextExpr::StageVariable(v)));
                }
                Ok(ContextExpr::Static(s)) if !valid_header_value(&s) => {
                    self.err(at, "header values must not hold CR, LF or NUL");
                }
                Ok(e) => out.push((lower, e)),
                Err(m) => self.err(at, m),
            }
        }
        out
    }

    /// Stage variable `v` must be defined in every stage.
    pub(super) fn stage_variable(&mut self, v: &str, at: &str, stages: &BTreeMap<String, Stage>) {
        for (sname, st) in stages {
            if !st.variables.contains_key(v) {
                self.err(
                    at,
                    format!("stage variable \"{v}\" is not defined in stage \"{sname}\""),
                );
            }
        }
    }

    fn insert_error(&mut self, e: InsertError, r: &Route, at: &str, all: &[(usize, Route)]) {
        let pp = at.rsplit_once('[').map_or(at, |(b, _)| b);
        match e {
            InsertError::Duplicate { method, other_route } => {
                let other = all
                    .iter()
                    .find(|(k, _)| *k == other_route)
                    .map_or("", |(_, o)| o.path.as_str());
                self.err(
                    join(at, "path"),
                    format!(
                        "duplicate route {method} {} (same as {pp}[{other_route}] {other})",
                        r.path
                    ),
                );
            }
            InsertError::ParamName { existing, new } => self.err(
                join(at, "path"),
                format!(
                    "path parameter {{{new}}} conflicts with sibling {{{existing}}} at the same position (one name per position)"
                ),
            ),
        }
    }

    /// A route that did not deserialize: the names it refers to are still checked (its
    /// authorizer, the stage variables of an `http_proxy` URI and header mapping), so one
    /// pass reports them beside the route's own errors.
    pub(super) fn broken_route_refs(&mut self, v: &Value, at: &str, env: &RouteEnv<'_>) {
        let Some(o) = v.as_object() else { return };
        if let Some(name) = o.get("authorizer").and_then(Value::as_str) {
            self.known_authorizer(name, &join(at, "authorizer"), env.auth);
        }
        let Some(integ) = o.get("integration").and_then(Value::as_object) else {
            return;
        };
        if integ.get("type").and_then(Value::as_str) != Some("http_proxy") {
            return;
        }
        let ip = join(at, "integration");
        if let Some(uri) = integ.get("uri").and_then(Value::as_str) {
            let up = join(&ip, "uri");
            for v in stage_variables_in(uri) {
                self.stage_variable(v, &up, env.stages);
            }
        }
        let headers = integ.get("request_headers").and_then(Value::as_object);
        for (name, expr) in headers.into_iter().flatten() {
            if let Some(Ok(ContextExpr::StageVariable(v))) = expr.as_str().map(ContextExpr::parse) {
                self.stage_variable(&v, &join(&join(&ip, "request_headers"), name), env.stages);
            }
        }
    }

    /// An `http_proxy` URI: its template, then its scheme and authority checked with each
    /// stage's variables substituted.
    pub(super) fn uri(
        &mut self,
        uri: &str,
        at: &str,
        check_params: bool,
        params: &[(&str, bool)],
        stages: &BTreeMap<String, Stage>,
    ) -> Option<UriTemplate> {
        let before = self.errors.len();
        let t = self.uri_template(uri, at, check_params, params, stages)?;
        // Scheme and authority, checked with each stage's values substituted.
        if !uri.starts_with("http://") && !uri.starts_with("https://") {
            if let Err(m) = check_http_url(uri) {
                self.err(at, m);
            }
            return None;
        }
        for (sname, st) in stages {
            let rendered = t.render(|_| Some("x"), &st.variables);
            if let Err(m) = check_http_url(&rendered) {
                self.err(at, format!("in stage \"{sname}\": {m}"));
            }
        }
        if self.errors.len() == before {
            Some(t)
        } else {
            None
        }
    }

    /// Split a URI into literal text, `{param}` and `${stageVariables.NAME}`; every reference
    /// checked.
    fn uri_template(
        &mut self,
        uri: &str,
        at: &str,
        check_params: bool,
        params: &[(&str, bool)],
        stages: &BTreeMap<String, Stage>,
    ) -> Option<UriTemplate> {
        let before = self.errors.len();
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = uri;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("${") {
                let Some(end) = r.find('}') else {
                    self.err(at, "unterminated ${...}");
                    return None;
                };
                let inner = r.get(..end).unwrap_or("");
                match inner.strip_prefix("stageVariables.") {
                    Some(v) if valid_ident(v, 128) => {
                        if !lit.is_empty() {
                            parts.push(UriPart::Literal(std::mem::take(&mut lit)));
                        }
                        self.stage_variable(v, at, stages);
                        parts.push(UriPart::StageVariable(v.to_owned()));
                    }
                    _ => self.err(
                        at,
                        format!(
                            "unsupported variable ${{{inner}}} (only ${{stageVariables.NAME}})"
                        ),
                    ),
                }
                rest = r.get(end + 1..).unwrap_or("");
            } else if let Some(r) = rest.strip_prefix('{') {
                let Some(end) = r.find('}') else {
                    self.err(at, "unterminated {...}");
                    return None;
                };
                let inner = r.get(..end).unwrap_or("");
                let name = inner.strip_suffix('+').unwrap_or(inner);
                if check_params && !params.iter().any(|(n, _)| *n == name) {
                    let known: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
                    self.err(
                        at,
                        format!(
                            "{{{inner}}} is not a path parameter of this route (route parameters: {})",
                            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                        ),
                    );
                }
                if !lit.is_empty() {
                    parts.push(UriPart::Literal(std::mem::take(&mut lit)));
                }
                parts.push(UriPart::PathParam(name.to_owned()));
                rest = r.get(end + 1..).unwrap_or("");
            } else {
                let next = rest.find(['$', '{']).unwrap_or(rest.len());
                let cut = if next == 0 { 1 } else { next };
                lit.push_str(rest.get(..cut).unwrap_or(""));
                rest = rest.get(cut..).unwrap_or("");
            }
        }
        if !lit.is_empty() {
            parts.push(UriPart::Literal(lit));
        }
        (self.errors.len() == before).then_some(UriTemplate { parts })
    }
}

/// The names of the well-formed `${stageVariables.NAME}` references in a URI.
fn stage_variables_in(uri: &str) -> Vec<&str> {
    uri.split("${stageVariables.")
        .skip(1)
        .filter_map(|r| r.split_once('}').map(|(n, _)| n))
        .filter(|n| valid_ident(n, 128))
        .collect()
}

pub(super) const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
    "expect",
];

pub(super) fn auth_name(a: Authorization) -> &'static str {
    match a {
        Authorization::None => "NONE",
        Authorization::AwsIam => "AWS_IAM",
        Authorization::CognitoUserPools => "COGNITO_USER_POOLS",
        Authorization::Custom => "CUSTOM",
    }
}
