//! AWS_IAM routes end to end with the real binary: requests signed by the independent
//! `aws-sigv4` crate (with and without session tokens, GET and POST with bodies, encoded paths
//! and queries, presigned URLs), identity policies that allow, deny or say nothing, a resource
//! policy that grants another account, the identity context reaching a real upstream, and each
//! error body.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_arguments
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use common::Gateway;

/// A real upstream: answers 200 with the raw request it received as the body.
fn echo_upstream() -> SocketAddr {
    common::serve_requests(|req| {
        let mut out =
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", req.len()).into_bytes();
        out.extend_from_slice(req);
        out
    })
}

const ACCOUNT: &str = "123456789012";

fn config(upstream: SocketAddr) -> String {
    format!(
        r#"
gateway:
  region: us-east-1
  account_id: "{ACCOUNT}"
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0" }}
  access_log: off
identities:
  - arn: "arn:aws:iam::{ACCOUNT}:user/alice"
    access_keys:
      - {{ id: AKIDALICE, secret: "alice/secret+KEY" }}
      - {{ id: AKIDTEMP, secret: "temp/secret", session_token: "FwoGZXIvYXdzEJr//token==" }}
      - {{ id: AKIDOLD, secret: "old/secret", expires: "2020-01-01T00:00:00Z" }}
    tags: {{ team: blue }}
    policies:
      - Version: "2012-10-17"
        Statement:
          - {{ Effect: Allow, Action: "execute-api:Invoke", Resource: "arn:aws:execute-api:*:*:*" }}
          - {{ Effect: Deny, Action: "execute-api:Invoke", Resource: "arn:aws:execute-api:us-east-1:{ACCOUNT}:iamapi1/prod/DELETE/*" }}
  - arn: "arn:aws:iam::{ACCOUNT}:user/carol"
    access_keys: [{{ id: AKIDCAROL, secret: "carol-secret" }}]
  - arn: "arn:aws:iam::210987654321:user/dave"
    access_keys: [{{ id: AKIDDAVE, secret: "dave-secret" }}]
    policies:
      - Version: "2012-10-17"
        Statement:
          - {{ Effect: Allow, Action: "execute-api:*", Resource: "*" }}
apis:
  - id: iamapi1
    hosts: ["*"]
    stages:
      prod: {{ variables: {{ backend: "{upstream}" }} }}
    resource_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {{ AWS: "210987654321" }}
          Action: "execute-api:Invoke"
          Resource: "execute-api:/prod/GET/shared/*"
    routes:
      - path: "/{{proxy+}}"
        methods: [ANY]
        authorization: AWS_IAM
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/{{proxy}}"
          request_headers:
            x-caller-arn: context.identity.userArn
            x-caller-account: context.identity.accountId
            x-caller-key: context.identity.accessKey
            x-caller-user: context.identity.user
"#
    )
}

struct Signed {
    target: String,
    headers: Vec<(String, String)>,
}

/// Sign with the independent signer. `target` is the wire path and query.
fn sign_request(
    gw: SocketAddr,
    akid: &str,
    secret: &str,
    token: Option<&str>,
    method: &str,
    target: &str,
    body: &[u8],
    at: SystemTime,
    presign: bool,
) -> Signed {
    let identity: Identity =
        Credentials::new(akid, secret, token.map(str::to_owned), None, "test").into();
    let mut settings = SigningSettings::default();
    if presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("execute-api")
        .time(at)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let host = gw.to_string();
    let mut headers = vec![("host".to_owned(), host.clone())];
    if !body.is_empty() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    let signable = SignableRequest::new(
        method,
        format!("http://{host}{target}"),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (extra_headers, extra_params) = instructions.into_parts();
    for h in extra_headers {
        headers.push((h.name().to_owned(), h.value().to_owned()));
    }
    let mut target = target.to_owned();
    for (k, v) in extra_params {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str(&format!("{}={}", enc(k), enc(&v)));
    }
    Signed { target, headers }
}

fn send(gw: SocketAddr, method: &str, s: &Signed, body: &[u8]) -> (u16, String) {
    let mut req = format!("{method} {} HTTP/1.1\r\n", s.target);
    for (k, v) in &s.headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("connection: close\r\n\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    let mut stream = TcpStream::connect(gw).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&bytes).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn body_of(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn header_of<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    let head = resp.split_once("\r\n\r\n").map_or(resp, |(h, _)| h);
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn now() -> SystemTime {
    SystemTime::now()
}

#[test]
fn signed_requests_reach_the_upstream_with_the_identity_context() {
    let gw = Gateway::start(&config(echo_upstream()), &["--workers", "2"]);
    let a = gw.addr;
    // GET with an encoded path and query.
    let target = "/prod/pets/hello%20world?b=2&a=x%2Fy";
    let s = sign_request(
        a,
        "AKIDALICE",
        "alice/secret+KEY",
        None,
        "GET",
        target,
        b"",
        now(),
        false,
    );
    let (status, resp) = send(a, "GET", &s, b"");
    assert_eq!(status, 200, "{resp}");
    let seen = body_of(&resp).to_ascii_lowercase();
    assert!(
        seen.starts_with("get /pets/hello%20world?b=2&a=x%2fy http/1.1\r\n"),
        "{seen}"
    );
    assert!(
        seen.contains(&format!(
            "x-caller-arn: arn:aws:iam::{ACCOUNT}:user/alice\r\n"
        )),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("x-caller-account: {ACCOUNT}\r\n")),
        "{seen}"
    );
    assert!(seen.contains("x-caller-key: akidalice\r\n"), "{seen}");
    assert!(seen.contains("x-caller-user: alice\r\n"), "{seen}");
    // POST with a body; the body is buffered, hashed, then forwarded intact.
    let body = br#"{"name":"rex","tags":["a","b"]}"#;
    let s = sign_request(
        a,
        "AKIDALICE",
        "alice/secret+KEY",
        None,
        "POST",
        "/prod/pets",
        body,
        now(),
        false,
    );
    let (status, resp) = send(a, "POST", &s, body);
    assert_eq!(status, 200, "{resp}");
    assert!(
        body_of(&resp).ends_with(std::str::from_utf8(body).unwrap()),
        "{resp}"
    );
    // The same signature over a changed body is rejected.
    let (status, resp) = send(a, "POST", &s, br#"{"name":"rex","tags":["a","c"]}"#);
    assert_eq!(status, 403, "{resp}");
    assert_eq!(
        header_of(&resp, "x-amzn-ErrorType"),
        Some("InvalidSignatureException")
    );
    assert!(body_of(&resp).starts_with(
        "{\"message\":\"The request signature we calculated does not match the signature you provided."
    ));
    // Presigned URL.
    let s = sign_request(
        a,
        "AKIDALICE",
        "alice/secret+KEY",
        None,
        "GET",
        "/prod/pets/1",
        b"",
        now(),
        true,
    );
    assert!(s.target.contains("X-Amz-Signature="));
    let (status, resp) = send(a, "GET", &s, b"");
    assert_eq!(status, 200, "{resp}");
}

#[test]
fn session_tokens_and_expired_credentials() {
    let gw = Gateway::start(&config(echo_upstream()), &["--workers", "2"]);
    let a = gw.addr;
    let tok = "FwoGZXIvYXdzEJr//token==";
    let s = sign_request(
        a,
        "AKIDTEMP",
        "temp/secret",
        Some(tok),
        "GET",
        "/prod/x",
        b"",
        now(),
        false,
    );
    assert_eq!(send(a, "GET", &s, b"").0, 200);
    let s = sign_request(
        a,
        "AKIDTEMP",
        "temp/secret",
        None,
        "GET",
        "/prod/x",
        b"",
        now(),
        false,
    );
    let (status, resp) = send(a, "GET", &s, b"");
    assert_eq!(status, 403);
    assert_eq!(
        body_of(&resp),
        r#"{"message":"The security token included in the request is invalid."}"#
    );
    let s = sign_request(
        a,
        "AKIDTEMP",
        "temp/secret",
        Some("other-token"),
        "GET",
        "/prod/x",
        b"",
        now(),
        false,
    );
    assert_eq!(send(a, "GET", &s, b"").0, 403);
    let s = sign_request(
        a,
        "AKIDOLD",
        "old/secret",
        None,
        "GET",
        "/prod/x",
        b"",
        now(),
        false,
    );
    let (status, resp) = send(a, "GET", &s, b"");
    assert_eq!(status, 403);
    assert_eq!(
        header_of(&resp, "x-amzn-ErrorType"),
        Some("ExpiredTokenException")
    );
    assert_eq!(
        body_of(&resp),
        r#"{"message":"The security token included in the request is expired"}"#
    );
    let s = sign_request(
        a,
        "AKIDNOBODY",
        "x",
        None,
        "GET",
        "/prod/x",
        b"",
        now(),
        false,
    );
    let (status, resp) = send(a, "GET", &s, b"");
    assert_eq!(status, 403);
    assert_eq!(
        body_of(&resp),
        r#"{"message":"The security token included in the request is invalid."}"#
    );
}

#[test]
fn identity_and_resource_policies_decide() {
    let gw = Gateway::start(&config(echo_upstream()), &["--workers", "2"]);
    let a = gw.addr;
    // Alice: explicit deny on DELETE.
    let s = sign_request(
        a,
        "AKIDALICE",
        "alice/secret+KEY",
        None,
        "DELETE",
        "/prod/pets/1",
        b"",
        now(),
        false,
    );
    let (status, resp) = send(a, "DELETE", &s, b"");
    assert_eq!(status, 403);
    assert_eq!(
        header_of(&resp, "x-amzn-ErrorType"),
        Some("AccessDeniedException")
    );
    assert_eq!(
        body_of(&resp),
        format!(
            "{{\"Message\":\"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:********9012:iamapi1/prod/DELETE/pets/1 with an explicit deny in an identity-based policy\"}}"
        )
    );
    // Carol: no policy says anything.
    let s = sign_request(
        a,
        "AKIDCAROL",
        "carol-secret",
        None,
        "GET",
        "/prod/pets/1",
        b"",
        now(),
        false,
    );
    let (status, resp) = send(a, "GET", &s, b"");
    assert_eq!(status, 403);
    assert_eq!(
        body_of(&resp),
        format!(
            "{{\"Message\":\"User: arn:aws:iam::{ACCOUNT}:user/carol is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:********9012:iamapi1/prod/GET/pets/1 because no identity-based policy allows the execute-api:Invoke action.\"}}"
        )
    );
    // Dave, another account: the resource policy grants /shared only (Table B).
    let s = sign_request(
        a,
        "AKIDDAVE",
        "dave-secret",
        None,
        "GET",
        "/prod/shared/doc",
        b"",
        now(),
        false,
    );
    let (status, resp) = send(a, "GET", &s, b"");
    assert_eq!(status, 200, "{resp}");
    let s = sign_request(
        a,
        "AKIDDAVE",
        "dave-secret",
        None,
        "GET",
        "/prod/private/doc",
        b"",
        now(),
        false,
    );
    let (status, resp) = send(a, "GET", &s, b"");
    assert_eq!(status, 403);
    assert!(
        body_of(&resp)
            .ends_with("because no resource-based policy allows the execute-api:Invoke action\"}"),
        "{resp}"
    );
}

#[test]
fn malformed_and_missing_signatures() {
    let gw = Gateway::start(&config(echo_upstream()), &["--workers", "2"]);
    let a = gw.addr;
    let plain = Signed {
        target: "/prod/x".into(),
        headers: vec![("host".into(), a.to_string())],
    };
    let (status, resp) = send(a, "GET", &plain, b"");
    assert_eq!(status, 403);
    assert_eq!(
        header_of(&resp, "x-amzn-ErrorType"),
        Some("MissingAuthenticationTokenException")
    );
    assert_eq!(
        body_of(&resp),
        r#"{"message":"Missing Authentication Token"}"#
    );
    let bearer = Signed {
        target: "/prod/x".into(),
        headers: vec![
            ("host".into(), a.to_string()),
            ("authorization".into(), "Bearer abc.def".into()),
        ],
    };
    let (status, resp) = send(a, "GET", &bearer, b"");
    assert_eq!(status, 403);
    assert_eq!(
        header_of(&resp, "x-amzn-ErrorType"),
        Some("IncompleteSignatureException")
    );
    assert!(body_of(&resp).starts_with(
        "{\"message\":\"Invalid key=value pair (missing equal-sign) in Authorization header"
    ));
    // Signed 10 minutes ago: outside the 5-minute window.
    let old = now() - Duration::from_secs(600);
    let s = sign_request(
        a,
        "AKIDALICE",
        "alice/secret+KEY",
        None,
        "GET",
        "/prod/x",
        b"",
        old,
        false,
    );
    let (status, resp) = send(a, "GET", &s, b"");
    assert_eq!(status, 403);
    assert_eq!(
        header_of(&resp, "x-amzn-ErrorType"),
        Some("InvalidSignatureException")
    );
    assert!(
        body_of(&resp).starts_with("{\"message\":\"Signature expired: "),
        "{resp}"
    );
    assert!(body_of(&resp).ends_with(" - 5 min.)\"}"), "{resp}");
}

/// Identities of every kind against one API whose resource policy names a role, matches
/// `aws:PrincipalArn`, delegates to the account, uses a variable that some callers lack and
/// checks `aws:userid`.
fn principals_config(upstream: SocketAddr) -> String {
    format!(
        r#"
gateway:
  region: us-east-1
  account_id: "{ACCOUNT}"
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0" }}
  access_log: off
identities:
  - arn: "arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci-1"
    user_id: "AROAEXAMPLEROLEID:ci-1"
    access_keys: [{{ id: ASIASESSION1, secret: "s1", session_token: "tok1" }}]
    policies:
      - Version: "2012-10-17"
        Statement: [{{ Effect: Allow, Action: "execute-api:Invoke", Resource: "*" }}]
  - arn: "arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci-2"
    access_keys: [{{ id: ASIASESSION2, secret: "s2", session_token: "tok2" }}]
  - arn: "arn:aws:sts::{ACCOUNT}:assumed-role/pathrole/s"
    role_arn: "arn:aws:iam::{ACCOUNT}:role/team/pathrole"
    access_keys: [{{ id: ASIAPATHROLE, secret: "s3", session_token: "tok3" }}]
  - arn: "arn:aws:iam::{ACCOUNT}:user/erin"
    user_id: "AIDAEXAMPLEERIN"
    access_keys: [{{ id: AKIDERIN, secret: "erin" }}]
    policies:
      - Version: "2012-10-17"
        Statement: [{{ Effect: Allow, Action: "execute-api:Invoke", Resource: "*" }}]
  - arn: "arn:aws:iam::{ACCOUNT}:user/frank"
    access_keys: [{{ id: AKIDFRANK, secret: "frank" }}]
  - arn: "arn:aws:sts::{ACCOUNT}:federated-user/fed"
    access_keys: [{{ id: ASIAFED, secret: "fed", session_token: "tok4" }}]
    policies:
      - Version: "2012-10-17"
        Statement: [{{ Effect: Allow, Action: "execute-api:Invoke", Resource: "*" }}]
  - arn: "arn:aws:iam::{ACCOUNT}:root"
    access_keys: [{{ id: AKIDROOT, secret: "root" }}]
apis:
  - id: p13api
    hosts: ["*"]
    stages:
      prod: {{ variables: {{ backend: "{upstream}" }} }}
    resource_policy:
      Version: "2012-10-17"
      Statement:
        - {{ Effect: Deny, Principal: {{ AWS: "arn:aws:iam::{ACCOUNT}:role/deployer" }}, Action: "execute-api:Invoke", Resource: "execute-api:/prod/*/no-deployer/*" }}
        - {{ Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/prod/*/by-role/*",
             Condition: {{ ArnLike: {{ "aws:PrincipalArn": "arn:aws:iam::{ACCOUNT}:role/*" }} }} }}
        - {{ Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/prod/*/by-path/*",
             Condition: {{ ArnEquals: {{ "aws:PrincipalArn": "arn:aws:iam::{ACCOUNT}:role/team/pathrole" }} }} }}
        - {{ Effect: Allow, Principal: {{ AWS: "{ACCOUNT}" }}, Action: "execute-api:Invoke", Resource: "execute-api:/prod/*/acct/*" }}
        - {{ Effect: Deny, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/prod/*/owner/*",
             Condition: {{ StringNotEquals: {{ "aws:username": "${{aws:PrincipalTag/owner}}" }} }} }}
        - {{ Effect: Deny, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/prod/*/uid/*",
             Condition: {{ StringNotEquals: {{ "aws:userid": ["AROAEXAMPLEROLEID:ci-1", "AIDAEXAMPLEERIN", "{ACCOUNT}:fed"] }} }} }}
    routes:
      - path: "/{{proxy+}}"
        methods: [ANY]
        authorization: AWS_IAM
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/{{proxy}}"
"#
    )
}

#[test]
fn sessions_roles_federated_users_root_and_account_principals() {
    let gw = Gateway::start(&principals_config(echo_upstream()), &["--workers", "1"]);
    let a = gw.addr;
    let get = |akid: &str, secret: &str, token: Option<&str>, path: &str| {
        let s = sign_request(a, akid, secret, token, "GET", path, b"", now(), false);
        send(a, "GET", &s, b"")
    };
    let ci1 = |path: &str| get("ASIASESSION1", "s1", Some("tok1"), path);
    let ci2 = |path: &str| get("ASIASESSION2", "s2", Some("tok2"), path);
    let pathrole = |path: &str| get("ASIAPATHROLE", "s3", Some("tok3"), path);
    let erin = |path: &str| get("AKIDERIN", "erin", None, path);
    let frank = |path: &str| get("AKIDFRANK", "frank", None, path);
    let fed = |path: &str| get("ASIAFED", "fed", Some("tok4"), path);
    let root = |path: &str| get("AKIDROOT", "root", None, path);

    // a Deny naming the role applies to its sessions (aws:PrincipalArn is the role ARN)
    let (status, resp) = ci1("/prod/no-deployer/x");
    assert_eq!(status, 403, "{resp}");
    assert_eq!(
        body_of(&resp),
        format!(
            "{{\"Message\":\"User: arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci-1 is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:********9012:p13api/prod/GET/no-deployer/x with an explicit deny in a resource-based policy\"}}"
        )
    );
    assert_eq!(ci1("/prod/other/x").0, 200);
    assert_eq!(erin("/prod/no-deployer/x").0, 200);
    assert_eq!(pathrole("/prod/no-deployer/x").0, 403, "no identity policy");

    // ArnLike aws:PrincipalArn role/* grants a session of a role (no identity policy needed
    // in the same account, Table A)
    assert_eq!(ci2("/prod/by-role/x").0, 200);
    assert_eq!(ci2("/prod/other/x").0, 403);
    assert_eq!(frank("/prod/by-role/x").0, 403);
    // a role with a path: its configured role_arn is the principal ARN
    assert_eq!(pathrole("/prod/by-path/x").0, 200);
    assert_eq!(pathrole("/prod/by-role/x").0, 200);
    assert_eq!(ci2("/prod/by-path/x").0, 403);

    // an account principal delegates to the account's IAM policies: it grants nothing by itself
    // to a user of the API's own account
    let (status, resp) = frank("/prod/acct/x");
    assert_eq!(status, 403, "{resp}");
    assert!(
        body_of(&resp)
            .ends_with("because no identity-based policy allows the execute-api:Invoke action.\"}"),
        "{resp}"
    );
    assert_eq!(ci2("/prod/acct/x").0, 403);
    assert_eq!(erin("/prod/acct/x").0, 200, "identity policy allows");
    // the account's root user is the account principal
    assert_eq!(root("/prod/acct/x").0, 200);
    assert_eq!(root("/prod/other/x").0, 403);

    // a variable without value (no owner tag) makes the Deny not apply, even under
    // StringNotEquals
    assert_eq!(erin("/prod/owner/x").0, 200);
    assert_eq!(fed("/prod/owner/x").0, 200);

    // aws:userid: configured for users and sessions, ACCOUNT:NAME for a federated user
    assert_eq!(ci1("/prod/uid/x").0, 200);
    assert_eq!(erin("/prod/uid/x").0, 200);
    assert_eq!(fed("/prod/uid/x").0, 200);
    assert_eq!(root("/prod/uid/x").0, 403);
}

/// A mock answer reads no identity, but the access log does: with the log on, an `AWS_IAM`
/// caller of a mock route is recorded (`$context.identity.userArn`, `.accountId`, `.caller`,
/// `.user`); with it off, the gateway skips copying those strings (same answers).
#[test]
fn a_mock_route_logs_the_iam_caller() {
    let log = common::TempFile::new("access.log", "");
    let cfg = |log_to: &str| {
        format!(
            r#"
gateway:
  region: us-east-1
  account_id: "{ACCOUNT}"
  workers: 1
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0" }}
  access_log: "{log_to}"
  access_log_format: '$context.requestId $context.identity.userArn $context.identity.accountId $context.identity.caller $context.identity.user'
identities:
  - arn: "arn:aws:iam::{ACCOUNT}:user/alice"
    access_keys: [{{ id: AKIDALICE, secret: "alice/secret+KEY" }}]
    policies:
      - Version: "2012-10-17"
        Statement:
          - {{ Effect: Allow, Action: "execute-api:Invoke", Resource: "arn:aws:execute-api:*:*:*" }}
apis:
  - id: iamapi1
    hosts: ["*"]
    stages: {{ prod: {{}} }}
    routes:
      - {{ path: "/{{proxy+}}", methods: [ANY], authorization: AWS_IAM, integration: {{ type: mock, status: 200, body: ok }} }}
"#
        )
    };
    for log_to in [log.0.display().to_string(), "off".to_owned()] {
        let gw = Gateway::start(&cfg(&log_to), &["--workers", "1"]);
        let s = sign_request(
            gw.addr,
            "AKIDALICE",
            "alice/secret+KEY",
            None,
            "GET",
            "/prod/pets/1",
            b"",
            now(),
            false,
        );
        let (status, resp) = send(gw.addr, "GET", &s, b"");
        assert_eq!(status, 200, "{resp}");
        assert_eq!(body_of(&resp), "ok");
        if log_to == "off" {
            continue;
        }
        let rid = header_of(&resp, "x-amzn-requestid").unwrap().to_owned();
        let want = format!("{rid} arn:aws:iam::{ACCOUNT}:user/alice {ACCOUNT} AKIDALICE alice");
        let mut last = String::new();
        let found = (0..150).any(|_| {
            last = std::fs::read_to_string(&log.0).unwrap_or_default();
            if last.lines().any(|l| l == want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
            false
        });
        assert!(found, "want {want:?} in the access log: {last:?}");
        // an unsigned request is refused either way (nothing about the caller to record)
        let (status, _) = send(
            gw.addr,
            "GET",
            &Signed {
                target: "/prod/pets/1".into(),
                headers: vec![("host".into(), gw.addr.to_string())],
            },
            b"",
        );
        assert_eq!(status, 403);
    }
}
