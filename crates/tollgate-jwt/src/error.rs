//! The crate's one error type.

/// Why a token (or a key set) was rejected.
///
/// For a Cognito user-pool authorizer every variant answers the client the same way:
/// 401 `{"message":"Unauthorized"}` ([`JwtError::http_status`]); the variants exist for logs
/// and tests, never for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a well-formed JWS compact token (parts, base64url, JSON), with a short reason.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The token is larger than [`crate::MAX_TOKEN_BYTES`]; rejected before any decoding.
    #[error("token too large")]
    TooLarge,
    /// `alg` is `none`, unknown, or not on the validation's allow-list.
    #[error("unsupported or disallowed algorithm")]
    UnsupportedAlg,
    /// The header carries key material or a key location (`jwk`, `jku`, `x5u`, `x5c`).
    #[error("embedded key or key URL in header")]
    EmbeddedKey,
    /// The header has a `crit` entry (no extension is understood), or a `b64` member.
    #[error("unsupported critical header")]
    UnsupportedCrit,
    /// The key set holds no key with this `kid` (or no `kid` and the set has several keys).
    #[error("unknown kid")]
    UnknownKid,
    /// The selected key cannot verify this `alg` (key type, curve, or the key's own `alg`).
    #[error("key does not fit the token's algorithm")]
    KeyMismatch,
    /// The signature does not verify (includes wrong-length ECDSA/EdDSA signatures).
    #[error("bad signature")]
    BadSignature,
    /// A JSON object (header or claims) repeats a member name.
    #[error("duplicate JSON member")]
    DuplicateMember,
    /// A required claim is absent, or a claim has the wrong JSON type (a NumericDate that is
    /// not a number; a Cognito `aud`, `client_id`, `scope` or `token_use` that is not a string).
    #[error("missing or invalid claim {0}")]
    MissingClaim(&'static str),
    /// `exp` has passed (after leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (after leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future (after leeway).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` differs from the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `token_use` is not the one the route needs (`id` without scopes, `access` with).
    #[error("wrong token_use")]
    WrongTokenUse,
    /// `aud` / `client_id` is not an allowed client, or `aud` fails the validation regex.
    #[error("wrong audience")]
    WrongAudience,
    /// The access token holds none of the route's scopes.
    #[error("missing scope")]
    MissingScope,
    /// The JWKS document is unusable, with a short reason.
    #[error("invalid key set: {0}")]
    InvalidKeySet(&'static str),
}

impl JwtError {
    /// HTTP status API Gateway answers for a failed Cognito authorization: always 401.
    pub const fn http_status(&self) -> u16 {
        401
    }

    /// The AWS error type header value (`x-amzn-ErrorType`) for the 401.
    pub const fn aws_error_type(&self) -> &'static str {
        "UnauthorizedException"
    }
}
