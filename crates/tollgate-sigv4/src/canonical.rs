//! The execute-api canonical request, the string to sign and the signing key.

use std::borrow::Cow;

use ring::{digest, hmac};

/// The algorithm name of the only signature version this crate verifies.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// SHA-256 of the empty string, the payload hash of a request without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn hex_digit_upper(n: u8) -> u8 {
    if n < 10 { b'0' + n } else { b'A' + n - 10 }
}

fn hex_digit_lower(n: u8) -> u8 {
    if n < 10 { b'0' + n } else { b'a' + n - 10 }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Lower-case hex of `bytes`.
pub fn hex_lower(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(hex_digit_lower(b >> 4)));
        s.push(char::from(hex_digit_lower(b & 0x0f)));
    }
    s
}

/// Decodes exactly 64 lower-case hex digits (a SigV4 signature) into 32 bytes.
pub(crate) fn decode_signature_hex(s: &[u8]) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] if !hi.is_ascii_uppercase() && !lo.is_ascii_uppercase() => (*hi, *lo),
            _ => return None,
        };
        *o = (hex_value(hi)? << 4) | hex_value(lo)?;
    }
    Some(out)
}

/// Appends `bytes` percent-encoded the SigV4 way: RFC 3986 unreserved bytes are kept, every
/// other byte (and `/` unless `keep_slash`) becomes `%XX` with upper-case hex.
pub fn uri_encode_into(out: &mut Vec<u8>, bytes: &[u8], keep_slash: bool) {
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', hex_digit_upper(b >> 4), hex_digit_upper(b & 0x0f)]);
        }
    }
}

/// Decodes one query-string name or value: `%XX` becomes the byte, `+` a space; a `%` not
/// followed by two hex digits stays literal.
pub fn decode_query_component(s: &[u8]) -> Cow<'_, [u8]> {
    if !s.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                s.get(i + 1).copied().and_then(hex_value),
                s.get(i + 2).copied().and_then(hex_value),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push((hi << 4) | lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// One decoded query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParam<'a> {
    /// The decoded name.
    pub name: Cow<'a, [u8]>,
    /// The decoded value (empty when the parameter had no `=`).
    pub value: Cow<'a, [u8]>,
}

/// Splits a raw query string on `&` (empty pieces are skipped) and decodes each name and value.
pub fn parse_query(query: &[u8]) -> Vec<QueryParam<'_>> {
    query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = match p.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    p.get(..eq).unwrap_or_default(),
                    p.get(eq + 1..).unwrap_or_default(),
                ),
                None => (p, &b""[..]),
            };
            QueryParam {
                name: decode_query_component(name),
                value: decode_query_component(value),
            }
        })
        .collect()
}

/// Appends the canonical URI of a raw (still percent-encoded) request path, execute-api style:
/// empty and `.` segments are dropped, `..` removes the previous segment (RFC 3986 5.2.4, with
/// repeated slashes collapsed), then every segment is percent-encoded once more (so `%3D`
/// becomes `%253D` and `@` becomes `%40`).
pub fn canonical_uri_into(out: &mut Vec<u8>, path: &[u8]) {
    let mut segments: Vec<&[u8]> = Vec::with_capacity(8);
    for seg in path.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    out.push(b'/');
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        uri_encode_into(out, seg, false);
    }
    let trailing = path.ends_with(b"/") || path.ends_with(b"/.") || path.ends_with(b"/..");
    if trailing && !segments.is_empty() {
        out.push(b'/');
    }
}

/// Appends the canonical query string: every parameter whose decoded name is not in `skip`,
/// name and value strictly re-encoded, sorted by encoded name then encoded value.
pub fn canonical_query_into(out: &mut Vec<u8>, params: &[QueryParam<'_>], skip: &[&[u8]]) {
    let mut encoded: Vec<(Vec<u8>, Vec<u8>)> = params
        .iter()
        .filter(|p| !skip.contains(&p.name.as_ref()))
        .map(|p| {
            let mut n = Vec::with_capacity(p.name.len());
            uri_encode_into(&mut n, &p.name, false);
            let mut v = Vec::with_capacity(p.value.len());
            uri_encode_into(&mut v, &p.value, false);
            (n, v)
        })
        .collect();
    encoded.sort_unstable();
    for (i, (n, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(n);
        out.push(b'=');
        out.extend_from_slice(v);
    }
}

/// Appends a header value trimmed of surrounding spaces/tabs, inner runs of spaces folded to one.
fn push_header_value(out: &mut Vec<u8>, value: &[u8]) {
    let start = value.iter().position(|&b| b != b' ' && b != b'\t');
    let end = value.iter().rposition(|&b| b != b' ' && b != b'\t');
    let (Some(start), Some(end)) = (start, end) else {
        return;
    };
    let mut prev_space = false;
    for &b in value.get(start..=end).unwrap_or_default() {
        if b == b' ' {
            if !prev_space {
                out.push(b);
            }
            prev_space = true;
        } else {
            out.push(b);
            prev_space = false;
        }
    }
}

/// Everything that goes into a canonical request besides the request itself.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalSpec<'a> {
    /// Lower-case, sorted signed header names.
    pub signed_headers: &'a [&'a str],
    /// The payload hash line (`x-amz-content-sha256` value, `UNSIGNED-PAYLOAD`, or the body hash).
    pub payload_hash: &'a str,
    /// Decoded query parameter names left out of the canonical query (`X-Amz-Signature` for
    /// presigned URLs).
    pub skip_query: &'a [&'a [u8]],
}

/// Builds the canonical request of `req` (bytes: header values need not be UTF-8).
pub fn canonical_request(req: &crate::RequestParts<'_>, spec: &CanonicalSpec<'_>) -> Vec<u8> {
    let params = parse_query(req.query.unwrap_or_default());
    canonical_request_with(req, &params, spec)
}

pub(crate) fn canonical_request_with(
    req: &crate::RequestParts<'_>,
    params: &[QueryParam<'_>],
    spec: &CanonicalSpec<'_>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical_capacity(req));
    canonical_request_into(&mut out, req, params, spec);
    out
}

/// A capacity that holds most canonical requests of `req` without growing.
pub(crate) fn canonical_capacity(req: &crate::RequestParts<'_>) -> usize {
    256 + req.path.len() + req.query.map_or(0, <[u8]>::len)
}

/// Appends the canonical request of `req` to `out`.
pub(crate) fn canonical_request_into(
    out: &mut Vec<u8>,
    req: &crate::RequestParts<'_>,
    params: &[QueryParam<'_>],
    spec: &CanonicalSpec<'_>,
) {
    out.extend_from_slice(req.method);
    out.push(b'\n');
    canonical_uri_into(out, req.path);
    out.push(b'\n');
    canonical_query_into(out, params, spec.skip_query);
    out.push(b'\n');
    for name in spec.signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut first = true;
        for (n, v) in req.headers {
            if n.eq_ignore_ascii_case(name.as_bytes()) {
                if !first {
                    out.push(b',');
                }
                first = false;
                push_header_value(out, v);
            }
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    for (i, name) in spec.signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(spec.payload_hash.as_bytes());
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex_lower(digest::digest(&digest::SHA256, data).as_ref())
}

/// The string to sign: algorithm, request date, credential scope and the hex SHA-256 of the
/// canonical request, joined by `\n`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
}

/// [`string_to_sign`] written into `out` (replacing its contents): the verifier's hot path,
/// which reuses one buffer for the canonical request and the string to sign.
pub(crate) fn string_to_sign_into(
    out: &mut Vec<u8>,
    amz_date: &str,
    scope: &str,
    canonical_request_hash: &[u8],
) {
    out.clear();
    out.extend_from_slice(ALGORITHM.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(amz_date.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(scope.as_bytes());
    out.push(b'\n');
    for &b in canonical_request_hash {
        out.extend_from_slice(&[hex_digit_lower(b >> 4), hex_digit_lower(b & 0x0f)]);
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    for (o, i) in out.iter_mut().zip(tag.as_ref()) {
        *o = *i;
    }
    out
}

/// Derives the SigV4 signing key: HMAC chain over `AWS4`+secret, date (`YYYYMMDD`), region,
/// service and `aws4_request`.
pub fn derive_signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(secret.len() + 4);
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret);
    let k_date = hmac_sha256(&k_secret, date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// The hex signature of `string_to_sign` under `signing_key` (what a client sends).
pub fn sign_hex(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex_lower(&hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(p: &str) -> String {
        let mut out = Vec::new();
        canonical_uri_into(&mut out, p.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn canonical_uri_normalises_then_encodes_again() {
        assert_eq!(uri(""), "/");
        assert_eq!(uri("/"), "/");
        assert_eq!(uri("//"), "/");
        assert_eq!(uri("/./"), "/");
        assert_eq!(uri("/example/.."), "/");
        assert_eq!(uri("/a/b/.."), "/a/");
        assert_eq!(uri("/a/b/."), "/a/b/");
        assert_eq!(uri("/../a"), "/a");
        assert_eq!(uri("//example//"), "/example/");
        assert_eq!(uri("/example space/"), "/example%20space/");
        assert_eq!(
            uri("/test/@connections/JBDvjfGEIAMCERw%3D"),
            "/test/%40connections/JBDvjfGEIAMCERw%253D"
        );
        assert_eq!(uri("/\u{1234}"), "/%E1%88%B4");
        assert_eq!(uri("/example/$delete"), "/example/%24delete");
    }

    #[test]
    fn query_decoding_and_sorting() {
        let params = parse_query(b"b=2&a=%41%zz&&c&a=1+2&%E1%88%B4=x");
        let mut out = Vec::new();
        canonical_query_into(&mut out, &params, &[]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "%E1%88%B4=x&a=1%202&a=A%25zz&b=2&c="
        );
        let mut out = Vec::new();
        canonical_query_into(&mut out, &params, &[b"a"]);
        assert_eq!(String::from_utf8(out).unwrap(), "%E1%88%B4=x&b=2&c=");
    }

    #[test]
    fn header_values_are_trimmed_and_folded() {
        let mut out = Vec::new();
        push_header_value(&mut out, b" \t \"a   b  c\"  ");
        assert_eq!(out, b"\"a b c\"");
        let mut out = Vec::new();
        push_header_value(&mut out, b"   ");
        assert!(out.is_empty());
    }

    #[test]
    fn string_to_sign_into_matches_string_to_sign() {
        let creq = b"GET\n/\n\nhost:example.com\n\nhost\nUNSIGNED-PAYLOAD";
        let scope = "20150830/us-east-1/service/aws4_request";
        let mut out = b"left over".to_vec();
        let hash = digest::digest(&digest::SHA256, creq);
        string_to_sign_into(&mut out, "20150830T123600Z", scope, hash.as_ref());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            string_to_sign("20150830T123600Z", scope, creq)
        );
    }

    #[test]
    fn signature_hex_is_strict() {
        let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        assert_eq!(
            hex_lower(&decode_signature_hex(sig.as_bytes()).unwrap()),
            sig
        );
        assert!(decode_signature_hex(sig.to_uppercase().as_bytes()).is_none());
        assert!(decode_signature_hex(&sig.as_bytes()[1..]).is_none());
        assert!(decode_signature_hex(sig.replace('5', "g").as_bytes()).is_none());
    }

    #[test]
    fn signing_key_matches_aws_documentation_example() {
        // AWS General Reference, "Examples of how to derive a signing key for Signature Version 4".
        let key = derive_signing_key(
            b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex_lower(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
