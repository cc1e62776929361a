//! Cognito user pool authorizers end to end with the real binary: a JWKS served by a real
//! local HTTP server, tokens minted by an independent library (`jsonwebtoken`) with the fixed
//! RSA test keys of `crates/tollgate-jwt/tests/keys/`, a real echo upstream.
//!
//! Covers: ID vs access tokens and scopes, raw and `Bearer` tokens, several pools, claims
//! reaching the upstream as AWS renders them, expired / tampered / foreign tokens (401),
//! resource policy deny (403, Table A), the JWKS server down at start (500) and later (last
//! good keys keep serving), key rotation while requests flow (unknown `kid` -> rate-limited
//! refetch), and config swaps keeping the key set warm.
//!
//! Run: `cargo build -p tollgate && cargo test -p tollgate --test e2e_cognito`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const KEY_A_PKCS1: &[u8] =
    include_bytes!("../../tollgate-jwt/tests/keys/rsa2048_test_only.pkcs1.der");
const KEY_A_PK8: &[u8] = include_bytes!("../../tollgate-jwt/tests/keys/rsa2048_test_only.pk8.der");
const KEY_B_PKCS1: &[u8] =
    include_bytes!("../../tollgate-jwt/tests/keys/rsa2048_b_test_only.pkcs1.der");
const KEY_B_PK8: &[u8] =
    include_bytes!("../../tollgate-jwt/tests/keys/rsa2048_b_test_only.pk8.der");

const POOL_A: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example";
const POOL_B: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Second";
const CLIENT: &str = "3n4b5urk1ft4fl3mg5e62d9ado";

// ------------------------------------------------------------------------------- keys

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The public JWK of a PKCS#8 RSA test key.
fn jwk(pk8: &[u8], kid: &str) -> Value {
    let kp = ring::signature::RsaKeyPair::from_pkcs8(pk8).unwrap();
    let c = ring::signature::RsaPublicKeyComponents::<Vec<u8>>::from(kp.public());
    json!({"kty":"RSA","kid":kid,"use":"sig","alg":"RS256","n":b64(&c.n),"e":b64(&c.e)})
}

fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

static JTI: AtomicUsize = AtomicUsize::new(0);

fn id_claims(iss: &str) -> Value {
    let t = now();
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "cognito:groups": ["admins", "users"],
        "email_verified": true,
        "iss": iss,
        "cognito:username": "alice",
        "aud": CLIENT,
        "token_use": "id",
        "auth_time": t,
        "exp": t + 3600,
        "iat": t,
        "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::Relaxed)),
        "email": "alice@example.com",
        "custom:tenant": "tenant-0001"
    })
}

fn access_claims(scope: &str) -> Value {
    let t = now();
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "iss": POOL_A,
        "client_id": CLIENT,
        "token_use": "access",
        "scope": scope,
        "auth_time": t,
        "exp": t + 3600,
        "iat": t,
        "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::Relaxed)),
        "username": "alice"
    })
}

fn with(mut base: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn mint(pkcs1: &[u8], kid: &str, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_der(pkcs1)).unwrap()
}

fn token_a(claims: &Value) -> String {
    mint(KEY_A_PKCS1, "key-a", claims)
}

fn token_b(claims: &Value) -> String {
    mint(KEY_B_PKCS1, "key-b", claims)
}

// ---------------------------------------------------------------------- JWKS server

/// A real HTTP server for the JWKS: `None` answers 503 (the "down" state).
struct JwksServer {
    addr: SocketAddr,
    body: Arc<Mutex<Option<String>>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl JwksServer {
    fn start(body: Option<String>) -> JwksServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let body = Arc::new(Mutex::new(body));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, h, s) = (body.clone(), hits.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = read_head(&mut conn);
                h.fetch_add(1, Ordering::SeqCst);
                let resp = match b.lock().unwrap().clone() {
                    Some(doc) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{doc}",
                        doc.len()
                    ),
                    None => "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                };
                let _ = conn.write_all(resp.as_bytes());
            }
        });
        JwksServer {
            addr,
            body,
            hits,
            stop,
        }
    }

    fn url(&self) -> String {
        format!(
            "http://{}/us-east-1_Example/.well-known/jwks.json",
            self.addr
        )
    }

    fn set(&self, body: Option<String>) {
        *self.body.lock().unwrap() = body;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn read_head(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// An upstream answering 200 with the request head it received as the body.
fn echo_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let head = read_head(&mut conn);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nx-origin: echo\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
                    head.len()
                );
                let _ = conn.write_all(resp.as_bytes());
            });
        }
    });
    addr
}

// -------------------------------------------------------------------------- gateway

use common::Gateway;

fn start(config: &str) -> Gateway {
    Gateway::start(config, &["--workers", "2"])
}

struct Resp {
    status: u16,
    head: String,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

fn exchange(to: SocketAddr, raw: &str) -> Resp {
    let mut s = TcpStream::connect(to).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Resp {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn get(gw: &Gateway, path: &str, auth: Option<&str>) -> Resp {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    exchange(
        gw.addr,
        &format!("GET {path} HTTP/1.1\r\nHost: api.test\r\n{auth}Connection: close\r\n\r\n"),
    )
}

fn admin(gw: &Gateway, method: &str, path: &str, body: &str) -> Resp {
    exchange(
        gw.admin,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: admin\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn metric(gw: &Gateway, line_prefix: &str) -> u64 {
    let m = admin(gw, "GET", "/metrics", "");
    m.body
        .lines()
        .find_map(|l| {
            l.strip_prefix(line_prefix)
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no metric {line_prefix} in {}", m.body))
}

fn assert_unauthorized(r: &Resp, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}{}", r.head, r.body);
    assert_eq!(r.body, r#"{"message":"Unauthorized"}"#, "{what}");
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("UnauthorizedException"),
        "{what}"
    );
}

fn assert_config_error(r: &Resp, what: &str) {
    assert_eq!(r.status, 500, "{what}: {}{}", r.head, r.body);
    assert_eq!(r.body, r#"{"message":null}"#, "{what}");
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("AuthorizerConfigurationException"),
        "{what}"
    );
}

/// Polls `f` until it is true or `limit` passes; returns the time it took.
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn config(jwks_url: &str, refresh: u64, echo: SocketAddr, mock_body: &str) -> String {
    format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0" }}
  access_log: off
authorizers:
  - name: users
    type: COGNITO_USER_POOLS
    provider_arns:
      - "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"
      - "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Second"
    jwks: {{ url: "{jwks_url}", refresh_seconds: {refresh} }}
    client_ids: ["{CLIENT}"]
    ttl_seconds: 300
apis:
  - id: cog1api
    stages: {{ prod: {{ variables: {{ backend: "{echo}" }} }} }}
    resource_policy:
      Version: "2012-10-17"
      Statement:
        - {{ Effect: Deny, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/prod/GET/blocked/*" }}
    routes:
      - path: "/profile"
        methods: [GET]
        authorization: COGNITO_USER_POOLS
        authorizer: users
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/profile"
          request_headers:
            x-user-sub: "context.authorizer.claims.sub"
            x-user-email: "context.authorizer.claims.email"
            x-user-groups: "context.authorizer.claims.cognito:groups"
            x-user-exp: "context.authorizer.claims.exp"
            x-user-verified: "context.authorizer.claims.email_verified"
            x-user-tenant: "context.authorizer.claims.custom:tenant"
            x-user-iss: "context.authorizer.claims.iss"
      - path: "/pets"
        methods: [GET]
        authorization: COGNITO_USER_POOLS
        authorizer: users
        scopes: ["pets/read", "pets/write"]
        integration: {{ type: mock, status: 200, body: '{mock_body}' }}
      - path: "/admin"
        methods: [GET]
        authorization: COGNITO_USER_POOLS
        authorizer: users
        scopes: ["pets/admin"]
        integration: {{ type: mock, status: 200, body: '{{"admin":true}}' }}
      - path: "/blocked/{{x}}"
        methods: [GET]
        authorization: COGNITO_USER_POOLS
        authorizer: users
        integration: {{ type: mock, status: 200, body: '{{"blocked":false}}' }}
"#
    )
}

fn both_keys() -> String {
    jwks(&[jwk(KEY_A_PK8, "key-a"), jwk(KEY_B_PK8, "key-b")])
}

// ---------------------------------------------------------------------------- tests

#[test]
fn tokens_scopes_claims_and_resource_policy() {
    let server = JwksServer::start(Some(both_keys()));
    let echo = echo_upstream();
    let gw = start(&config(&server.url(), 300, echo, r#"{"pets":[]}"#));
    let mut cases = 0;

    // No token, an empty one, a bearer scheme with nothing after it.
    assert_unauthorized(&get(&gw, "/prod/profile", None), "missing header");
    assert_unauthorized(&get(&gw, "/prod/profile", Some("")), "empty header");
    assert_unauthorized(&get(&gw, "/prod/profile", Some("Bearer ")), "empty bearer");
    cases += 3;

    // A valid ID token, raw and as Bearer; claims reach the upstream as AWS renders them.
    let claims = id_claims(POOL_A);
    let id = token_a(&claims);
    for auth in [id.clone(), format!("Bearer {id}"), format!("bearer {id}")] {
        let r = get(&gw, "/prod/profile", Some(&auth));
        assert_eq!(r.status, 200, "{}{}", r.head, r.body);
        assert_eq!(r.header("x-origin"), Some("echo"));
        let upstream = r.body.to_ascii_lowercase();
        assert!(upstream.starts_with("get /profile http/1.1"), "{}", r.body);
        let hdr = |name: &str| {
            r.body.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        assert_eq!(
            hdr("x-user-sub").as_deref(),
            Some("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
        );
        assert_eq!(hdr("x-user-email").as_deref(), Some("alice@example.com"));
        assert_eq!(hdr("x-user-groups").as_deref(), Some("[admins users]"));
        assert_eq!(hdr("x-user-verified").as_deref(), Some("true"));
        assert_eq!(hdr("x-user-tenant").as_deref(), Some("tenant-0001"));
        assert_eq!(hdr("x-user-iss").as_deref(), Some(POOL_A));
        // exp as Java Date.toString() in UTC, e.g. "Tue Apr 04 18:39:39 UTC 2023".
        let exp = hdr("x-user-exp").unwrap();
        let parts: Vec<&str> = exp.split(' ').collect();
        assert_eq!(parts.len(), 6, "{exp}");
        assert_eq!(parts[4], "UTC", "{exp}");
        assert!(
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&parts[0]),
            "{exp}"
        );
        cases += 1;
    }

    // A token of the second pool (its own issuer), signed by the other key of the JWKS.
    let r = get(&gw, "/prod/profile", Some(&token_b(&id_claims(POOL_B))));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(POOL_B));
    cases += 1;

    // ID vs access tokens, scopes.
    let read = token_a(&access_claims("openid pets/read"));
    let write = token_a(&access_claims("pets/write"));
    let other = token_a(&access_claims("openid email"));
    assert_eq!(get(&gw, "/prod/pets", Some(&read)).status, 200);
    assert_eq!(
        get(&gw, "/prod/pets", Some(&format!("Bearer {write}"))).body,
        r#"{"pets":[]}"#
    );
    assert_unauthorized(
        &get(&gw, "/prod/pets", Some(&other)),
        "access token without the route's scopes",
    );
    assert_unauthorized(
        &get(&gw, "/prod/pets", Some(&id)),
        "ID token on a scoped route",
    );
    assert_unauthorized(
        &get(&gw, "/prod/admin", Some(&read)),
        "access token lacking pets/admin",
    );
    assert_eq!(
        get(
            &gw,
            "/prod/admin",
            Some(&token_a(&access_claims("pets/admin")))
        )
        .status,
        200
    );
    assert_unauthorized(
        &get(&gw, "/prod/profile", Some(&read)),
        "access token on a scope-less route",
    );
    cases += 7;

    // Rejected tokens.
    let t = now();
    let expired = token_a(&with(
        id_claims(POOL_A),
        json!({"exp": t - 10, "iat": t - 3610}),
    ));
    assert_unauthorized(&get(&gw, "/prod/profile", Some(&expired)), "expired");
    let foreign = token_a(&id_claims(
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Foreign",
    ));
    assert_unauthorized(&get(&gw, "/prod/profile", Some(&foreign)), "other pool");
    let wrong_client = token_a(&with(id_claims(POOL_A), json!({"aud": "someotherclient"})));
    assert_unauthorized(
        &get(&gw, "/prod/profile", Some(&wrong_client)),
        "other app client",
    );
    let no_exp = {
        let mut c = id_claims(POOL_A);
        c.as_object_mut().unwrap().remove("exp");
        token_a(&c)
    };
    assert_unauthorized(&get(&gw, "/prod/profile", Some(&no_exp)), "no exp");
    let mut tampered = id.clone().into_bytes();
    let mid = id.find('.').unwrap() + 5;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    assert_unauthorized(
        &get(
            &gw,
            "/prod/profile",
            Some(std::str::from_utf8(&tampered).unwrap()),
        ),
        "tampered",
    );
    let wrong_kid = mint(KEY_A_PKCS1, "key-b", &id_claims(POOL_A));
    assert_unauthorized(
        &get(&gw, "/prod/profile", Some(&wrong_kid)),
        "signed by another key than its kid",
    );
    assert_unauthorized(
        &get(&gw, "/prod/profile", Some(&format!("{id}x"))),
        "trailing garbage",
    );
    assert_unauthorized(
        &get(&gw, "/prod/profile", Some("Basic YWxpY2U6c2VjcmV0")),
        "basic auth",
    );
    cases += 8;

    // Resource policy: an explicit deny wins over a valid token (403); silence with a valid
    // token allows (Table A, Allow x Neither); a missing token is still a 401 first.
    let denied = get(&gw, "/prod/blocked/x", Some(&id));
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert_eq!(
        denied.header("x-amzn-ErrorType"),
        Some("AccessDeniedException")
    );
    assert!(
        denied
            .body
            .starts_with(r#"{"Message":"User: anonymous is not authorized"#),
        "{}",
        denied.body
    );
    assert!(
        denied.body.contains("cog1api/prod/GET/blocked/x"),
        "{}",
        denied.body
    );
    assert!(denied.body.contains("explicit deny"), "{}", denied.body);
    assert_unauthorized(&get(&gw, "/prod/blocked/x", None), "blocked without token");
    cases += 2;
    assert_eq!(cases, 24);

    // The cache served repeats: hits counted, one JWKS fetch in all.
    let hits_before = metric(&gw, "tollgate_cache_hits_total{cache=\"jwt\"}");
    for _ in 0..20 {
        assert_eq!(get(&gw, "/prod/profile", Some(&id)).status, 200);
    }
    let hits = metric(&gw, "tollgate_cache_hits_total{cache=\"jwt\"}");
    assert!(hits >= hits_before + 20, "{hits_before} -> {hits}");
    assert!(
        metric(
            &gw,
            "tollgate_auth_decisions_total{type=\"COGNITO_USER_POOLS\",outcome=\"allow\"}"
        ) >= 27
    );
    assert!(
        metric(
            &gw,
            "tollgate_auth_decisions_total{type=\"COGNITO_USER_POOLS\",outcome=\"unauthorized\"}"
        ) >= 15
    );
    assert!(
        metric(
            &gw,
            "tollgate_auth_decisions_total{type=\"COGNITO_USER_POOLS\",outcome=\"deny\"}"
        ) >= 1
    );
    assert_eq!(
        server.hits(),
        1,
        "one fetch at start; no refetch (no unknown kid, refresh 300 s)"
    );

    // A config swap that keeps the URL keeps the key set warm: no refetch, tokens still valid.
    let swapped = admin(
        &gw,
        "PUT",
        "/config",
        &config(&server.url(), 300, echo, r#"{"pets":["swapped"]}"#),
    );
    assert_eq!(swapped.status, 200, "{}", swapped.body);
    let r = get(&gw, "/prod/pets", Some(&read));
    assert_eq!(r.body, r#"{"pets":["swapped"]}"#);
    assert_eq!(get(&gw, "/prod/profile", Some(&id)).status, 200);
    assert_eq!(server.hits(), 1, "the swap reused the loaded key set");
}

#[test]
fn jwks_down_at_start_then_up_then_down_again() {
    let server = JwksServer::start(None);
    let echo = echo_upstream();
    let gw = start(&config(&server.url(), 1, echo, "{}"));
    let id = token_a(&id_claims(POOL_A));
    // No key set ever loaded: the authorizer is misconfigured (500), not the caller (401).
    assert_config_error(&get(&gw, "/prod/profile", Some(&id)), "no key set yet");
    assert_config_error(
        &get(
            &gw,
            "/prod/pets",
            Some(&token_a(&access_claims("pets/read"))),
        ),
        "no key set yet",
    );
    // ...but a missing token is still the caller's fault.
    assert_unauthorized(&get(&gw, "/prod/profile", None), "no token");
    assert!(server.hits() >= 1);
    assert!(
        metric(
            &gw,
            "tollgate_auth_decisions_total{type=\"COGNITO_USER_POOLS\",outcome=\"error\"}"
        ) >= 2
    );

    // The server comes up: the refresher (backing off) loads the keys.
    server.set(Some(jwks(&[jwk(KEY_A_PK8, "key-a")])));
    let took = wait_until(Duration::from_secs(40), || {
        get(&gw, "/prod/profile", Some(&id)).status == 200
    });
    assert!(
        took.is_some(),
        "keys never loaded after the JWKS server came up"
    );

    // The server goes down again; refetches (every second) fail; the last good keys keep
    // serving, for cached and never-seen tokens alike.
    server.set(None);
    let before = server.hits();
    assert!(
        wait_until(Duration::from_secs(10), || server.hits() >= before + 2).is_some(),
        "no refetch attempts"
    );
    assert_eq!(get(&gw, "/prod/profile", Some(&id)).status, 200);
    let fresh = token_a(&id_claims(POOL_A));
    assert_eq!(
        get(&gw, "/prod/profile", Some(&fresh)).status,
        200,
        "new token verified with the last good keys"
    );
    assert_eq!(
        get(
            &gw,
            "/prod/pets",
            Some(&token_a(&access_claims("pets/write")))
        )
        .status,
        200
    );
    // A broken document is a failed fetch too: the good keys stay.
    server.set(Some(
        r#"{"keys":[{"kty":"RSA","kid":"x","n":"AQAB","e":"AQAB"}]}"#.to_owned(),
    ));
    let before = server.hits();
    assert!(wait_until(Duration::from_secs(10), || server.hits() >= before + 2).is_some());
    assert_eq!(
        get(&gw, "/prod/profile", Some(&token_a(&id_claims(POOL_A)))).status,
        200
    );
}

#[test]
fn key_rotation_while_requests_flow() {
    let server = JwksServer::start(Some(jwks(&[jwk(KEY_A_PK8, "key-a")])));
    let echo = echo_upstream();
    // No periodic refresh during the test: only an unknown kid can trigger a fetch.
    let gw = start(&config(&server.url(), 3600, echo, "{}"));
    let loaded_at = Instant::now();
    let old = token_a(&id_claims(POOL_A));
    assert_eq!(get(&gw, "/prod/profile", Some(&old)).status, 200);
    assert_eq!(server.hits(), 1);

    // Requests with the old key keep flowing from another thread.
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let flow = {
        let (stop, statuses, old) = (stop.clone(), statuses.clone(), old.clone());
        let addr = gw.addr;
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let r = exchange(
                    addr,
                    &format!(
                        "GET /prod/profile HTTP/1.1\r\nHost: api.test\r\nAuthorization: {old}\r\nConnection: close\r\n\r\n"
                    ),
                );
                statuses.lock().unwrap().push(r.status);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    // Rotation: the new key appears, the old one is removed.
    server.set(Some(jwks(&[jwk(KEY_B_PK8, "key-b")])));
    let new = token_b(&id_claims(POOL_A));
    // Unknown kid: 401 now (the data path never fetches), a refetch is signalled and
    // rate-limited to once per 10 s per URL.
    let mut unknown = 0;
    let took = wait_until(Duration::from_secs(20), || {
        let s = get(&gw, "/prod/profile", Some(&new)).status;
        if s == 401 {
            unknown += 1;
        }
        s == 200
    });
    assert!(took.is_some(), "the new key was never fetched");
    let since_load = loaded_at.elapsed();
    assert!(unknown >= 1);
    assert!(
        since_load >= Duration::from_secs(9),
        "refetch not rate-limited: {since_load:?}"
    );
    assert_eq!(server.hits(), 2, "many unknown-kid requests, one refetch");

    // The old key is gone: old tokens (cached before, or new) are refused.
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    flow.join().unwrap();
    assert_unauthorized(
        &get(&gw, "/prod/profile", Some(&old)),
        "cached token of a removed key",
    );
    assert_unauthorized(
        &get(&gw, "/prod/profile", Some(&token_a(&id_claims(POOL_A)))),
        "new token of a removed key",
    );
    let seen = statuses.lock().unwrap().clone();
    assert!(seen.len() >= 20, "{}", seen.len());
    // While requests flowed: 200 until the new key set was published, then 401; nothing else.
    let first_401 = seen
        .iter()
        .position(|s| *s == 401)
        .expect("old tokens never refused");
    assert!(first_401 >= 1, "{seen:?}");
    assert!(seen[..first_401].iter().all(|s| *s == 200), "{seen:?}");
    assert!(seen[first_401..].iter().all(|s| *s == 401), "{seen:?}");
}

/// A JWKS server whose behaviour can be switched: 0 = slow (accepts, never answers),
/// 1 = resets the connection, 2 = serves `doc`.
fn faulty_jwks(doc: String) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mode = Arc::new(AtomicUsize::new(0));
    let m = mode.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            match m.load(Ordering::SeqCst) {
                0 => {
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(30));
                        drop(conn);
                    });
                }
                1 => {
                    let sock = socket2::SockRef::from(&conn);
                    let _ = sock.set_linger(Some(Duration::ZERO));
                    drop(conn);
                }
                _ => {
                    let _ = read_head(&mut conn);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{doc}",
                        doc.len()
                    );
                    let _ = conn.write_all(resp.as_bytes());
                }
            }
        }
    });
    (addr, mode)
}

#[test]
fn jwks_server_slow_or_resetting_answers_in_bounded_time_and_recovers() {
    let (addr, mode) = faulty_jwks(jwks(&[jwk(KEY_A_PK8, "key-a")]));
    let url = format!("http://{addr}/us-east-1_Example/.well-known/jwks.json");
    let echo = echo_upstream();
    let started = Instant::now();
    let gw = start(&config(&url, 1, echo, "{}"));
    // A slow JWKS server delays start-up by at most the first-fetch wait.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let id = token_a(&id_claims(POOL_A));
    for m in [0, 1] {
        mode.store(m, Ordering::SeqCst);
        for _ in 0..3 {
            let t = Instant::now();
            let r = get(&gw, "/prod/profile", Some(&id));
            assert_config_error(
                &r,
                if m == 0 {
                    "slow JWKS"
                } else {
                    "resetting JWKS"
                },
            );
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "answered in {:?}",
                t.elapsed()
            );
        }
    }
    // The dependency comes back: no action on the gateway, the next fetch loads the keys.
    mode.store(2, Ordering::SeqCst);
    let took = wait_until(Duration::from_secs(20), || {
        get(&gw, "/prod/profile", Some(&id)).status == 200
    });
    assert!(took.is_some(), "no recovery within 20 s");
}

/// A pool may issue the ORIGINAL (`cognito-idp.…`) or the UPDATED (`issuer-cognito-idp.…`)
/// issuer (Cognito API reference, IssuerConfigurationType): both are accepted when the issuer
/// comes from `provider_arns`; an explicit `issuer:` (one URL or a list) replaces them.
#[test]
fn original_and_updated_issuers_and_explicit_issuer_lists() {
    let server = JwksServer::start(Some(both_keys()));
    let url = server.url();
    let gw = start(&format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0" }}
  access_log: off
authorizers:
  - name: derived
    type: COGNITO_USER_POOLS
    provider_arns: ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"]
    jwks: {{ url: "{url}" }}
  - name: explicit
    type: COGNITO_USER_POOLS
    provider_arns: ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"]
    issuer: ["https://idp.example.test/pool-1", "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"]
    jwks: {{ url: "{url}" }}
  - name: single
    type: COGNITO_USER_POOLS
    provider_arns: ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"]
    issuer: "https://idp.example.test/pool-1"
    jwks: {{ url: "{url}" }}
apis:
  - id: iss1api
    stages: {{ prod: {{}} }}
    routes:
      - {{ path: "/derived", methods: [GET], authorization: COGNITO_USER_POOLS, authorizer: derived,
           integration: {{ type: mock, status: 200, body: "ok" }} }}
      - {{ path: "/explicit", methods: [GET], authorization: COGNITO_USER_POOLS, authorizer: explicit,
           integration: {{ type: mock, status: 200, body: "ok" }} }}
      - {{ path: "/single", methods: [GET], authorization: COGNITO_USER_POOLS, authorizer: single,
           integration: {{ type: mock, status: 200, body: "ok" }} }}
"#
    ));
    const UPDATED: &str = "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_Example";
    const CUSTOM: &str = "https://idp.example.test/pool-1";
    let tok = |iss: &str| token_a(&id_claims(iss));
    let ok = |path: &str, iss: &str| {
        let r = get(&gw, path, Some(&tok(iss)));
        assert_eq!(r.status, 200, "{path} with iss {iss}: {}{}", r.head, r.body);
    };
    let refused = |path: &str, iss: &str| {
        assert_unauthorized(&get(&gw, path, Some(&tok(iss))), &format!("{path} {iss}"));
    };
    ok("/prod/derived", POOL_A);
    ok("/prod/derived", UPDATED);
    for third in [
        CUSTOM,
        // another pool, another region, another host, a trailing slash, plain http
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other",
        "https://issuer-cognito-idp.eu-west-1.amazonaws.com/us-east-1_Example",
        "https://cognito-identity.us-east-1.amazonaws.com/us-east-1_Example",
        "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_Example/",
        "http://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
    ] {
        refused("/prod/derived", third);
    }
    ok("/prod/explicit", CUSTOM);
    ok("/prod/explicit", UPDATED);
    refused("/prod/explicit", POOL_A);
    ok("/prod/single", CUSTOM);
    refused("/prod/single", POOL_A);
    refused("/prod/single", UPDATED);
}

// ------------------------------------------------------------------- observability

/// The stderr line naming request `rid`.
fn reason_line(gw: &Gateway, rid: &str) -> String {
    let mut line = String::new();
    let found = wait_until(Duration::from_secs(10), || {
        let text = gw.stderr_text();
        match text.lines().find(|l| l.contains(rid)) {
            Some(l) => {
                line = l.to_owned();
                true
            }
            None => false,
        }
    });
    assert!(found.is_some(), "no line for {rid}:\n{}", gw.stderr_text());
    line
}

#[test]
fn refusals_are_logged_with_their_reason_and_jwks_fetches_are_measured() {
    let server = JwksServer::start(None);
    let echo = echo_upstream();
    let gw = Gateway::start(
        &config(&server.url(), 1, echo, "{}"),
        &["--workers", "2", "--log-level", "debug"],
    );
    let url = server.url();
    // No key set: 500, a warn line naming the URL and its fetch error.
    let id = token_a(&id_claims(POOL_A));
    let r = get(&gw, "/prod/profile", Some(&id));
    assert_config_error(&r, "no keys");
    let line = reason_line(&gw, r.header("x-amzn-RequestId").unwrap());
    assert!(line.contains(" WARN "), "{line}");
    assert!(
        line.contains("500 api=cog1api stage=prod route=\"GET /profile\""),
        "{line}"
    );
    assert!(
        line.contains(&format!("no JWKS key set from {url}")),
        "{line}"
    );
    assert!(line.contains("503"), "the fetch error: {line}");
    let fetch =
        |result: &str| format!("tollgate_jwks_fetch_total{{url=\"{url}\",result=\"{result}\"}}");
    assert!(metric(&gw, &fetch("error")) >= 1);

    server.set(Some(both_keys()));
    let up = wait_until(Duration::from_secs(40), || {
        get(&gw, "/prod/profile", Some(&id)).status == 200
    });
    assert!(up.is_some(), "keys never loaded");
    assert!(metric(&gw, &fetch("ok")) >= 1);
    let m = admin(&gw, "GET", "/metrics", "").body;
    assert!(
        m.contains(&format!("tollgate_jwks_age_seconds{{url=\"{url}\"}} ")),
        "{m}"
    );

    // 401s and a 403, each at debug with the token's fault (never the token).
    let expired = token_a(&with(
        id_claims(POOL_A),
        json!({"exp": now() - 3600, "iat": now() - 7200}),
    ));
    let foreign_aud = token_a(&with(id_claims(POOL_A), json!({"aud": "someone-else"})));
    let access = token_a(&access_claims("pets/read"));
    let cases: [(&str, Option<&str>, u16, &str); 6] = [
        (
            "/prod/profile",
            None,
            401,
            "identity source authorization missing",
        ),
        ("/prod/profile", Some(&expired), 401, "token expired"),
        ("/prod/profile", Some(&foreign_aud), 401, "wrong audience"),
        ("/prod/profile", Some(&access), 401, "wrong token_use"),
        ("/prod/admin", Some(&access), 401, "missing scope"),
        (
            "/prod/blocked/x",
            Some(&id),
            403,
            "explicit deny (identity policy: allow, resource policy: explicit deny)",
        ),
    ];
    for (path, auth, status, reason) in cases {
        let r = get(&gw, path, auth);
        assert_eq!(r.status, status, "{path} {reason}: {}", r.body);
        let line = reason_line(&gw, r.header("x-amzn-RequestId").unwrap());
        assert!(line.contains(" DEBUG "), "{line}");
        assert!(line.contains(reason), "{reason}: {line}");
        assert!(line.contains("authorizer users") || status == 403, "{line}");
    }
    let log = gw.stderr_text();
    for t in [&id, &expired, &foreign_aud, &access] {
        let sig = t.rsplit('.').next().unwrap();
        assert!(!log.contains(sig), "a token's signature was logged");
        assert!(!log.contains(t.as_str()), "a token was logged");
    }
    assert!(
        metric(
            &gw,
            "tollgate_authorizer_decisions_total{authorizer=\"users\",outcome=\"unauthorized\"}"
        ) >= 5
    );
    assert!(
        metric(
            &gw,
            "tollgate_authorizer_decisions_total{authorizer=\"users\",outcome=\"deny\"}"
        ) >= 1
    );
}
