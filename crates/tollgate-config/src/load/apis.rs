//! The `apis` section: an API item, its stages, resource policy, gateway responses and hosts.

use super::routes::{AuthNames, RouteEnv};
use super::*;

/// The APIs that loaded, in order, with their compiled parts and the router over them.
pub(super) struct Apis {
    pub(super) apis: Vec<Api>,
    pub(super) resource: Vec<Option<Policy>>,
    pub(super) routes: Vec<Vec<CompiledRoute>>,
    pub(super) router: Router,
}

/// API ids and hosts seen so far, each with the path of its first use.
#[derive(Default)]
struct Seen {
    ids: HashMap<String, String>,
    hosts: HashMap<String, String>,
}

impl Loader<'_> {
    pub(super) fn apis(&mut self, obj: &Map<String, Value>, ctx: &Ctx, auth: &AuthNames) -> Apis {
        let mut out = Apis {
            apis: Vec::new(),
            resource: Vec::new(),
            routes: Vec::new(),
            router: Router::new(),
        };
        let mut seen = Seen::default();
        for (i, v) in self.list(obj, "apis", "").into_iter().enumerate() {
            let p = index("apis", i);
            if let Some(o) = self.object(v, &p) {
                self.api(o, &p, ctx, auth, &mut seen, &mut out);
            }
        }
        out
    }

    /// One API item; added to `out` when it has no error.
    fn api(
        &mut self,
        o: &Map<String, Value>,
        p: &str,
        ctx: &Ctx,
        auth: &AuthNames,
        seen: &mut Seen,
        out: &mut Apis,
    ) {
        let before = self.errors.len();
        let shell: Option<Api> = self.shell(
            o,
            p,
            &[
                ("stages", Value::Object(Map::new())),
                ("routes", Value::Array(Vec::new())),
                ("gateway_responses", Value::Object(Map::new())),
            ],
        );
        // The raw id for cross-API checks even when the item is broken.
        let raw_id = o.get("id").and_then(Value::as_str).unwrap_or("");
        if !raw_id.is_empty() {
            if let Some(prev) = seen.ids.get(raw_id) {
                self.err(
                    join(p, "id"),
                    format!("duplicate API id \"{raw_id}\" (also {prev})"),
                );
            } else {
                seen.ids.insert(raw_id.to_owned(), p.to_owned());
            }
        }
        let stages = self.stages(o, p);
        let rp = self.resource_policy(o, p, ctx, raw_id);
        let (routes, compiled_routes, api_router) = self.routes(o, p, &stages, auth);
        let responses = self.gateway_responses(o, p);
        let Some(mut api) = shell else { return };
        self.check_id_and_hosts(&api, p, &mut seen.hosts);
        if self.errors.len() != before {
            return;
        }
        if let Some(f) = &api.resource_policy_file {
            api.resource_policy_file = Some(self.resolve(f));
        }
        api.stages = stages;
        api.routes = routes;
        api.gateway_responses = responses;
        out.router.add_api(&api.hosts, api_router);
        out.apis.push(api);
        out.resource.push(rp);
        out.routes.push(compiled_routes);
    }

    /// An API's stages and their variables.
    fn stages(&mut self, o: &Map<String, Value>, p: &str) -> BTreeMap<String, Stage> {
        let mut stages = BTreeMap::new();
        let sp = join(p, "stages");
        match o.get("stages") {
            None => {}
            Some(Value::Object(m)) if m.is_empty() => {
                self.err(sp.to_owned(), "at least one stage is required")
            }
            _ => {}
        }
        for (name, sv) in self.entries(o, "stages", p) {
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
            if let Some(st) = deser_partial::<Stage>(&sv, &at, &mut self.errors, &mut self.held) {
                for (k, val) in &st.variables {
                    let vp = join(&join(&at, "variables"), k);
                    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        self.err(vp.to_owned(), "stage variable names use [A-Za-z0-9_]");
                    }
                    if val.chars().any(char::is_control) {
                        self.err(vp, "stage variable values must not hold control characters");
                    }
                }
                stages.insert(name.clone(), st);
            }
        }
        stages
    }

    /// An API's routes: each checked, the valid ones compiled and put in the API's trie.
    fn routes(
        &mut self,
        o: &Map<String, Value>,
        p: &str,
        stages: &BTreeMap<String, Stage>,
        auth: &AuthNames,
    ) -> (Vec<Route>, Vec<CompiledRoute>, ApiRouter) {
        let rtp = join(p, "routes");
        let mut parsed: Vec<(usize, Route)> = Vec::new();
        let mut broken: Vec<(usize, &Value)> = Vec::new();
        for (j, rv) in self.list(o, "routes", p).into_iter().enumerate() {
            match self.route(rv, &index(&rtp, j)) {
                Some(r) => parsed.push((j, r)),
                None => broken.push((j, rv)),
            }
        }
        let env = RouteEnv {
            stages,
            auth,
            all: &parsed,
        };
        for (j, rv) in broken {
            self.broken_route_refs(rv, &index(&rtp, j), &env);
        }
        let mut api_router = ApiRouter::new(stages.keys().cloned().collect());
        let mut compiled = Vec::new();
        for (j, r) in &parsed {
            if let Some(cr) = self.check_route(r, &index(&rtp, *j), *j, &env, &mut api_router) {
                compiled.push(cr);
            }
        }
        let routes = parsed.into_iter().map(|(_, r)| r).collect();
        (routes, compiled, api_router)
    }

    /// An API's gateway response overrides.
    fn gateway_responses(
        &mut self,
        o: &Map<String, Value>,
        p: &str,
    ) -> BTreeMap<ResponseType, GatewayResponse> {
        let mut responses = BTreeMap::new();
        let gp = join(p, "gateway_responses");
        for (k, gv) in self.entries(o, "gateway_responses", p) {
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
        responses
    }

    /// An API's id and hosts (no host served by two APIs).
    fn check_id_and_hosts(&mut self, api: &Api, p: &str, hosts: &mut HashMap<String, String>) {
        if !valid_ident(&api.id, 64) {
            self.err(
                join(p, "id"),
                format!("invalid API id \"{}\" (1-64 of [A-Za-z0-9_-])", api.id),
            );
        }
        let hp = join(p, "hosts");
        if api.hosts.is_empty() {
            self.err(hp.to_owned(), "at least one host (or \"*\") is required");
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
                hosts.insert(lower, p.to_owned());
            }
        }
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
                deser_partial::<MockIntegration>(&rest, at, &mut self.errors, &mut self.held)
                    .map(Integration::Mock)
            }
            Some(Value::String(t)) if t == "http_proxy" => {
                deser_partial::<HttpProxyIntegration>(&rest, at, &mut self.errors, &mut self.held)
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
