//! JWKS parsing into ready-to-use verification keys.

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

use crate::{JwtError, b64};

/// A JWS signature algorithm this crate can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (what Cognito uses).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 (salt length 32).
    PS256,
    /// RSASSA-PSS with SHA-384 (salt length 48).
    PS384,
    /// RSASSA-PSS with SHA-512 (salt length 64).
    PS512,
    /// ECDSA P-256 with SHA-256, raw `r || s` (64 bytes).
    ES256,
    /// ECDSA P-384 with SHA-384, raw `r || s` (96 bytes).
    ES384,
    /// Ed25519.
    EdDSA,
    /// HMAC-SHA-256 (only with an explicitly allowed `oct` key).
    HS256,
}

impl Alg {
    /// Parses a JOSE `alg` name. `none` and everything unsupported give `None`.
    pub fn from_name(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "EdDSA" => Alg::EdDSA,
            "HS256" => Alg::HS256,
            _ => return None,
        })
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
            Alg::HS256 => "HS256",
        }
    }

    fn rsa_params(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }
}

/// Options for [`KeySet::from_jwks_json`].
#[derive(Debug, Clone)]
pub struct KeySetOptions {
    /// Accept `kty: oct` (HMAC) keys. Off by default: a public JWKS never holds secrets,
    /// and Cognito signs with RS256 only. When off, `oct` keys are ignored.
    pub allow_hmac: bool,
    /// Smallest accepted RSA modulus in bits (default and minimum 2048, which is also
    /// ring's floor).
    pub min_rsa_bits: usize,
}

impl Default for KeySetOptions {
    fn default() -> Self {
        KeySetOptions {
            allow_hmac: false,
            min_rsa_bits: 2048,
        }
    }
}

/// The verification material of one key, decoded once at load.
///
/// ring 0.17 offers no pre-parsed RSA/ECDSA *public* key object: its verifiers take the
/// raw components and check them on each call. So the base64url decoding, length and
/// range checks happen here once, and each verification hands ring ready byte slices.
/// HMAC keys are real pre-computed `ring::hmac::Key`s.
pub(crate) enum KeyMaterial {
    Rsa(RsaPublicKeyComponents<Vec<u8>>),
    EcP256(UnparsedPublicKey<Vec<u8>>),
    EcP384(UnparsedPublicKey<Vec<u8>>),
    Ed25519(UnparsedPublicKey<Vec<u8>>),
    Hmac(ring::hmac::Key),
}

impl KeyMaterial {
    fn fits(&self, alg: Alg) -> bool {
        matches!(
            (self, alg),
            (
                KeyMaterial::Rsa(_),
                Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512
            ) | (KeyMaterial::EcP256(_), Alg::ES256)
                | (KeyMaterial::EcP384(_), Alg::ES384)
                | (KeyMaterial::Ed25519(_), Alg::EdDSA)
                | (KeyMaterial::Hmac(_), Alg::HS256)
        )
    }
}

/// One usable signature-verification key.
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    /// The key's own `alg`, when the JWK names one.
    pub(crate) alg: Option<Alg>,
    pub(crate) material: KeyMaterial,
}

impl Key {
    /// Verifies `sig` over `msg` for `alg`, refusing any alg that does not fit the key
    /// (this is where algorithm confusion, e.g. HS256 with an RSA key, is stopped).
    pub(crate) fn verify(&self, alg: Alg, msg: &[u8], sig: &[u8]) -> Result<(), JwtError> {
        if !self.material.fits(alg) || self.alg.is_some_and(|a| a != alg) {
            return Err(JwtError::KeyMismatch);
        }
        let ok = match &self.material {
            KeyMaterial::Rsa(components) => match alg.rsa_params() {
                Some(params) => components.verify(params, msg, sig).is_ok(),
                None => false,
            },
            // ring's *_FIXED verifiers take raw r||s and reject any other length, so a
            // DER-encoded ECDSA signature never verifies; check the length explicitly anyway.
            KeyMaterial::EcP256(k) => sig.len() == 64 && k.verify(msg, sig).is_ok(),
            KeyMaterial::EcP384(k) => sig.len() == 96 && k.verify(msg, sig).is_ok(),
            KeyMaterial::Ed25519(k) => sig.len() == 64 && k.verify(msg, sig).is_ok(),
            KeyMaterial::Hmac(k) => ring::hmac::verify(k, msg, sig).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(JwtError::BadSignature)
        }
    }
}

/// A parsed JWKS: the keys that can verify signatures, by `kid`.
///
/// Rules applied by [`KeySet::from_jwks_json`]:
/// * keys whose `use` is present and not `sig`, whose `key_ops` lacks `verify`, whose
///   `kty`/`crv` is unsupported (e.g. P-521, X25519) or whose `alg` is not a signature
///   algorithm this crate supports are **skipped**; `oct` keys are skipped unless
///   [`KeySetOptions::allow_hmac`];
/// * the whole set is **rejected** when a supported key is broken (bad base64url, wrong
///   coordinate length, RSA modulus under `min_rsa_bits` or over 8192 bits, even modulus,
///   exponent < 3 or even, a ROCA-fingerprinted modulus, an HMAC key shorter than 32
///   bytes), when a key's `alg` does not fit its type, when a public key carries private
///   parameters, when two keys share a `kid`, when symmetric and asymmetric keys are mixed,
///   or when no usable key remains. Failing closed keeps the last good set serving.
pub struct KeySet {
    keys: Vec<Key>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field(
                "kids",
                &self
                    .keys
                    .iter()
                    .map(|k| k.kid.as_deref())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

const RSA_PRIVATE: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth"];

impl KeySet {
    /// Parses a JWKS document (`{"keys":[...]}`).
    pub fn from_jwks_json(bytes: &[u8], opts: &KeySetOptions) -> Result<KeySet, JwtError> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|_| JwtError::InvalidKeySet("not JSON"))?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwtError::InvalidKeySet("no \"keys\" array"))?;
        let min_bits = opts.min_rsa_bits.max(2048);
        let mut keys: Vec<Key> = Vec::with_capacity(list.len());
        for jwk in list {
            let obj = jwk
                .as_object()
                .ok_or(JwtError::InvalidKeySet("key is not an object"))?;
            if let Some(key) = parse_key(obj, opts.allow_hmac, min_bits)? {
                if let Some(kid) = &key.kid
                    && keys.iter().any(|k| k.kid.as_ref() == Some(kid))
                {
                    return Err(JwtError::InvalidKeySet("duplicate kid"));
                }
                keys.push(key);
            }
        }
        let symmetric = keys
            .iter()
            .filter(|k| matches!(k.material, KeyMaterial::Hmac(_)))
            .count();
        if symmetric != 0 && symmetric != keys.len() {
            return Err(JwtError::InvalidKeySet(
                "symmetric and asymmetric keys mixed",
            ));
        }
        if keys.is_empty() {
            return Err(JwtError::InvalidKeySet("no usable signature key"));
        }
        Ok(KeySet { keys })
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false for a constructed set (an empty set is an error), kept for clippy's
    /// `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a usable key has this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Selects the key for a token: by `kid` (linear scan: JWKS hold a handful of keys;
    /// Cognito publishes two); without `kid` only when the set holds exactly one key.
    pub(crate) fn select(&self, kid: Option<&str>) -> Result<&Key, JwtError> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(JwtError::UnknownKid),
            None => match self.keys.as_slice() {
                [only] => Ok(only),
                _ => Err(JwtError::UnknownKid),
            },
        }
    }
}

fn str_member<'a>(
    obj: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, JwtError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwtError::InvalidKeySet("JWK member has the wrong type")),
    }
}

fn b64_member(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JwtError> {
    let s = str_member(obj, name)?.ok_or(JwtError::InvalidKeySet("JWK member missing"))?;
    b64::decode(s.as_bytes()).ok_or(JwtError::InvalidKeySet("JWK member is not base64url"))
}

fn parse_key(
    obj: &Map<String, Value>,
    allow_hmac: bool,
    min_rsa_bits: usize,
) -> Result<Option<Key>, JwtError> {
    let kty = str_member(obj, "kty")?.ok_or(JwtError::InvalidKeySet("JWK without kty"))?;
    if let Some(usage) = str_member(obj, "use")?
        && usage != "sig"
    {
        return Ok(None);
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops
            .as_array()
            .ok_or(JwtError::InvalidKeySet("key_ops is not an array"))?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(None);
        }
    }
    let alg = match str_member(obj, "alg")? {
        None => None,
        Some(name) => match Alg::from_name(name) {
            Some(alg) => Some(alg),
            // Not a signature algorithm we verify (RSA1_5, A256GCM, ES512, ...): skip.
            None => return Ok(None),
        },
    };
    let kid = str_member(obj, "kid")?.map(str::to_owned);
    let material = match kty {
        "RSA" => {
            if RSA_PRIVATE.iter().any(|m| obj.contains_key(*m)) {
                return Err(JwtError::InvalidKeySet("private RSA parameters in JWKS"));
            }
            let n = strip_zeros(b64_member(obj, "n")?);
            let e = strip_zeros(b64_member(obj, "e")?);
            let bits = bit_len(&n);
            if bits < min_rsa_bits || bits > 8192 {
                return Err(JwtError::InvalidKeySet("RSA modulus size out of range"));
            }
            if n.last().is_none_or(|b| b & 1 == 0) {
                return Err(JwtError::InvalidKeySet("RSA modulus is even"));
            }
            // ring accepts 3 <= e < 2^33, odd.
            if e.is_empty()
                || e.len() > 5
                || e.last().is_none_or(|b| b & 1 == 0)
                || (e.len() == 1 && e.first().is_some_and(|b| *b < 3))
                || (e.len() == 5 && e.first().is_some_and(|b| *b > 1))
            {
                return Err(JwtError::InvalidKeySet("RSA exponent out of range"));
            }
            if roca_fingerprint(&n) {
                return Err(JwtError::InvalidKeySet("ROCA-vulnerable RSA modulus"));
            }
            KeyMaterial::Rsa(RsaPublicKeyComponents { n, e })
        }
        "EC" => {
            if obj.contains_key("d") {
                return Err(JwtError::InvalidKeySet("private EC parameter in JWKS"));
            }
            let (len, p384) = match str_member(obj, "crv")? {
                Some("P-256") => (32, false),
                Some("P-384") => (48, true),
                _ => return Ok(None),
            };
            let x = b64_member(obj, "x")?;
            let y = b64_member(obj, "y")?;
            if x.len() != len || y.len() != len {
                return Err(JwtError::InvalidKeySet("EC coordinate length"));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4u8);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            if p384 {
                KeyMaterial::EcP384(UnparsedPublicKey::new(
                    &signature::ECDSA_P384_SHA384_FIXED,
                    point,
                ))
            } else {
                KeyMaterial::EcP256(UnparsedPublicKey::new(
                    &signature::ECDSA_P256_SHA256_FIXED,
                    point,
                ))
            }
        }
        "OKP" => {
            if obj.contains_key("d") {
                return Err(JwtError::InvalidKeySet("private OKP parameter in JWKS"));
            }
            if str_member(obj, "crv")? != Some("Ed25519") {
                return Ok(None);
            }
            let x = b64_member(obj, "x")?;
            if x.len() != 32 {
                return Err(JwtError::InvalidKeySet("Ed25519 key length"));
            }
            KeyMaterial::Ed25519(UnparsedPublicKey::new(&signature::ED25519, x))
        }
        "oct" => {
            if !allow_hmac {
                return Ok(None);
            }
            let k = b64_member(obj, "k")?;
            // RFC 7518 §3.2: a key of the same size as the hash output or larger.
            if k.len() < 32 {
                return Err(JwtError::InvalidKeySet("HMAC key shorter than 256 bits"));
            }
            KeyMaterial::Hmac(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &k))
        }
        _ => return Ok(None),
    };
    if let Some(alg) = alg
        && !material.fits(alg)
    {
        return Err(JwtError::InvalidKeySet("JWK alg does not fit its key type"));
    }
    Ok(Some(Key { kid, alg, material }))
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let lead = v.iter().take_while(|b| **b == 0).count();
    v.drain(..lead);
    v
}

fn bit_len(n: &[u8]) -> usize {
    match n.first() {
        None => 0,
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
    }
}

/// The small primes of the ROCA (CVE-2017-15361) fingerprint test.
const ROCA_PRIMES: [u32; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/// ROCA fingerprint (Nemec et al., CCS 2017): moduli made by the vulnerable Infineon
/// library are, modulo every small prime p, in the subgroup generated by 65537. A random
/// modulus passes this test for all 38 primes with negligible probability.
pub(crate) fn roca_fingerprint(n: &[u8]) -> bool {
    ROCA_PRIMES.iter().all(|&p| {
        let p = u64::from(p);
        let r = n
            .iter()
            .fold(0u64, |acc, b| (acc * 256 + u64::from(*b)) % p);
        // Walk the cyclic subgroup <65537 mod p>.
        let g = 65537 % p;
        let mut x = 1u64;
        loop {
            if x == r {
                return true;
            }
            x = x * g % p;
            if x == 1 {
                return false;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[0x80, 0]), 16);
        assert_eq!(strip_zeros(vec![0, 0, 1, 0]), vec![1, 0]);
    }

    #[test]
    fn roca_rejects_a_power_of_65537() {
        // 65537^k is trivially inside <65537> mod every p: the fingerprint fires.
        let mut n = vec![1u8];
        for _ in 0..40 {
            // n *= 65537 (big-endian bytes)
            let mut carry = 0u64;
            for b in n.iter_mut().rev() {
                let v = u64::from(*b) * 65537 + carry;
                *b = (v & 0xff) as u8;
                carry = v >> 8;
            }
            while carry > 0 {
                n.insert(0, (carry & 0xff) as u8);
                carry >>= 8;
            }
        }
        assert!(roca_fingerprint(&n));
        // mod 13, 65537 = 4 generates {1,3,4,9,10,12}: 2 is outside, so n = 2 is clean.
        assert!(!roca_fingerprint(&[2]));
    }
}
