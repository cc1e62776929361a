//! One route: path template, methods, authorization, integration, header mapping, URI template.

use super::*;

impl Loader<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_route(
        &mut self,
        r: &Route,
        at: &str,
        j: usize,
        stages: &BTreeMap<String, Stage>,
        auth: &BTreeMap<String, (AuthKind, usize)>,
        api_router: &mut ApiRouter,
        all: &[(usize, Route)],
    ) -> Option<CompiledRoute> {
        let before = self.errors.len();
        // path template
        let segs = match parse_template(&r.path) {
            Ok(s) => Some(s),
            Err(m) => {
                self.err(join(at, "path"), m);
                None
            }
        };
        // methods
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
        // authorization / authorizer / scopes
        let ap = join(at, "authorizer");
        let mut authorizer_idx = None;
        match (r.authorization, &r.authorizer) {
            (Authorization::None | Authorization::AwsIam, Some(_)) => {
                self.err(
                    ap,
                    "only COGNITO_USER_POOLS and CUSTOM routes take an authorizer",
                );
            }
            (Authorization::CognitoUserPools | Authorization::Custom, None) => {
                self.err(
                    ap,
                    format!("required for authorization {}", auth_name(r.authorization)),
                );
            }
            (Authorization::CognitoUserPools | Authorization::Custom, Some(name)) => {
                match auth.get(name) {
                    None => {
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
                    Some(&(k, raw_index)) => {
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
                        authorizer_idx = Some(raw_index);
                    }
                }
            }
            (Authorization::None | Authorization::AwsIam, None) => {}
        }
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
        // integration
        let ip = join(at, "integration");
        let mut uri = None;
        let mut request_headers = Vec::new();
        match &r.integration {
            Integration::Mock(m) => {
                if !(100..=599).contains(&m.status) {
                    self.err(
                        join(&ip, "status"),
                        format!("must be between 100 and 599, found {}", m.status),
                    );
                }
                self.headers(&m.headers, &join(&ip, "headers"));
            }
            Integration::HttpProxy(h) => {
                let params: Vec<(&str, bool)> = segs
                    .iter()
                    .flatten()
                    .filter_map(|s| match s {
                        TemplateSegment::Param(n) => Some((n.as_str(), false)),
                        TemplateSegment::Greedy(n) => Some((n.as_str(), true)),
                        TemplateSegment::Literal(_) => None,
                    })
                    .collect();
                uri = self.uri(&h.uri, &join(&ip, "uri"), segs.is_some(), &params, stages);
                if h.timeout_ms < 50 || h.timeout_ms > 300_000 {
                    self.err(
                        join(&ip, "timeout_ms"),
                        format!("must be between 50 and 300000, found {}", h.timeout_ms),
                    );
                }
                let hp = join(&ip, "request_headers");
                let mut folded_seen: Vec<(String, &str)> = Vec::new();
                for (name, expr) in &h.request_headers {
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
                            for (sname, st) in stages {
                                if !st.variables.contains_key(&v) {
                                    self.err(at.clone(), format!("stage variable \"{v}\" is not defined in stage \"{sname}\""));
                                }
                            }
                            request_headers.push((lower, ContextExpr::StageVariable(v)));
                        }
                        Ok(ContextExpr::Static(s)) if !valid_header_value(&s) => {
                            self.err(at, "header values must not hold CR, LF or NUL");
                        }
                        Ok(e) => request_headers.push((lower, e)),
                        Err(m) => self.err(at, m),
                    }
                }
            }
        }
        // insert into the trie (duplicates, conflicting parameter names)
        if let Some(segs) = &segs
            && self.errors.len() == before
            && let Err(e) = api_router.insert(j, &r.path, segs, &r.methods)
        {
            let pp = at.rsplit_once('[').map_or(at, |(b, _)| b);
            match e {
                InsertError::Duplicate { method, other_route } => {
                    let other = all.iter().find(|(k, _)| *k == other_route).map_or("", |(_, o)| o.path.as_str());
                    self.err(
                        join(at, "path"),
                        format!("duplicate route {method} {} (same as {}[{other_route}] {other})", r.path, pp),
                    );
                }
                InsertError::ParamName { existing, new } => self.err(
                    join(at, "path"),
                    format!("path parameter {{{new}}} conflicts with sibling {{{existing}}} at the same position (one name per position)"),
                ),
            }
        }
        if self.errors.len() == before {
            Some(CompiledRoute {
                authorizer: authorizer_idx,
                uri,
                request_headers,
            })
        } else {
            None
        }
    }

    pub(super) fn uri(
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
                        for (sname, st) in stages {
                            if !st.variables.contains_key(v) {
                                self.err(
                                    at,
                                    format!(
                                        "stage variable \"{v}\" is not defined in stage \"{sname}\""
                                    ),
                                );
                            }
                        }
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
        let t = UriTemplate { parts };
        if self.errors.len() != before {
            return None;
        }
        // Scheme and authority, checked with each stage's values substituted.
        if uri.starts_with("https://") || !uri.starts_with("http://") {
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

