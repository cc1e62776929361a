//! The one path normalisation rule of the gateway: paths that some server down the line
//! would rewrite are refused at the edge, so the path the router matches, the path in the
//! method ARN that policies match, and the path forwarded upstream are always the same bytes.

use crate::HttpError;

/// Check a request path (starting with `/`, no query) for forms that an upstream or a
/// framework may normalise into a different path than the one the gateway routed and
/// authorised. Refused, each with 400:
///
/// - an empty segment (`//`) anywhere but a single trailing `/` (`/a//b`, `//a`, `/a//`),
/// - a dot-segment, `.` or `..`,
/// - a backslash, which some servers read as `/`,
/// - a percent-encoded unreserved character (`%2e`, `%41`, `%7e`, ...: RFC 3986 §2.3 says
///   they are equivalent to the plain character and should not be encoded, so `%2e%2e` is a
///   `..` and `/%61dmin` is `/admin` to a server that decodes) or a percent-encoded `/` or `\`
///   (`%2f`, `%5c`: a segment separator to a server that decodes before splitting).
///
/// Everything else is left as sent: no decoding, no rewriting. `*` (the asterisk form) passes.
pub fn check_path(path: &[u8]) -> Result<(), HttpError> {
    if memchr::memchr(b'\\', path).is_some() {
        return Err(HttpError::BadRequest("backslash in path"));
    }
    for pos in memchr::memchr_iter(b'%', path) {
        let hi = path.get(pos + 1).copied().and_then(hex);
        let lo = path.get(pos + 2).copied().and_then(hex);
        if let (Some(hi), Some(lo)) = (hi, lo) {
            let b = (hi << 4) | lo;
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b'\\') {
                return Err(HttpError::BadRequest(
                    "percent-encoded unreserved character or separator in path",
                ));
            }
        }
    }
    let Some(rest) = path.strip_prefix(b"/") else {
        return Ok(());
    };
    if rest.is_empty() {
        return Ok(());
    }
    let mut segments = rest.split(|b| *b == b'/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        if seg.is_empty() && !last {
            return Err(HttpError::BadRequest("empty path segment"));
        }
        if seg == b"." || seg == b".." {
            return Err(HttpError::BadRequest("dot-segment in path"));
        }
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn accepted() {
        for p in [
            "/",
            "/prod",
            "/prod/",
            "/prod/a/b/",
            "/prod/a.b",
            "/prod/...",
            "/prod/.well-known/x",
            "/prod/a..b",
            "/prod/a%20b",
            "/prod/%25",
            "/prod/%3A%40",
            "/prod/%",
            "/prod/%2",
            "/prod/%zz",
            "*",
        ] {
            assert!(check_path(p.as_bytes()).is_ok(), "{p}");
        }
    }

    #[test]
    fn refused() {
        for p in [
            "//",
            "//prod",
            "/prod//a",
            "/prod/a//",
            "/prod/.",
            "/prod/./a",
            "/prod/..",
            "/prod/../a",
            "/prod/%2e",
            "/prod/%2E%2e/a",
            "/prod/.%2e/a",
            "/prod/%2e./a",
            "/prod/a/..%2fadmin",
            "/prod/a/..%2Fadmin",
            "/prod/a/..\\admin",
            "/prod/a/x%5c..%5cadmin",
            "/prod/a%2fb",
            "/prod/%2ex",
            "/prod/%41dmin",
            "/prod/%7e",
            "/prod/a/%2e%2e%5cadmin",
            "/./prod",
        ] {
            assert!(check_path(p.as_bytes()).is_err(), "{p}");
        }
    }
}
