//! JWS compact serialization: split, header checks, signature verification.

use serde::Deserialize;

use crate::jwk::{Alg, KeySet};
use crate::{JwtError, b64};

/// Tokens longer than this are rejected before any decoding (Cognito tokens are 1-2 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A JWS whose signature verified (claims not yet checked).
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    /// The header's `alg`.
    pub alg: Alg,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// The decoded payload bytes (not necessarily JSON).
    pub payload: Vec<u8>,
}

/// Marks a header member as present whatever its value (even `null`).
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(Present(true))
    }
}

/// The protected header members we act on. serde's derive rejects a repeated known member
/// ("duplicate field"), which is what makes duplicate `alg`/`kid` detection free; repeats of
/// members we ignore are not detected (they cannot change the outcome).
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Present,
    #[serde(default)]
    b64: Present,
    #[serde(default)]
    jwk: Present,
    #[serde(default)]
    jku: Present,
    #[serde(default)]
    x5u: Present,
    #[serde(default)]
    x5c: Present,
}

/// True when `json` starts (after JSON whitespace) with `{`: serde derives also accept
/// arrays for structs, and a JOSE header must be an object.
pub(crate) fn is_json_object(json: &[u8]) -> bool {
    json.iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| *b == b'{')
}

fn parse_header(b64_header: &[u8]) -> Result<Header, JwtError> {
    let json = b64::decode(b64_header).ok_or(JwtError::Malformed("header is not base64url"))?;
    if !is_json_object(&json) {
        return Err(JwtError::Malformed("header is not a JSON object"));
    }
    serde_json::from_slice::<Header>(&json).map_err(|e| {
        if e.to_string().starts_with("duplicate field") {
            JwtError::DuplicateMember
        } else {
            JwtError::Malformed("header is not valid JSON with a string alg")
        }
    })
}

/// The parts of a compact token: header, payload, signature, signing input.
type Parts<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8]);

/// Splits `token` into its three base64url parts (exactly two dots).
fn split(token: &str) -> Result<Parts<'_>, JwtError> {
    let bytes = token.as_bytes();
    let mut dots = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'.')
        .map(|(i, _)| i);
    let (Some(d1), Some(d2), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(JwtError::Malformed("not three dot-separated parts"));
    };
    let header = bytes.get(..d1).ok_or(JwtError::Malformed("split"))?;
    let payload = bytes.get(d1 + 1..d2).ok_or(JwtError::Malformed("split"))?;
    let signature = bytes.get(d2 + 1..).ok_or(JwtError::Malformed("split"))?;
    let signing_input = bytes.get(..d2).ok_or(JwtError::Malformed("split"))?;
    if header.is_empty() {
        return Err(JwtError::Malformed("empty header"));
    }
    Ok((header, payload, signature, signing_input))
}

/// Verifies the signature of a JWS compact token and returns its payload, checking no
/// claims: the entry point for signature conformance suites (and for non-JWT JWS).
///
/// Checks, in order: size ([`MAX_TOKEN_BYTES`]), three parts, canonical base64url, header
/// is a JSON object without duplicate `alg`/`kid`, `alg` on `algs` (never `none`), no
/// `jwk`/`jku`/`x5u`/`x5c`, no `crit`/`b64`, key by `kid`, key type fits `alg`, signature.
pub fn verify_signature_only(
    token: &str,
    keys: &KeySet,
    algs: &[Alg],
) -> Result<VerifiedJws, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge);
    }
    let (h, p, s, signing_input) = split(token)?;
    let header = parse_header(h)?;
    let alg = Alg::from_name(&header.alg).ok_or(JwtError::UnsupportedAlg)?;
    if !algs.contains(&alg) {
        return Err(JwtError::UnsupportedAlg);
    }
    if header.jwk.0 || header.jku.0 || header.x5u.0 || header.x5c.0 {
        return Err(JwtError::EmbeddedKey);
    }
    if header.crit.0 || header.b64.0 {
        return Err(JwtError::UnsupportedCrit);
    }
    let key = keys.select(header.kid.as_deref())?;
    let sig = b64::decode(s).ok_or(JwtError::Malformed("signature is not base64url"))?;
    let payload = b64::decode(p).ok_or(JwtError::Malformed("payload is not base64url"))?;
    key.verify(alg, signing_input, &sig)?;
    Ok(VerifiedJws {
        alg,
        kid: header.kid,
        payload,
    })
}

/// Strips an optional `Bearer ` scheme (case-insensitive, one or more spaces) from an
/// `Authorization` value; a raw token is returned unchanged. Other surrounding whitespace
/// is *not* trimmed (AWS: "make sure the tokens don't have any additional spaces"), so it
/// fails base64url decoding later.
pub fn strip_bearer(header_value: &str) -> &str {
    let bytes = header_value.as_bytes();
    if bytes.len() > 7
        && bytes
            .get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"bearer"))
        && bytes.get(6) == Some(&b' ')
    {
        header_value
            .get(7..)
            .map_or(header_value, |rest| rest.trim_start_matches(' '))
    } else {
        header_value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer abc"), "abc");
        assert_eq!(strip_bearer("BEARER   abc"), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
        assert_eq!(strip_bearer("Bearer"), "Bearer");
        assert_eq!(strip_bearer("Bearerabc"), "Bearerabc");
        assert_eq!(strip_bearer("Basic abc"), "Basic abc");
    }

    #[test]
    fn splitting() {
        assert!(split("a.b.c").is_ok());
        assert!(split("a..c").is_ok());
        assert!(split("a.b").is_err());
        assert!(split("a.b.c.d").is_err());
        assert!(split(".b.c").is_err());
        // an empty signature is split fine and fails verification later
        assert!(split("a.b.").is_ok());
    }

    #[test]
    fn header_objects() {
        assert!(is_json_object(b" \n{}"));
        assert!(!is_json_object(b"[\"RS256\"]"));
        let dup = b64::encode(br#"{"alg":"RS256","alg":"none"}"#);
        assert_eq!(
            parse_header(dup.as_bytes()).err(),
            Some(JwtError::DuplicateMember)
        );
        let arr = b64::encode(br#"["RS256"]"#);
        assert!(matches!(
            parse_header(arr.as_bytes()),
            Err(JwtError::Malformed(_))
        ));
    }
}
