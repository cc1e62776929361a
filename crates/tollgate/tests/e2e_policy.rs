//! Resource policies end to end with the real binary: an IP deny list, an IP allow list,
//! a VPC endpoint restriction through a real PROXY v2 header with AWS's TLV, spoofed and
//! trusted X-Forwarded-For, and each 403 byte for byte (current and legacy texts).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::Gateway;

/// Send raw bytes from a chosen loopback source address; read the whole response (closing).
fn exchange(to: SocketAddr, from: Option<&str>, bytes: &[u8]) -> String {
    let stream = match from {
        None => TcpStream::connect(to).unwrap(),
        Some(src) => {
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            let src: SocketAddr = format!("{src}:0").parse().unwrap();
            sock.bind(&src.into()).unwrap();
            sock.connect(&to.into()).unwrap();
            sock.into()
        }
    };
    let mut stream: TcpStream = stream;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get(to: SocketAddr, from: Option<&str>, host: &str, path: &str, extra: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    exchange(to, from, req.as_bytes())
}

fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The response with its request id replaced by `RID`.
fn normalized(resp: &str) -> String {
    resp.lines()
        .map(|l| {
            if l.starts_with("x-amzn-RequestId: ") {
                "x-amzn-RequestId: RID"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn expected_403(message: &str) -> String {
    let body = format!("{{\"Message\":\"{message}\"}}");
    format!(
        "HTTP/1.1 403 Forbidden\ncontent-type: application/json\ncontent-length: {}\nx-amzn-RequestId: RID\nx-amzn-ErrorType: AccessDeniedException\nconnection: close\n\n{body}",
        body.len()
    )
}

const CONFIG: &str = r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners:
    - bind: "127.0.0.1:0"
    - bind: "127.0.0.1:0"
      proxy_protocol: true
  trusted_proxies: ["127.0.0.3/32"]
  admin: { bind: "127.0.0.1:0" }
  access_log: off
  error_messages: ERRSTYLE
apis:
  - id: ipdeny1
    hosts: ["ipdeny.test"]
    stages: { prod: {} }
    resource_policy:
      Version: "2012-10-17"
      Statement:
        - { Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*" }
        - Effect: Deny
          Principal: "*"
          Action: "execute-api:Invoke"
          Resource: "execute-api:/prod/GET/denied/*"
          Condition: { IpAddress: { "aws:SourceIp": ["127.0.0.1/32", "192.0.2.0/24"] } }
    routes:
      - path: "/{proxy+}"
        methods: [ANY]
        authorization: NONE
        integration: { type: mock, status: 200, body: '{"ok":true}' }
  - id: allow1
    hosts: ["allowlist.test"]
    stages: { prod: {} }
    resource_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: "*"
          Action: "execute-api:Invoke"
          Resource: "execute-api:/*"
          Condition: { IpAddress: { "aws:SourceIp": "198.51.100.0/24" } }
    routes:
      - path: "/{proxy+}"
        methods: [ANY]
        authorization: NONE
        integration: { type: mock, status: 200, body: '{"ok":true}' }
  - id: private1
    hosts: ["private.test"]
    stages: { prod: {} }
    resource_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Deny
          Principal: "*"
          Action: "execute-api:Invoke"
          Resource: "execute-api:/*"
          Condition: { StringNotEquals: { "aws:SourceVpce": "vpce-1a2b3c4d" } }
        - { Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*" }
    routes:
      - path: "/{proxy+}"
        methods: [ANY]
        authorization: NONE
        integration: { type: mock, status: 200, body: '{"ok":true}' }
"#;

fn config(style: &str) -> String {
    CONFIG.replace("ERRSTYLE", style)
}

#[test]
fn ip_deny_list_and_spoofed_forwarded_for() {
    let gw = Gateway::start(&config("current"), &["--workers", "2"]);
    let plain = gw.addrs[0];
    assert_eq!(
        status(&get(plain, None, "ipdeny.test", "/prod/open", "")),
        200
    );
    assert_eq!(
        status(&get(
            plain,
            Some("127.0.0.2"),
            "ipdeny.test",
            "/prod/denied/x",
            ""
        )),
        200
    );
    let denied = get(plain, None, "ipdeny.test", "/prod/denied/x", "");
    assert_eq!(
        normalized(&denied),
        expected_403(
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
             arn:aws:execute-api:us-east-1:********9012:ipdeny1/prod/GET/denied/x with an explicit deny in a resource-based policy"
        )
    );
    // A spoofed X-Forwarded-For from an untrusted peer changes nothing...
    let spoofed = get(
        plain,
        None,
        "ipdeny.test",
        "/prod/denied/x",
        "X-Forwarded-For: 203.0.113.5\r\n",
    );
    assert_eq!(status(&spoofed), 403, "{spoofed}");
    let spoofed = get(
        plain,
        Some("127.0.0.2"),
        "ipdeny.test",
        "/prod/denied/x",
        "X-Forwarded-For: 192.0.2.7\r\n",
    );
    assert_eq!(status(&spoofed), 200, "{spoofed}");
    // ...while a trusted proxy's is believed.
    let via_proxy = get(
        plain,
        Some("127.0.0.3"),
        "ipdeny.test",
        "/prod/denied/x",
        "X-Forwarded-For: 192.0.2.7\r\n",
    );
    assert_eq!(status(&via_proxy), 403, "{via_proxy}");
    let via_proxy = get(
        plain,
        Some("127.0.0.3"),
        "ipdeny.test",
        "/prod/denied/x",
        "X-Forwarded-For: 198.51.100.7\r\n",
    );
    assert_eq!(status(&via_proxy), 200, "{via_proxy}");
}

#[test]
fn ip_allow_list_needs_an_explicit_allow() {
    let gw = Gateway::start(&config("current"), &["--workers", "2"]);
    let plain = gw.addrs[0];
    let denied = get(plain, None, "allowlist.test", "/prod/pets", "");
    assert_eq!(
        normalized(&denied),
        expected_403(
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
             arn:aws:execute-api:us-east-1:********9012:allow1/prod/GET/pets because no resource-based policy allows the execute-api:Invoke action"
        )
    );
    let spoofed = get(
        plain,
        None,
        "allowlist.test",
        "/prod/pets",
        "X-Forwarded-For: 198.51.100.7\r\n",
    );
    assert_eq!(status(&spoofed), 403);
    let trusted = get(
        plain,
        Some("127.0.0.3"),
        "allowlist.test",
        "/prod/pets",
        "X-Forwarded-For: 198.51.100.7\r\n",
    );
    assert_eq!(status(&trusted), 200, "{trusted}");
}

#[test]
fn vpc_endpoint_restriction_through_proxy_v2() {
    let gw = Gateway::start(&config("current"), &["--workers", "2"]);
    let pp = gw.addrs[1];
    let req = b"GET /prod/x HTTP/1.1\r\nHost: private.test\r\nConnection: close\r\n\r\n";
    let src: SocketAddr = "10.9.8.7:40000".parse().unwrap();
    let dst: SocketAddr = "10.0.0.1:443".parse().unwrap();
    let mut ok = tollgate_gateway::proxy_protocol::encode_v2(src, dst, Some("vpce-1a2b3c4d"));
    ok.extend_from_slice(req);
    assert_eq!(status(&exchange(pp, None, &ok)), 200);
    let mut other = tollgate_gateway::proxy_protocol::encode_v2(src, dst, Some("vpce-99999999"));
    other.extend_from_slice(req);
    let denied = exchange(pp, None, &other);
    assert_eq!(
        normalized(&denied),
        expected_403(
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
             arn:aws:execute-api:us-east-1:********9012:private1/prod/GET/x with an explicit deny in a resource-based policy"
        )
    );
    // v1 carries no endpoint id: the StringNotEquals deny applies (missing key -> true).
    let mut v1 = b"PROXY TCP4 10.9.8.7 10.0.0.1 40000 443\r\n".to_vec();
    v1.extend_from_slice(req);
    assert_eq!(status(&exchange(pp, None, &v1)), 403);
    // A connection without a PROXY header is refused on that listener.
    let bare = exchange(pp, None, req);
    assert!(bare.is_empty() || status(&bare) == 400, "{bare}");
    // The plain listener has no endpoint: denied too.
    assert_eq!(
        status(&get(gw.addrs[0], None, "private.test", "/prod/x", "")),
        403
    );
}

#[test]
fn legacy_texts_after_a_live_swap() {
    let gw = Gateway::start(&config("current"), &["--workers", "2"]);
    let plain = gw.addrs[0];
    // Flip to the legacy texts through the admin API.
    let body = config("legacy");
    let put = format!(
        "PUT /config HTTP/1.1\r\nHost: admin\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(gw.admin, None, put.as_bytes());
    assert_eq!(status(&answer), 200, "{answer}");
    assert!(answer.ends_with("{\"version\":2}"), "{answer}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let denied = loop {
        let r = get(plain, None, "ipdeny.test", "/prod/denied/x", "");
        if r.contains("explicit deny\"") || Instant::now() > deadline {
            break r;
        }
    };
    assert_eq!(
        normalized(&denied),
        expected_403(
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
             arn:aws:execute-api:us-east-1:********9012:ipdeny1/prod/GET/denied/x with an explicit deny"
        )
    );
    let no_allow = get(plain, None, "allowlist.test", "/prod/pets", "");
    assert_eq!(
        normalized(&no_allow),
        expected_403(
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
             arn:aws:execute-api:us-east-1:********9012:allow1/prod/GET/pets"
        )
    );
}
