//! The verifier: header and presigned forms, scope, clock, key, token and signature checks.

use std::borrow::Cow;

use ring::{digest, hmac};

use crate::auth::{CredentialScope, parse_authorization_header, parse_credential};
use crate::canonical::{
    ALGORITHM, CanonicalSpec, EMPTY_SHA256, QueryParam, canonical_capacity, canonical_request_into,
    canonical_request_with, decode_signature_hex, parse_query, sha256_hex, string_to_sign,
    string_to_sign_into,
};
use crate::time::{format_amz_date, parse_amz_date, parse_http_date};
use crate::{KeyStore, RequestParts, SigV4Error, SigningKeyCache};

/// Longest validity a presigned URL may ask for (`X-Amz-Expires`), in seconds (7 days).
pub const MAX_PRESIGN_EXPIRES: i64 = 604_800;

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const SIGNATURE_PARAM: &[u8] = b"X-Amz-Signature";
const TOKEN_PARAM: &[u8] = b"X-Amz-Security-Token";

/// A SigV4 verifier for one region and service; cheap to clone, `Send + Sync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    region: String,
    service: String,
    clock_skew_secs: i64,
}

/// A successfully verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The access key id that signed.
    pub access_key_id: String,
    /// The caller's opaque principal id from [`crate::KeyInfo::principal`].
    pub principal: usize,
    /// True for a presigned URL (query-string signature).
    pub presigned: bool,
    /// The request's signing time (`X-Amz-Date`), Unix seconds.
    pub signed_at: i64,
    /// True when a session token was presented (and matched the key's token).
    pub session_token: bool,
}

/// One way of canonicalising the request (see [`Canonical::candidates`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The canonical request bytes.
    pub canonical_request: Vec<u8>,
    /// The string to sign.
    pub string_to_sign: String,
}

/// The canonical forms of a request, as [`Verifier::canonicalize`] computes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    /// The access key id in the credential.
    pub access_key_id: String,
    /// Presigned-URL form.
    pub presigned: bool,
    /// The request date, `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// `date/region/service/aws4_request`.
    pub scope: String,
    /// The forms a valid signature may cover, the primary first. A presigned URL may also
    /// have been signed before its `X-Amz-Security-Token` was appended and, without an
    /// `x-amz-content-sha256` header, over `UNSIGNED-PAYLOAD`; those are the extra candidates.
    pub candidates: Vec<Candidate>,
}

/// The parsed, scope-checked request before any clock, key or signature check.
struct Prepared<'a> {
    presigned: bool,
    access_key_id: String,
    scope: String,
    scope_date: String,
    signed_headers: Vec<String>,
    signature: Vec<u8>,
    amz_date: String,
    date_epoch: i64,
    expires: Option<i64>,
    params: Vec<QueryParam<'a>>,
    token: Option<Cow<'a, [u8]>>,
    specs: Vec<PayloadSpec>,
}

/// A payload hash line and the query names left out of the canonical query.
type PayloadSpec = (String, &'static [&'static [u8]]);

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or_default()
}

fn header<'a>(req: &RequestParts<'a>, name: &[u8]) -> Option<&'a [u8]> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| trim(v))
}

fn param<'p, 'a>(params: &'p [QueryParam<'a>], name: &[u8]) -> Option<&'p [u8]> {
    params
        .iter()
        .find(|p| p.name.as_ref() == name)
        .map(|p| p.value.as_ref())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn bad_date(got: &[u8]) -> SigV4Error {
    SigV4Error::IncompleteSignature(format!(
        "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
        lossy(got)
    ))
}

fn missing_query(name: &str) -> SigV4Error {
    SigV4Error::IncompleteSignature(format!(
        "AWS query-string parameters must include '{name}'. Re-examine the query-string parameters."
    ))
}

fn digest_eq(a: &[u8], b: &[u8]) -> bool {
    // Compare digests, so timing reveals nothing about the token itself.
    digest::digest(&digest::SHA256, a).as_ref() == digest::digest(&digest::SHA256, b).as_ref()
}

impl Verifier {
    /// A verifier for service `execute-api` in `region`, with a ±300 s clock window.
    pub fn new(region: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            service: "execute-api".to_owned(),
            clock_skew_secs: 300,
        }
    }

    /// Use another service name in the credential scope (the AWS test suites use `service`).
    #[must_use]
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// Change the allowed clock skew (seconds; messages print it in whole minutes).
    #[must_use]
    pub fn with_clock_skew(mut self, secs: i64) -> Self {
        self.clock_skew_secs = secs;
        self
    }

    /// The region credentials must be scoped to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The service credentials must be scoped to.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Verifies `req` at time `now_epoch` (Unix seconds). Checks, in order: the form
    /// (`Authorization` header or presigned query), its components, the date format, the
    /// credential scope (date, region, service, terminator), that `host` is signed, the clock
    /// window / presigned expiry, the access key, the key's expiry, the session token, the
    /// payload hash, and finally the signature (constant-time).
    pub fn verify(
        &self,
        req: &RequestParts<'_>,
        now_epoch: i64,
        keys: &impl KeyStore,
        cache: &mut SigningKeyCache,
    ) -> Result<Verified, SigV4Error> {
        let prep = self.prepare(req)?;
        self.check_clock(&prep, now_epoch)?;
        let key = keys
            .lookup(&prep.access_key_id)
            .ok_or(SigV4Error::UnknownAccessKey)?;
        if key.expires_epoch.is_some_and(|exp| now_epoch >= exp) {
            return Err(SigV4Error::ExpiredToken);
        }
        match (key.session_token, prep.token.as_deref()) {
            (None, None) => {}
            (Some(want), Some(got)) if digest_eq(want.as_bytes(), got) => {}
            _ => return Err(SigV4Error::InvalidSecurityToken),
        }
        let hkey = cache.hmac_key(
            &prep.access_key_id,
            key.secret,
            &prep.scope_date,
            &self.region,
            &self.service,
        );
        if let Some(sig) = decode_signature_hex(&prep.signature) {
            // One buffer for each candidate's canonical request, then its string to sign.
            let names: Vec<&str> = prep.signed_headers.iter().map(String::as_str).collect();
            let mut buf = Vec::with_capacity(canonical_capacity(req));
            for (hash, skip) in &prep.specs {
                let spec = CanonicalSpec {
                    signed_headers: &names,
                    payload_hash: hash,
                    skip_query: skip,
                };
                buf.clear();
                canonical_request_into(&mut buf, req, &prep.params, &spec);
                let creq_hash = digest::digest(&digest::SHA256, &buf);
                string_to_sign_into(&mut buf, &prep.amz_date, &prep.scope, creq_hash.as_ref());
                if hmac::verify(&hkey, &buf, &sig).is_ok() {
                    return Ok(Verified {
                        access_key_id: prep.access_key_id,
                        principal: key.principal,
                        presigned: prep.presigned,
                        signed_at: prep.date_epoch,
                        session_token: prep.token.is_some(),
                    });
                }
            }
        }
        // No candidate matched: the first one goes into the message.
        let first = match prep.specs.first() {
            Some((hash, skip)) => self.candidate(req, &prep, hash, skip),
            None => self.candidate(req, &prep, "", &[]),
        };
        Err(SigV4Error::SignatureMismatch {
            canonical_request: lossy(&first.canonical_request),
            string_to_sign: first.string_to_sign,
        })
    }

    /// Parses and scope-checks `req` and returns its canonical forms, without looking at the
    /// clock, the keys or the signature (for tests, benches and debugging).
    pub fn canonicalize(&self, req: &RequestParts<'_>) -> Result<Canonical, SigV4Error> {
        let prep = self.prepare(req)?;
        let candidates = prep
            .specs
            .iter()
            .map(|(hash, skip)| self.candidate(req, &prep, hash, skip))
            .collect();
        Ok(Canonical {
            access_key_id: prep.access_key_id,
            presigned: prep.presigned,
            amz_date: prep.amz_date,
            scope: prep.scope,
            candidates,
        })
    }

    fn candidate(
        &self,
        req: &RequestParts<'_>,
        prep: &Prepared<'_>,
        payload_hash: &str,
        skip: &[&[u8]],
    ) -> Candidate {
        let names: Vec<&str> = prep.signed_headers.iter().map(String::as_str).collect();
        let spec = CanonicalSpec {
            signed_headers: &names,
            payload_hash,
            skip_query: skip,
        };
        let canonical_request = canonical_request_with(req, &prep.params, &spec);
        let string_to_sign = string_to_sign(&prep.amz_date, &prep.scope, &canonical_request);
        Candidate {
            canonical_request,
            string_to_sign,
        }
    }

    fn check_clock(&self, prep: &Prepared<'_>, now: i64) -> Result<(), SigV4Error> {
        let skew = self.clock_skew_secs;
        let minutes = skew / 60;
        if prep.date_epoch > now.saturating_add(skew) {
            return Err(SigV4Error::SignatureExpired(format!(
                "Signature not yet current: {} is still later than {} ({} + {minutes} min.)",
                prep.amz_date,
                format_amz_date(now.saturating_add(skew)),
                format_amz_date(now)
            )));
        }
        match prep.expires {
            Some(expires) if prep.presigned => {
                if now > prep.date_epoch.saturating_add(expires) {
                    return Err(SigV4Error::SignatureExpired(format!(
                        "Signature expired: {} is now earlier than {} ({} - {expires} sec.)",
                        prep.amz_date,
                        format_amz_date(now.saturating_sub(expires)),
                        format_amz_date(now)
                    )));
                }
            }
            _ => {
                if prep.date_epoch < now.saturating_sub(skew) {
                    return Err(SigV4Error::SignatureExpired(format!(
                        "Signature expired: {} is now earlier than {} ({} - {minutes} min.)",
                        prep.amz_date,
                        format_amz_date(now.saturating_sub(skew)),
                        format_amz_date(now)
                    )));
                }
            }
        }
        Ok(())
    }

    fn prepare<'a>(&self, req: &RequestParts<'a>) -> Result<Prepared<'a>, SigV4Error> {
        let params = parse_query(req.query.unwrap_or_default());
        let mut auth_values = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"authorization"))
            .map(|(_, v)| trim(v));
        // One header (the usual case) is borrowed; several are joined with `,`.
        let auth_value: Option<Cow<'_, [u8]>> = match (auth_values.next(), auth_values.next()) {
            (None, _) | (Some(b""), None) => None,
            (Some(one), None) => Some(Cow::Borrowed(one)),
            (Some(a), Some(b)) => {
                let mut joined = [a, b].join(&b","[..]);
                for v in auth_values {
                    joined.push(b',');
                    joined.extend_from_slice(v);
                }
                Some(Cow::Owned(joined))
            }
        };
        let is_presigned = |p: &QueryParam<'_>| {
            matches!(
                p.name.as_ref(),
                b"X-Amz-Algorithm" | b"X-Amz-Credential" | b"X-Amz-Signature"
            )
        };

        let (presigned, credential, signed_headers, signature, amz_date, date_epoch, expires);
        if let Some(value) = auth_value.as_deref() {
            let amz = header(req, b"x-amz-date");
            let http_date = header(req, b"date");
            let auth = parse_authorization_header(value, amz.is_some() || http_date.is_some())?;
            (amz_date, date_epoch) = match (amz, http_date) {
                (Some(d), _) => {
                    let epoch = parse_amz_date(d).ok_or_else(|| bad_date(d))?;
                    (lossy(d), epoch)
                }
                (None, Some(d)) => {
                    let epoch = parse_http_date(d).ok_or_else(|| bad_date(d))?;
                    (format_amz_date(epoch), epoch)
                }
                (None, None) => return Err(bad_date(b"")),
            };
            presigned = false;
            credential = auth.credential.to_owned();
            signed_headers = auth.signed_headers.to_owned();
            signature = auth.signature.as_bytes().to_vec();
            expires = None;
        } else if params.iter().any(is_presigned) {
            let get = |name: &str| param(&params, name.as_bytes());
            let algorithm =
                get("X-Amz-Algorithm").ok_or_else(|| missing_query("X-Amz-Algorithm"))?;
            let cred = get("X-Amz-Credential").ok_or_else(|| missing_query("X-Amz-Credential"))?;
            let sig = get("X-Amz-Signature").ok_or_else(|| missing_query("X-Amz-Signature"))?;
            let sh =
                get("X-Amz-SignedHeaders").ok_or_else(|| missing_query("X-Amz-SignedHeaders"))?;
            let date = get("X-Amz-Date").ok_or_else(|| missing_query("X-Amz-Date"))?;
            if algorithm != ALGORITHM.as_bytes() {
                return Err(SigV4Error::MissingAuthenticationToken);
            }
            date_epoch = parse_amz_date(date).ok_or_else(|| bad_date(date))?;
            amz_date = lossy(date);
            expires = match get("X-Amz-Expires") {
                None => None,
                Some(e) => {
                    let n = std::str::from_utf8(e)
                        .ok()
                        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse::<i64>().ok())
                        .ok_or_else(|| {
                            SigV4Error::IncompleteSignature(
                                "X-Amz-Expires should be a number".to_owned(),
                            )
                        })?;
                    if n > MAX_PRESIGN_EXPIRES {
                        return Err(SigV4Error::IncompleteSignature(
                            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
                                .to_owned(),
                        ));
                    }
                    Some(n)
                }
            };
            presigned = true;
            credential = lossy(cred);
            signed_headers = lossy(sh);
            signature = sig.to_vec();
        } else {
            return Err(SigV4Error::MissingAuthenticationToken);
        }

        let scope = parse_credential(&credential)?;
        self.check_scope(&scope, &amz_date)?;
        let mut names: Vec<String> = signed_headers
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        names.sort_unstable();
        names.dedup();
        if !names.iter().any(|n| n == "host") {
            return Err(SigV4Error::IncompleteSignature(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
                    .to_owned(),
            ));
        }

        let token = match header(req, b"x-amz-security-token") {
            Some(t) => Some(Cow::Borrowed(t)),
            None => params
                .iter()
                .find(|p| p.name.as_ref() == TOKEN_PARAM)
                .map(|p| p.value.clone()),
        };
        let specs = self.payload_specs(req, presigned, &params)?;
        Ok(Prepared {
            presigned,
            access_key_id: scope.access_key_id.to_owned(),
            // `date/region/service/terminator`: the credential after the access key id (it has
            // exactly five `/`-separated parts)
            scope: credential
                .get(scope.access_key_id.len() + 1..)
                .unwrap_or_default()
                .to_owned(),
            scope_date: scope.date.to_owned(),
            signed_headers: names,
            signature,
            amz_date,
            date_epoch,
            expires,
            params,
            token,
            specs,
        })
    }

    fn check_scope(&self, scope: &CredentialScope<'_>, amz_date: &str) -> Result<(), SigV4Error> {
        let day = amz_date.get(..8).unwrap_or_default();
        if scope.date != day {
            return Err(SigV4Error::InvalidSignature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{}' != '{day}', from '{amz_date}'.",
                scope.date
            )));
        }
        if scope.region != self.region {
            return Err(SigV4Error::InvalidSignature(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                scope.region
            )));
        }
        if scope.service != self.service {
            return Err(SigV4Error::InvalidSignature(format!(
                "Credential should be scoped to correct service: '{}'. ",
                self.service
            )));
        }
        if scope.terminator != "aws4_request" {
            return Err(SigV4Error::InvalidSignature(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
                scope.terminator
            )));
        }
        Ok(())
    }

    /// The (payload hash, skipped query names) pairs to try, the primary first.
    fn payload_specs(
        &self,
        req: &RequestParts<'_>,
        presigned: bool,
        params: &[QueryParam<'_>],
    ) -> Result<Vec<PayloadSpec>, SigV4Error> {
        let declared = header(req, b"x-amz-content-sha256");
        let primary = match declared {
            Some(h) if h == UNSIGNED_PAYLOAD.as_bytes() => UNSIGNED_PAYLOAD.to_owned(),
            Some(h) if h.len() == 64 && h.iter().all(u8::is_ascii_hexdigit) => {
                if let Some(body) = req.body
                    && !sha256_hex(body).as_bytes().eq_ignore_ascii_case(h)
                {
                    return Err(SigV4Error::PayloadHash(
                        "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    ));
                }
                lossy(h)
            }
            Some(_) => {
                return Err(SigV4Error::PayloadHash(
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.",
                ));
            }
            None => match req.body {
                None | Some([]) => EMPTY_SHA256.to_owned(),
                Some(body) => sha256_hex(body),
            },
        };
        if !presigned {
            return Ok(vec![(primary, &[])]);
        }
        const WITH_TOKEN: &[&[u8]] = &[SIGNATURE_PARAM];
        const WITHOUT_TOKEN: &[&[u8]] = &[SIGNATURE_PARAM, TOKEN_PARAM];
        let token_in_query = params.iter().any(|p| p.name.as_ref() == TOKEN_PARAM);
        let mut hashes = vec![primary];
        if declared.is_none() {
            hashes.push(UNSIGNED_PAYLOAD.to_owned());
        }
        let mut specs = Vec::with_capacity(4);
        for h in hashes {
            specs.push((h.clone(), WITH_TOKEN));
            if token_in_query {
                specs.push((h, WITHOUT_TOKEN));
            }
        }
        Ok(specs)
    }
}
