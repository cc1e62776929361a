//! Claim decoding, Cognito claim checks and AWS-style claim rendering.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::JwtError;
use crate::jwk::{Alg, KeySet};
use crate::jws::{is_json_object, verify_signature_only};

/// The decoded claims of a verified token: every member, kept as JSON.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claims(Map<String, Value>);

impl Claims {
    /// One claim's JSON value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// One claim when it is a JSON string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// All claims, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of claims.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no claims.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The underlying map.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// A JSON object that remembers whether a member name was repeated (checked for free while
/// inserting into the map). Only the top level is checked; repeated names inside nested
/// objects keep the last value, as serde_json does.
struct StrictObject {
    map: Map<String, Value>,
    duplicate: bool,
}

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StrictObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                let mut duplicate = false;
                while let Some((k, v)) = access.next_entry::<String, Value>()? {
                    duplicate |= map.insert(k, v).is_some();
                }
                Ok(StrictObject { map, duplicate })
            }
        }
        d.deserialize_map(V)
    }
}

/// Which JSON parser decodes claims. The default for [`verify`] is [`CLAIMS_BACKEND`],
/// chosen by `bench/benches/jwt.rs` (`claims_decode` group) on a Cognito-sized payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonBackend {
    /// `serde_json::from_slice`.
    SerdeJson,
    /// `simd_json::serde::from_slice` (parses in place; needs a mutable buffer).
    SimdJson,
}

/// The backend [`verify`] uses. `bench/benches/jwt.rs` (`jwt_claims_decode`, ~1.2 KiB of
/// Cognito ID-token claims, decoded into `serde_json::Value`s with duplicate detection) found
/// the two equal within noise on the shared 2-core build box (serde_json 4.7-11 µs, simd-json
/// 5.5-9.6 µs over four runs; lower bounds favour serde_json). simd-json's speed comes from
/// its tape, which the serde path into `Value`s does not use on payloads this small, so
/// serde_json (no mutable buffer, one parser for headers and claims) is kept.
pub const CLAIMS_BACKEND: JsonBackend = JsonBackend::SerdeJson;

/// Decodes a claims set: must be one JSON object without repeated top-level names.
/// `json` may be modified in place (simd-json).
pub fn decode_claims(json: &mut [u8], backend: JsonBackend) -> Result<Claims, JwtError> {
    if !is_json_object(json) {
        return Err(JwtError::Malformed("claims are not a JSON object"));
    }
    let obj: StrictObject = match backend {
        JsonBackend::SerdeJson => serde_json::from_slice(json)
            .map_err(|_| JwtError::Malformed("claims are not valid JSON"))?,
        JsonBackend::SimdJson => simd_json::serde::from_slice(json)
            .map_err(|_| JwtError::Malformed("claims are not valid JSON"))?,
    };
    if obj.duplicate {
        return Err(JwtError::DuplicateMember);
    }
    Ok(Claims(obj.map))
}

/// Cognito `token_use`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// `"id"`: required on routes without scopes.
    Id,
    /// `"access"`: required on routes with scopes.
    Access,
}

impl TokenUse {
    fn name(self) -> &'static str {
        match self {
            TokenUse::Id => "id",
            TokenUse::Access => "access",
        }
    }
}

/// What [`verify`] checks besides the signature.
#[derive(Debug, Clone)]
pub struct Validation {
    /// Accepted `iss` values, compared exactly: one per user pool
    /// (`https://cognito-idp.{region}.amazonaws.com/{poolId}`). An authorizer with several
    /// provider ARNs accepts a token from any of its pools, each with that pool's issuer.
    pub issuers: Vec<String>,
    /// Allowed algorithms (Cognito: `[RS256]`).
    pub algs: Vec<Alg>,
    /// Seconds of clock skew tolerated on `exp`, `nbf`, `iat`.
    pub leeway_secs: u64,
    /// Required `token_use`, if any (see [`Validation::cognito`]).
    pub token_use: Option<TokenUse>,
    /// When non-empty, an ID token's `aud` / an access token's `client_id` must be one.
    pub client_ids: Vec<String>,
    /// `identity_validation_expression`, matched against the whole `aud`
    /// (build it with [`anchored_regex`]; an unanchored regex is still required to cover
    /// the whole value, which can only make it stricter).
    pub aud_regex: Option<regex::Regex>,
    /// Route scopes: any one must be in the access token's `scope`; empty = none needed.
    pub scopes: Vec<String>,
}

impl Validation {
    /// The Cognito user-pool rules (docs/decisions.md D8): RS256 only, no leeway, and
    /// `token_use` = `id` without scopes, `access` with scopes.
    pub fn cognito(
        issuer: impl Into<String>,
        client_ids: Vec<String>,
        aud_regex: Option<regex::Regex>,
        scopes: Vec<String>,
    ) -> Validation {
        let token_use = if scopes.is_empty() {
            TokenUse::Id
        } else {
            TokenUse::Access
        };
        Validation {
            issuers: vec![issuer.into()],
            algs: vec![Alg::RS256],
            leeway_secs: 0,
            token_use: Some(token_use),
            client_ids,
            aud_regex,
            scopes,
        }
    }

    /// The authorizer-level part of the Cognito rules, for verifying once and caching the
    /// result across routes: RS256 only, the pools' `issuers`, `client_ids`, the `aud`
    /// regex and `leeway_secs`, but **no** `token_use` and **no** scopes. Each request then
    /// checks its route with [`VerifiedToken::check_route`].
    pub fn cognito_authorizer(
        issuers: Vec<String>,
        client_ids: Vec<String>,
        aud_regex: Option<regex::Regex>,
        leeway_secs: u64,
    ) -> Validation {
        Validation {
            issuers,
            algs: vec![Alg::RS256],
            leeway_secs,
            token_use: None,
            client_ids,
            aud_regex,
            scopes: vec![],
        }
    }
}

/// Compiles `pattern` so that it must match a whole value: `^(?:pattern)$`
/// (docs/decisions.md D3).
pub fn anchored_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
}

fn whole_match(re: &regex::Regex, value: &str) -> bool {
    re.find(value)
        .is_some_and(|m| m.start() == 0 && m.end() == value.len())
}

/// A token whose signature and claims passed.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// Every claim of the payload.
    pub claims: Claims,
    /// `exp` (seconds since the epoch); cache entries must not outlive it.
    pub exp: i64,
    /// The header `alg`.
    pub alg: Alg,
    /// The header `kid`, if any.
    pub kid: Option<String>,
    /// The token's `token_use`, when it is `id` or `access`.
    pub token_use: Option<TokenUse>,
}

/// Reads a NumericDate claim: any finite JSON number, integer or not (`1700000000`,
/// `1700000000.5`, `1.7e9`, `1e16`), as an f64. RFC 7519 §2 allows fractional seconds, and
/// aws-jwt-verify takes the claim as a JS number and compares it numerically, so tollgate
/// does the same: a float and the equal integer give the same result. Anything else (a
/// string, `null`, an array) is refused like a missing claim.
fn numeric_date(claims: &Claims, name: &'static str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(JwtError::MissingClaim(name)),
        },
        Some(_) => Err(JwtError::MissingClaim(name)),
    }
}

/// Whole seconds at or after `t` (saturating), for cache lifetimes: a token whose `exp` is
/// `x.5` is still valid during second `x`.
fn ceil_secs(t: f64) -> i64 {
    // `as` saturates at the i64 bounds
    t.ceil() as i64
}

/// Claims Cognito always issues as JSON strings (`aud` of an ID token, `client_id` and
/// `scope` of an access token, `token_use` of both).
const STRING_CLAIMS: [&str; 4] = ["token_use", "aud", "client_id", "scope"];

/// Refuses a Cognito token in which one of [`STRING_CLAIMS`] is present with another JSON type
/// (an array, a number, `null`, …): Cognito never issues such a token, and aws-jwt-verify's
/// Cognito verifier refuses it (it type-checks `aud` and `scope` in every token and requires
/// a string `aud` / `client_id` / `token_use` where it compares them). RFC 7519 §4.1.3 would
/// allow an array `aud`, but accepting one would make tollgate more permissive than the
/// reference verifier for a token Cognito cannot have minted.
fn check_string_claims(claims: &Claims) -> Result<(), JwtError> {
    for name in STRING_CLAIMS {
        match claims.get(name) {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(JwtError::MissingClaim(name)),
        }
    }
    Ok(())
}

/// The `aud` string, if any (a non-string `aud` was refused by [`check_string_claims`]).
fn audience(claims: &Claims) -> Option<&str> {
    claims.get_str("aud")
}

/// Verifies a JWT as a Cognito user-pool authorizer does, with the clock passed in.
///
/// Order: signature ([`verify_signature_only`] with `v.algs`), claims JSON object,
/// `iss`, `exp` (required), `nbf`, `iat`, the JSON types of `token_use`/`aud`/`client_id`/
/// `scope` (strings when present), `token_use`, `aud`/`client_id` against `client_ids`, `aud`
/// against `aud_regex`, scopes.
pub fn verify(
    token: &str,
    keys: &KeySet,
    v: &Validation,
    now_epoch: i64,
) -> Result<VerifiedToken, JwtError> {
    let jws = verify_signature_only(token, keys, &v.algs)?;
    let mut payload = jws.payload;
    let claims = decode_claims(&mut payload, CLAIMS_BACKEND)?;
    check_claims(&claims, v, now_epoch).map(|(exp, token_use)| VerifiedToken {
        claims,
        exp,
        alg: jws.alg,
        kid: jws.kid,
        token_use,
    })
}

fn check_claims(
    claims: &Claims,
    v: &Validation,
    now: i64,
) -> Result<(i64, Option<TokenUse>), JwtError> {
    // Compared as f64, like aws-jwt-verify (JS numbers): exact for any realistic clock.
    let leeway = v.leeway_secs as f64;
    let now_f = now as f64;
    match claims.get("iss") {
        Some(Value::String(iss)) if v.issuers.iter().any(|i| i == iss) => {}
        _ => return Err(JwtError::WrongIssuer),
    }
    let exp = numeric_date(claims, "exp")?.ok_or(JwtError::MissingClaim("exp"))?;
    if now_f >= exp + leeway {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && now_f + leeway < nbf
    {
        return Err(JwtError::NotYetValid);
    }
    if let Some(iat) = numeric_date(claims, "iat")?
        && iat > now_f + leeway
    {
        return Err(JwtError::IssuedInFuture);
    }
    let exp = ceil_secs(exp);
    check_string_claims(claims)?;
    let token_use = match claims.get_str("token_use") {
        Some("id") => Some(TokenUse::Id),
        Some("access") => Some(TokenUse::Access),
        _ => None,
    };
    if let Some(required) = v.token_use {
        check_token_use(claims, required)?;
    }
    if !v.client_ids.is_empty() {
        let ok = if token_use == Some(TokenUse::Access) {
            claims
                .get_str("client_id")
                .is_some_and(|c| v.client_ids.iter().any(|id| id == c))
        } else {
            audience(claims).is_some_and(|a| v.client_ids.iter().any(|id| id == a))
        };
        if !ok {
            return Err(JwtError::WrongAudience);
        }
    }
    if let Some(re) = &v.aud_regex {
        // Access tokens carry no `aud`, so any expression makes them fail (spec §2.1).
        if !audience(claims).is_some_and(|a| whole_match(re, a)) {
            return Err(JwtError::WrongAudience);
        }
    }
    check_scopes(claims, &v.scopes)?;
    Ok((exp, token_use))
}

fn check_token_use(claims: &Claims, required: TokenUse) -> Result<(), JwtError> {
    if claims.get_str("token_use") == Some(required.name()) {
        Ok(())
    } else {
        Err(JwtError::WrongTokenUse)
    }
}

/// Any one of `wanted` must be in the space-separated `scope` claim (none wanted: passes).
fn check_scopes(claims: &Claims, wanted: &[String]) -> Result<(), JwtError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let granted = claims.get_str("scope").unwrap_or("");
    if granted
        .split(' ')
        .filter(|s| !s.is_empty())
        .any(|s| wanted.iter().any(|want| want == s))
    {
        Ok(())
    } else {
        Err(JwtError::MissingScope)
    }
}

impl VerifiedToken {
    /// The per-route part of the Cognito rules (docs/decisions.md D8), for a token verified
    /// with [`Validation::cognito_authorizer`] (possibly taken from a cache): a route without
    /// scopes needs an ID token (`token_use` = `id`); a route with scopes needs an access
    /// token (`access`) whose `scope` holds at least one of them. The same checks, in the
    /// same order, as [`verify`] with [`Validation::cognito`].
    pub fn check_route(&self, scopes: &[String]) -> Result<(), JwtError> {
        let required = if scopes.is_empty() {
            TokenUse::Id
        } else {
            TokenUse::Access
        };
        check_token_use(&self.claims, required)?;
        check_scopes(&self.claims, scopes)
    }

    /// One claim rendered as API Gateway hands it to the backend (all strings):
    /// * strings as they are;
    /// * `exp` and `iat` as Java `Date.toString()` in UTC, `EEE MMM dd HH:mm:ss UTC yyyy`
    ///   (other numbers, including `auth_time`, as their JSON text);
    /// * booleans as `true`/`false`;
    /// * arrays of one element as that element (a single `cognito:groups` entry appears
    ///   bare in captures), other arrays as `[a b]` (bracketed, space-separated: the form
    ///   most code in the wild parses; spec §2.4 notes one report of commas);
    /// * objects as compact JSON; `null` or an absent claim as `None`.
    pub fn claim_as_aws_string(&self, name: &str) -> Option<String> {
        let value = self.claims.get(name)?;
        if (name == "exp" || name == "iat")
            && let Some(secs) = value.as_i64()
            && let Some(s) = java_date_utc(secs)
        {
            return Some(s);
        }
        aws_render(value)
    }

    /// Every claim rendered by [`VerifiedToken::claim_as_aws_string`] (`null`s left out).
    pub fn aws_claims(&self) -> Vec<(String, String)> {
        self.claims
            .iter()
            .filter_map(|(k, _)| self.claim_as_aws_string(k).map(|v| (k.to_owned(), v)))
            .collect()
    }

    /// The access token's scopes (`scope`, space-separated).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.claims
            .get_str("scope")
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }
}

fn aws_render(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => match items.as_slice() {
            [one] => Some(aws_render(one).unwrap_or_else(|| "null".to_owned())),
            _ => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| aws_render(i).unwrap_or_else(|| "null".to_owned()))
                    .collect();
                Some(format!("[{}]", parts.join(" ")))
            }
        },
        Value::Object(_) => Some(value.to_string()),
    }
}

/// Java `Date.toString()` for a UTC epoch second: `Tue Apr 04 18:39:39 UTC 2023`.
/// Years outside 0..=9999 give `None` (the caller falls back to the number).
pub fn java_date_utc(secs: i64) -> Option<String> {
    let t = tollgate_time::DateTime::from_unix(secs);
    if !(0..=9999).contains(&t.year) {
        return None;
    }
    let days = secs.div_euclid(tollgate_time::SECS_PER_DAY);
    let wd = tollgate_time::WEEKDAY_ABBR.get(tollgate_time::weekday(days))?;
    let mut out = String::with_capacity(28);
    write!(
        out,
        "{wd} {} {:02} {:02}:{:02}:{:02} UTC {}",
        t.month_abbr(),
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year
    )
    .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_dates() {
        // From the spec §2.4 capture: exp "Tue Apr 04 18:39:39 UTC 2023", iat one hour earlier.
        assert_eq!(
            java_date_utc(1_680_633_579).as_deref(),
            Some("Tue Apr 04 18:39:39 UTC 2023")
        );
        assert_eq!(
            java_date_utc(1_680_629_979).as_deref(),
            Some("Tue Apr 04 17:39:39 UTC 2023")
        );
        assert_eq!(
            java_date_utc(0).as_deref(),
            Some("Thu Jan 01 00:00:00 UTC 1970")
        );
        assert_eq!(
            java_date_utc(951_782_400).as_deref(),
            Some("Tue Feb 29 00:00:00 UTC 2000")
        );
        assert_eq!(
            java_date_utc(-1).as_deref(),
            Some("Wed Dec 31 23:59:59 UTC 1969")
        );
        assert_eq!(java_date_utc(i64::MAX / 2), None);
    }

    #[test]
    fn claims_backends_agree() {
        let src = br#"{"sub":"x","n":1,"f":1.5,"a":[1,"b",null],"o":{"k":true},"u":"\u00e9"}"#;
        let a = decode_claims(&mut src.to_vec(), JsonBackend::SerdeJson).unwrap();
        let b = decode_claims(&mut src.to_vec(), JsonBackend::SimdJson).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 6);
        for backend in [JsonBackend::SerdeJson, JsonBackend::SimdJson] {
            assert_eq!(
                decode_claims(&mut br#"{"a":1,"a":2}"#.to_vec(), backend),
                Err(JwtError::DuplicateMember)
            );
            assert!(decode_claims(&mut b"[1]".to_vec(), backend).is_err());
            assert!(decode_claims(&mut b"{\"a\":".to_vec(), backend).is_err());
            assert!(decode_claims(&mut b"".to_vec(), backend).is_err());
        }
    }

    #[test]
    fn rendering() {
        let r = |v: serde_json::Value| aws_render(&v);
        assert_eq!(r(serde_json::json!("s")).as_deref(), Some("s"));
        assert_eq!(r(serde_json::json!(true)).as_deref(), Some("true"));
        assert_eq!(
            r(serde_json::json!(1680629979)).as_deref(),
            Some("1680629979")
        );
        assert_eq!(r(serde_json::json!(["g1"])).as_deref(), Some("g1"));
        assert_eq!(
            r(serde_json::json!(["g1", "g2"])).as_deref(),
            Some("[g1 g2]")
        );
        assert_eq!(r(serde_json::json!([])).as_deref(), Some("[]"));
        assert_eq!(r(serde_json::json!({"a":1})).as_deref(), Some("{\"a\":1}"));
        assert_eq!(r(serde_json::Value::Null), None);
    }

    #[test]
    fn anchoring() {
        let re = anchored_regex("a|ab").unwrap();
        assert!(whole_match(&re, "ab"));
        assert!(!whole_match(&re, "abc"));
        let loose = regex::Regex::new("abc").unwrap();
        assert!(!whole_match(&loose, "xabcx"));
        assert!(whole_match(&loose, "abc"));
    }
}
