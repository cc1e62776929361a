//! Requests signed by the independent `aws-sigv4` crate (the Rust SDK's signer) for
//! `execute-api` must verify: with and without session tokens, GET and POST with bodies,
//! encoded paths and queries, header and presigned forms. Tampering must not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tollgate_sigv4::{RequestParts, SigV4Error, SigningKeyCache, StaticKey, Verified, Verifier};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEA8aCXVzLWVhc3QtMSJHMEUCIQ+/token==";
const REGION: &str = "eu-west-1";
const HOST: &str = "abc123.execute-api.eu-west-1.amazonaws.com";
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Clone, Copy)]
struct Case<'a> {
    method: &'a str,
    target: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
    token: bool,
    presign: Option<u64>,
    unsigned_payload: bool,
    content_sha256_header: bool,
}

const BASE: Case<'static> = Case {
    method: "GET",
    target: "/",
    headers: &[],
    body: b"",
    token: false,
    presign: None,
    unsigned_payload: false,
    content_sha256_header: false,
};

/// The request as the client would send it.
#[derive(Debug, Clone)]
struct Sent {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn sign_with_sdk(c: &Case<'_>) -> Sent {
    let identity: Identity = Credentials::new(
        AKID,
        SECRET,
        c.token.then(|| TOKEN.to_owned()),
        None,
        "interop-test",
    )
    .into();
    let mut settings = SigningSettings::default();
    if let Some(secs) = c.presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(secs));
    }
    if c.content_sha256_header {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("execute-api")
        .time(UNIX_EPOCH + Duration::from_secs(NOW as u64))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut headers: Vec<(String, String)> = vec![("Host".to_owned(), HOST.to_owned())];
    headers.extend(
        c.headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    let body = if c.unsigned_payload {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(c.body)
    };
    let signable = SignableRequest::new(
        c.method,
        format!("https://{HOST}{}", c.target),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        body,
    )
    .unwrap();
    let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();
    let (extra_headers, extra_params) = instructions.into_parts();
    for h in extra_headers {
        headers.push((h.name().to_owned(), h.value().to_owned()));
    }
    let (path, mut query) = match c.target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (c.target.to_owned(), None),
    };
    for (name, value) in extra_params {
        let pair = format!(
            "{}={}",
            utf8_percent_encode(name, QUERY_SET),
            utf8_percent_encode(&value, QUERY_SET)
        );
        query = Some(match query {
            Some(q) if !q.is_empty() => format!("{q}&{pair}"),
            _ => pair,
        });
    }
    Sent {
        method: c.method.to_owned(),
        path,
        query,
        headers,
        body: c.body.to_vec(),
    }
}

fn keys() -> HashMap<String, StaticKey> {
    HashMap::from([
        (AKID.to_owned(), StaticKey::new(SECRET, 1)),
        (
            "ASIATEMPORARY".to_owned(),
            StaticKey::new(SECRET, 2).with_session_token(TOKEN),
        ),
    ])
}

fn verify_sent(s: &Sent, now: i64, body: Option<&[u8]>) -> Result<Verified, SigV4Error> {
    let headers: Vec<(&[u8], &[u8])> = s
        .headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let req = RequestParts {
        method: s.method.as_bytes(),
        path: s.path.as_bytes(),
        query: s.query.as_deref().map(str::as_bytes),
        headers: &headers,
        body,
    };
    // With a token the key is looked up under its own id; the SDK signed with AKID, so map
    // the token-bearing case onto a store whose AKID entry carries the token.
    let mut k = keys();
    if s.headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token"))
        || s.query
            .as_deref()
            .is_some_and(|q| q.contains("X-Amz-Security-Token="))
    {
        k.insert(
            AKID.to_owned(),
            StaticKey::new(SECRET, 2).with_session_token(TOKEN),
        );
    }
    Verifier::new(REGION).verify(&req, now, &k, &mut SigningKeyCache::default())
}

fn cases() -> Vec<(&'static str, Case<'static>)> {
    vec![
        ("get root", BASE),
        (
            "get root with token",
            Case {
                token: true,
                ..BASE
            },
        ),
        (
            "get encoded path and query",
            Case {
                target: "/prod/items/a%20b/@connections/JBDvjfGEIAMCERw%3D?q=hello%20world&b=2&a=1&z=x%2By&empty=&caf%C3%A9=%E2%9C%93",
                ..BASE
            },
        ),
        (
            "get encoded path and query with token",
            Case {
                target: "/prod/items/a%20b/@connections/x%3Dy?q=a%2Fb&a=2&a=1",
                token: true,
                ..BASE
            },
        ),
        (
            "get dot segments and repeated slashes",
            Case {
                target: "/prod/./a//b/../c/",
                ..BASE
            },
        ),
        (
            "get with headers",
            Case {
                target: "/prod/pets",
                headers: &[("X-Custom", "a   b  c"), ("Accept", "application/json")],
                ..BASE
            },
        ),
        (
            "post json body",
            Case {
                method: "POST",
                target: "/prod/pets?dryRun=true",
                headers: &[("Content-Type", "application/json")],
                body: br#"{"name":"rex","kind":"dog"}"#,
                ..BASE
            },
        ),
        (
            "post json body with token",
            Case {
                method: "POST",
                target: "/prod/pets",
                headers: &[("Content-Type", "application/json")],
                body: br#"{"name":"rex"}"#,
                token: true,
                ..BASE
            },
        ),
        (
            "put body with x-amz-content-sha256",
            Case {
                method: "PUT",
                target: "/prod/pets/1",
                body: b"binary\x00\xffbody",
                content_sha256_header: true,
                ..BASE
            },
        ),
        (
            "presigned get",
            Case {
                presign: Some(900),
                ..BASE
            },
        ),
        (
            "presigned get with query and token",
            Case {
                target: "/prod/items/a%20b?x=1&y=%2F",
                presign: Some(3600),
                token: true,
                ..BASE
            },
        ),
        (
            "presigned post with body",
            Case {
                method: "POST",
                target: "/prod/upload",
                body: b"hello world",
                presign: Some(60),
                ..BASE
            },
        ),
        (
            "presigned unsigned payload",
            Case {
                target: "/prod/file",
                presign: Some(604_800),
                unsigned_payload: true,
                ..BASE
            },
        ),
    ]
}

#[test]
fn sdk_signed_requests_verify() {
    let all = cases();
    assert_eq!(all.len(), 13);
    for (name, c) in &all {
        let sent = sign_with_sdk(c);
        let ok = verify_sent(&sent, NOW, Some(&sent.body))
            .unwrap_or_else(|e| panic!("{name}: {}\n{sent:?}", e.message()));
        assert_eq!(ok.access_key_id, AKID, "{name}");
        assert_eq!(ok.presigned, c.presign.is_some(), "{name}");
        assert_eq!(ok.session_token, c.token, "{name}");
        assert_eq!(ok.principal, if c.token { 2 } else { 1 }, "{name}");
        // Within the clock window (and within a presigned URL's own expiry).
        let later = c.presign.map_or(299, |e| (e as i64).min(299));
        assert!(
            verify_sent(&sent, NOW + later, Some(&sent.body)).is_ok(),
            "{name}"
        );
        assert!(
            verify_sent(&sent, NOW - 299, Some(&sent.body)).is_ok(),
            "{name}"
        );
    }
}

#[test]
fn tampering_is_rejected() {
    for (name, c) in cases() {
        let sent = sign_with_sdk(&c);
        // Changed path.
        let mut m = sent.clone();
        m.path.push('x');
        assert!(
            matches!(
                verify_sent(&m, NOW, Some(&m.body)),
                Err(SigV4Error::SignatureMismatch { .. })
            ),
            "{name}: path"
        );
        // Extra query parameter.
        let mut m = sent.clone();
        m.query = Some(match &m.query {
            Some(q) => format!("{q}&extra=1"),
            None => "extra=1".to_owned(),
        });
        assert!(
            matches!(
                verify_sent(&m, NOW, Some(&m.body)),
                Err(SigV4Error::SignatureMismatch { .. })
            ),
            "{name}: query"
        );
        // Changed method.
        let mut m = sent.clone();
        m.method = "DELETE".to_owned();
        assert!(
            matches!(
                verify_sent(&m, NOW, Some(&m.body)),
                Err(SigV4Error::SignatureMismatch { .. })
            ),
            "{name}: method"
        );
        // Changed body (covered unless the payload was explicitly unsigned).
        if !c.unsigned_payload {
            let mut m = sent.clone();
            m.body.extend_from_slice(b"!");
            let r = verify_sent(&m, NOW, Some(&m.body));
            let e = r.expect_err(name);
            assert_eq!(e.error_type(), "InvalidSignatureException", "{name}: body");
            if c.content_sha256_header {
                assert!(matches!(e, SigV4Error::PayloadHash(_)), "{name}: {e:?}");
            }
        }
    }
}

#[test]
fn unbuffered_body_uses_declared_hash() {
    let c = Case {
        method: "PUT",
        target: "/prod/stream",
        body: b"a large body that was streamed",
        content_sha256_header: true,
        ..BASE
    };
    let sent = sign_with_sdk(&c);
    assert!(verify_sent(&sent, NOW, None).is_ok());
}

#[test]
fn presigned_expiry_is_enforced() {
    let c = Case {
        presign: Some(900),
        ..BASE
    };
    let sent = sign_with_sdk(&c);
    assert!(verify_sent(&sent, NOW + 900, Some(b"")).is_ok());
    let e = verify_sent(&sent, NOW + 901, Some(b"")).unwrap_err();
    assert_eq!(e.error_type(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "Signature expired: 20260101T000000Z is now earlier than 20260101T000001Z \
         (20260101T001501Z - 900 sec.)"
    );
    // More than a week is refused outright.
    let mut m = sent.clone();
    m.query = Some(
        m.query
            .unwrap()
            .replace("X-Amz-Expires=900", "X-Amz-Expires=604801"),
    );
    let e = verify_sent(&m, NOW, Some(b"")).unwrap_err();
    assert_eq!(
        e,
        SigV4Error::IncompleteSignature(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800".to_owned()
        )
    );
}

#[test]
fn session_token_rules() {
    // Signed with a token: verifying against a store without it -> invalid token.
    let sent = sign_with_sdk(&Case {
        token: true,
        ..BASE
    });
    let headers: Vec<(&[u8], &[u8])> = sent
        .headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let req = RequestParts {
        method: b"GET",
        path: b"/",
        query: None,
        headers: &headers,
        body: None,
    };
    let v = Verifier::new(REGION);
    let mut cache = SigningKeyCache::default();
    let plain = HashMap::from([(AKID.to_owned(), StaticKey::new(SECRET, 1))]);
    let e = v.verify(&req, NOW, &plain, &mut cache).unwrap_err();
    assert_eq!(e, SigV4Error::InvalidSecurityToken);
    assert_eq!(
        e.message(),
        "The security token included in the request is invalid."
    );
    // Key requires a token, request has none.
    let unsigned = sign_with_sdk(&BASE);
    let headers: Vec<(&[u8], &[u8])> = unsigned
        .headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let req = RequestParts {
        headers: &headers,
        ..req
    };
    let tokened = HashMap::from([(
        AKID.to_owned(),
        StaticKey::new(SECRET, 1).with_session_token(TOKEN),
    )]);
    assert_eq!(
        v.verify(&req, NOW, &tokened, &mut cache),
        Err(SigV4Error::InvalidSecurityToken)
    );
    // Expired temporary credentials.
    let expired = HashMap::from([(
        AKID.to_owned(),
        StaticKey::new(SECRET, 1).with_expiry(NOW - 1),
    )]);
    let e = v.verify(&req, NOW, &expired, &mut cache).unwrap_err();
    assert_eq!(e.error_type(), "ExpiredTokenException");
}
