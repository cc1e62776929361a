//! Validation: every rule reports its error with its field path, and all errors are collected.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use tollgate_config::{ConfigErrors, load_str, load_with_env, restart_required};

const GW: &str = r#"gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{bind: "127.0.0.1:8080"}]
"#;

fn errors_in(dir: &Path, text: &str) -> Vec<String> {
    match load_with_env(text, dir, &|k| {
        (k == "TG_SECRET").then(|| "s3cr3t".to_owned())
    }) {
        Ok(_) => Vec::new(),
        Err(ConfigErrors(e)) => e.iter().map(ToString::to_string).collect(),
    }
}

fn errors(text: &str) -> Vec<String> {
    errors_in(Path::new("."), text)
}

#[track_caller]
fn assert_has(errs: &[String], want: &str) {
    assert!(
        errs.iter().any(|e| e.starts_with(want)),
        "no error starting with {want:?} in:\n{}",
        errs.join("\n")
    );
}

/// A minimal API around `routes` (YAML list items indented by 6).
fn api(routes: &str) -> String {
    format!(
        "{GW}authorizers:
  - {{name: users, type: COGNITO_USER_POOLS, provider_arns: [\"arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_X\"], jwks: {{url: \"http://127.0.0.1:7000/jwks.json\"}}}}
  - {{name: tokens, type: TOKEN, function_url: \"http://127.0.0.1:9000/f\"}}
apis:
  - id: api1
    stages:
      prod: {{variables: {{backend: \"127.0.0.1:8081\"}}}}
      dev: {{variables: {{other: x}}}}
    routes:
{routes}"
    )
}

const MOCK: &str = "integration: {type: mock}";

#[test]
fn valid_minimal() {
    let e = errors(&api(&format!(
        "      - {{path: /a, methods: [GET], authorization: NONE, {MOCK}}}\n"
    )));
    assert!(e.is_empty(), "{e:?}");
}

#[test]
fn errors_in_three_routes_are_three_errors_plus_unknown_keys() {
    let e = errors(&api(&format!(
        "      - {{path: /a, methods: [GET], authorization: CUSTOM, authorizer: userz, {MOCK}}}
      - {{path: /b, methods: [FETCH], authorization: NONE, {MOCK}}}
      - {{path: /c, methods: [GET], authorization: NONE, color: red, {MOCK}}}
      - {{path: /d, methods: [GET], authorization: NONE, integration: {{type: mock, status: 200, bodyy: x}}}}
"
    )));
    assert_has(
        &e,
        r#"apis[0].routes[0].authorizer: unknown authorizer "userz" (known: users, tokens)"#,
    );
    assert_has(
        &e,
        r#"apis[0].routes[1].methods[0]: unknown value "FETCH" (expected one of: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, ANY)"#,
    );
    assert_has(
        &e,
        "apis[0].routes[2].color: unknown key (expected one of: path, methods, authorization, authorizer, scopes, integration)",
    );
    assert_has(&e, "apis[0].routes[3].integration.bodyy: unknown key");
    assert_eq!(e.len(), 4, "{e:#?}");
}

#[test]
fn unknown_keys_everywhere() {
    let text = format!(
        "{GW}  colour: blue
  limits: {{max_body_byte: 1}}
  admin: {{bind: \"127.0.0.1:9901\", tokn: x}}
extra: 1
identities:
  - arn: \"arn:aws:iam::123456789012:user/a\"
    access_keys: [{{id: AKIDEXAMPLE, secret: x, secrte: y}}]
authorizers:
  - {{name: t, type: TOKEN, function_url: \"http://127.0.0.1:9000/f\", identity_validation: x}}
apis:
  - id: a
    stages: {{prod: {{variabls: {{}}}}}}
    gateway_responses: {{ACCESS_DENIED: {{statuss: 403}}}}
"
    );
    let e = errors(&text);
    for want in [
        "extra: unknown key (expected one of: gateway, identities, authorizers, apis, functions, user_pools)",
        "gateway.colour: unknown key",
        "gateway.limits.max_body_byte: unknown key",
        "gateway.admin.tokn: unknown key",
        "identities[0].access_keys[0].secrte: unknown key",
        "authorizers[0].identity_validation: unknown key",
        "apis[0].stages.prod.variabls: unknown key",
        "apis[0].gateway_responses.ACCESS_DENIED.statuss: unknown key",
    ] {
        assert_has(&e, want);
    }
    assert_eq!(e.len(), 8, "{e:#?}");
}

#[test]
fn gateway_rules() {
    let e = errors(
        "gateway:
  region: US_EAST
  account_id: 12345
  workers: -1
  listeners: [{bind: \"localhost:80\"}, {bind: \"0.0.0.0:9901\"}]
  trusted_proxies: [\"10.0.0.0/33\", \"192.168.0.1\"]
  limits: {max_header_bytes: 10, idle_timeout_ms: 0}
  access_log: 7
  error_messages: modern
",
    );
    assert_has(
        &e,
        "gateway.account_id: wrong type: integer `12345`, expected a string (quote it)",
    );
    assert_has(
        &e,
        "gateway.workers: invalid value: `-1`, expected a whole number, 0 or more",
    );
    assert_has(
        &e,
        "gateway.listeners[0].bind: invalid socket address \"localhost:80\"",
    );
    assert_has(
        &e,
        "gateway.trusted_proxies[0]: invalid CIDR \"10.0.0.0/33\"",
    );
    assert_has(&e, "gateway.access_log: wrong type");
    assert_has(
        &e,
        "gateway.error_messages: unknown value \"modern\" (expected one of: current, legacy)",
    );
    // After fixing the type errors, the value checks run.
    let e = errors(
        "gateway:
  region: US_EAST
  account_id: \"12345\"
  listeners: [{bind: \"0.0.0.0:9901\"}, {bind: \"0.0.0.0:9901\"}]
  limits: {max_header_bytes: 10, idle_timeout_ms: 0, body_timeout_ms: 0}
  admin: {token: \"\"}
",
    );
    assert_has(&e, "gateway.region: invalid region \"US_EAST\"");
    assert_has(&e, "gateway.account_id: expected 12 digits");
    assert_has(
        &e,
        "gateway.listeners[1].bind: duplicate listener address 0.0.0.0:9901",
    );
    assert_has(
        &e,
        "gateway.admin.bind: 127.0.0.1:9901 conflicts with gateway.listeners[0].bind",
    );
    assert_has(&e, "gateway.admin.token: the token must be non-empty");
    assert_has(
        &e,
        "gateway.limits.max_header_bytes: must be between 1024 and 1048576",
    );
    assert_has(&e, "gateway.limits.idle_timeout_ms: must be greater than 0");
    assert_has(&e, "gateway.limits.body_timeout_ms: must be greater than 0");
    assert_has(&errors("apis: []\n"), "gateway: missing required key");
    assert_has(
        &errors("gateway: {region: us-east-1}\n"),
        "gateway.account_id: missing required key",
    );
}

#[test]
fn the_buffered_body_budget_holds_one_largest_body() {
    let gw = |limits: &str| {
        format!(
            "gateway:\n  region: us-east-1\n  account_id: \"123456789012\"\n  limits: {limits}\n"
        )
    };
    assert_has(
        &errors(&gw(
            "{max_body_bytes: 2048, max_buffered_body_bytes_per_worker: 1024}",
        )),
        "gateway.limits.max_buffered_body_bytes_per_worker: must be at least gateway.limits.max_body_bytes",
    );
    let budget = |limits: &str| {
        load_str(&gw(limits), Path::new("."))
            .unwrap()
            .config
            .gateway
            .limits
            .buffered_body_budget()
    };
    assert_eq!(budget("{}"), 64 << 20);
    assert_eq!(budget("{max_body_bytes: 104857600}"), 100 << 20);
    assert_eq!(
        budget("{max_body_bytes: 2048, max_buffered_body_bytes_per_worker: 4096}"),
        4096
    );
}

#[test]
fn syntax_and_shape_errors() {
    assert_has(&errors("gateway: [\n"), "syntax error:");
    assert_has(&errors(""), "the configuration is empty");
    assert_has(&errors("- a\n"), "the configuration must be a mapping");
    let e = errors(&format!("{GW}apis: {{id: x}}\nidentities: 3\n"));
    assert_has(&e, "apis: expected a list, found a mapping");
    assert_has(&e, "identities: expected a list, found a number");
}

#[test]
fn defaults_are_the_contracts() {
    let c = load_str(GW, Path::new(".")).unwrap();
    let g = &c.config.gateway;
    assert_eq!(g.workers, 0);
    assert_eq!(g.admin.bind.to_string(), "127.0.0.1:9901");
    assert_eq!(g.admin.token, None);
    assert_eq!(
        (
            g.limits.max_header_bytes,
            g.limits.max_body_bytes,
            g.limits.header_timeout_ms,
            g.limits.idle_timeout_ms,
            g.limits.drain_timeout_ms,
            g.limits.body_timeout_ms
        ),
        (10240, 10_485_760, 10_000, 60_000, 10_000, 30_000)
    );
    assert_eq!(g.access_log, tollgate_config::AccessLog::Stdout);
    assert_eq!(g.error_messages, tollgate_config::ErrorMessages::Current);
    let c = load_str(
        "gateway: {region: eu-west-1, account_id: \"111122223333\"}\n",
        Path::new("."),
    )
    .unwrap();
    assert_eq!(
        c.config.gateway.listeners[0].bind.to_string(),
        "0.0.0.0:8080"
    );
    assert!(!c.config.gateway.listeners[0].proxy_protocol);
    let c = load_str(&api("      - {path: /a, methods: [GET], authorization: NONE, integration: {type: http_proxy, uri: \"http://h:1/\"}}\n"), Path::new(".")).unwrap();
    let tollgate_config::Integration::HttpProxy(h) = &c.config.apis[0].routes[0].integration else {
        panic!()
    };
    assert_eq!(h.timeout_ms, 29_000);
    let tollgate_config::Authorizer::Token(t) = &c.config.authorizers[1] else {
        panic!()
    };
    assert_eq!(
        (t.ttl_seconds, t.timeout_ms, t.identity_source.as_str()),
        (300, 10_000, "method.request.header.Authorization")
    );
    assert_eq!(c.config.apis[0].hosts, vec!["*".to_owned()]);
}

#[test]
fn route_authorization_rules() {
    let e = errors(&api(&format!(
        "      - {{path: /a, methods: [GET], authorization: COGNITO_USER_POOLS, {MOCK}}}
      - {{path: /b, methods: [GET], authorization: NONE, authorizer: users, {MOCK}}}
      - {{path: /c, methods: [GET], authorization: COGNITO_USER_POOLS, authorizer: tokens, {MOCK}}}
      - {{path: /d, methods: [GET], authorization: CUSTOM, authorizer: users, {MOCK}}}
      - {{path: /e, methods: [GET], authorization: AWS_IAM, scopes: [a/b], {MOCK}}}
      - {{path: /f, methods: [GET], authorization: COGNITO_USER_POOLS, authorizer: users, scopes: [a/b], {MOCK}}}
      - {{path: /g, methods: [GET], authorization: aws_iam, {MOCK}}}
"
    )));
    assert_has(
        &e,
        "apis[0].routes[0].authorizer: required for authorization COGNITO_USER_POOLS",
    );
    assert_has(
        &e,
        "apis[0].routes[1].authorizer: only COGNITO_USER_POOLS and CUSTOM routes take an authorizer",
    );
    assert_has(
        &e,
        "apis[0].routes[2].authorizer: authorization COGNITO_USER_POOLS needs a COGNITO_USER_POOLS authorizer; \"tokens\" is not one",
    );
    assert_has(
        &e,
        "apis[0].routes[3].authorizer: authorization CUSTOM needs a TOKEN or REQUEST authorizer",
    );
    assert_has(
        &e,
        "apis[0].routes[4].scopes: scopes apply only to COGNITO_USER_POOLS routes",
    );
    assert_has(
        &e,
        "apis[0].routes[6].authorization: unknown value \"aws_iam\"",
    );
    assert_eq!(e.len(), 6, "{e:#?}");
}

#[test]
fn path_templates_methods_and_duplicates() {
    let e = errors(&api(&format!(
        "      - {{path: pets, methods: [GET], authorization: NONE, {MOCK}}}
      - {{path: \"/{{proxy+}}/x\", methods: [GET], authorization: NONE, {MOCK}}}
      - {{path: \"/a/{{id}}/{{id}}\", methods: [GET], authorization: NONE, {MOCK}}}
      - {{path: \"/a//b\", methods: [GET], authorization: NONE, {MOCK}}}
      - {{path: \"/p/{{id}}\", methods: [GET, GET], authorization: NONE, {MOCK}}}
      - {{path: \"/q\", methods: [], authorization: NONE, {MOCK}}}
      - {{path: \"/r/{{id}}\", methods: [GET, POST], authorization: NONE, {MOCK}}}
      - {{path: \"/r/{{id}}\", methods: [POST], authorization: NONE, {MOCK}}}
      - {{path: \"/r/{{name}}/x\", methods: [GET], authorization: NONE, {MOCK}}}
      - {{path: \"/s/{{bad name}}\", methods: [GET], authorization: NONE, {MOCK}}}
      - {{path: \"/\", methods: [ANY], authorization: NONE, {MOCK}}}
      - {{path: \"/\", methods: [GET], authorization: NONE, {MOCK}}}
"
    )));
    assert_has(&e, "apis[0].routes[0].path: a path must start with '/'");
    assert_has(
        &e,
        "apis[0].routes[1].path: greedy parameter \"{proxy+}\" must be the last segment",
    );
    assert_has(
        &e,
        "apis[0].routes[2].path: duplicate path parameter \"id\"",
    );
    assert_has(&e, "apis[0].routes[3].path: empty path segment");
    assert_has(&e, "apis[0].routes[4].methods[1]: duplicate method GET");
    assert_has(
        &e,
        "apis[0].routes[5].methods: at least one method is required",
    );
    assert_has(
        &e,
        "apis[0].routes[7].path: duplicate route POST /r/{id} (same as apis[0].routes[6] /r/{id})",
    );
    assert_has(
        &e,
        "apis[0].routes[8].path: path parameter {name} conflicts with sibling {id}",
    );
    assert_has(
        &e,
        "apis[0].routes[9].path: invalid path parameter \"{bad name}\"",
    );
    assert_eq!(e.len(), 9, "{e:#?}"); // routes 10 and 11: ANY + GET on / is fine
}

#[test]
fn integration_rules() {
    let e = errors(&api(
        "      - path: \"/pets/{petId}\"
        methods: [GET]
        authorization: NONE
        integration:
          type: http_proxy
          uri: \"http://${stageVariables.backend}/pets/{id}\"
          timeout_ms: 10
          request_headers:
            x-a: context.authorizer.principalId
            X_A: context.authorizer.principalId
            x-b: context.identity.password
            x-c: \"'static'\"
            x-d: request.header.foo
            connection: \"'close'\"
            x-e: stageVariables.other
          drop_request_headers: [x-ok, \"bad name\"]
      - {path: /b, methods: [GET], authorization: NONE, integration: {type: http_proxy, uri: \"https://example.com/\"}}
      - {path: /c, methods: [GET], authorization: NONE, integration: {type: http_proxy, uri: \"http://${env.x}/\"}}
      - {path: /d, methods: [GET], authorization: NONE, integration: {type: grpc}}
      - {path: /e, methods: [GET], authorization: NONE, integration: {type: mock, status: 700, headers: {\"bad header\": x}}}
      - {path: /f, methods: [GET], authorization: NONE}
",
    ));
    assert_has(
        &e,
        "apis[0].routes[0].integration.uri: {id} is not a path parameter of this route (route parameters: petId)",
    );
    assert_has(
        &e,
        "apis[0].routes[0].integration.uri: stage variable \"backend\" is not defined in stage \"dev\"",
    );
    assert_has(
        &e,
        "apis[0].routes[0].integration.timeout_ms: must be between 50 and 300000",
    );
    assert_has(
        &e,
        "apis[0].routes[0].integration.request_headers.x-b: unsupported identity field \"password\"",
    );
    assert_has(
        &e,
        "apis[0].routes[0].integration.request_headers.x-d: unsupported value \"request.header.foo\"",
    );
    assert_has(
        &e,
        "apis[0].routes[0].integration.request_headers.x-a: same header as \"X_A\" once case and '_'/'-' are folded",
    );
    assert_has(
        &e,
        "apis[0].routes[0].integration.request_headers.connection: cannot set a hop-by-hop",
    );
    assert_has(
        &e,
        "apis[0].routes[0].integration.request_headers.x-e: stage variable \"other\" is not defined in stage \"prod\"",
    );
    assert_has(
        &e,
        "apis[0].routes[0].integration.drop_request_headers[1]: invalid header name",
    );
    assert_has(
        &e,
        "apis[0].routes[2].integration.uri: unsupported variable ${env.x}",
    );
    assert_has(
        &e,
        "apis[0].routes[3].integration.type: unknown integration type \"grpc\"",
    );
    assert_has(
        &e,
        "apis[0].routes[4].integration.status: must be between 100 and 599",
    );
    assert_has(
        &e,
        "apis[0].routes[4].integration.headers.bad header: invalid header name",
    );
    assert_has(&e, "apis[0].routes[5].integration: missing required key");
    assert_eq!(e.len(), 14, "{e:#?}");
}

#[test]
fn api_rules() {
    let e = errors(&format!(
        "{GW}apis:
  - id: \"bad/id\"
    hosts: [\"*\", \"api.example.com\"]
    stages: {{\"pro d\": {{}}}}
    resource_policy: {{Version: \"2012-10-17\", Statement: []}}
    resource_policy_file: p.json
  - id: b
    hosts: [\"*\", \"API.example.com\", \"h:80\"]
    stages: {{}}
  - id: b
    stages: {{prod: {{}}}}
    gateway_responses:
      NOT_A_TYPE: {{status: 400}}
      UNAUTHORIZED: {{status: 99}}
"
    ));
    assert_has(&e, "apis[0].id: invalid API id \"bad/id\"");
    assert_has(&e, "apis[0].stages.pro d: invalid stage name");
    assert_has(
        &e,
        "apis[0]: resource_policy and resource_policy_file are mutually exclusive",
    );
    assert_has(
        &e,
        "apis[1].hosts[0]: host \"*\" is already listed by apis[0]",
    );
    assert_has(
        &e,
        "apis[1].hosts[1]: host \"API.example.com\" is already listed by apis[0]",
    );
    assert_has(&e, "apis[1].hosts[2]: invalid host \"h:80\"");
    assert_has(&e, "apis[1].stages: at least one stage is required");
    assert_has(&e, "apis[2].id: duplicate API id \"b\" (also apis[1])");
    assert_has(
        &e,
        "apis[2].hosts[0]: host \"*\" is already listed by apis[0]",
    );
    assert_has(
        &e,
        "apis[2].gateway_responses.NOT_A_TYPE: unknown value \"NOT_A_TYPE\"",
    );
    assert_has(
        &e,
        "apis[2].gateway_responses.UNAUTHORIZED.status: must be between 100 and 599",
    );
    assert_eq!(e.len(), 11, "{e:#?}");
}

#[test]
fn identity_rules() {
    let dir = std::env::temp_dir().join(format!("tollgate-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("key.secret"), "from-file\n").unwrap();
    let text = format!(
        "{GW}identities:
  - arn: \"arn:aws:iam::123456789012:group/g\"
    access_keys:
      - {{id: AKIDONE, secret: a, secret_env: TG_SECRET}}
      - {{id: AKIDTWO}}
      - {{id: AKIDTHREE, secret_env: TG_NOT_SET}}
      - {{id: AKIDFOUR, secret_file: missing.secret}}
      - {{id: AKIDFIVE, secret: x, expires: \"2030-13-01T00:00:00Z\"}}
  - arn: \"arn:aws:iam::123456789012:user/b\"
    access_keys:
      - {{id: AKIDONE, secret_env: TG_SECRET}}
      - {{id: AKIDSIX, secret_file: key.secret, session_token: tok, expires: \"2030-01-01T00:00:00+01:00\"}}
"
    );
    let e = errors_in(&dir, &text);
    assert_has(&e, "identities[0].arn: invalid IAM principal ARN");
    assert_has(
        &e,
        "identities[0].access_keys[0]: exactly one of secret, secret_env, secret_file is required (found 2)",
    );
    assert_has(
        &e,
        "identities[0].access_keys[1]: exactly one of secret, secret_env, secret_file is required (found 0)",
    );
    assert_has(
        &e,
        "identities[0].access_keys[2].secret_env: environment variable TG_NOT_SET is not set",
    );
    assert_has(&e, "identities[0].access_keys[3].secret_file: cannot read");
    assert_has(
        &e,
        "identities[0].access_keys[4].expires: invalid RFC 3339 date-time",
    );
    assert_has(
        &e,
        "identities[1].access_keys[0].id: access key id \"AKIDONE\" is already used at identities[0].access_keys[0]",
    );
    assert_eq!(e.len(), 7, "{e:#?}");
    // The valid part resolves secrets from env and file.
    let ok = format!(
        "{GW}identities:
  - arn: \"arn:aws:iam::123456789012:user/b\"
    access_keys:
      - {{id: AKIDONE, secret_env: TG_SECRET}}
      - {{id: AKIDSIX, secret_file: key.secret, session_token: tok, expires: \"2030-01-01T00:00:00+01:00\"}}
"
    );
    let c = load_with_env(&ok, &dir, &|k| {
        (k == "TG_SECRET").then(|| "s3cr3t".to_owned())
    })
    .unwrap();
    assert_eq!(c.credentials["AKIDONE"].secret, "s3cr3t");
    assert_eq!(c.credentials["AKIDSIX"].secret, "from-file");
    assert_eq!(c.credentials["AKIDSIX"].expires_unix, Some(1_893_452_400));
    assert_eq!(
        c.credentials["AKIDSIX"].session_token.as_deref(),
        Some("tok")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn authorizer_rules() {
    let text = format!(
        "{GW}authorizers:
  - {{name: a, type: TOKEN, function_url: \"http://127.0.0.1:9000/f\", ttl_seconds: 3601, identity_source: \"method.request.querystring.t\", identity_validation_expression: \"([\"}}
  - {{name: a, type: TOKEN, function_url: \"https://x/\", timeout_ms: 0}}
  - {{name: c, type: REQUEST, function_url: \"http://127.0.0.1:9000/f\"}}
  - {{name: d, type: REQUEST, function_url: \"http://127.0.0.1:9000/f\", identity_source: \"method.request.header.A, header.B\"}}
  - {{name: e, type: COGNITO_USER_POOLS, provider_arns: [\"arn:aws:cognito-idp:us-east-1:123456789012:pool/x\"], jwks: {{}}}}
  - {{name: f, type: COGNITO_USER_POOLS, provider_arns: [], jwks: {{file: nope.json, url: \"http://a/\"}}}}
  - {{name: g, type: COGNITO_USER_POOLS, provider_arns: [\"arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_X\"], jwks: {{file: nope.json}}}}
  - {{name: h, type: LAMBDA}}
  - {{name: \"bad name\", type: REQUEST, function_url: \"http://127.0.0.1:9000/f\", ttl_seconds: 0}}
  - {{name: i, type: REQUEST, function_url: \"http://127.0.0.1:9000/f\", identity_source: \"context.identity.clientCert.serialNumber, context.identity.cognitoIdentityId\"}}
"
    );
    let e = errors(&text);
    assert_has(&e, "authorizers[0].ttl_seconds: at most 3600");
    assert_has(
        &e,
        "authorizers[0].identity_source: expected exactly one method.request.header.NAME",
    );
    assert_has(
        &e,
        "authorizers[0].identity_validation_expression: invalid regular expression",
    );
    assert_has(
        &e,
        "authorizers[1].name: duplicate authorizer name \"a\" (also authorizers[0])",
    );
    assert_has(
        &e,
        "authorizers[1].timeout_ms: must be between 1 and 300000",
    );
    assert_has(
        &e,
        "authorizers[2].identity_source: required when caching is enabled",
    );
    assert_has(
        &e,
        "authorizers[3].identity_source: invalid identity source \"header.B\"",
    );
    assert_has(
        &e,
        "authorizers[4].provider_arns[0]: invalid Cognito user pool ARN",
    );
    assert_has(
        &e,
        "authorizers[4].jwks: exactly one of file or url is required",
    );
    assert_has(
        &e,
        "authorizers[5].provider_arns: at least one user pool ARN is required",
    );
    assert_has(
        &e,
        "authorizers[5].jwks: exactly one of file or url is required",
    );
    assert_has(&e, "authorizers[6].jwks.file: cannot read");
    assert_has(
        &e,
        "authorizers[7].type: unknown authorizer type \"LAMBDA\"",
    );
    assert_has(
        &e,
        "authorizers[8].name: invalid authorizer name \"bad name\"",
    );
    // A context source tollgate has no value for would be a 401 for every request.
    assert_has(
        &e,
        "authorizers[9].identity_source: unsupported identity source \"context.identity.cognitoIdentityId\" (context sources: context.identity.sourceIp,",
    );
    assert_eq!(e.len(), 15, "{e:#?}");
}

#[test]
fn jwks_file_shape() {
    let dir = std::env::temp_dir().join(format!("tollgate-config-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("nokeys.json"), "{\"kids\": []}").unwrap();
    std::fs::write(dir.join("broken.json"), "{").unwrap();
    let text = format!(
        "{GW}authorizers:
  - {{name: a, type: COGNITO_USER_POOLS, provider_arns: [\"arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_X\"], jwks: {{file: nokeys.json}}}}
  - {{name: b, type: COGNITO_USER_POOLS, provider_arns: [\"arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_X\"], jwks: {{file: broken.json}}}}
"
    );
    let e = errors_in(&dir, &text);
    assert_has(&e, "authorizers[0].jwks.file:");
    assert!(e[0].contains("is not a JWKS"), "{e:?}");
    assert_has(&e, "authorizers[1].jwks.file:");
    assert!(e[1].contains("is not valid JSON"), "{e:?}");
    assert_eq!(e.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn policy_errors_are_mapped_to_paths() {
    let text = format!(
        "{GW}identities:
  - arn: \"arn:aws:iam::123456789012:user/a\"
    policies:
      - Version: \"2012-10-17\"
        Statement:
          - {{Effect: Allow, Action: \"execute-api:Invoke\", Resource: \"*\"}}
          - {{Effect: Perhaps, Action: \"execute-api:Invoke\", Resource: \"*\"}}
      - 42
apis:
  - id: a
    stages: {{prod: {{}}}}
    resource_policy:
      Version: \"2012-10-17\"
      Statement:
        - {{Effect: Maybe, Principal: \"*\", Action: \"execute-api:Invoke\", Resource: \"execute-api:/*\"}}
"
    );
    let e = errors(&text);
    assert_has(&e, "identities[0].policies[0].Statement[1].Effect");
    assert_has(
        &e,
        "identities[0].policies[1]: a policy document must be a mapping, found a number",
    );
    assert_has(&e, "apis[0].resource_policy.Statement[0].Effect");
}

#[test]
fn restart_required_names_fields() {
    let a = load_str(GW, Path::new(".")).unwrap().config;
    let mut b = a.clone();
    assert!(restart_required(&a, &b).is_empty());
    b.gateway.workers = 3;
    b.gateway.listeners[0].proxy_protocol = true;
    b.gateway.admin.bind = "127.0.0.1:1".parse().unwrap();
    b.gateway.limits.max_body_bytes = 1; // hot-reloadable
    let paths: Vec<String> = restart_required(&a, &b)
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        paths,
        ["gateway.listeners", "gateway.workers", "gateway.admin.bind"]
    );
}

#[test]
fn display_is_one_error_per_line() {
    let err = load_str("gateway: {region: x, colour: 1}\nfoo: 1\n", Path::new(".")).unwrap_err();
    let s = err.to_string();
    assert_eq!(s.lines().count(), err.0.len());
    assert!(err.0.len() >= 2);
    assert!(s.lines().all(|l| l.contains(": ")));
}

#[test]
fn json_is_accepted() {
    let c = load_str(
        r#"{"gateway": {"region": "us-east-1", "account_id": "123456789012"},
            "apis": [{"id": "j", "stages": {"v1": {}}, "routes": [{"path": "/", "methods": ["GET"], "authorization": "NONE", "integration": {"type": "mock"}}]}]}"#,
        Path::new("."),
    )
    .unwrap();
    let m = c.router.lookup(b"x", b"GET", b"/v1").unwrap();
    assert_eq!(m.template, "/");
}

#[test]
fn identity_user_id_and_role_arn() {
    let ok = format!(
        "{GW}identities:
  - arn: \"arn:aws:sts::123456789012:assumed-role/deploy/ci\"
    user_id: \"AROAEXAMPLE:ci\"
    role_arn: \"arn:aws:iam::123456789012:role/team/deploy\"
  - arn: \"arn:aws:sts::123456789012:federated-user/bob\"
  - arn: \"arn:aws:iam::123456789012:user/alice\"
    user_id: AIDAEXAMPLE
apis: []
"
    );
    let e = errors(&ok);
    assert!(e.is_empty(), "{e:?}");
    let bad = format!(
        "{GW}identities:
  - arn: \"arn:aws:sts::123456789012:assumed-role/deploy/ci\"
    role_arn: \"arn:aws:iam::123456789012:role/team/other\"
  - arn: \"arn:aws:iam::123456789012:user/alice\"
    role_arn: \"arn:aws:iam::123456789012:role/alice\"
    user_id: \"\"
apis: []
"
    );
    let e = errors(&bad);
    assert_has(
        &e,
        "identities[0].role_arn: expected the ARN of role \"deploy\"",
    );
    assert_has(&e, "identities[1].role_arn: only an assumed-role session");
    assert_has(&e, "identities[1].user_id: must not be empty");
}

#[test]
fn cognito_issuers() {
    let cfg = |issuer: &str| {
        format!(
            "{GW}authorizers:
  - name: users
    type: COGNITO_USER_POOLS
    provider_arns: [\"arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_X\"]
    jwks: {{url: \"http://127.0.0.1:7000/jwks.json\"}}
{issuer}apis: []
"
        )
    };
    let issuers = |issuer: &str| {
        let c = load_str(&cfg(issuer), Path::new(".")).unwrap();
        c.authorizers[0].issuers.clone()
    };
    assert_eq!(
        issuers(""),
        [
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X",
            "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_X"
        ]
    );
    assert_eq!(
        issuers("    issuer: https://a.test/p\n"),
        ["https://a.test/p"]
    );
    assert_eq!(
        issuers("    issuer: [\"https://a.test/p\", \"https://b.test/q\"]\n"),
        ["https://a.test/p", "https://b.test/q"]
    );
    assert_has(
        &errors(&cfg("    issuer: []\n")),
        "authorizers[0].issuer: at least one issuer URL is required",
    );
    assert_has(
        &errors(&cfg("    issuer: [\"https://a.test/p\", \"ftp://x\"]\n")),
        "authorizers[0].issuer: expected an http(s):// issuer URL, found \"ftp://x\"",
    );
    let e = errors(&cfg("    issuer: 42\n"));
    assert!(
        e.iter().any(|e| e.starts_with("authorizers[0].issuer")),
        "{e:?}"
    );
}

/// One file, many different errors: every one is reported in one pass, each with its path and
/// the line of its node, including unknown authorizer names and undefined stage variables in
/// routes that have other errors too.
#[test]
fn every_error_in_one_pass_with_lines() {
    let text = r#"gateway:
  region: Mars
  account_id: "123456789012"
  colour: blue
  access_log_format: "$context.requestId $context.identity.password"
identities:
  - arn: "arn:aws:iam::123456789012:user/a"
    access_keys:
      - {id: "k!", secret: s}
authorizers:
  - name: tokens
    type: TOKEN
    function_url: "http://127.0.0.1:9000/f"
    ttl_seconds: 9999
apis:
  - id: api1
    hosts: ["*"]
    stages:
      prod:
        variables: {backend: "127.0.0.1:8081"}
        colour: red
    routes:
      - path: /a
        methods: [FETCH]
        authorization: CUSTOM
        authorizer: userz
        integration:
          type: http_proxy
          uri: "http://${stageVariables.nope}/a"
      - path: /b
        methods: [GET]
        authorization: CUSTOM
        authorizer: tokenz
        colour: green
        integration: {type: mock}
      - path: /c
        methods: [GET]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://${stageVariables.backend}/c"
          timeout: 5
          request_headers:
            x-env: stageVariables.missing
"#;
    let mut e = errors(text);
    e.sort();
    let want = [
        r#"apis[0].routes[0].authorizer: unknown authorizer "userz" (known: tokens) (line 26)"#,
        r#"apis[0].routes[0].integration.uri: stage variable "nope" is not defined in stage "prod" (line 29)"#,
        r#"apis[0].routes[0].methods[0]: unknown value "FETCH" (expected one of: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, ANY) (line 24)"#,
        r#"apis[0].routes[1].authorizer: unknown authorizer "tokenz" (known: tokens) (line 33)"#,
        "apis[0].routes[1].colour: unknown key (expected one of: path, methods, authorization, authorizer, scopes, integration) (line 34)",
        r#"apis[0].routes[2].integration.request_headers.x-env: stage variable "missing" is not defined in stage "prod" (line 44)"#,
        "apis[0].routes[2].integration.timeout: unknown key (expected one of: uri, timeout_ms, request_headers, drop_request_headers) (line 42)",
        "apis[0].stages.prod.colour: unknown key (expected one of: variables) (line 21)",
        "authorizers[0].ttl_seconds: at most 3600 (AWS's limit), found 9999 (line 14)",
        "gateway.colour: unknown key (expected one of: region, account_id, workers, cpus, listeners, trusted_proxies, admin, limits, access_log, access_log_format, error_messages, upstream, log) (line 4)",
        "gateway.access_log_format: unknown variable $context.identity.password (see the list of $context variables in docs/observability.md) (line 5)",
        r#"gateway.region: invalid region "Mars" (e.g. us-east-1) (line 2)"#,
        r#"identities[0].access_keys[0].id: invalid access key id "k!" (3-128 letters and digits) (line 9)"#,
    ];
    for w in want {
        assert_has(&e, w);
    }
    assert_eq!(e.len(), want.len(), "{e:#?}");
    // No message names a Rust type.
    for m in &e {
        for t in [
            "u64", "u32", "u16", "usize", "String", "Vec<", "Option<", "bool",
        ] {
            assert!(!m.contains(t), "{m}");
        }
    }
}

#[test]
fn access_log_format_is_compiled() {
    let text = format!(
        "{GW}  access_log_format: '$context.requestId $context.status $context.authorizer.claims.sub'\napis: []\n"
    );
    let c = load_str(&text, Path::new(".")).unwrap();
    let f = c.access_log_format.as_ref().unwrap();
    assert_eq!(f.vars().count(), 3);
    let plain = load_str(&format!("{GW}apis: []\n"), Path::new(".")).unwrap();
    assert!(plain.access_log_format.is_none());
    assert!(plain.config.gateway.access_log_format.is_none());
}

/// A URL with credentials is refused without the credentials in the message: errors reach
/// every node's log, the `PUT /config` answer and `tollgate push`'s output.
#[test]
fn urls_with_credentials_are_refused_without_echoing_them() {
    let e = errors(&format!(
        "{GW}authorizers:
  - {{name: t, type: TOKEN, function_url: \"http://svc:Sup3rS3cret@127.0.0.1:9000/f\"}}
  - {{name: u, type: TOKEN, function_url: \"ftp://svc:0therS3cret@127.0.0.1:9000/f\"}}
apis: []
"
    ));
    assert_has(
        &e,
        "authorizers[0].function_url: user info is not allowed in \"http://…@127.0.0.1:9000/f\"",
    );
    assert_has(
        &e,
        "authorizers[1].function_url: expected an http:// or https:// URL, found \"ftp://…@127.0.0.1:9000/f\"",
    );
    let all = e.join("\n");
    assert!(!all.contains("S3cret") && !all.contains("svc:"), "{all}");
}
