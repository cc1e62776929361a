//! The `authorizers` section: Cognito user pools, TOKEN and REQUEST Lambda authorizers.

use super::*;

impl Loader<'_> {
    #[allow(clippy::type_complexity)]
    pub(super) fn authorizers(
        &mut self,
        obj: &Map<String, Value>,
    ) -> (
        Vec<Authorizer>,
        Vec<CompiledAuthorizer>,
        BTreeMap<String, (AuthKind, usize)>,
    ) {
        let mut out = Vec::new();
        let mut compiled = Vec::new();
        let mut kinds: BTreeMap<String, (AuthKind, usize)> = BTreeMap::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        for (i, v) in self.list(obj, "authorizers", "").into_iter().enumerate() {
            let p = index("authorizers", i);
            let Some(o) = self.object(v, &p) else {
                continue;
            };
            // Learn the name and kind from the raw item so routes can refer to it even if it is broken.
            let raw_name = o.get("name").and_then(Value::as_str).map(str::to_owned);
            let ty = o.get("type").and_then(Value::as_str);
            let k = match ty {
                Some("COGNITO_USER_POOLS") => AuthKind::Cognito,
                Some("TOKEN" | "REQUEST") => AuthKind::Lambda,
                _ => AuthKind::Unknown,
            };
            if let Some(n) = &raw_name {
                if let Some(prev) = seen.get(n) {
                    self.err(
                        join(&p, "name"),
                        format!("duplicate authorizer name \"{n}\" (also {prev})"),
                    );
                } else {
                    seen.insert(n.clone(), p.clone());
                    kinds.insert(n.clone(), (k, i));
                }
            }
            let Some(mut a) = self.typed_authorizer(o, &p) else {
                continue;
            };
            if let Some(c) = self.authorizer(&mut a, &p) {
                out.push(a);
                compiled.push(c);
            }
        }
        (out, compiled, kinds)
    }

    /// An authorizer item by its `type`.
    fn typed_authorizer(&mut self, o: &Map<String, Value>, p: &str) -> Option<Authorizer> {
        let mut rest = o.clone();
        rest.remove("type");
        let rest = Value::Object(rest);
        let tp = join(p, "type");
        match o.get("type") {
            None => {
                self.err(
                    tp,
                    "missing required key (COGNITO_USER_POOLS, TOKEN or REQUEST)",
                );
                None
            }
            Some(Value::String(t)) => match t.as_str() {
                "COGNITO_USER_POOLS" => {
                    deser_partial::<CognitoAuthorizer>(&rest, p, &mut self.errors, &mut self.held)
                        .map(Authorizer::CognitoUserPools)
                }
                "TOKEN" => {
                    deser_partial::<TokenAuthorizer>(&rest, p, &mut self.errors, &mut self.held)
                        .map(Authorizer::Token)
                }
                "REQUEST" => {
                    deser_partial::<RequestAuthorizer>(&rest, p, &mut self.errors, &mut self.held)
                        .map(Authorizer::Request)
                }
                other => {
                    self.err(tp, format!("unknown authorizer type \"{other}\" (expected one of: COGNITO_USER_POOLS, TOKEN, REQUEST)"));
                    None
                }
            },
            Some(other) => {
                self.err(tp, format!("expected a string, found {}", kind(other)));
                None
            }
        }
    }

    pub(super) fn regex(&mut self, expr: &Option<String>, at: &str) -> Result<Option<Regex>, ()> {
        let Some(e) = expr else { return Ok(None) };
        match Regex::new(&format!("^(?:{e})$")) {
            Ok(r) => Ok(Some(r)),
            Err(err) => {
                self.err(at, format!("invalid regular expression: {err}"));
                Err(())
            }
        }
    }

    pub(super) fn authorizer(&mut self, a: &mut Authorizer, p: &str) -> Option<CompiledAuthorizer> {
        let before = self.errors.len();
        if !valid_ident(a.name(), 128) {
            self.err(
                join(p, "name"),
                format!(
                    "invalid authorizer name \"{}\" (1-128 of [A-Za-z0-9_-])",
                    a.name()
                ),
            );
        }
        if a.ttl_seconds() > MAX_TTL_SECONDS {
            self.err(
                join(p, "ttl_seconds"),
                format!(
                    "at most {MAX_TTL_SECONDS} (AWS's limit), found {}",
                    a.ttl_seconds()
                ),
            );
        }
        let mut c = CompiledAuthorizer {
            name: a.name().to_owned(),
            config: a.clone(),
            identity_sources: Vec::new(),
            validation: None,
            jwks: None,
            issuers: Vec::new(),
        };
        match a {
            Authorizer::CognitoUserPools(cg) => self.cognito(cg, p, &mut c),
            Authorizer::Token(t) => {
                self.function_url(&t.function_url, &join(p, "function_url"));
                self.header_source(&t.identity_source, &join(p, "identity_source"), &mut c);
                if let Ok(r) = self.regex(
                    &t.identity_validation_expression,
                    &join(p, "identity_validation_expression"),
                ) {
                    c.validation = r;
                }
                self.timeout(t.timeout_ms, &join(p, "timeout_ms"));
            }
            Authorizer::Request(r) => {
                self.function_url(&r.function_url, &join(p, "function_url"));
                match &r.identity_source {
                    Some(s) => match parse_source_list(s) {
                        Ok(list) => c.identity_sources = list,
                        Err(m) => self.err(join(p, "identity_source"), m),
                    },
                    None if r.ttl_seconds > 0 => self.err(
                        join(p, "identity_source"),
                        "required when caching is enabled (ttl_seconds > 0); set ttl_seconds: 0 to call the function on every request",
                    ),
                    None => {}
                }
                self.timeout(r.timeout_ms, &join(p, "timeout_ms"));
            }
        }
        // The configuration as resolved (a jwks.file path made absolute).
        c.config = a.clone();
        if self.errors.len() == before {
            Some(c)
        } else {
            None
        }
    }

    /// A COGNITO_USER_POOLS authorizer: pool ARNs (the issuers they imply), issuer override,
    /// identity source, validation expression, client ids and the JWKS source.
    fn cognito(&mut self, cg: &mut CognitoAuthorizer, p: &str, c: &mut CompiledAuthorizer) {
        if cg.provider_arns.is_empty() {
            self.err(
                join(p, "provider_arns"),
                "at least one user pool ARN is required",
            );
        }
        let mut issuers = Vec::new();
        for (i, arn) in cg.provider_arns.iter().enumerate() {
            match check_cognito_arn(arn) {
                // a pool issues the ORIGINAL or the UPDATED issuer (Cognito API
                // reference, IssuerConfigurationType): accept both
                Ok((region, pool)) => issuers.extend([
                    format!("https://cognito-idp.{region}.amazonaws.com/{pool}"),
                    format!("https://issuer-cognito-idp.{region}.amazonaws.com/{pool}"),
                ]),
                Err(m) => self.err(index(&join(p, "provider_arns"), i), m),
            }
        }
        if let Some(list) = &cg.issuer {
            let list = list.as_slice();
            if list.is_empty() {
                self.err(join(p, "issuer"), "at least one issuer URL is required");
            }
            for iss in list {
                if !(iss.starts_with("https://") || iss.starts_with("http://")) {
                    self.err(
                        join(p, "issuer"),
                        format!("expected an http(s):// issuer URL, found \"{iss}\""),
                    );
                }
            }
            issuers = list.to_vec();
        }
        c.issuers = issuers;
        self.header_source(&cg.identity_source, &join(p, "identity_source"), c);
        if let Ok(r) = self.regex(
            &cg.identity_validation_expression,
            &join(p, "identity_validation_expression"),
        ) {
            c.validation = r;
        }
        for (i, id) in cg.client_ids.iter().enumerate() {
            if id.is_empty() {
                self.err(index(&join(p, "client_ids"), i), "must not be empty");
            }
        }
        let jp = join(p, "jwks");
        match (&cg.jwks.file, &cg.jwks.url) {
            (Some(f), None) => {
                let path = self.resolve(f);
                c.jwks = self.jwks_file(&path, &join(&jp, "file"));
                cg.jwks.file = Some(path);
            }
            (None, Some(u)) => {
                if let Err(m) = check_http_url(u) {
                    self.err(join(&jp, "url"), m);
                }
                if cg.jwks.refresh_seconds == 0 {
                    self.err(join(&jp, "refresh_seconds"), "must be greater than 0");
                }
            }
            _ => self.err(jp, "exactly one of file or url is required"),
        }
    }

    pub(super) fn header_source(&mut self, s: &str, at: &str, c: &mut CompiledAuthorizer) {
        match parse_single_header_source(s) {
            Ok(src) => c.identity_sources = vec![src],
            Err(m) => self.err(at, m),
        }
    }

    pub(super) fn function_url(&mut self, u: &str, at: &str) {
        if let Err(m) = check_http_url(u) {
            self.err(at, m);
        }
    }

    pub(super) fn timeout(&mut self, ms: u64, at: &str) {
        if ms == 0 || ms > 300_000 {
            self.err(at, format!("must be between 1 and 300000, found {ms}"));
        }
    }

    pub(super) fn jwks_file(&mut self, path: &Path, at: &str) -> Option<Value> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.err(at, format!("cannot read {}: {e}", path.display()));
                return None;
            }
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(v) if v.get("keys").is_some_and(Value::is_array) => Some(v),
            Ok(_) => {
                self.err(
                    at,
                    format!(
                        "{} is not a JWKS (a JSON object with a \"keys\" list)",
                        path.display()
                    ),
                );
                None
            }
            Err(e) => {
                // The position only: a JSON error may quote the file's content.
                self.err(
                    at,
                    format!(
                        "{} is not valid JSON: {}",
                        path.display(),
                        json_position(&e)
                    ),
                );
                None
            }
        }
    }
}
