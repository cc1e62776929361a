//! tollgate-jwt: pure JWT verification for Cognito user-pool authorizers (no I/O; the
//! clock is passed in).
//!
//! Main types: [`KeySet`] (a JWKS parsed once into ring verification material, by `kid`),
//! [`Validation`] (issuer, algorithms, leeway, `token_use`, client ids, `aud` regex,
//! scopes), [`verify`] returning a [`VerifiedToken`] (claims kept, with AWS-style string
//! rendering), [`verify_signature_only`] for conformance suites, [`TokenCache`] (a bounded
//! per-worker cache keyed by the whole token: a fast [`token_hash`] finds the slot, an exact
//! byte comparison confirms it) and [`JwtError`] (every variant is a 401).
//!
//! A gateway verifies once per token with the authorizer-level rules
//! ([`Validation::cognito_authorizer`]: pools' issuers, client ids, `aud` regex, leeway),
//! caches the [`VerifiedToken`], and checks each route's needs
//! ([`VerifiedToken::check_route`]: ID token without scopes, access token with one of the
//! scopes) on every request.
//!
//! ```
//! use tollgate_jwt::{KeySet, KeySetOptions, Validation, verify, strip_bearer, JwtError};
//!
//! let jwks = br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig",
//!   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//!   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
//! let keys = KeySet::from_jwks_json(jwks, &KeySetOptions::default())?;
//! assert!(keys.contains_kid("k1"));
//!
//! let v = Validation::cognito(
//!     "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
//!     vec![],         // client_ids: any app client
//!     None,           // identity_validation_expression
//!     vec![],         // route scopes: none -> an ID token is required
//! );
//! let token = strip_bearer("Bearer eyJhbGciOiJub25lIn0.e30.");
//! // `alg: none` is never accepted.
//! assert_eq!(verify(token, &keys, &v, 1_700_000_000).err(), Some(JwtError::UnsupportedAlg));
//!
//! // Cache a verified token under the authorizer's generation; a hit costs one hash of the
//! // token and one byte comparison.
//! let mut cache: tollgate_jwt::TokenCache<u32> = tollgate_jwt::TokenCache::new(1024);
//! cache.insert(b"h.p.s", 7, 42, 1_700_000_300);
//! assert_eq!(cache.get(b"h.p.s", 7, 1_700_000_000), Some(&42));
//! assert_eq!(cache.get(b"h.p.s", 8, 1_700_000_000), None); // new generation
//! # Ok::<(), JwtError>(())
//! ```
//!
//! What is verified, and where tollgate differs from AWS, is written down in
//! `docs/authorizers.md` ("Cognito user pools: what is verified").

mod b64;
mod cache;
mod claims;
mod error;
mod jwk;
mod jws;

pub use b64::encode as base64url_encode;
pub use cache::{
    MAX_CACHED_TOKEN_BYTES, PassThrough, PassThroughBuild, TokenCache, expiry, token_hash,
};
pub use claims::{
    CLAIMS_BACKEND, Claims, JsonBackend, TokenUse, Validation, VerifiedToken, anchored_regex,
    decode_claims, java_date_utc, verify,
};
pub use error::JwtError;
pub use jwk::{Alg, KeySet, KeySetOptions};
pub use jws::{MAX_TOKEN_BYTES, VerifiedJws, strip_bearer, verify_signature_only};

#[cfg(test)]
mod tests {
    fn shareable<T: Send + Sync>() {}

    #[test]
    fn types_can_be_shared_across_workers() {
        // KeySet and Validation live in the published Snapshot (Arc, all cores).
        shareable::<crate::KeySet>();
        shareable::<crate::Validation>();
        shareable::<crate::VerifiedToken>();
        shareable::<crate::JwtError>();
    }
}
