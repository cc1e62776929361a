//! Parsing of the `Authorization` header and of the credential scope.

use base64::Engine as _;
use ring::digest;

use crate::SigV4Error;
use crate::canonical::ALGORITHM;

/// The components of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorizationHeader<'a> {
    /// `AWS4-HMAC-SHA256` (anything else is rejected before this struct is made).
    pub algorithm: &'a str,
    /// `AKID/YYYYMMDD/region/service/aws4_request`.
    pub credential: &'a str,
    /// `host;x-amz-date;…`.
    pub signed_headers: &'a str,
    /// Hex signature.
    pub signature: &'a str,
}

fn hashed_b64(value: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest::digest(&digest::SHA256, value))
}

fn invalid_pair(value: &[u8]) -> SigV4Error {
    SigV4Error::IncompleteSignature(format!(
        "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with \
         SHA-256 and encoded with Base64): '{}'.",
        hashed_b64(value)
    ))
}

/// Parses an `Authorization` header value the way API Gateway does: first the `key=value`
/// pairs after the scheme, then the required components (`Credential`, `Signature`,
/// `SignedHeaders`, and a date header: `has_date_header` says whether `X-Amz-Date` or `Date`
/// is present), and only then the algorithm (not `AWS4-HMAC-SHA256` ->
/// [`SigV4Error::MissingAuthenticationToken`]).
pub fn parse_authorization_header(
    value: &[u8],
    has_date_header: bool,
) -> Result<AuthorizationHeader<'_>, SigV4Error> {
    let text = std::str::from_utf8(value).map_err(|_| invalid_pair(value))?;
    let text = text.trim_matches([' ', '\t']);
    let (scheme, rest) = match text.find([' ', '\t']) {
        Some(i) => (
            text.get(..i).unwrap_or_default(),
            text.get(i..).unwrap_or_default(),
        ),
        None => (text, ""),
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for pair in rest.split(',') {
        let (k, v) = pair
            .trim()
            .split_once('=')
            .ok_or_else(|| invalid_pair(value))?;
        let slot = match k.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        // A component given twice (e.g. two Authorization headers joined) is ambiguous.
        if slot.replace(v.trim()).is_some() {
            return Err(invalid_pair(value));
        }
    }
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed_headers.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if !has_date_header {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) if missing.is_empty() => {
            if scheme != ALGORITHM {
                return Err(SigV4Error::MissingAuthenticationToken);
            }
            Ok(AuthorizationHeader {
                algorithm: scheme,
                credential,
                signed_headers,
                signature,
            })
        }
        _ => Err(SigV4Error::IncompleteSignature(format!(
            "{} (Hashed with SHA-256 and encoded with Base64) Authorization={}",
            missing.join(" "),
            hashed_b64(value)
        ))),
    }
}

/// The five parts of a credential `AKID/YYYYMMDD/region/service/aws4_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialScope<'a> {
    /// Access key id.
    pub access_key_id: &'a str,
    /// `YYYYMMDD`.
    pub date: &'a str,
    /// Region.
    pub region: &'a str,
    /// Service.
    pub service: &'a str,
    /// `aws4_request`.
    pub terminator: &'a str,
}

/// Splits a credential into its five slash-separated parts.
pub fn parse_credential(credential: &str) -> Result<CredentialScope<'_>, SigV4Error> {
    let mut it = credential.split('/');
    match (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) {
        (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator), None) => {
            Ok(CredentialScope {
                access_key_id,
                date,
                region,
                service,
                terminator,
            })
        }
        _ => Err(SigV4Error::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{credential}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    #[test]
    fn parses_the_header_form() {
        let a = parse_authorization_header(GOOD.as_bytes(), true).unwrap();
        assert_eq!(a.algorithm, "AWS4-HMAC-SHA256");
        assert_eq!(
            a.credential,
            "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
        );
        assert_eq!(a.signed_headers, "host;x-amz-date");
        assert_eq!(a.signature.len(), 64);
        let c = parse_credential(a.credential).unwrap();
        assert_eq!(
            (c.access_key_id, c.date, c.region, c.service, c.terminator),
            (
                "AKIDEXAMPLE",
                "20150830",
                "us-east-1",
                "service",
                "aws4_request"
            )
        );
    }

    #[test]
    fn bearer_token_is_an_invalid_pair() {
        let v = b"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
        let err = parse_authorization_header(v, true).unwrap_err();
        let expected = format!(
            "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with \
             SHA-256 and encoded with Base64): '{}'.",
            base64::engine::general_purpose::STANDARD
                .encode(digest::digest(&digest::SHA256, v).as_ref())
        );
        assert_eq!(err, SigV4Error::IncompleteSignature(expected));
        assert_eq!(err.error_type(), "IncompleteSignatureException");
    }

    #[test]
    fn other_algorithm_is_missing_token() {
        let v = GOOD.replace("AWS4-HMAC-SHA256", "Xeni-API");
        assert_eq!(
            parse_authorization_header(v.as_bytes(), true),
            Err(SigV4Error::MissingAuthenticationToken)
        );
    }

    #[test]
    fn missing_components_are_listed() {
        let v = b"Basic dXNlcjpwYXNz=";
        let SigV4Error::IncompleteSignature(msg) =
            parse_authorization_header(v, false).unwrap_err()
        else {
            panic!("wrong variant")
        };
        assert!(msg.starts_with(
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header. (Hashed with SHA-256 and encoded with Base64) Authorization="
        ));
        let SigV4Error::IncompleteSignature(msg) = parse_authorization_header(v, true).unwrap_err()
        else {
            panic!("wrong variant")
        };
        assert!(!msg.contains("'Date'"));
        let no_date = parse_authorization_header(GOOD.as_bytes(), false).unwrap_err();
        assert!(no_date.message().starts_with(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. (Hashed"
        ));
    }

    #[test]
    fn bad_credential() {
        let err = parse_credential("AKID/20150830/us-east-1/aws4_request").unwrap_err();
        assert_eq!(err.error_type(), "IncompleteSignatureException");
        assert!(err.message().contains("exactly 5 slash-delimited"));
    }
}
