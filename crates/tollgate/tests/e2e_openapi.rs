//! OpenAPI documents served end to end with the real binary: the servable documents of
//! `testdata/openapi/` (and two small documents built here around the developer guide's policy
//! and gateway-response fragments, with Cognito and SigV4 schemes none of the servable real
//! documents has) are named by `apis[].openapi_file` in one config with `functions`,
//! `user_pools`, a real authorizer function, a real JWKS file and a real upstream. Every
//! operation is requested and checked against what its document declares: 401 without a
//! token, 403 for a deny, `Missing Authentication Token` for unsigned AWS_IAM calls and for
//! what the document does not declare, 200 otherwise. Then a changed document is hot-reloaded
//! (and a refused one rejected while the old one keeps serving), and `tollgate import`'s output
//! validates once its placeholders are filled.
//!
//! Documents whose integration URI names a public host (`petstore-demo-endpoint...`) are
//! served from a temp copy with only that host replaced by the local upstream's address, and
//! the stage-variables document (an `https://` URI) from a copy with `http://`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod lambda_support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use common::{Origin, TempFile, run, serve_requests};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_support::{Gateway, Resp, request};
use serde_json::{Value, json};

const KEY_PKCS1: &[u8] =
    include_bytes!("../../tollgate-jwt/tests/keys/rsa2048_test_only.pkcs1.der");
const KEY_PK8: &[u8] = include_bytes!("../../tollgate-jwt/tests/keys/rsa2048_test_only.pk8.der");
const POOL_ARN: &str = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example";
const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example";
const AKID: &str = "AKIDOPENAPIEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYOPENAPIKEY";
const DEMO_HOST: &str = "http://petstore-demo-endpoint.execute-api.com";

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/openapi"
    ))
    .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(testdata(rel)).unwrap()
}

// ------------------------------------------------------------------ the world around them

/// A Lambda-style REQUEST/TOKEN authorizer: the token (query `auth`, or the TOKEN event's
/// `authorizationToken`) `allow` -> Allow the API, `deny` -> Deny this method, else Unauthorized.
fn authorizer_function() -> String {
    let addr = serve_requests(|raw| {
        let text = String::from_utf8_lossy(raw);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let ev: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let token = ev["queryStringParameters"]["auth"]
            .as_str()
            .or_else(|| ev["authorizationToken"].as_str())
            .unwrap_or("");
        let arn = ev["methodArn"].as_str().unwrap_or("");
        let policy = |effect: &str, resource: &str| {
            json!({"principalId": "user-1", "policyDocument": {"Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]}})
        };
        // The result is cached by identity source and re-evaluated per method ARN (as AWS
        // does): allow the whole API, deny this method.
        let api = arn.split('/').next().unwrap_or("");
        let reply = match token {
            "allow" => policy("Allow", &format!("{api}/*")),
            "deny" => policy("Deny", arn),
            _ => json!({"errorMessage": "Unauthorized", "errorType": "Error"}),
        }
        .to_string();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        )
        .into_bytes()
    });
    format!("http://{addr}/2015-03-31/functions/function/invocations")
}

fn jwks_file() -> TempFile {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let kp = ring::signature::RsaKeyPair::from_pkcs8(KEY_PK8).unwrap();
    let c = ring::signature::RsaPublicKeyComponents::<Vec<u8>>::from(kp.public());
    let jwk = json!({"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":b64(&c.n),"e":b64(&c.e)});
    TempFile::new("jwks.json", &json!({ "keys": [jwk] }).to_string())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn mint(claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("k1".to_owned());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_der(KEY_PKCS1)).unwrap()
}

fn id_token() -> String {
    let t = now();
    mint(
        &json!({"sub": "s-1", "iss": ISSUER, "aud": "client1", "token_use": "id",
        "cognito:username": "alice", "exp": t + 600, "iat": t, "auth_time": t}),
    )
}

fn access_token(scope: &str) -> String {
    let t = now();
    mint(
        &json!({"sub": "s-1", "iss": ISSUER, "client_id": "client1", "token_use": "access",
        "scope": scope, "username": "alice", "exp": t + 600, "iat": t, "auth_time": t}),
    )
}

/// Cognito (root security), SigV4, `security: []`, a header mapped from the caller's identity,
/// and the developer guide's policy fragment (`execute-api:/*`, Deny from 192.0.2.0/24).
fn secured_doc(upstream: SocketAddr) -> String {
    let policy: Value = serde_json::from_str(&format!(
        "{{{}}}",
        read("apigw-devguide/openapi-extensions-policy.fragment.txt")
    ))
    .unwrap();
    let mock = json!({"type": "mock", "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
        "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": "{\"ok\":true}"}}}});
    let mut doc = json!({
        "openapi": "3.0.1",
        "info": {"title": "secured", "version": "1"},
        "security": [{"pool": []}],
        "components": {"securitySchemes": {
            "pool": {"type": "apiKey", "name": "Authorization", "in": "header",
                "x-amazon-apigateway-authtype": "cognito_user_pools",
                "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools", "providerARNs": [POOL_ARN]}},
            "sigv4": {"type": "apiKey", "name": "Authorization", "in": "header",
                "x-amazon-apigateway-authtype": "awsSigv4"}
        }},
        "paths": {
            "/cognito": {"get": {"x-amazon-apigateway-integration": mock}},
            "/scoped": {"get": {"security": [{"pool": ["pets/read"]}], "x-amazon-apigateway-integration": mock}},
            "/open": {"get": {"security": [], "x-amazon-apigateway-integration": mock}},
            "/iam": {"get": {"security": [{"sigv4": []}], "x-amazon-apigateway-integration": {
                "type": "http_proxy", "uri": format!("http://{upstream}/iam-upstream"),
                "requestParameters": {"integration.request.header.x-caller": "context.identity.userArn"}}}}
        }
    });
    doc["x-amazon-apigateway-policy"] = policy["x-amazon-apigateway-policy"].clone();
    doc.to_string()
}

/// An open mock API carrying the developer guide's gateway-responses fragment.
fn responses_doc() -> String {
    let frag =
        read("apigw-devguide/api-gateway-swagger-extensions-gateway-responses.fragment.json");
    let mut doc: Value = serde_json::from_str(&frag).unwrap();
    doc["swagger"] = json!("2.0");
    doc["info"] = json!({"title": "responses", "version": "1"});
    doc["paths"] = json!({"/hello": {"get": {"x-amazon-apigateway-integration": {"type": "mock",
        "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
        "responses": {"default": {"statusCode": "200"}}}}}});
    doc.to_string()
}

struct World {
    gw: Gateway,
    origin: Origin,
    _files: Vec<TempFile>,
}

fn world() -> World {
    let origin = Origin::start();
    let fn_url = authorizer_function();
    let jwks = jwks_file();
    let local = |rel: &str, name: &str| {
        TempFile::new(
            name,
            &read(rel).replace(DEMO_HOST, &format!("http://{}", origin.addr)),
        )
    };
    let pets = local("localstack/pets.json", "pets.json");
    let proxy = local(
        "apigw-devguide/setup-http-integrations__02.swagger.json",
        "proxy.json",
    );
    // Its URI is https://: served over http (tollgate has no TLS client yet), stage variables
    // from the config.
    let stagevars = TempFile::new(
        "stagevars.json",
        &read("localstack/openapi.spec.stage-variables.json").replace("https://", "http://"),
    );
    let secured = TempFile::new("secured.json", &secured_doc(origin.addr));
    let responses = TempFile::new("responses.json", &responses_doc());
    let td = |rel: &str| testdata(rel).display().to_string();
    let config = format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0" }}
  access_log: off
identities:
  - arn: "arn:aws:iam::123456789012:user/alice"
    access_keys: [{{ id: {AKID}, secret: "{SECRET}" }}]
    policies:
      - {{ Version: "2012-10-17", Statement: [{{ Effect: Allow, Action: "execute-api:Invoke", Resource: "arn:aws:execute-api:*:*:*" }}] }}
functions:
  - {{ name: myapi-authorizer-0-22ad13b, url: "{fn_url}" }}
user_pools:
  - {{ arn: "{POOL_ARN}", jwks: {{ file: "{jwks}" }} }}
apis:
  - {{ id: swagger1, hosts: [swagger.test], stages: {{ prod: {{}} }}, openapi_file: "{swagger}" }}
  - {{ id: pets1, hosts: [pets.test], stages: {{ prod: {{}} }}, openapi_file: "{pets}" }}
  - {{ id: int1, hosts: [int.test], stages: {{ prod: {{}} }}, openapi_file: "{int}" }}
  - {{ id: basepath1, hosts: [basepath.test], stages: {{ prod: {{}} }}, openapi_file: "{basepath}" }}
  - {{ id: mock1, hosts: [mock.test], stages: {{ prod: {{}} }}, openapi_file: "{mock}" }}
  - {{ id: proxy1, hosts: [proxy.test], stages: {{ test: {{}} }}, openapi_file: "{proxy}" }}
  - {{ id: stagevars1, hosts: [stagevars.test], openapi_file: "{stagevars}",
      stages: {{ prod: {{ variables: {{ TestHost: "{origin}", testPath: "from-stage", querystring: "q=1" }} }} }} }}
  - {{ id: responses1, hosts: [responses.test], stages: {{ prod: {{}} }}, openapi_file: "{responses}" }}
  - {{ id: secured1, hosts: ["*"], stages: {{ prod: {{}} }}, openapi_file: "{secured}" }}
"#,
        jwks = jwks.0.display(),
        swagger = td("localstack/swagger.json"),
        pets = pets.0.display(),
        int = td("localstack/openapi-method-int.spec.yaml"),
        basepath = td("localstack/openapi-basepath-server-variable.yaml"),
        mock = td("localstack/openapi-mock.json"),
        proxy = proxy.0.display(),
        responses = responses.0.display(),
        stagevars = stagevars.0.display(),
        origin = origin.addr,
        secured = secured.0.display(),
    );
    let gw = Gateway::start(&config, &["--workers", "1"]);
    World {
        gw,
        origin,
        _files: vec![jwks, pets, proxy, secured, responses, stagevars],
    }
}

fn call(gw: &Gateway, method: &str, host: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut h = vec![("Host", host)];
    h.extend_from_slice(headers);
    request(gw.addr, method, path, &h, "")
}

fn assert_missing_token(r: &Resp, what: &str) {
    assert_eq!(r.status, 403, "{what}: {r:?}");
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("MissingAuthenticationTokenException"),
        "{what}: {r:?}"
    );
    assert_eq!(
        r.json(),
        json!({"message": "Missing Authentication Token"}),
        "{what}"
    );
}

fn assert_status(r: &Resp, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
}

/// A GET signed by the independent `aws-sigv4` signer.
fn signed_get(gw: SocketAddr, target: &str) -> Resp {
    let identity: Identity = Credentials::new(AKID, SECRET, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = gw.to_string();
    let headers = [("host".to_owned(), host.clone())];
    let signable = SignableRequest::new(
        "GET",
        format!("http://{host}{target}"),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (extra, _) = instructions.into_parts();
    let mut h: Vec<(String, String)> = headers.to_vec();
    for x in extra {
        h.push((x.name().to_owned(), x.value().to_owned()));
    }
    let hr: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    request(gw, "GET", target, &hr, "")
}

// ------------------------------------------------------------------ every operation

#[test]
fn every_operation_of_the_servable_documents() {
    let w = world();
    let gw = &w.gw;

    // localstack/swagger.json: REQUEST authorizer on ?auth (basePath /base ignored).
    for m in ["GET", "OPTIONS"] {
        let h = "swagger.test";
        assert_status(&call(gw, m, h, "/prod/test", &[]), 401, "swagger: no ?auth");
        assert_status(
            &call(gw, m, h, "/prod/test?auth=nope", &[]),
            401,
            "swagger: Unauthorized",
        );
        assert_status(
            &call(gw, m, h, "/prod/test?auth=deny", &[]),
            403,
            "swagger: Deny",
        );
        let ok = call(gw, m, h, "/prod/test?auth=allow", &[]);
        assert_status(&ok, 200, "swagger: Allow");
        assert_eq!(ok.header("Access-Control-Allow-Origin"), Some("*"));
        if m == "OPTIONS" {
            assert_eq!(
                ok.header("Access-Control-Allow-Methods"),
                Some("GET,OPTIONS")
            );
        }
        assert_missing_token(
            &call(gw, m, h, "/prod/base/test?auth=allow", &[]),
            "swagger: basePath is not a prefix",
        );
    }
    assert_missing_token(
        &call(gw, "POST", "swagger.test", "/prod/test?auth=allow", &[]),
        "swagger: POST undeclared",
    );

    // localstack/pets.json: http integrations, NONE; {petId} feeds the URI's {id}.
    let r = call(gw, "GET", "pets.test", "/prod/pets", &[]);
    assert_status(&r, 200, "pets");
    assert_eq!(w.origin.last().target, "/petstore/pets");
    let r = call(gw, "GET", "pets.test", "/prod/pets/42", &[]);
    assert_status(&r, 200, "pets/42");
    assert_eq!(w.origin.last().target, "/petstore/pets/42");
    assert_missing_token(
        &call(gw, "DELETE", "pets.test", "/prod/pets/42", &[]),
        "pets: DELETE undeclared",
    );

    // localstack/openapi-method-int.spec.yaml: mock, integer statusCode.
    let r = call(gw, "GET", "int.test", "/prod/test", &[]);
    assert_status(&r, 200, "int mock");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert_missing_token(
        &call(gw, "POST", "int.test", "/prod/test", &[]),
        "int: POST undeclared",
    );

    // localstack/openapi-basepath-server-variable.yaml: route /test, the server's base path ignored.
    for m in ["GET", "OPTIONS"] {
        assert_status(
            &call(gw, m, "basepath.test", "/prod/test", &[]),
            200,
            "basepath",
        );
    }
    assert_missing_token(
        &call(gw, "GET", "basepath.test", "/prod/base-var/test", &[]),
        "basepath prefix",
    );

    // localstack/openapi-mock.json: ANY /echo/{data}.
    for m in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        assert_status(&call(gw, m, "mock.test", "/prod/echo/hello", &[]), 200, m);
    }
    assert_missing_token(
        &call(gw, "GET", "mock.test", "/prod/echo", &[]),
        "mock: /echo undeclared",
    );

    // apigw-devguide/setup-http-integrations__02.swagger.json: ANY /{proxy+} (stage test).
    for m in ["GET", "POST", "DELETE"] {
        let r = call(gw, m, "proxy.test", "/test/a/b/c?x=1", &[]);
        assert_status(&r, 200, "proxy");
        let seen = w.origin.last();
        assert_eq!(
            (seen.method.as_str(), seen.target.as_str()),
            (m, "/petstore/a/b/c?x=1")
        );
    }
    assert_missing_token(
        &call(gw, "GET", "proxy.test", "/prod/a", &[]),
        "proxy: unknown stage",
    );

    // localstack/openapi.spec.stage-variables.json: the URI from three stage variables.
    let r = call(gw, "GET", "stagevars.test", "/prod/path1", &[]);
    assert_status(&r, 200, "stage variables");
    let seen = w.origin.last();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("GET", "/from-stage?q=1")
    );
    assert_missing_token(
        &call(gw, "POST", "stagevars.test", "/prod/path1", &[]),
        "stagevars: POST undeclared",
    );

    // The developer guide's gateway responses: DEFAULT_4XX header and template; 200 untouched.
    assert_status(
        &call(gw, "GET", "responses.test", "/prod/hello", &[]),
        200,
        "responses",
    );
    let r = call(gw, "GET", "responses.test", "/prod/nothing", &[]);
    assert_status(&r, 403, "responses: unknown path");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("domain.com"));
    assert_eq!(r.body, "{\"message\": test 4xx b }");

    // Cognito (root security), scopes, security: [], SigV4, the policy fragment.
    let h = "secured.test";
    let bearer = |t: String| format!("Bearer {t}");
    assert_status(
        &call(gw, "GET", h, "/prod/cognito", &[]),
        401,
        "cognito: no token",
    );
    assert_status(
        &call(
            gw,
            "GET",
            h,
            "/prod/cognito",
            &[("Authorization", "Bearer x.y.z")],
        ),
        401,
        "cognito: garbage",
    );
    let id = bearer(id_token());
    assert_status(
        &call(gw, "GET", h, "/prod/cognito", &[("Authorization", &id)]),
        200,
        "cognito: ID token",
    );
    assert_status(
        &call(gw, "GET", h, "/prod/scoped", &[("Authorization", &id)]),
        401,
        "scoped: ID token",
    );
    let wrong = bearer(access_token("pets/write"));
    assert_status(
        &call(gw, "GET", h, "/prod/scoped", &[("Authorization", &wrong)]),
        401,
        "scoped: other scope",
    );
    let read = bearer(access_token("pets/read"));
    assert_status(
        &call(gw, "GET", h, "/prod/scoped", &[("Authorization", &read)]),
        200,
        "scoped: pets/read",
    );
    assert_status(&call(gw, "GET", h, "/prod/open", &[]), 200, "security: []");
    assert_missing_token(&call(gw, "GET", h, "/prod/iam", &[]), "iam: unsigned");
    let r = signed_get(gw.addr, "/prod/iam");
    assert_status(&r, 200, "iam: signed");
    let seen = w.origin.last();
    assert_eq!(seen.target, "/iam-upstream");
    let caller = seen
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-caller"))
        .map(|(_, v)| v.clone());
    assert_eq!(
        caller.as_deref(),
        Some("arn:aws:iam::123456789012:user/alice")
    );
    assert_missing_token(
        &call(gw, "POST", h, "/prod/open", &[]),
        "secured: POST undeclared",
    );
}

// ------------------------------------------------------------------ hot reload

fn mock_doc(path: &str, body: &str) -> String {
    json!({"openapi": "3.0.1", "info": {"title": "swap", "version": "1"},
        "paths": {path: {"get": {"x-amazon-apigateway-integration": {"type": "mock",
            "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
            "responses": {"default": {"statusCode": "200",
                "responseTemplates": {"application/json": body}}}}}}}})
    .to_string()
}

#[test]
fn a_changed_document_is_reloaded_atomically_and_a_refused_one_rejected() {
    let doc = TempFile::new("swap.json", &mock_doc("/one", "{\"v\":1}"));
    let config = format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0" }}
  access_log: off
apis:
  - {{ id: swap1, stages: {{ prod: {{}} }}, openapi_file: "{}" }}
"#,
        doc.0.display()
    );
    let gw = Gateway::start(&config, &["--workers", "2"]);
    let r = call(&gw, "GET", "x.test", "/prod/one", &[]);
    assert_eq!((r.status, r.body.as_str()), (200, "{\"v\":1}"));

    // While a client hammers /prod/one and /prod/two, the document changes and is reloaded:
    // every answer is wholly the old document's or wholly the new one's, and once the reload
    // is acknowledged only the new one's.
    let addr = gw.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let hammer = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            for p in ["/prod/one", "/prod/two"] {
                let r = request(addr, "GET", p, &[("Host", "x.test")], "");
                seen.push((p, r.status, r.body));
            }
        }
        seen
    });
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(&doc.0, mock_doc("/two", "{\"v\":2}")).unwrap();
    let r = request(gw.admin, "POST", "/config/reload", &[], "");
    assert_eq!(r.status, 200, "{r:?}");
    let after_one = call(&gw, "GET", "x.test", "/prod/one", &[]);
    let after_two = call(&gw, "GET", "x.test", "/prod/two", &[]);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = hammer.join().unwrap();
    assert_missing_token(&after_one, "old route gone after the reload");
    assert_eq!(
        (after_two.status, after_two.body.as_str()),
        (200, "{\"v\":2}")
    );
    for (p, status, body) in &seen {
        let ok = matches!(
            (*p, *status, body.as_str()),
            ("/prod/one", 200, "{\"v\":1}")
                | ("/prod/one", 403, _)
                | ("/prod/two", 200, "{\"v\":2}")
                | ("/prod/two", 403, _)
        );
        assert!(ok, "{p}: {status} {body}");
    }

    // A refused document: the reload answers 400 naming the method and path; the old
    // document keeps serving.
    let refused = read("apigw-devguide/set-up-lambda-proxy-integrations__01.openapi.json");
    std::fs::write(&doc.0, refused).unwrap();
    let r = request(gw.admin, "POST", "/config/reload", &[], "");
    assert_eq!(r.status, 400, "{r:?}");
    let errors = r.json()["errors"].to_string();
    assert!(
        errors.contains("ANY /{proxy+}") && errors.contains("aws_proxy"),
        "{errors}"
    );
    let r = call(&gw, "GET", "x.test", "/prod/two", &[]);
    assert_eq!((r.status, r.body.as_str()), (200, "{\"v\":2}"));
}

// ------------------------------------------------------------------ tollgate import

#[test]
fn import_output_validates_once_filled_and_refusals_name_method_and_path() {
    let fn_url = "http://127.0.0.1:9000/2015-03-31/functions/function/invocations";
    // A document naming a Lambda authorizer: placeholders, then valid once filled.
    let out = run(&[
        "import",
        testdata("localstack/swagger.json").to_str().unwrap(),
        "--api-id",
        "imported1",
    ]);
    assert!(out.status.success(), "{out:?}");
    let yaml = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("authorizerCredentials"), "{stderr}");
    assert!(
        stderr
            .contains("arn:aws:lambda:us-east-1:000000000000:function:myapi-authorizer-0-22ad13b"),
        "{stderr}"
    );
    let unfilled = TempFile::new("unfilled.yaml", &yaml);
    let v = run(&["validate", "--config", unfilled.0.to_str().unwrap()]);
    assert_eq!(
        v.status.code(),
        Some(1),
        "placeholders do not validate: {v:?}"
    );
    assert!(String::from_utf8_lossy(&v.stdout).contains("FILL-IN"));
    let filled: String = yaml
        .lines()
        .map(|l| match l.split_once("function_url: ") {
            Some((indent, _)) => format!("{indent}function_url: \"{fn_url}\"\n"),
            None => format!("{l}\n"),
        })
        .collect();
    let filled = TempFile::new("filled.yaml", &filled);
    let v = run(&["validate", "--config", filled.0.to_str().unwrap()]);
    assert!(
        v.status.success(),
        "{v:?}\n{}",
        String::from_utf8_lossy(&v.stdout)
    );

    // Documents without ARNs validate as printed.
    for doc in [
        "localstack/pets.json",
        "localstack/openapi-method-int.spec.yaml",
        "localstack/openapi-basepath-server-variable.yaml",
        "localstack/openapi-mock.json",
        "apigw-devguide/setup-http-integrations__02.swagger.json",
    ] {
        let out = run(&["import", testdata(doc).to_str().unwrap()]);
        assert!(out.status.success(), "{doc}: {out:?}");
        let f = TempFile::new("imported.yaml", &String::from_utf8(out.stdout).unwrap());
        let v = run(&["validate", "--config", f.0.to_str().unwrap()]);
        assert!(v.status.success(), "{doc}: {v:?}");
    }

    // Refused: exit 1, nothing on stdout, the method, path and pointer on stderr.
    let out = run(&[
        "import",
        testdata("localstack/swagger-mock-cors.json")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("GET /product")
            && e.contains("aws_proxy")
            && e.contains("#/paths/~1product/get"),
        "{e}"
    );
    let out = run(&[
        "import",
        testdata("serverless-samples/fargate-rest-api__swagger.yaml")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("#/paths/~1locations/get/x-amazon-apigateway-integration/uri")
            && e.contains("Fn::Join"),
        "{e}"
    );

    // --strict: what would be a warning refuses.
    let out = run(&[
        "import",
        testdata("localstack/pets.json").to_str().unwrap(),
        "--strict",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("x-amazon-apigateway-binary-media-types")
    );
}
