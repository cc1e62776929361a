//! Hot swap under load for authorization state: an access key revoked and a TOKEN authorizer's
//! function URL changed while signed and token-bearing requests flow on keep-alive
//! connections. Requests that ended before the swap was sent pass under the old rules; every
//! request that started after the acknowledgement is refused under the new ones (the revoked
//! key is unknown; the new function denies); nothing fails or hangs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use common::{Client, Gateway};

/// A Lambda-style authorizer over HTTP that allows or denies every token, counting calls.
fn authorizer(effect: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let addr = common::serve_requests(move |_| {
        c2.fetch_add(1, Ordering::SeqCst);
        let body = format!(
            r#"{{"principalId":"u","policyDocument":{{"Version":"2012-10-17","Statement":[{{"Action":"execute-api:Invoke","Effect":"{effect}","Resource":"*"}}]}}}}"#
        );
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    });
    (addr, calls)
}

fn config(with_key2: bool, function: SocketAddr) -> String {
    let key2 = if with_key2 {
        "      - { id: AKIDTWO, secret: \"two-secret\" }\n"
    } else {
        ""
    };
    format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "{admin}" }}
  access_log: off
identities:
  - arn: "arn:aws:iam::123456789012:user/alice"
    access_keys:
      - {{ id: AKIDONE, secret: "one-secret" }}
{key2}    policies:
      - Version: "2012-10-17"
        Statement:
          - {{ Effect: Allow, Action: "execute-api:Invoke", Resource: "*" }}
authorizers:
  - name: tok
    type: TOKEN
    function_url: "http://{function}/2015-03-31/functions/function/invocations"
    ttl_seconds: 300
apis:
  - id: swapauth1
    stages: {{ prod: {{}} }}
    routes:
      - {{ path: "/iam/{{p+}}", methods: [GET], authorization: AWS_IAM, integration: {{ type: mock, body: "iam-ok" }} }}
      - {{ path: "/custom/{{p+}}", methods: [GET], authorization: CUSTOM, authorizer: tok, integration: {{ type: mock, body: "custom-ok" }} }}
"#,
        admin = common::ADMIN_BIND
    )
}

fn signed_get(gw: SocketAddr, akid: &str, secret: &str, path: &str) -> Vec<u8> {
    let identity: Identity = Credentials::new(akid, secret, None, None, "t").into();
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
    let headers = [("host", host.as_str())];
    let signable = SignableRequest::new(
        "GET",
        format!("http://{host}{path}"),
        headers.into_iter(),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n");
    for h in instructions.headers() {
        req.push_str(&format!("{}: {}\r\n", h.0, h.1));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

fn put_config(admin: SocketAddr, body: &str) -> (u16, String) {
    let mut c = Client::connect(admin);
    let req = format!(
        "PUT /config HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = c.request(req.as_bytes());
    (r.status, r.text())
}

#[derive(Debug)]
struct Sample {
    start: Instant,
    end: Instant,
    status: u16,
}

#[test]
fn revoked_keys_and_changed_authorizers_take_effect_at_the_acknowledgement() {
    let (allow_fn, allow_calls) = authorizer("Allow");
    let (deny_fn, deny_calls) = authorizer("Deny");
    let gw = Gateway::start(&config(true, allow_fn), &["--workers", "2"]);
    let addr = gw.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let iam_samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let custom_samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let mut threads = Vec::new();
    for t in 0..2 {
        let (stop_iam, samples) = (stop.clone(), iam_samples.clone());
        threads.push(std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            let mut local = Vec::new();
            let mut i = 0;
            while !stop_iam.load(Ordering::Relaxed) {
                i += 1;
                let req = signed_get(
                    addr,
                    "AKIDTWO",
                    "two-secret",
                    &format!("/prod/iam/t{t}/{i}"),
                );
                let start = Instant::now();
                let r = c.request(&req);
                local.push(Sample {
                    start,
                    end: Instant::now(),
                    status: r.status,
                });
            }
            samples.lock().unwrap().extend(local);
        }));
        let (stop_custom, samples) = (stop.clone(), custom_samples.clone());
        threads.push(std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            let mut local = Vec::new();
            let mut i = 0;
            while !stop_custom.load(Ordering::Relaxed) {
                i += 1;
                let req = format!("GET /prod/custom/{t}/{i} HTTP/1.1\r\nHost: x\r\nAuthorization: token-{t}\r\n\r\n");
                let start = Instant::now();
                let r = c.request(req.as_bytes());
                local.push(Sample { start, end: Instant::now(), status: r.status });
            }
            samples.lock().unwrap().extend(local);
        }));
    }
    std::thread::sleep(Duration::from_millis(400));
    let sent = Instant::now();
    let (status, body) = put_config(gw.admin, &config(false, deny_fn));
    let acked = Instant::now();
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    for (name, samples) in [("iam", iam_samples), ("custom", custom_samples)] {
        let samples = samples.lock().unwrap();
        let before: Vec<_> = samples.iter().filter(|s| s.end < sent).collect();
        let after: Vec<_> = samples.iter().filter(|s| s.start > acked).collect();
        assert!(
            before.len() >= 5 && after.len() >= 5,
            "{name}: {} before, {} after",
            before.len(),
            after.len()
        );
        assert!(
            before.iter().all(|s| s.status == 200),
            "{name}: {:?}",
            before.iter().find(|s| s.status != 200)
        );
        assert!(
            after.iter().all(|s| s.status == 403),
            "{name}: {:?}",
            after.iter().find(|s| s.status != 403)
        );
        assert!(
            samples.iter().all(|s| s.status == 200 || s.status == 403),
            "{name}: unexpected status"
        );
    }
    // One call per token to the old function (cached), then the new function decides.
    assert_eq!(allow_calls.load(Ordering::SeqCst), 2);
    assert!(deny_calls.load(Ordering::SeqCst) >= 1);
    assert!(
        deny_calls.load(Ordering::SeqCst) <= 2,
        "deny results are cached per token"
    );
}
