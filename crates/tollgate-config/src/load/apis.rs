//! The `apis` section: an API item, its stages, resource policy, gateway responses and hosts.

use super::*;

impl Loader<'_> {
    #[allow(clippy::type_complexity)]
    pub(super) fn apis(
        &mut self,
        obj: &Map<String, Value>,
        ctx: &Ctx,
        auth: &BTreeMap<String, (AuthKind, usize)>,
    ) -> (
        Vec<Api>,
        Vec<Option<Policy>>,
        Vec<Vec<CompiledRoute>>,
        Router,
    ) {
        let mut apis = Vec::new();
        let mut resource = Vec::new();
        let mut routes_c = Vec::new();
        let mut router = Router::new();
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut hosts: HashMap<String, String> = HashMap::new();
        for (i, v) in self.list(obj, "apis", "").into_iter().enumerate() {
            let p = index("apis", i);
            let Some(o) = self.object(v, &p) else {
                continue;
            };
            let before = self.errors.len();
            let shell: Option<Api> = self.shell(
                o,
                &p,
                &[
                    ("stages", Value::Object(Map::new())),
                    ("routes", Value::Array(Vec::new())),
                    ("gateway_responses", Value::Object(Map::new())),
                ],
            );
            // Raw id / hosts for cross-API checks even when the item is broken.
            let raw_id = o.get("id").and_then(Value::as_str).unwrap_or("");
            if !raw_id.is_empty() {
                if let Some(prev) = ids.get(raw_id) {
                    self.err(
                        join(&p, "id"),
                        format!("duplicate API id \"{raw_id}\" (also {prev})"),
                    );
                } else {
                    ids.insert(raw_id.to_owned(), p.clone());
                }
            }
            // stages
            let mut stages = BTreeMap::new();
            let sp = join(&p, "stages");
            match o.get("stages") {
                None => {}
                Some(Value::Object(m)) if m.is_empty() => {
                    self.err(sp.clone(), "at least one stage is required")
                }
                _ => {}
            }
            for (name, sv) in self.entries(o, "stages", &p) {
                let at = join(&sp, name);
                if !valid_ident(name, 128) {
                    self.err(
                        at.clone(),
                        format!("invalid stage name \"{name}\" (1-128 of [A-Za-z0-9_-])"),
                    );
                }
                let sv = if sv.is_null() {
                    Value::Object(Map::new())
                } else {
                    sv.clone()
                };
                if let Some(st) = deser::<Stage>(&sv, &at, &mut self.errors) {
                    for (k, val) in &st.variables {
                        let vp = join(&join(&at, "variables"), k);
                        if k.is_empty()
                            || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        {
                            self.err(vp.clone(), "stage variable names use [A-Za-z0-9_]");
                        }
                        if val.chars().any(char::is_control) {
                            self.err(vp, "stage variable values must not hold control characters");
                        }
                    }
                    stages.insert(name.clone(), st);
                }
            }
            // resource policy
            let mut rp = None;
            match (
                o.get("resource_policy").filter(|v| !v.is_null()),
                o.get("resource_policy_file").filter(|v| !v.is_null()),
            ) {
                (Some(_), Some(_)) => self.err(
                    p.clone(),
                    "resource_policy and resource_policy_file are mutually exclusive",
                ),
                (Some(doc), None) => {
                    rp = self.policy(doc, &join(&p, "resource_policy"), ctx, Some(raw_id))
                }
                (None, Some(Value::String(f))) => {
                    let path = self.resolve(Path::new(f));
                    let at = join(&p, "resource_policy_file");
                    // Errors name the file and a position, never its content: the path may
                    // come from an admin API caller and name any file the gateway can read.
                    match std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))
                        .and_then(|t| {
                            check_depth(&t).map_err(|e| format!("{}: {e}", path.display()))?;
                            serde_yaml_ng::from_str::<Value>(&t).map_err(|e| {
                                format!(
                                    "{} is not valid JSON/YAML: syntax error {}",
                                    path.display(),
                                    yaml_position(&e)
                                )
                            })
                        }) {
                        Ok(doc) => rp = self.file_policy(&doc, &at, &path, ctx, Some(raw_id)),
                        Err(e) => self.err(at, e),
                    }
                }
                _ => {}
            }
            // routes
            let mut routes = Vec::new();
            let rtp = join(&p, "routes");
            let raw_routes = self.list(o, "routes", &p);
            let mut parsed: Vec<(usize, Route)> = Vec::new();
            for (j, rv) in raw_routes.into_iter().enumerate() {
                let at = index(&rtp, j);
                if let Some(r) = self.route(rv, &at) {
                    parsed.push((j, r));
                }
            }
            let stage_names: Vec<String> = stages.keys().cloned().collect();
            let mut api_router = ApiRouter::new(stage_names);
            let mut compiled_routes = Vec::new();
            for (j, r) in &parsed {
                let at = index(&rtp, *j);
                if let Some(cr) =
                    self.check_route(r, &at, *j, &stages, auth, &mut api_router, &parsed)
                {
                    compiled_routes.push(cr);
                }
                routes.push(r.clone());
            }
            // gateway responses
            let mut responses = BTreeMap::new();
            let gp = join(&p, "gateway_responses");
            for (k, gv) in self.entries(o, "gateway_responses", &p) {
                let at = join(&gp, k);
                let ty = deser::<ResponseType>(&Value::String(k.clone()), &at, &mut self.errors);
                let gr = deser::<GatewayResponse>(gv, &at, &mut self.errors);
                if let Some(gr) = &gr {
                    if let Some(s) = gr.status
                        && !(100..=599).contains(&s)
                    {
                        self.err(
                            join(&at, "status"),
                            format!("must be between 100 and 599, found {s}"),
                        );
                    }
                    self.headers(&gr.headers, &join(&at, "headers"));
                }
                if let (Some(t), Some(g)) = (ty, gr) {
                    responses.insert(t, g);
                }
            }
            let Some(mut api) = shell else { continue };
            if !valid_ident(&api.id, 64) {
                self.err(
                    join(&p, "id"),
                    format!("invalid API id \"{}\" (1-64 of [A-Za-z0-9_-])", api.id),
                );
            }
            let hp = join(&p, "hosts");
            if api.hosts.is_empty() {
                self.err(hp.clone(), "at least one host (or \"*\") is required");
            }
            for (h, host) in api.hosts.iter().enumerate() {
                let at = index(&hp, h);
                let lower = host.to_ascii_lowercase();
                if host != "*" && !valid_host(host) {
                    self.err(
                        at.clone(),
                        format!("invalid host \"{host}\" (a host name without port, or \"*\")"),
                    );
                }
                if let Some(prev) = hosts.get(&lower) {
                    self.err(at, format!("host \"{host}\" is already listed by {prev}"));
                } else {
                    hosts.insert(lower, p.clone());
                }
            }
            if self.errors.len() != before {
                continue;
            }
            if let Some(f) = &api.resource_policy_file {
                api.resource_policy_file = Some(self.resolve(f));
            }
            api.stages = stages;
            api.routes = routes;
            api.gateway_responses = responses;
            router.add_api(&api.hosts, api_router);
            apis.push(api);
            resource.push(rp);
            routes_c.push(compiled_routes);
        }
        (apis, resource, routes_c, router)
    }

    pub(super) fn route(&mut self, v: &Value, at: &str) -> Option<Route> {
        let o = self.object(v, at)?;
        let shell: Option<Route> = self.shell(
            o,
            at,
            &[("integration", serde_json::json!({"type": "mock"}))],
        );
        let integ = o
            .get("integration")
            .and_then(|iv| self.integration(iv, &join(at, "integration")));
        let mut r = shell?;
        r.integration = integ?;
        Some(r)
    }

    pub(super) fn integration(&mut self, v: &Value, at: &str) -> Option<Integration> {
        let o = self.object(v, at)?;
        let rest: Map<String, Value> = o
            .iter()
            .filter(|(k, _)| k.as_str() != "type")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let rest = Value::Object(rest);
        let tp = join(at, "type");
        match o.get("type") {
            Some(Value::String(t)) if t == "mock" => {
                deser::<MockIntegration>(&rest, at, &mut self.errors).map(Integration::Mock)
            }
            Some(Value::String(t)) if t == "http_proxy" => {
                deser::<HttpProxyIntegration>(&rest, at, &mut self.errors)
                    .map(Integration::HttpProxy)
            }
            Some(Value::String(t)) => {
                self.err(
                    tp,
                    format!("unknown integration type \"{t}\" (expected one of: http_proxy, mock)"),
                );
                None
            }
            Some(other) => {
                self.err(tp, format!("expected a string, found {}", kind(other)));
                None
            }
            None => {
                self.err(tp, "missing required key (http_proxy or mock)");
                None
            }
        }
    }

    pub(super) fn headers(&mut self, h: &BTreeMap<String, String>, at: &str) {
        for (k, v) in h {
            if !valid_header_name(k) {
                self.err(join(at, k), "invalid header name");
            } else if !valid_header_value(v) {
                self.err(join(at, k), "header values must not hold CR, LF or NUL");
            }
        }
    }
}

pub(super) fn valid_host(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}
