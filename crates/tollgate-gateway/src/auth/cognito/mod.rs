//! `COGNITO_USER_POOLS` routes: JWT verification against the authorizer's JWKS, with a
//! per-worker (L1) and a shared (L2) cache of verified tokens, then the route's token type and
//! scopes, then the API's resource policy (Table A).
//!
//! * The token comes raw or as `Bearer <token>` from the identity source header; missing,
//!   empty or invalid -> 401 `{"message":"Unauthorized"}`.
//! * A token is verified once per authorizer generation with the authorizer-level rules
//!   (pools' issuers, client ids, `aud` regex, leeway, RS256); the result (claims already
//!   rendered as AWS strings) is cached until `min(exp + leeway, now + ttl_seconds)`. Each
//!   request checks its route's needs against the cached token (no scopes: an ID token;
//!   scopes: an access token holding one of them).
//! * Key sets come from `jwks.file` (read with the config) or `jwks.url` (fetched by the
//!   background refresher in [`jwks`]; never on a request path). An authorizer whose key set
//!   never loaded answers 500 `AuthorizerConfigurationException`, not 401.

mod jwks;
mod l2;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use tollgate_config::{Authorizer, IdentitySource};
use tollgate_jwt::{JwtError, TokenCache, Validation, VerifiedToken, expiry, token_hash};
use tollgate_policy::{CallerKind, Decision, Principal};

use crate::auth::{
    AuthContext, AuthEnv, AuthRequest, RouteAuthorizer, access_denied, resource_decision,
};
use crate::error::GatewayError;
use crate::metrics::{AuthKind, CacheName};

use jwks::{JwksSlot, LoadedKeys};

/// Per-worker L1 entries.
const L1_CAPACITY: usize = 1024;
/// Shared L2 entries (each holds a token of at most `MAX_CACHED_TOKEN_BYTES`).
const L2_CAPACITY: usize = 16 * 1024;

/// A verified token as the caches keep it: the verification and the claims already rendered
/// for the backend.
pub(crate) struct CachedToken {
    pub token: VerifiedToken,
    pub claims: Arc<[(String, String)]>,
}

/// Where an authorizer's keys come from.
enum KeySource {
    /// `jwks.file`, parsed when the snapshot was built (`None`: unusable -> 500).
    File(Option<Arc<LoadedKeys>>),
    /// `jwks.url`: the shared slot the refresher fills.
    Url(Arc<JwksSlot>),
}

impl KeySource {
    fn current(&self) -> Option<Arc<LoadedKeys>> {
        match self {
            KeySource::File(k) => k.clone(),
            KeySource::Url(slot) => slot.keys(),
        }
    }
}

/// One Cognito authorizer, ready for requests.
pub(crate) struct AuthorizerRt {
    /// Lowercase header name of the identity source.
    header: String,
    validation: Validation,
    ttl_secs: u64,
    leeway_secs: i64,
    keys: KeySource,
    /// Fingerprint of everything but the key set that decides a verification.
    config_generation: u64,
    name: String,
    stats: Arc<crate::metrics::AuthorizerStats>,
}

/// Per-configuration state: the Cognito authorizers (same order as `config.authorizers`;
/// `None` for the other types).
pub(crate) struct Compiled {
    authorizers: Vec<Option<AuthorizerRt>>,
}

impl Compiled {
    /// The authorizer at `index` of `config.authorizers`, if it is of this module's kind.
    pub(crate) fn authorizer(&self, index: usize) -> Option<&AuthorizerRt> {
        self.authorizers.get(index).and_then(Option::as_ref)
    }
}

fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut h = 0x636f_676e_6974_6f00u64;
    for p in parts {
        h = token_hash(p, h);
    }
    h
}

impl Compiled {
    pub(crate) fn build(c: &tollgate_config::Compiled) -> Self {
        // One refresh period per URL: the shortest asked for.
        let mut refresh: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for a in &c.config.authorizers {
            if let Authorizer::CognitoUserPools(cg) = a
                && let Some(url) = &cg.jwks.url
            {
                let e = refresh
                    .entry(url.as_str())
                    .or_insert(cg.jwks.refresh_seconds);
                *e = (*e).min(cg.jwks.refresh_seconds);
            }
        }
        // `https://` JWKS URLs are fetched with this configuration's TLS client.
        jwks::registry().set_client_tls(&c.client_tls);
        let authorizers = c
            .authorizers
            .iter()
            .map(|ca| {
                let Authorizer::CognitoUserPools(cg) = &ca.config else {
                    return None;
                };
                let header = match ca.identity_sources.first() {
                    Some(IdentitySource::Header(h)) => h.to_ascii_lowercase(),
                    _ => "authorization".to_owned(),
                };
                let (keys, source_id) = match (&cg.jwks.url, &ca.jwks) {
                    (Some(url), _) => {
                        let period = refresh
                            .get(url.as_str())
                            .copied()
                            .unwrap_or(cg.jwks.refresh_seconds);
                        (
                            KeySource::Url(jwks::registry().slot(url, Duration::from_secs(period))),
                            format!("url:{url}"),
                        )
                    }
                    (None, Some(doc)) => {
                        let loaded = serde_json::to_vec(doc).ok().and_then(|b| {
                            match LoadedKeys::parse(&b) {
                                Ok(k) => Some(Arc::new(k)),
                                Err(e) => {
                                    log::error!("tollgate: authorizer {}: jwks.file: {e}", cg.name);
                                    None
                                }
                            }
                        });
                        (KeySource::File(loaded), "file".to_owned())
                    }
                    (None, None) => (KeySource::File(None), "none".to_owned()),
                };
                let validation = Validation::cognito_authorizer(
                    ca.issuers.clone(),
                    cg.client_ids.clone(),
                    ca.validation.clone(),
                    cg.leeway_seconds,
                );
                let mut parts: Vec<&[u8]> = vec![cg.name.as_bytes(), source_id.as_bytes()];
                parts.extend(ca.issuers.iter().map(|s| s.as_bytes()));
                parts.push(b"|clients|");
                parts.extend(cg.client_ids.iter().map(|s| s.as_bytes()));
                parts.push(b"|aud|");
                let regex = ca
                    .validation
                    .as_ref()
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_default();
                parts.push(regex.as_bytes());
                let nums = [
                    cg.leeway_seconds.to_le_bytes(),
                    u64::from(cg.ttl_seconds).to_le_bytes(),
                ]
                .concat();
                parts.push(&nums);
                let config_generation = fingerprint(&parts);
                Some(AuthorizerRt {
                    header,
                    validation,
                    ttl_secs: u64::from(cg.ttl_seconds),
                    leeway_secs: i64::try_from(cg.leeway_seconds).unwrap_or(i64::MAX),
                    keys,
                    config_generation,
                    name: cg.name.clone(),
                    stats: crate::metrics::authorizer(&cg.name),
                })
            })
            .collect();
        Compiled { authorizers }
    }
}

/// Per-worker state: the L1 cache of verified tokens.
pub(crate) struct WorkerState {
    l1: RefCell<TokenCache<Arc<CachedToken>>>,
}

impl Default for WorkerState {
    fn default() -> Self {
        WorkerState {
            l1: RefCell::new(TokenCache::new(L1_CAPACITY)),
        }
    }
}

/// State shared by all workers: the L2 cache. (Key sets live in the process-wide JWKS
/// registry of [`jwks`], held by each snapshot.)
pub(crate) struct SharedState {
    l2: l2::SharedTokenCache<CachedToken>,
}

impl Default for SharedState {
    fn default() -> Self {
        SharedState {
            l2: l2::SharedTokenCache::new(L2_CAPACITY),
        }
    }
}

fn unauthorized() -> GatewayError {
    GatewayError::unauthorized()
}

/// Why a token was not accepted.
enum Refusal {
    /// 401.
    Token(JwtError),
    /// 500: the authorizer has no usable key set.
    NoKeys,
}

/// The verified token for `token` (from L1, L2 or a fresh verification).
fn verified(
    env: &AuthEnv<'_>,
    a: &AuthorizerRt,
    token: &str,
    now: i64,
) -> Result<Arc<CachedToken>, Refusal> {
    let Some(keys) = a.keys.current() else {
        if let KeySource::Url(slot) = &a.keys {
            slot.request_refresh();
        }
        return Err(Refusal::NoKeys);
    };
    let generation = a.config_generation ^ keys.version.rotate_left(17);
    let bytes = token.as_bytes();
    let hash = token_hash(bytes, generation);
    if let Some(hit) = env
        .caches
        .cognito
        .l1
        .borrow_mut()
        .get_hashed(hash, bytes, generation, now)
    {
        env.metrics.cache(CacheName::Jwt, true);
        return Ok(hit.clone());
    }
    if let Some((hit, expires_at)) = env.shared.cognito.l2.get(hash, bytes, generation, now) {
        env.metrics.cache(CacheName::Jwt, true);
        env.caches.cognito.l1.borrow_mut().insert_hashed(
            hash,
            bytes,
            generation,
            hit.clone(),
            expires_at,
        );
        return Ok(hit);
    }
    env.metrics.cache(CacheName::Jwt, false);
    let token_v = match tollgate_jwt::verify(token, &keys.keys, &a.validation, now) {
        Ok(t) => t,
        Err(e) => {
            if e == JwtError::UnknownKid
                && let KeySource::Url(slot) = &a.keys
            {
                slot.request_refresh();
            }
            return Err(Refusal::Token(e));
        }
    };
    let claims = token_v.aws_claims().into();
    let entry = Arc::new(CachedToken {
        token: token_v,
        claims,
    });
    if a.ttl_secs > 0 {
        let expires_at = expiry(
            entry.token.exp.saturating_add(a.leeway_secs),
            now,
            a.ttl_secs,
        );
        env.shared
            .cognito
            .l2
            .insert(hash, bytes, generation, entry.clone(), expires_at, now);
        env.caches.cognito.l1.borrow_mut().insert_hashed(
            hash,
            bytes,
            generation,
            entry.clone(),
            expires_at,
        );
    }
    Ok(entry)
}

/// Authorize one request; on success return the context enriched with the token's claims.
pub(crate) async fn authorize(
    env: &AuthEnv<'_>,
    req: &AuthRequest<'_>,
    ctx: AuthContext,
) -> Result<AuthContext, GatewayError> {
    let (rt, scopes) = match env.authorizer {
        RouteAuthorizer::Cognito(rt, scopes) => (rt, scopes),
        _ => (None, &[][..]),
    };
    let res = match rt {
        Some(a) => decide(env, req, a, scopes, ctx),
        None => Err(GatewayError::authorizer_config_error()
            .with_reason("the route's authorizer is not a Cognito authorizer")),
    };
    let outcome = crate::auth::outcome_of(&res);
    env.metrics.auth(AuthKind::Cognito, outcome);
    if let Some(a) = rt {
        env.metrics.authorizer_outcome(&a.stats, outcome);
    }
    res
}

/// Why an authorizer has no key set, for the logs.
fn no_keys_reason(a: &AuthorizerRt) -> String {
    match &a.keys {
        KeySource::Url(slot) => format!(
            "authorizer {}: no JWKS key set from {} ({})",
            a.name,
            slot.url,
            slot.last_error()
                .unwrap_or_else(|| "not fetched yet".to_owned())
        ),
        KeySource::File(_) => format!("authorizer {}: jwks.file holds no usable key", a.name),
    }
}

/// 401 with the reason for the logs.
fn refused(a: &AuthorizerRt, why: impl std::fmt::Display) -> GatewayError {
    unauthorized().with_reason(format!("authorizer {}: {why}", a.name))
}

fn decide(
    env: &AuthEnv<'_>,
    req: &AuthRequest<'_>,
    a: &AuthorizerRt,
    scopes: &[String],
    mut ctx: AuthContext,
) -> Result<AuthContext, GatewayError> {
    // A repeated identity header is refused (400) rather than one of its values picked.
    let raw = req
        .single_header(a.header.as_bytes())
        .map_err(|e| e.with_reason(format!("identity source {} repeated", a.header)))?
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("");
    let token = tollgate_jwt::strip_bearer(raw);
    if token.is_empty() {
        return Err(refused(
            a,
            format_args!("identity source {} missing", a.header),
        ));
    }
    let now = env.now_epoch();
    let cached = match verified(env, a, token, now) {
        Ok(c) => c,
        Err(Refusal::Token(e)) => return Err(refused(a, e)),
        Err(Refusal::NoKeys) => {
            return Err(GatewayError::authorizer_config_error().with_reason(no_keys_reason(a)));
        }
    };
    if let Err(e) = cached.token.check_route(scopes) {
        return Err(refused(a, e));
    }
    // Table A (docs/decisions.md D9): a valid token is the identity side's Allow.
    let resource = resource_decision(env, req, Principal::Anonymous);
    let decision = tollgate_policy::combine_same_account(Decision::Allow, resource);
    if decision != Decision::Allow {
        return Err(access_denied(
            env,
            req,
            CallerKind::Authorizer,
            Some(Decision::Allow),
            resource,
            decision,
        ));
    }
    ctx.claims = cached.claims.clone();
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example";

    fn compiled(extra: &str) -> tollgate_config::Compiled {
        let dir =
            std::env::temp_dir().join(format!("tollgate-cognito-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("jwks.json"), r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#).unwrap();
        std::fs::write(dir.join("bad.json"), r#"{"keys":[]}"#).unwrap();
        let text = format!(
            r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0" }}
authorizers:
  - name: users
    type: COGNITO_USER_POOLS
    provider_arns:
      - "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"
      - "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Other"
    jwks: {{ file: jwks.json }}
    {extra}
  - name: broken
    type: COGNITO_USER_POOLS
    provider_arns: ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"]
    identity_source: method.request.header.X-Token
    jwks: {{ file: bad.json }}
apis: []
"#
        );
        tollgate_config::load_str(&text, &dir).unwrap()
    }

    #[test]
    fn cognito_compiled_authorizers() {
        let c = compiled("");
        let built = Compiled::build(&c);
        assert_eq!(built.authorizers.len(), 2);
        let users = built.authorizers[0].as_ref().unwrap();
        assert_eq!(users.header, "authorization");
        assert_eq!(
            users.validation.issuers,
            vec![
                ISS.to_owned(),
                "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_Example".to_owned(),
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other".to_owned(),
                "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other".to_owned()
            ]
        );
        assert!(
            users
                .keys
                .current()
                .is_some_and(|k| k.keys.contains_kid("k1"))
        );
        let broken = built.authorizers[1].as_ref().unwrap();
        assert_eq!(broken.header, "x-token");
        assert!(
            broken.keys.current().is_none(),
            "an unusable JWKS file leaves no key set (500)"
        );
        // The generation is stable for the same config and changes with anything that
        // decides a verification.
        let again = Compiled::build(&c);
        let generation = |b: &Compiled| b.authorizers[0].as_ref().unwrap().config_generation;
        assert_eq!(generation(&built), generation(&again));
        for extra in [
            "client_ids: [abc]",
            "leeway_seconds: 5",
            "ttl_seconds: 60",
            "identity_validation_expression: \"x.*\"",
        ] {
            assert_ne!(
                generation(&built),
                generation(&Compiled::build(&compiled(extra))),
                "{extra}"
            );
        }
        // Same document, same key set version (caches stay warm across reloads).
        let v = |b: &Compiled| {
            b.authorizers[0]
                .as_ref()
                .unwrap()
                .keys
                .current()
                .unwrap()
                .version
        };
        assert_eq!(v(&built), v(&again));
    }
}
