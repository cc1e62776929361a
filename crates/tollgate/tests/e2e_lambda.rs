//! End-to-end: Lambda authorizers (TOKEN and REQUEST) through the real `tollgate` binary,
//! against a real authorizer process (an HTTP server in this test answering like the Lambda
//! Invoke API running AWS's reference authorizer: `allow`, `deny`, `unauthorized`, other).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod lambda_support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use lambda_support::{Function, Gateway, Resp, closed_port, echo_backend, request};
use serde_json::{Value, json};

const EXPLICIT_CURRENT: &str = "User is not authorized to access this resource with an explicit deny in an identity-based policy";
const IMPLICIT_CURRENT: &str = "User is not authorized to access this resource because no identity-based policy allows the execute-api:Invoke action";
const EXPLICIT_LEGACY: &str =
    "User is not authorized to access this resource with an explicit deny";
const IMPLICIT_LEGACY: &str = "User is not authorized to access this resource";
const ARN_PREFIX: &str = "arn:aws:execute-api:us-east-1:123456789012:api1abc/prod";

fn config(f: &Function, echo: SocketAddr, messages: &str, tok_timeout_ms: u64) -> String {
    let url = f.url();
    let down = format!(
        "http://{}/2015-03-31/functions/function/invocations",
        closed_port()
    );
    format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 2
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0" }}
  access_log: "off"
  error_messages: {messages}
authorizers:
  - {{ name: tok, type: TOKEN, function_url: "{url}", identity_source: method.request.header.Authorization, ttl_seconds: 300, timeout_ms: {tok_timeout_ms} }}
  - {{ name: tokre, type: TOKEN, function_url: "{url}", identity_source: method.request.header.X-Auth, identity_validation_expression: "Bearer [a-z0-9-]+", ttl_seconds: 300 }}
  - {{ name: tok0, type: TOKEN, function_url: "{url}", ttl_seconds: 0 }}
  - {{ name: tok1, type: TOKEN, function_url: "{url}", ttl_seconds: 1 }}
  - {{ name: req, type: REQUEST, function_url: "{url}", identity_source: "method.request.header.X-Token, method.request.querystring.q", ttl_seconds: 300 }}
  - {{ name: req0, type: REQUEST, function_url: "{url}", ttl_seconds: 0 }}
  - {{ name: down, type: TOKEN, function_url: "{down}", ttl_seconds: 300, timeout_ms: 1000 }}
apis:
  - id: api1abc
    name: one
    hosts: ["*"]
    stages:
      prod:
        variables: {{ StageVar1: stageValue1, backend: "{echo}" }}
      test:
        variables: {{ StageVar1: stageValue2, backend: "{echo}" }}
    routes:
      - {{ path: /open, methods: [GET], authorization: NONE, integration: {{ type: mock, status: 200, body: '{{"open":true}}' }} }}
      - {{ path: "/tok/{{id}}", methods: [GET], authorization: CUSTOM, authorizer: tok, integration: {{ type: mock, status: 200, body: ok }} }}
      - {{ path: /tokre, methods: [GET], authorization: CUSTOM, authorizer: tokre, integration: {{ type: mock, status: 200, body: ok }} }}
      - {{ path: /tok0, methods: [GET], authorization: CUSTOM, authorizer: tok0, integration: {{ type: mock, status: 200, body: ok }} }}
      - {{ path: /tok1, methods: [GET], authorization: CUSTOM, authorizer: tok1, integration: {{ type: mock, status: 200, body: ok }} }}
      - {{ path: "/req/{{name}}", methods: [GET, POST], authorization: CUSTOM, authorizer: req, integration: {{ type: mock, status: 200, body: ok }} }}
      - {{ path: /req0, methods: [GET], authorization: CUSTOM, authorizer: req0, integration: {{ type: mock, status: 200, body: ok }} }}
      - {{ path: /down, methods: [GET], authorization: CUSTOM, authorizer: down, integration: {{ type: mock, status: 200, body: ok }} }}
      - {{ path: "/pitfall/{{proxy+}}", methods: [ANY], authorization: CUSTOM, authorizer: tok, integration: {{ type: mock, status: 200, body: ok }} }}
      - path: /echo
        methods: [GET]
        authorization: CUSTOM
        authorizer: tok
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/echo"
          request_headers:
            x-principal: context.authorizer.principalId
            x-str: context.authorizer.stringKey
            x-num: context.authorizer.numberKey
            x-bool: context.authorizer.booleanKey
            x-null: context.authorizer.nullKey
  - id: api2rp
    name: two
    hosts: ["rp.example.com"]
    stages:
      prod: {{ variables: {{}} }}
    resource_policy:
      Version: "2012-10-17"
      Statement:
        - {{ Effect: Deny, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/prod/GET/blocked/*" }}
        - {{ Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/prod/GET/granted/*" }}
    routes:
      - {{ path: "/blocked/{{x}}", methods: [GET], authorization: CUSTOM, authorizer: tok, integration: {{ type: mock, status: 200, body: ok }} }}
      - {{ path: "/granted/{{x}}", methods: [GET], authorization: CUSTOM, authorizer: tok, integration: {{ type: mock, status: 200, body: ok }} }}
      - {{ path: "/silent/{{x}}", methods: [GET], authorization: CUSTOM, authorizer: tok, integration: {{ type: mock, status: 200, body: ok }} }}
"#
    )
}

struct World {
    f: Function,
    gw: Gateway,
    echo: SocketAddr,
}

fn world(messages: &str) -> World {
    let f = Function::start();
    let echo = echo_backend();
    let gw = Gateway::start(&config(&f, echo, messages, 800), &["--workers", "2"]);
    World { f, gw, echo }
}

fn assert_401(r: &Resp) {
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.json(), json!({"message": "Unauthorized"}));
    assert_eq!(r.header("x-amzn-ErrorType"), Some("UnauthorizedException"));
}

fn assert_500(r: &Resp) {
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(r.body, r#"{"message":null}"#);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("AuthorizerConfigurationException")
    );
}

fn assert_403(r: &Resp, message: &str) {
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.json(), json!({ "Message": message }));
    assert_eq!(r.header("x-amzn-ErrorType"), Some("AccessDeniedException"));
}

/// Every row of the outcome table (spec §1.6) except the timeout (see `faults_*`).
#[test]
fn outcome_table() {
    let w = world("current");
    let (gw, f) = (&w.gw, &w.f);
    let mut rows = 0;

    // Identity source missing / empty / failing the regex: 401 and no call.
    assert_401(&gw.get("/prod/tok/1", &[]));
    assert_401(&gw.get("/prod/tok/1", &[("Authorization", "")]));
    assert_401(&gw.get("/prod/tokre", &[("X-Auth", "allow")]));
    assert_401(&gw.get("/prod/tokre", &[("X-Auth", "Bearer ALLOW!")]));
    assert_401(&gw.get("/prod/tokre", &[("X-Auth", "xBearer allow")])); // anchored
    assert_401(&gw.get("/prod/req/a", &[("X-Token", "allow")])); // q missing
    assert_401(&gw.get("/prod/req/a?q=", &[("X-Token", "allow")])); // q empty
    assert_401(&gw.get("/prod/req/a?q=1", &[])); // header missing
    assert_eq!(f.count(), 0, "no pre-check failure may call the function");
    rows += 1;
    // The regex passes: the function is called.
    assert_eq!(
        gw.get("/prod/tokre", &[("X-Auth", "Bearer allow")]).status,
        200
    );
    assert_eq!(f.count(), 1);

    // errorMessage exactly "Unauthorized": 401.
    assert_401(&gw.get("/prod/tok/1", &[("Authorization", "unauthorized")]));
    rows += 1;
    // Any other function error: 500 {"message":null}.
    assert_500(&gw.get("/prod/tok/1", &[("Authorization", "some-other-token")]));
    assert_500(&gw.get("/prod/tok/1", &[("Authorization", "fnerror")]));
    rows += 1;
    // Malformed output: missing policyDocument, bad JSON, non-scalar context, 5xx, Allow without principalId.
    for t in [
        "nopolicy",
        "garbage",
        "badctx",
        "arrayctx",
        "status502",
        "noprincipal",
    ] {
        assert_500(&gw.get("/prod/tok/1", &[("Authorization", t)]));
    }
    rows += 1;
    // Cannot invoke the function (nothing listens): 500.
    assert_500(&gw.get("/prod/down", &[("Authorization", "allow")]));
    rows += 1;
    // Explicit deny: 403 with the identity-based explicit-deny text (Deny without principalId too).
    assert_403(
        &gw.get("/prod/tok/1", &[("Authorization", "deny")]),
        EXPLICIT_CURRENT,
    );
    assert_403(
        &gw.get("/prod/tok/1", &[("Authorization", "denynoprincipal")]),
        EXPLICIT_CURRENT,
    );
    rows += 1;
    // Implicit deny (no statement matches the method ARN).
    assert_403(
        &gw.get("/prod/tok/1", &[("Authorization", "implicit")]),
        IMPLICIT_CURRENT,
    );
    rows += 1;
    // Allow: the request proceeds.
    let r = gw.get("/prod/tok/1", &[("Authorization", "allow")]);
    assert_eq!((r.status, r.body.as_str()), (200, "ok"), "{r:?}");
    let r = gw.get("/prod/req/x?q=1", &[("X-Token", "allow")]);
    assert_eq!(r.status, 200, "{r:?}");
    rows += 1;
    assert_eq!(
        rows, 8,
        "the table's rows (timeout: see faults_answer_500_in_bounded_time)"
    );

    // Legacy texts after a config swap (gateway.error_messages: legacy).
    let legacy = config(f, w.echo, "legacy", 800);
    let r = gw.put_config(&legacy);
    assert_eq!(r.status, 200, "{r:?}");
    assert_403(
        &gw.get("/prod/tok/2", &[("Authorization", "deny-legacy")]),
        EXPLICIT_LEGACY,
    );
    assert_403(
        &gw.get("/prod/tok/2", &[("Authorization", "implicit")]),
        IMPLICIT_LEGACY,
    );
}

/// The events the function receives, field for field.
#[test]
fn token_and_request_events() {
    let w = world("current");
    let (gw, f) = (&w.gw, &w.f);

    let r = gw.get("/prod/tok/abc", &[("Authorization", "Bearer allow-event")]);
    assert_eq!(r.status, 200, "{r:?}");
    let evs = f.events_for("allow-event");
    assert_eq!(evs.len(), 1);
    assert_eq!(
        evs[0],
        json!({"type": "TOKEN", "authorizationToken": "Bearer allow-event", "methodArn": format!("{ARN_PREFIX}/GET/tok/abc")})
    );

    let r = gw.get(
        "/prod/req/hello%20world?q=a%20b&multi=1&multi=2&flag",
        &[
            ("X-Token", "allow-req"),
            ("X-Mixed-Case", "v1"),
            ("x-mixed-case", "v2"),
            ("User-Agent", "e2e/1.0"),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let evs = f.events_for("allow-req");
    assert_eq!(evs.len(), 1);
    let ev = &evs[0];
    assert_eq!(ev["type"], "REQUEST");
    assert_eq!(
        ev["methodArn"],
        format!("{ARN_PREFIX}/GET/req/hello%20world")
    );
    assert_eq!(ev["resource"], "/req/{name}");
    assert_eq!(ev["path"], "/req/hello%20world");
    assert_eq!(ev["httpMethod"], "GET");
    // Headers keep the client's casing; duplicates: last value / all values.
    assert_eq!(ev["headers"]["X-Token"], "allow-req");
    assert_eq!(ev["headers"]["Host"], "api.example.com");
    assert_eq!(ev["headers"]["User-Agent"], "e2e/1.0");
    assert_eq!(ev["headers"]["X-Mixed-Case"], "v2");
    assert_eq!(ev["multiValueHeaders"]["X-Mixed-Case"], json!(["v1", "v2"]));
    assert_eq!(ev["multiValueHeaders"]["X-Token"], json!(["allow-req"]));
    assert!(ev["headers"].get("x-token").is_none());
    // Query values percent-decoded; multi values.
    assert_eq!(ev["queryStringParameters"]["q"], "a b");
    assert_eq!(ev["queryStringParameters"]["multi"], "2");
    assert_eq!(ev["queryStringParameters"]["flag"], "");
    assert_eq!(
        ev["multiValueQueryStringParameters"]["multi"],
        json!(["1", "2"])
    );
    assert_eq!(ev["pathParameters"], json!({"name": "hello world"}));
    assert_eq!(ev["stageVariables"]["StageVar1"], "stageValue1");
    let rc = &ev["requestContext"];
    assert_eq!(rc["path"], "/prod/req/hello%20world");
    assert_eq!(rc["accountId"], "123456789012");
    assert_eq!(rc["stage"], "prod");
    assert_eq!(rc["resourcePath"], "/req/{name}");
    assert_eq!(rc["httpMethod"], "GET");
    assert_eq!(rc["apiId"], "api1abc");
    assert_eq!(rc["requestId"].as_str(), r.header("x-amzn-RequestId"));
    assert_eq!(rc["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["identity"]["userAgent"], "e2e/1.0");
    assert_eq!(rc["identity"]["userArn"], Value::Null);
    assert_eq!(rc["resourceId"].as_str().unwrap().len(), 6);
    assert_eq!(rc["domainName"], "api.example.com");
    assert!(rc["requestTimeEpoch"].as_u64().unwrap() > 1_600_000_000_000);

    // Every key of AWS's REQUEST event (aws-lambda-go fixture) is present, with the same JSON type.
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/apigw-authorizer-events"
    );
    let fixtures = [
        "aws-lambda-go/apigw-custom-auth-request-type-request.json",
        "aws-lambda-go/apigw-custom-auth-request.json",
    ];
    let mut checked = 0;
    for (name, got) in fixtures
        .iter()
        .zip([ev.clone(), f.events_for("allow-event")[0].clone()])
    {
        let text = match std::fs::read_to_string(format!("{dir}/{name}")) {
            Ok(t) => t,
            Err(e) if std::env::var_os("CI").is_some() => panic!("fixture {name}: {e}"),
            Err(_) => continue,
        };
        let want: Value = serde_json::from_str(&text).unwrap();
        checked += same_shape(&want, &got, name);
    }
    if std::path::Path::new(dir).exists() {
        assert!(checked >= 20, "fixture keys compared: {checked}");
    }
}

/// Keys of `want` (recursively, objects only) present in `got` with the same JSON type;
/// header/query maps and mTLS/API-key fields are request-specific and skipped. Returns keys compared.
fn same_shape(want: &Value, got: &Value, ctx: &str) -> usize {
    let (Some(w), Some(g)) = (want.as_object(), got.as_object()) else {
        return 0;
    };
    let mut n = 0;
    for (k, wv) in w {
        if matches!(k.as_str(), "clientCert" | "apiKey") {
            continue;
        }
        let gv = g
            .get(k)
            .unwrap_or_else(|| panic!("{ctx}: missing key {k} in {got}"));
        let kind = |v: &Value| std::mem::discriminant(v);
        assert_eq!(
            kind(wv),
            kind(gv),
            "{ctx}: {k} has another JSON type: {wv} vs {gv}"
        );
        n += 1;
        let skip = [
            "headers",
            "multiValueHeaders",
            "queryStringParameters",
            "multiValueQueryStringParameters",
            "stageVariables",
        ];
        if !skip.contains(&k.as_str()) {
            n += same_shape(wv, gv, ctx);
        }
    }
    n
}

/// Result caching: per identity value, policy re-evaluated per method ARN, TTL, TTL 0,
/// deny cached, 401 and errors not, a changed authorizer never serves old results.
#[test]
fn caching() {
    let w = world("current");
    let (gw, f) = (&w.gw, &w.f);

    // The classic pitfall: a policy for one method ARN reused for another path within the TTL.
    let a = gw.get("/prod/pitfall/a", &[("Authorization", "allow-pit")]);
    assert_eq!(a.status, 200, "{a:?}");
    let b = gw.get("/prod/pitfall/b", &[("Authorization", "allow-pit")]);
    assert_403(&b, IMPLICIT_CURRENT);
    assert_eq!(
        gw.get("/prod/pitfall/a", &[("Authorization", "allow-pit")])
            .status,
        200
    );
    assert_eq!(
        f.count_for("allow-pit"),
        1,
        "one call serves every path within the TTL"
    );
    // A policy valid for every method is reused everywhere.
    for p in [
        "/prod/pitfall/x",
        "/prod/pitfall/y",
        "/prod/tok/1",
        "/prod/echo",
    ] {
        assert_eq!(
            gw.get(p, &[("Authorization", "allowall-1")]).status,
            200,
            "{p}"
        );
    }
    assert_eq!(f.count_for("allowall-1"), 1);

    // Deny is cached; 401 and errors are not.
    for _ in 0..3 {
        assert_403(
            &gw.get("/prod/tok/1", &[("Authorization", "deny")]),
            EXPLICIT_CURRENT,
        );
        assert_401(&gw.get("/prod/tok/1", &[("Authorization", "unauthorized")]));
        assert_500(&gw.get("/prod/tok/1", &[("Authorization", "garbage")]));
    }
    assert_eq!(f.count_for("deny"), 1);
    assert_eq!(f.count_for("unauthorized"), 3);
    assert_eq!(f.count_for("garbage"), 3);

    // REQUEST: the key is every identity source together.
    for (q, t) in [("1", "allow-r"), ("1", "allow-r"), ("2", "allow-r")] {
        assert_eq!(
            gw.get(&format!("/prod/req/n?q={q}"), &[("X-Token", t)])
                .status,
            200
        );
    }
    assert_eq!(f.count_for("allow-r"), 2);

    // TTL 0: every request invokes (REQUEST without identity sources too).
    for _ in 0..3 {
        assert_eq!(
            gw.get("/prod/tok0", &[("Authorization", "allowall-0")])
                .status,
            200
        );
        assert_eq!(gw.get("/prod/req0?q=allowall-q0", &[]).status, 200);
    }
    assert_eq!(f.count_for("allowall-0"), 3);
    assert_eq!(f.count_for("allowall-q0"), 3);

    // TTL 1 s: cached within, called again after.
    assert_eq!(
        gw.get("/prod/tok1", &[("Authorization", "allowall-ttl")])
            .status,
        200
    );
    assert_eq!(
        gw.get("/prod/tok1", &[("Authorization", "allowall-ttl")])
            .status,
        200
    );
    assert_eq!(f.count_for("allowall-ttl"), 1);
    thread::sleep(Duration::from_millis(1300));
    assert_eq!(
        gw.get("/prod/tok1", &[("Authorization", "allowall-ttl")])
            .status,
        200
    );
    assert_eq!(f.count_for("allowall-ttl"), 2);

    // Separate authorizers never share entries.
    assert_eq!(
        gw.get("/prod/tokre", &[("X-Auth", "Bearer allowall-1")])
            .status,
        200
    );
    assert_eq!(f.count_for("allowall-1"), 2);

    // A config swap that changes the authorizer: the old result is not served.
    let before = f.count_for("allowall-1");
    assert_eq!(
        gw.get("/prod/tok/1", &[("Authorization", "allowall-1")])
            .status,
        200
    );
    assert_eq!(f.count_for("allowall-1"), before, "still cached");
    let r = gw.put_config(&config(f, w.echo, "current", 900));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        gw.get("/prod/tok/1", &[("Authorization", "allowall-1")])
            .status,
        200
    );
    assert_eq!(
        f.count_for("allowall-1"),
        before + 1,
        "a changed authorizer starts a new cache"
    );
    // An unchanged authorizer keeps its entries across swaps.
    let r = gw.put_config(&config(f, w.echo, "legacy", 900));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        gw.get("/prod/tok/1", &[("Authorization", "allowall-1")])
            .status,
        200
    );
    assert_eq!(f.count_for("allowall-1"), before + 1);
    // Back to the first configuration (timeout 800, as the world started): its cache starts
    // afresh, as a redeployment flushes API Gateway's; the result cached before the first swap
    // (still within its TTL) is not served.
    let r = gw.put_config(&config(f, w.echo, "legacy", 800));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        gw.get("/prod/tok/1", &[("Authorization", "allowall-1")])
            .status,
        200
    );
    assert_eq!(
        f.count_for("allowall-1"),
        before + 2,
        "a configuration that comes back starts a new cache"
    );
}

fn burst(addr: SocketAddr, n: usize, token: impl Fn(usize) -> String) -> Vec<Resp> {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let t = token(i);
            let b = barrier.clone();
            thread::spawn(move || {
                b.wait();
                request(
                    addr,
                    "GET",
                    &format!("/prod/tok/{i}"),
                    &[("Authorization", &t)],
                    "",
                )
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// 200 concurrent requests with one token across both workers: one invocation. 200 distinct: 200.
#[test]
fn single_flight() {
    let w = world("current");
    let (gw, f) = (&w.gw, &w.f);
    // The function takes 300 ms, so the whole burst arrives while the one call runs.
    let rs = burst(gw.addr, 200, |_| "sleep300-allowall".to_owned());
    for r in &rs {
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_eq!(
        f.count_for("sleep300-allowall"),
        1,
        "single-flight across all workers"
    );
    // The gateway's own counters agree: one invocation, one miss, 199 hits (L2 or L1).
    let m = request(gw.admin, "GET", "/metrics", &[], "").body;
    let metric = |name: &str| -> u64 {
        m.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {m}"))
    };
    // Per authorizer (`{authorizer="..."}`): summed over them, as before.
    let invocations: u64 = m
        .lines()
        .filter(|l| l.starts_with("tollgate_authorizer_invocations_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(invocations, 1);
    assert_eq!(
        metric("tollgate_cache_misses_total{cache=\"authorizer\"}"),
        1
    );
    assert_eq!(
        metric("tollgate_cache_hits_total{cache=\"authorizer\"}"),
        199
    );
    assert_eq!(
        metric("tollgate_auth_decisions_total{type=\"CUSTOM\",outcome=\"allow\"}"),
        200
    );

    let rs = burst(gw.addr, 200, |i| format!("allowall-distinct-{i}"));
    for r in &rs {
        assert_eq!(r.status, 200, "{r:?}");
    }
    let distinct: BTreeSet<String> = f
        .events
        .lock()
        .unwrap()
        .iter()
        .map(lambda_support::event_token)
        .filter(|t| t.starts_with("allowall-distinct-"))
        .collect();
    assert_eq!(distinct.len(), 200);
    assert_eq!(f.count(), 201);
}

/// A function that is down, slow, replying garbage or 5xx: each request gets its 500 in
/// bounded time while a NONE route on the same workers keeps answering quickly.
#[test]
fn faults_answer_500_in_bounded_time() {
    let f = Function::start();
    let echo = echo_backend();
    // tok: timeout 400 ms; the `slow*` tokens take 2.5 s.
    let gw = Gateway::start(&config(&f, echo, "current", 400), &["--workers", "2"]);
    let addr = gw.addr;
    let mut faulty = Vec::new();
    for i in 0..40 {
        let (path, token) = match i % 5 {
            0 => ("/prod/down".to_owned(), "allow".to_owned()),
            1 => (format!("/prod/tok/{i}"), format!("slow-{i}")),
            2 => (format!("/prod/tok/{i}"), "garbage".to_owned()),
            3 => (format!("/prod/tok/{i}"), "status502".to_owned()),
            _ => (format!("/prod/tok/{i}"), "slow-shared".to_owned()),
        };
        faulty.push(thread::spawn(move || {
            request(addr, "GET", &path, &[("Authorization", &token)], "")
        }));
    }
    // Meanwhile the NONE route answers quickly.
    let started = Instant::now();
    let mut probes = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        let r = gw.get("/prod/open", &[]);
        assert_eq!(r.status, 200, "{r:?}");
        // Well under the 2.5 s a slow authorizer takes, with room for a loaded machine.
        assert!(
            r.elapsed < Duration::from_millis(1000),
            "a NONE route stalled for {:?}",
            r.elapsed
        );
        probes += 1;
        thread::sleep(Duration::from_millis(20));
    }
    assert!(probes >= 10, "probes: {probes}");
    for h in faulty {
        let r = h.join().unwrap();
        assert_500(&r);
        // down: refused at once; slow: 400 ms timeout; garbage / 5xx: at once. Generous slack.
        assert!(
            r.elapsed < Duration::from_millis(2000),
            "500 took {:?}",
            r.elapsed
        );
    }
    // The slow shared token was called once (single-flight), each distinct slow token once.
    assert_eq!(f.count_for("slow-shared"), 1);
}

/// The resource policy's explicit deny is checked before the function (which is then not
/// called), and the authorizer result combines with the resource policy by Table A.
#[test]
fn resource_policy_precheck_and_table_a() {
    let w = world("current");
    let (gw, f) = (&w.gw, &w.f);
    let host = [("Host", "rp.example.com")];
    let get = |path: &str, token: &str| {
        request(
            gw.addr,
            "GET",
            path,
            &[host[0], ("Authorization", token)],
            "",
        )
    };

    // Pre-check: explicit deny, the authorizer is not invoked.
    let r = get("/prod/blocked/1", "allowall-rp");
    assert_403(
        &r,
        "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
         arn:aws:execute-api:us-east-1:********9012:api2rp/prod/GET/blocked/1 with an explicit deny in a resource-based policy",
    );
    assert_eq!(f.count(), 0, "the authorizer must not be called");
    // Even a request without a token: the pre-check comes first (403, not 401).
    let r = request(gw.addr, "GET", "/prod/blocked/1", &host, "");
    assert_eq!(r.status, 403, "{r:?}");

    // Table A rows reachable after the pre-check:
    // Allow x Allow -> Allow; Allow x Neither -> Allow.
    assert_eq!(get("/prod/granted/1", "allowall-rp").status, 200);
    assert_eq!(get("/prod/silent/1", "allowall-rp").status, 200);
    // Neither x Allow -> Allow; Neither x Neither -> implicit deny.
    assert_eq!(get("/prod/granted/1", "implicit").status, 200);
    assert_403(&get("/prod/silent/1", "implicit"), IMPLICIT_CURRENT);
    // Deny x Allow -> explicit deny; Deny x Neither -> explicit deny.
    assert_403(&get("/prod/granted/1", "deny-a"), EXPLICIT_CURRENT);
    assert_403(&get("/prod/silent/1", "deny-b"), EXPLICIT_CURRENT);
    // (The same token on the other path would be the cache pitfall: implicit deny.)
    assert_403(&get("/prod/silent/1", "deny-a"), IMPLICIT_CURRENT);
    assert_eq!(f.count_for("allowall-rp"), 1);
    assert_eq!(f.count_for("implicit"), 1);
    assert_eq!(f.count_for("deny-a"), 1);
    assert_eq!(f.count_for("deny-b"), 1);
}

/// principalId and the stringified context reach the backend through `request_headers`.
#[test]
fn context_reaches_backend() {
    let w = world("current");
    let r = w.gw.get("/prod/echo", &[("Authorization", "allow-echo")]);
    assert_eq!(r.status, 200, "{r:?}");
    let seen = r.json();
    assert_eq!(seen["x-principal"], "user|allow-echo");
    assert_eq!(seen["x-str"], "value");
    assert_eq!(seen["x-num"], "123");
    assert_eq!(seen["x-bool"], "true");
    assert!(
        seen.get("x-null").is_none(),
        "a null context value maps to nothing: {seen}"
    );
}

/// Each stage has its own authorizer cache, as in API Gateway: a function that decides on the
/// stage (here from the method ARN) is asked again on another stage, never answered from the
/// first stage's result, though its policy covers every stage.
#[test]
fn each_stage_has_its_own_authorizer_cache() {
    let w = world("current");
    let (gw, f) = (&w.gw, &w.f);
    let auth = [("Authorization", "onlyprod-1")];
    assert_eq!(gw.get("/prod/tok/1", &auth).status, 200);
    assert_eq!(gw.get("/prod/tok/2", &auth).status, 200);
    assert_eq!(f.count_for("onlyprod-1"), 1, "cached within prod");
    assert_403(&gw.get("/test/tok/1", &auth), EXPLICIT_CURRENT);
    assert_eq!(f.count_for("onlyprod-1"), 2, "asked again on test");
    assert_403(&gw.get("/test/tok/2", &auth), EXPLICIT_CURRENT);
    assert_eq!(gw.get("/prod/tok/3", &auth).status, 200);
    assert_eq!(
        f.count_for("onlyprod-1"),
        2,
        "each stage keeps its own result"
    );
}

/// The status line of `raw` sent alone on a new connection.
fn raw_status(addr: SocketAddr, raw: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// An identity source that is not UTF-8 (a header's bytes, a query value once decoded) is a
/// 401 without a call: the event's JSON holds text, so the function would see an altered value
/// and tokens it never saw would share its cached answer.
#[test]
fn identity_sources_that_are_not_utf8_are_refused_without_a_call() {
    let w = world("current");
    let (gw, f) = (&w.gw, &w.f);
    let before = f.count();
    for raw in [
        &b"GET /prod/tok/1 HTTP/1.1\r\nHost: a\r\nAuthorization: allowall\xff\r\nConnection: close\r\n\r\n"[..],
        &b"GET /prod/tok/1 HTTP/1.1\r\nHost: a\r\nAuthorization: allowall\xfe\r\nConnection: close\r\n\r\n"[..],
        &b"GET /prod/req/x?q=%FF HTTP/1.1\r\nHost: a\r\nX-Token: allowall\r\nConnection: close\r\n\r\n"[..],
    ] {
        let status = raw_status(gw.addr, raw);
        assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    }
    assert_eq!(f.count(), before, "the function was called");
    // The same token in UTF-8 is asked as usual.
    let r = gw.get("/prod/tok/1", &[("Authorization", "allowall-é")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(f.count(), before + 1);
}
