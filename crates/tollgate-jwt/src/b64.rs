//! Strict base64url (RFC 7515 §2): URL-safe alphabet, no padding, no whitespace and
//! zero trailing bits. Anything else is rejected, so one token has exactly one spelling.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Decodes canonical unpadded base64url. `URL_SAFE_NO_PAD` in base64 0.22 already rejects
/// `=` padding, characters outside `A-Z a-z 0-9 - _`, a length of 1 mod 4 and non-zero
/// trailing bits; this wrapper exists so that every decode in the crate goes through one
/// place (and the tests pin that behaviour).
pub(crate) fn decode(input: &[u8]) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input).ok()
}

/// Encodes without padding (used by tests and by callers building test tokens).
pub fn encode(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_only() {
        assert_eq!(decode(b"Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(decode(b"VGVzdA").as_deref(), Some(&b"Test"[..]));
        assert_eq!(decode(b"").as_deref(), Some(&b""[..]));
        // padding
        assert!(decode(b"VGVzdA==").is_none());
        // standard alphabet
        assert!(decode(b"+/+/").is_none());
        // non-zero trailing bits: "VGVzdB" decodes to "Test" with a dirty last sextet
        assert!(decode(b"VGVzdB").is_none());
        // impossible length
        assert!(decode(b"VGVzd").is_none());
        // whitespace
        assert!(decode(b" Zm9v").is_none());
        assert!(decode(b"Zm9v\n").is_none());
    }

    #[test]
    fn round_trip() {
        for n in 0..64u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(decode(encode(&data).as_bytes()), Some(data));
        }
    }
}
