//! The error catalogue: which request gets which `x-amzn-ErrorType` and message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use base64::Engine as _;
use ring::digest;
use tollgate_sigv4::{
    RequestParts, SigV4Error, SigningKeyCache, StaticKey, Verified, Verifier, derive_signing_key,
    sha256_hex, sign_hex,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_440_938_160; // 2015-08-30T12:36:00Z
const VANILLA_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

fn run(
    headers: &[(&str, &str)],
    query: Option<&str>,
    secret: &str,
) -> Result<Verified, SigV4Error> {
    let h: Vec<(&[u8], &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let req = RequestParts {
        method: b"GET",
        path: b"/",
        query: query.map(str::as_bytes),
        headers: &h,
        body: None,
    };
    let keys = HashMap::from([("AKIDEXAMPLE".to_owned(), StaticKey::new(secret, 0))]);
    Verifier::new("us-east-1").with_service("service").verify(
        &req,
        NOW,
        &keys,
        &mut SigningKeyCache::default(),
    )
}

fn vanilla(auth: &str) -> Result<Verified, SigV4Error> {
    run(
        &[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            ("Authorization", auth),
        ],
        None,
        SECRET,
    )
}

fn b64_sha256(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest::digest(&digest::SHA256, s.as_bytes()))
}

#[test]
fn vanilla_verifies() {
    assert!(vanilla(VANILLA_AUTH).is_ok());
}

#[test]
fn no_credentials_is_missing_authentication_token() {
    for r in [
        run(&[("Host", "example.amazonaws.com")], None, SECRET),
        run(
            &[("Host", "example.amazonaws.com"), ("Authorization", "")],
            Some("a=1"),
            SECRET,
        ),
        vanilla(&VANILLA_AUTH.replace("AWS4-HMAC-SHA256", "Xeni-API")),
        vanilla(&VANILLA_AUTH.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e, SigV4Error::MissingAuthenticationToken);
        assert_eq!(e.error_type(), "MissingAuthenticationTokenException");
        assert_eq!(e.message(), "Missing Authentication Token");
        assert_eq!(e.status(), 403);
    }
}

#[test]
fn bearer_token_is_incomplete_signature() {
    let auth = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl";
    let e = vanilla(auth).unwrap_err();
    assert_eq!(e.error_type(), "IncompleteSignatureException");
    assert_eq!(
        e.message(),
        format!(
            "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with \
             SHA-256 and encoded with Base64): '{}'.",
            b64_sha256(auth)
        )
    );
}

#[test]
fn missing_components() {
    let auth = "Basic dXNlcjpwYXNzd29yZA==";
    let e = run(&[("Host", "h"), ("Authorization", auth)], None, SECRET).unwrap_err();
    assert_eq!(e.error_type(), "IncompleteSignatureException");
    assert_eq!(
        e.message(),
        format!(
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header. (Hashed with SHA-256 and encoded with Base64) Authorization={}",
            b64_sha256(auth)
        )
    );
    let no_sig = VANILLA_AUTH.split(", Signature").next().unwrap();
    let e = vanilla(no_sig).unwrap_err();
    assert!(
        e.message()
            .starts_with("Authorization header requires 'Signature' parameter. (Hashed")
    );
}

#[test]
fn date_and_scope_texts() {
    let e = run(
        &[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "2015-08-30T12:36:00Z"),
            ("Authorization", VANILLA_AUTH),
        ],
        None,
        SECRET,
    )
    .unwrap_err();
    assert_eq!(e.error_type(), "IncompleteSignatureException");
    assert_eq!(
        e.message(),
        "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"
    );
    let e = vanilla(&VANILLA_AUTH.replace("/20150830/", "/20150831/")).unwrap_err();
    assert_eq!(e.error_type(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
         '20150831' != '20150830', from '20150830T123600Z'."
    );
    let e = vanilla(&VANILLA_AUTH.replace("/us-east-1/", "/eu-west-1/")).unwrap_err();
    assert_eq!(
        e.message(),
        "Credential should be scoped to a valid region, not 'eu-west-1'. "
    );
    let e = vanilla(&VANILLA_AUTH.replace("/service/", "/s3/")).unwrap_err();
    assert_eq!(
        e.message(),
        "Credential should be scoped to correct service: 'service'. "
    );
    let e = vanilla(&VANILLA_AUTH.replace("aws4_request", "aws5_request")).unwrap_err();
    assert_eq!(
        e.message(),
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."
    );
    let e = vanilla(&VANILLA_AUTH.replace("AKIDEXAMPLE/", "")).unwrap_err();
    assert_eq!(e.error_type(), "IncompleteSignatureException");
    let e = vanilla(&VANILLA_AUTH.replace("host;x-amz-date", "x-amz-date")).unwrap_err();
    assert_eq!(
        e,
        SigV4Error::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned()
        )
    );
}

#[test]
fn unknown_key() {
    let e = vanilla(&VANILLA_AUTH.replace("AKIDEXAMPLE", "AKIDOTHER")).unwrap_err();
    assert_eq!(e, SigV4Error::UnknownAccessKey);
    assert_eq!(
        e.message(),
        "The security token included in the request is invalid."
    );
}

#[test]
fn mismatch_message_shows_canonical_request_and_string_to_sign() {
    let e = run(
        &[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            ("Authorization", VANILLA_AUTH),
        ],
        None,
        "wrong-secret",
    )
    .unwrap_err();
    assert_eq!(e.error_type(), "InvalidSignatureException");
    assert_eq!(e.response_type(), "INVALID_SIGNATURE");
    // Canonical request and string to sign of aws-c-auth-v4/get-vanilla.
    assert_eq!(
        e.message(),
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details.\n\nThe Canonical String for this request should have been\n'GET\n/\n\n\
         host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'\n\nThe String-to-Sign \
         should have been\n'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/\
         aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63'\n"
    );
    // An upper-case or truncated signature is a mismatch too, never a panic.
    for sig in [
        "5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31",
        "5fa0",
        "",
    ] {
        let auth = VANILLA_AUTH.replace(
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            sig,
        );
        assert!(
            matches!(vanilla(&auth), Err(SigV4Error::SignatureMismatch { .. })),
            "{sig}"
        );
    }
}

#[test]
fn http_date_header_instead_of_x_amz_date() {
    let creq = format!(
        "GET\n/\n\ndate:Sun, 30 Aug 2015 12:36:00 GMT\nhost:example.amazonaws.com\n\ndate;host\n{}",
        sha256_hex(b"")
    );
    let sts = format!(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}",
        sha256_hex(creq.as_bytes())
    );
    let key = derive_signing_key(SECRET.as_bytes(), "20150830", "us-east-1", "service");
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=date;host, Signature={}",
        sign_hex(&key, &sts)
    );
    let headers = [
        ("Host", "example.amazonaws.com"),
        ("Date", "Sun, 30 Aug 2015 12:36:00 GMT"),
        ("Authorization", auth.as_str()),
    ];
    let ok = run(&headers, None, SECRET).unwrap();
    assert_eq!(ok.signed_at, NOW);
}

#[test]
fn presigned_parameter_errors() {
    let base = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d";
    let host = [("Host", "example.amazonaws.com")];
    assert!(run(&host, Some(base), SECRET).unwrap().presigned);
    for (param, name) in [
        (
            "X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&",
            "X-Amz-Credential",
        ),
        ("X-Amz-Date=20150830T123600Z&", "X-Amz-Date"),
        ("X-Amz-SignedHeaders=host&", "X-Amz-SignedHeaders"),
    ] {
        let e = run(&host, Some(&base.replace(param, "")), SECRET).unwrap_err();
        assert_eq!(
            e,
            SigV4Error::IncompleteSignature(format!(
                "AWS query-string parameters must include '{name}'. Re-examine the query-string parameters."
            ))
        );
    }
    let e = run(
        &host,
        Some(&base.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")),
        SECRET,
    )
    .unwrap_err();
    assert_eq!(e, SigV4Error::MissingAuthenticationToken);
    let e = run(
        &host,
        Some(&base.replace("X-Amz-Expires=3600", "X-Amz-Expires=-1")),
        SECRET,
    )
    .unwrap_err();
    assert_eq!(
        e,
        SigV4Error::IncompleteSignature("X-Amz-Expires should be a number".to_owned())
    );
    // An Authorization header takes precedence over query parameters.
    let e = run(
        &[
            ("Host", "example.amazonaws.com"),
            ("Authorization", "Bearer x"),
        ],
        Some(base),
        SECRET,
    )
    .unwrap_err();
    assert_eq!(e.error_type(), "IncompleteSignatureException");
}

#[test]
fn repeated_authorization_headers_do_not_verify() {
    let e = run(
        &[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            ("Authorization", VANILLA_AUTH),
            ("Authorization", VANILLA_AUTH),
        ],
        None,
        SECRET,
    )
    .unwrap_err();
    assert_eq!(e.error_type(), "IncompleteSignatureException");
}
