//! Lambda authorizers (`TOKEN` and `REQUEST`), reached over HTTP like the Lambda Invoke API.
//!
//! Order for a `CUSTOM` route (spec §10): the resource policy's explicit denies first (the
//! function is then not called), then the identity sources (missing / empty / failing the
//! TOKEN regex: 401, no call), then the cached result or one call to the function, then the
//! returned policy evaluated against this request's method ARN, combined with the resource
//! policy by Table A.
//!
//! Caching ([`cache`]): per-worker L1 in front of a shared L2 that does single-flight, keyed by
//! a fingerprint of the authorizer's configuration and API plus the identity-source values.
//! Waiters on another worker (or the same one) poll the L2 slot with short monoio sleeps until
//! the leading call ends, bounded by the authorizer's `timeout_ms`. See docs/lambda-authorizers.md.

pub mod cache;
mod client;
mod event;
mod reply;

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_config::Authorizer;
use tollgate_policy::{CallerKind, Decision, ExpandCtx, Principal, Request};

use crate::auth::{self, AuthContext, AuthEnv, AuthRequest, RouteAuthorizer};
use crate::client::Pool;
use crate::error::GatewayError;
use crate::metrics::{AuthKind, CacheName};

use cache::{Begin, CacheKey, L1, L2, Polled};
use reply::{AuthzResult, Failure};

/// Concurrent calls to one authorizer from one worker; more answer 500 at once.
pub const MAX_INFLIGHT_PER_AUTHORIZER: usize = 256;
/// Slack on top of `timeout_ms` before a waiter or a flight gives up.
const WAIT_GRACE: Duration = Duration::from_millis(100);
/// Idle keep-alive connections per function address and worker.
const POOL_IDLE_PER_HOST: usize = 64;
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Token,
    Request,
}

/// One Lambda authorizer, ready to call.
pub(crate) struct Rt {
    kind: Kind,
    /// `host:port` of `function_url`, and its path; `None` when the URL is unusable.
    /// Authority, path and query, and for `https://` the server name to verify.
    target: Option<(String, String, Option<String>)>,
    /// Zero: no caching.
    ttl: Duration,
    timeout: Duration,
    /// Fingerprint of the whole authorizer configuration (in-flight bound key).
    id: u64,
    /// Cache scope per API index: the fingerprint plus the API (AWS authorizers belong to one
    /// API), salted with [`Rt::epoch`].
    scopes: Vec<u64>,
    /// The same, unsalted.
    scope_bases: Vec<u64>,
    /// The configuration version from which this authorizer has been configured as it is:
    /// kept across reloads that leave it alone (its cached results stay), new when it changes.
    /// A configuration that goes back to an earlier one (A, then B, then A again) thus starts
    /// A's cache afresh, as a redeployment flushes API Gateway's.
    epoch: u64,
    name: String,
    stats: Arc<crate::metrics::AuthorizerStats>,
}

/// Per-configuration state, built once per snapshot (`Snapshot::build`).
pub(crate) struct Compiled {
    /// Same order as `config.authorizers`; `None` for Cognito ones.
    authorizers: Vec<Option<Rt>>,
}

impl Compiled {
    /// The authorizer at `index` of `config.authorizers`, if it is of this module's kind.
    pub(crate) fn authorizer(&self, index: usize) -> Option<&Rt> {
        self.authorizers.get(index).and_then(Option::as_ref)
    }
}

fn fingerprint(parts: &[&str]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

fn salted(bases: &[u64], epoch: u64) -> Vec<u64> {
    bases
        .iter()
        .map(|b| fingerprint(&[&b.to_string(), &epoch.to_string()]))
        .collect()
}

impl Compiled {
    /// Carries over the cache epoch of each authorizer configured in `prev` exactly as here,
    /// so a reload that leaves an authorizer alone keeps its cached results; the others keep
    /// the epoch they were built with (a version no earlier configuration had).
    pub(crate) fn inherit(&mut self, prev: &Compiled) {
        for rt in self.authorizers.iter_mut().flatten() {
            let same = prev.authorizers.iter().flatten().find(|p| p.id == rt.id);
            if let Some(p) = same {
                rt.epoch = p.epoch;
                rt.scopes = salted(&rt.scope_bases, rt.epoch);
            }
        }
    }

    /// `epoch`: the configuration's version (see [`Rt::epoch`]).
    pub(crate) fn build(c: &tollgate_config::Compiled, epoch: u64) -> Self {
        let g = &c.config.gateway;
        let authorizers = c
            .config
            .authorizers
            .iter()
            .map(|a| {
                let (kind, url, ttl, timeout) = match a {
                    Authorizer::Token(t) => {
                        (Kind::Token, &t.function_url, t.ttl_seconds, t.timeout_ms)
                    }
                    Authorizer::Request(r) => {
                        (Kind::Request, &r.function_url, r.ttl_seconds, r.timeout_ms)
                    }
                    Authorizer::CognitoUserPools(_) => return None,
                };
                // name, function_url, identity_source, TTL, timeout, regex: all of it.
                let whole = serde_json::to_string(a).unwrap_or_default();
                let id = fingerprint(&[a.name(), url, &whole]);
                let scope_bases: Vec<u64> = c
                    .config
                    .apis
                    .iter()
                    .map(|api| fingerprint(&[&id.to_string(), &g.region, &g.account_id, &api.id]))
                    .collect();
                let scopes = salted(&scope_bases, epoch);
                let target = crate::client::Url::parse(url).ok().map(|u| {
                    let tls = crate::client::PoolKey::for_url(
                        std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
                        &u,
                    )
                    .tls_name;
                    (u.authority.to_owned(), u.path_and_query.into_owned(), tls)
                });
                Some(Rt {
                    kind,
                    target,
                    ttl: Duration::from_secs(u64::from(ttl.min(3600))),
                    timeout: Duration::from_millis(timeout.max(1)),
                    id,
                    scopes,
                    scope_bases,
                    epoch,
                    name: a.name().to_owned(),
                    stats: crate::metrics::authorizer(a.name()),
                })
            })
            .collect();
        Compiled { authorizers }
    }
}

/// Per-worker state: the L1 cache, the function connection pool, in-flight counts.
pub(crate) struct WorkerState {
    l1: RefCell<L1<Arc<AuthzResult>>>,
    pool: RefCell<Pool>,
    inflight: RefCell<HashMap<u64, usize>>,
}

impl WorkerState {
    /// `l1_bytes`: `gateway.limits.authorizer_cache_l1_bytes` at start-up.
    pub(crate) fn new(l1_bytes: usize) -> Self {
        Self {
            l1: RefCell::new(L1::new(l1_bytes)),
            pool: RefCell::new(Pool::new(POOL_IDLE_PER_HOST, POOL_IDLE_TIMEOUT)),
            inflight: RefCell::new(HashMap::new()),
        }
    }
}

/// State shared by all workers: the L2 cache with its single-flight slots.
pub(crate) struct SharedState {
    l2: L2<Arc<AuthzResult>, Failure>,
}

impl SharedState {
    /// `l2_bytes`: `gateway.limits.authorizer_cache_l2_bytes` at start-up.
    pub(crate) fn new(l2_bytes: usize) -> Self {
        Self {
            l2: L2::new(l2_bytes),
        }
    }
}

fn failure_error(rt: &Rt, f: Failure) -> GatewayError {
    match f {
        Failure::Unauthorized => {
            unauthorized().with_reason(format!("authorizer {} answered Unauthorized", rt.name))
        }
        Failure::Error(why) => config_error().with_reason(format!("authorizer {}: {why}", rt.name)),
    }
}

/// 401 without a call, with the reason for the logs.
fn refused(rt: &Rt, why: &str) -> GatewayError {
    unauthorized().with_reason(format!("authorizer {}: {why}", rt.name))
}

fn unauthorized() -> GatewayError {
    GatewayError::unauthorized()
}

fn config_error() -> GatewayError {
    GatewayError::authorizer_config_error()
}

/// Authorize one request; on success return the context enriched with what the backend may see.
pub(crate) async fn authorize(
    env: &AuthEnv<'_>,
    req: &AuthRequest<'_>,
    ctx: AuthContext,
) -> Result<AuthContext, GatewayError> {
    let res = decide(env, req, ctx).await;
    let outcome = auth::outcome_of(&res);
    env.metrics.auth(AuthKind::Custom, outcome);
    if let RouteAuthorizer::Lambda(Some((rt, _))) = env.authorizer {
        env.metrics.authorizer_outcome(&rt.stats, outcome);
    }
    res
}

async fn decide(
    env: &AuthEnv<'_>,
    req: &AuthRequest<'_>,
    mut ctx: AuthContext,
) -> Result<AuthContext, GatewayError> {
    // 1. The resource policy's explicit denies, before the function is called.
    let resource = auth::resource_decision(env, req, Principal::Anonymous);
    if tollgate_policy::lambda_precheck_denies(resource) {
        return Err(auth::access_denied(
            env,
            req,
            CallerKind::Authorizer,
            None,
            resource,
            Decision::ExplicitDeny,
        ));
    }
    let RouteAuthorizer::Lambda(Some((rt, compiled))) = env.authorizer else {
        return Err(config_error().with_reason("the route's authorizer is not a Lambda authorizer"));
    };
    let method = std::str::from_utf8(req.head.method.slice(req.buf)).unwrap_or("GET");
    let stage = req.route.stage;

    // 2. Identity sources: missing or empty -> 401 without a call.
    let identity = identity_key(rt, compiled, req, stage, method)?;

    // 3. The result: cached, or from one call.
    let cacheable = !rt.ttl.is_zero() && !compiled.identity_sources.is_empty();
    let scope = rt.scopes.get(req.route.api).copied().unwrap_or(rt.id);
    let result = if cacheable {
        cached_or_call(
            env,
            rt,
            req,
            CacheKey::in_stage(scope, stage, &identity),
            &identity,
            method,
        )
        .await
        .map_err(|f| failure_error(rt, f))?
    } else {
        invoke(env, rt, req, &identity, method)
            .await
            .map_err(|f| failure_error(rt, f))?
    };

    // 4. The returned policy for this request's own method ARN, combined by Table A.
    let facts = auth::facts(env, req);
    let decision = result.policy.decide(&Request {
        action: "execute-api:Invoke",
        resource: req.method_arn,
        principal: Principal::Anonymous,
        facts: &facts,
    });
    let combined = tollgate_policy::combine_same_account(decision, resource);
    if combined != Decision::Allow {
        return Err(auth::access_denied(
            env,
            req,
            CallerKind::Authorizer,
            Some(decision),
            resource,
            combined,
        ));
    }
    let Some(principal) = result.principal_id.clone() else {
        // An Allow needs a principalId (docs/decisions.md D4).
        return Err(config_error().with_reason(format!(
            "authorizer {}: Allow without a principalId",
            rt.name
        )));
    };
    ctx.principal_id = Some(principal);
    ctx.authorizer = result
        .context
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
        .collect();
    Ok(ctx)
}

/// The identity the authorizer is asked about (and its cache key): a TOKEN authorizer's
/// token, or a REQUEST authorizer's sources length-prefixed. Missing or empty: 401.
fn identity_key(
    rt: &Rt,
    compiled: &tollgate_config::CompiledAuthorizer,
    req: &AuthRequest<'_>,
    stage: &str,
    method: &str,
) -> Result<String, GatewayError> {
    let mut query = None;
    let mut identity = String::new();
    for src in &compiled.identity_sources {
        let v = match event::source_value(src, req, &mut query, stage, method) {
            Ok(v) => v,
            Err(event::NoValue::Missing) => {
                return Err(refused(rt, "identity source missing or empty"));
            }
            Err(event::NoValue::NotUtf8) => {
                return Err(refused(rt, "identity source is not UTF-8"));
            }
            Err(event::NoValue::Repeated) => {
                return Err(auth::repeated_identity_source()
                    .with_reason(format!("authorizer {}: identity source repeated", rt.name)));
            }
        };
        if rt.kind == Kind::Token {
            if let Some(re) = &compiled.validation
                && !re.is_match(&v)
            {
                return Err(refused(rt, "token does not match the validation regex"));
            }
            identity.push_str(&v);
            break;
        }
        // REQUEST: length-prefixed so that distinct value lists never share a key.
        identity.push_str(&v.len().to_string());
        identity.push(':');
        identity.push_str(&v);
    }
    if rt.kind == Kind::Token && compiled.identity_sources.is_empty() {
        return Err(refused(rt, "no identity source configured"));
    }
    Ok(identity)
}

/// Ends a flight as abandoned if its leader is dropped before finishing.
struct FlightGuard<'a> {
    l2: &'a L2<Arc<AuthzResult>, Failure>,
    key: &'a CacheKey,
    flight: u64,
    done: bool,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.l2.abandon(self.key, self.flight);
        }
    }
}

/// L1, then L2; on a miss lead the flight or wait for the one in progress.
async fn cached_or_call(
    env: &AuthEnv<'_>,
    rt: &Rt,
    req: &AuthRequest<'_>,
    key: CacheKey,
    identity: &str,
    method: &str,
) -> Result<Arc<AuthzResult>, Failure> {
    let started = Instant::now();
    if let Some(v) = env.caches.lambda.l1.borrow_mut().get(&key, started) {
        env.metrics.cache(CacheName::Authorizer, true);
        return Ok(v);
    }
    let l2 = &env.shared.lambda.l2;
    let give_up = started + rt.timeout + WAIT_GRACE + WAIT_GRACE;
    loop {
        let now = Instant::now();
        match l2.begin(&key, now, rt.timeout + WAIT_GRACE) {
            Begin::Hit(v, expires) => {
                env.metrics.cache(CacheName::Authorizer, true);
                env.caches
                    .lambda
                    .l1
                    .borrow_mut()
                    .insert(key, v.clone(), expires, now);
                return Ok(v);
            }
            Begin::Lead(flight) => {
                env.metrics.cache(CacheName::Authorizer, false);
                let mut guard = FlightGuard {
                    l2,
                    key: &key,
                    flight,
                    done: false,
                };
                let res = invoke(env, rt, req, identity, method).await;
                let now = Instant::now();
                match &res {
                    Ok(v) => {
                        let expires = now + rt.ttl;
                        l2.complete(&key, flight, v.clone(), expires);
                        env.caches.lambda.l1.borrow_mut().insert(
                            key.clone(),
                            v.clone(),
                            expires,
                            now,
                        );
                    }
                    Err(f) => l2.fail(&key, flight, *f, now),
                }
                guard.done = true;
                return res;
            }
            Begin::Wait(flight) => {
                let mut pause = Duration::from_micros(500);
                loop {
                    monoio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(5));
                    let now = Instant::now();
                    match l2.poll(&key, flight, now) {
                        Polled::Hit(v, expires) => {
                            env.metrics.cache(CacheName::Authorizer, true);
                            env.caches
                                .lambda
                                .l1
                                .borrow_mut()
                                .insert(key, v.clone(), expires, now);
                            return Ok(v);
                        }
                        Polled::Failed(f) => return Err(f),
                        Polled::Pending if now >= give_up => {
                            return Err(Failure::Error("waited too long"));
                        }
                        Polled::Pending => {}
                        Polled::Retry => break,
                    }
                }
            }
        }
        if Instant::now() >= give_up {
            return Err(Failure::Error("waited too long"));
        }
    }
}

/// Counts a call against the per-worker bound while it runs.
struct InflightGuard<'a> {
    map: &'a RefCell<HashMap<u64, usize>>,
    id: u64,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        if let Some(n) = self.map.borrow_mut().get_mut(&self.id) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Call the function once.
async fn invoke(
    env: &AuthEnv<'_>,
    rt: &Rt,
    req: &AuthRequest<'_>,
    token: &str,
    method: &str,
) -> Result<Arc<AuthzResult>, Failure> {
    let Some((authority, path, tls_name)) = &rt.target else {
        return Err(Failure::Error("function_url is not an http(s):// URL"));
    };
    {
        let mut m = env.caches.lambda.inflight.borrow_mut();
        let n = m.entry(rt.id).or_insert(0);
        if *n >= MAX_INFLIGHT_PER_AUTHORIZER {
            return Err(Failure::Error("too many concurrent calls"));
        }
        *n += 1;
    }
    let _inflight = InflightGuard {
        map: &env.caches.lambda.inflight,
        id: rt.id,
    };
    let body = match rt.kind {
        Kind::Token => event::token_event(token, req.method_arn),
        Kind::Request => event::request_event(req, env.account_id, req.route.stage, method),
    };
    let default_port = if tls_name.is_some() { 443 } else { 80 };
    let addr = env
        .caches
        .lambda
        .pool
        .borrow_mut()
        .resolve_authority(authority, default_port)
        .map_err(|_| Failure::Error("cannot resolve"))?;
    let key = crate::client::PoolKey {
        addr,
        tls_name: tls_name.clone(),
    };
    let started = Instant::now();
    let deadline = started + rt.timeout;
    let call = client::post(
        &env.caches.lambda.pool,
        &key,
        env.client_tls,
        authority,
        path,
        &body,
        deadline,
    );
    let called = monoio::time::timeout_at(deadline.into(), call).await;
    env.metrics.authorizer_call(&rt.stats, started.elapsed());
    let raw = match called {
        Ok(Ok(raw)) => raw,
        Ok(Err(e)) => {
            log::debug!("tollgate: authorizer {}: call failed: {e}", rt.name);
            return Err(Failure::Error(
                "call failed (refused, TLS verification, closed or bad reply)",
            ));
        }
        Err(_) => return Err(Failure::Error("timed out")),
    };
    let ctx = ExpandCtx {
        region: env.region,
        account_id: env.account_id,
        api_id: Some(req.api_id),
    };
    reply::parse_reply(raw.status, raw.function_error, raw.body, &ctx).map(Arc::new)
}
