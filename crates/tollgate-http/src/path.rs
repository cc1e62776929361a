//! The one path normalisation rule of the gateway: paths that some server down the line
//! would rewrite are refused at the edge, so the path the router matches, the path in the
//! method ARN that policies match, and the path forwarded upstream are always the same bytes.

use crate::HttpError;

/// Check a request path (starting with `/`, no query) for forms that an upstream or a
/// framework may normalise into a different path than the one the gateway routed and
/// authorised. Refused, each with 400:
///
/// - an empty segment (`//`) anywhere but a single trailing `/` (`/a//b`, `//a`, `/a//`),
/// - a dot-segment, `.` or `..`, and any segment ending in `.` (`admin.`, `...`: Windows
///   servers drop trailing dots),
/// - a backslash, which some servers read as `/`,
/// - `;` (path parameters: Tomcat, Spring and Jetty cut `;...` out of a segment, so
///   `/admin;x/panel` is `/admin/panel` to them),
/// - a `%` not followed by two hex digits (`%u002e` is `.` to IIS; others refuse or pass it),
/// - a percent-encoded unreserved character (`%2e`, `%41`, `%7e`, ...: RFC 3986 §2.3 says
///   they are equivalent to the plain character and should not be encoded, so `%2e%2e` is a
///   `..` and `/%61dmin` is `/admin` to a server that decodes) or a percent-encoded `/` or `\`
///   (`%2f`, `%5c`: a segment separator to a server that decodes before splitting),
/// - a percent-encoded `;`, `?` or `#` (`%3b`, `%3f`, `%23`: a parameter, query or fragment
///   delimiter to a server that decodes before parsing), a control character (`%00`-`%1f`,
///   `%7f`), and `%25` followed by two hex digits (double encoding: `%252f` is `%2f` after
///   one decoding, `/` after two),
/// - an encoded space (`%20`) at the start or end of a segment (servers that trim read
///   `/admin%20/` as `/admin/`); a space inside a segment (`a%20b`) is accepted,
/// - percent-encoded bytes that do not decode, per segment, to valid UTF-8 (overlong forms
///   such as `%c0%af` for `/` and `%e0%80%ae` for `.`, lone continuation bytes, surrogates),
///   or that decode to a character some layer drops or folds: C1 controls, Unicode
///   whitespace other than the space, format and bidi controls (U+200B-U+200F, U+202A-U+202E,
///   U+2060-U+206F, U+FEFF, soft hyphen, ...), and look-alikes that compatibility
///   normalisation (NFKC) turns into ASCII (the fullwidth forms U+FF00-U+FFEF such as `／`
///   and `．`, `․`, `‥`, `…`, `∕`, `⁄`, `﹒`, `﹨`).
///
/// Raw bytes outside visible ASCII never get here: the request parser refuses them in the
/// target. Everything else is left as sent: no decoding, no rewriting. `*` (the asterisk
/// form) passes.
pub fn check_path(path: &[u8]) -> Result<(), HttpError> {
    if memchr::memchr(b'\\', path).is_some() {
        return Err(HttpError::BadRequest("backslash in path"));
    }
    if memchr::memchr(b';', path).is_some() {
        return Err(HttpError::BadRequest("';' in path"));
    }
    let mut any_non_ascii = false;
    for pos in memchr::memchr_iter(b'%', path) {
        let hi = path.get(pos + 1).copied().and_then(hex);
        let lo = path.get(pos + 2).copied().and_then(hex);
        let (Some(hi), Some(lo)) = (hi, lo) else {
            return Err(HttpError::BadRequest("malformed percent-encoding in path"));
        };
        let b = (hi << 4) | lo;
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b'\\') {
            return Err(HttpError::BadRequest(
                "percent-encoded unreserved character or separator in path",
            ));
        }
        if matches!(b, b';' | b'?' | b'#') {
            return Err(HttpError::BadRequest("percent-encoded delimiter in path"));
        }
        if b < 0x20 || b == 0x7f {
            return Err(HttpError::BadRequest("control character in path"));
        }
        if b == b'%'
            && path.get(pos + 3).copied().and_then(hex).is_some()
            && path.get(pos + 4).copied().and_then(hex).is_some()
        {
            return Err(HttpError::BadRequest("double percent-encoding in path"));
        }
        any_non_ascii |= b >= 0x80;
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
        if seg.ends_with(b".") {
            return Err(HttpError::BadRequest("path segment ending in '.'"));
        }
        if seg.starts_with(b"%20") || seg.ends_with(b"%20") {
            return Err(HttpError::BadRequest(
                "encoded space at the start or end of a path segment",
            ));
        }
        if any_non_ascii {
            check_decoded(seg)?;
        }
    }
    Ok(())
}

/// Decode a segment's percent-encoded bytes (the ASCII checks above have passed) and check
/// the text: valid UTF-8, with no character that some layer drops or folds into another.
fn check_decoded(seg: &[u8]) -> Result<(), HttpError> {
    if memchr::memchr(b'%', seg).is_none() {
        return Ok(());
    }
    let mut decoded = Vec::with_capacity(seg.len());
    let mut i = 0;
    while let Some(&b) = seg.get(i) {
        if b == b'%' {
            let hi = seg.get(i + 1).copied().and_then(hex).unwrap_or(0);
            let lo = seg.get(i + 2).copied().and_then(hex).unwrap_or(0);
            decoded.push((hi << 4) | lo);
            i += 3;
        } else {
            decoded.push(b);
            i += 1;
        }
    }
    let text = std::str::from_utf8(&decoded)
        .map_err(|_| HttpError::BadRequest("percent-encoded bytes are not UTF-8"))?;
    if text.chars().any(is_folded_or_invisible) {
        return Err(HttpError::BadRequest(
            "invisible, bidi or look-alike character in path",
        ));
    }
    Ok(())
}

/// Characters that a server, a framework or a normaliser may drop, trim, reorder on
/// display, or turn into ASCII: refused in a path.
fn is_folded_or_invisible(c: char) -> bool {
    if c.is_ascii() {
        // The ASCII cases are checked on the encoded bytes.
        return false;
    }
    c.is_control() // C1 controls U+0080-U+009F
        || c.is_whitespace() // U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028/9, U+202F, U+205F, U+3000
        || matches!(c,
            // Format (Cf) characters: invisible, dropped by some normalisers.
            '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}'
            | '\u{08E2}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}'
            | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
            // NFKC folds these into ASCII dots, slashes and letters.
            | '\u{FF00}'..='\u{FFEF}' | '\u{2024}'..='\u{2026}' | '\u{2215}' | '\u{2044}'
            | '\u{FE52}' | '\u{FE68}' | '\u{FE63}' | '\u{2216}'
            // Variation selectors and the replacement character.
            | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}' | '\u{FFFD}')
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
            "/prod/.well-known/x",
            "/prod/a..b",
            "/prod/a%20b",
            "/prod/a%20%20b",
            "/prod/%25",
            "/prod/%25zz",
            "/prod/a%25",
            "/prod/%3A%40",
            "/prod/%21%24%26%27%28%29%2A%2B%2C%3D",
            "/prod/caf%C3%A9",
            "/prod/%E6%97%A5%E6%9C%AC",
            "/prod/%F0%9F%98%80",
            "/prod/.well-known/x",
            "/prod/a.b/c",
            "/prod/a:b@c!$&'()*+,=",
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
            // Path parameters, raw or encoded.
            "/prod/admin;x/panel",
            "/prod/admin;/panel",
            "/prod/..;/admin",
            "/prod/admin%3B/panel",
            "/prod/admin%3bx/panel",
            // Malformed percent-encoding.
            "/prod/%",
            "/prod/%2",
            "/prod/%zz",
            "/prod/%u002e%u002e/admin",
            "/prod/admin%",
            // Controls.
            "/prod/admin%00/panel",
            "/prod/admin%09/panel",
            "/prod/admin%0a/panel",
            "/prod/admin%0D/panel",
            "/prod/admin%1F/panel",
            "/prod/admin%7F/panel",
            // Double encoding.
            "/prod/admin%252Fpanel",
            "/prod/admin%252fpanel",
            "/prod/%252e%252e/admin",
            "/prod/admin%2500",
            // Encoded delimiters.
            "/prod/admin%23/panel",
            "/prod/admin%3F/panel",
            "/prod/admin%3f",
            // Whitespace at a segment's edges, trailing dots.
            "/prod/admin%20/panel",
            "/prod/%20admin/panel",
            "/prod/%20",
            "/prod/admin%20",
            "/prod/admin./panel",
            "/prod/admin.",
            "/prod/...",
            "/prod/a..",
            // Invalid or overlong UTF-8 after decoding.
            "/prod/admin%C0%AFpanel",
            "/prod/admin%E0%80%AFpanel",
            "/prod/%C0%AE%C0%AE/admin",
            "/prod/%C0%80",
            "/prod/admin%FF",
            "/prod/admin%80",
            "/prod/admin%C3",
            "/prod/%ED%A0%80",
            "/prod/%F4%90%80%80",
            // Invisible, bidi, whitespace and look-alike characters.
            "/prod/admin%E2%80%AE/panel",
            "/prod/admin%E2%80%8B/panel",
            "/prod/admin%E2%80%8F",
            "/prod/admin%E2%81%A6x",
            "/prod/admin%EF%BB%BF",
            "/prod/admin%C2%AD",
            "/prod/admin%C2%85",
            "/prod/admin%C2%A0",
            "/prod/admin%E3%80%80",
            "/prod/admin%E2%80%A8",
            "/prod/admin%EF%BC%8Fpanel",
            "/prod/%EF%BC%8E%EF%BC%8E/admin",
            "/prod/%EF%BD%81dmin",
            "/prod/admin%E2%88%95panel",
            "/prod/%E2%80%A5/admin",
            "/prod/%E2%80%A6",
            "/prod/admin%E2%81%84panel",
            "/prod/admin%F3%A0%80%81",
        ] {
            assert!(check_path(p.as_bytes()).is_err(), "{p}");
        }
    }
}
