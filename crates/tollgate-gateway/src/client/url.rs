//! The one URL parser of the client: `http://` (and, once a TLS connector is plugged in,
//! `https://`) URLs of upstreams, authorizer functions and JWKS documents.

use std::borrow::Cow;
use std::fmt;

/// The URL schemes the client knows. Only [`Scheme::Http`] has a connector today; `https`
/// URLs parse (so the error names the missing TLS connector, not a syntax error) and a
/// connector can be added without touching the callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub(crate) const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    #[cfg(test)]
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A URL split for an HTTP/1.1 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url<'a> {
    pub scheme: Scheme,
    /// `host[:port]` as written: the `Host` header.
    pub authority: &'a str,
    /// The host to resolve or parse as an address (IPv6 without its brackets).
    pub host: &'a str,
    /// The explicit port, or the scheme's default.
    pub port: u16,
    /// The request target: starts with `/` (`/` when the URL has no path); no fragment.
    pub path_and_query: Cow<'a, str>,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlError {
    /// Neither `http://` nor `https://`.
    Scheme,
    /// No host.
    NoHost,
    /// A port that is not a number in 1..=65535.
    Port,
    /// User info, an unclosed IPv6 bracket, or a byte that does not belong in a host.
    Host,
    /// A byte that cannot be sent in a request target (space, control byte, non-ASCII).
    Path,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Scheme => "not an http:// URL",
            UrlError::NoHost => "no host in the URL",
            UrlError::Port => "bad port in the URL",
            UrlError::Host => "bad host in the URL",
            UrlError::Path => "bad path in the URL",
        })
    }
}

impl std::error::Error for UrlError {}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// Bytes allowed in a reg-name or IP literal (RFC 3986 unreserved, sub-delims, `%`, and the
/// `:`/`[`/`]` of IPv6 literals); `@` (user info) is not.
fn host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:[]".contains(&b)
}

/// Splits `host[:port]` (IPv6 as `[addr]` or `[addr]:port`) into the host to resolve and the
/// port, `default_port` when none is written.
pub(crate) fn split_authority(authority: &str, default_port: u16) -> Result<(&str, u16), UrlError> {
    if authority.is_empty() {
        return Err(UrlError::NoHost);
    }
    if !authority.bytes().all(host_byte) {
        return Err(UrlError::Host);
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or(UrlError::Host)?;
        if h.contains(['[', ']']) {
            return Err(UrlError::Host);
        }
        match after {
            "" => (h, None),
            _ => (h, Some(after.strip_prefix(':').ok_or(UrlError::Host)?)),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    if host.contains(['[', ']']) || (!authority.starts_with('[') && host.contains(':')) {
        return Err(UrlError::Host);
    }
    let port = match port {
        None => default_port,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(UrlError::Port),
            }
        }
        Some(_) => return Err(UrlError::Port),
    };
    Ok((host, port))
}

impl<'a> Url<'a> {
    /// Parses `scheme://authority[path][?query][#fragment]`. The scheme is matched without
    /// regard to case; a missing path becomes `/`; the fragment is dropped (it is never sent).
    pub(crate) fn parse(url: &'a str) -> Result<Self, UrlError> {
        let (scheme, rest) = if let Some(r) = strip_prefix_ci(url, "http://") {
            (Scheme::Http, r)
        } else if let Some(r) = strip_prefix_ci(url, "https://") {
            (Scheme::Https, r)
        } else {
            return Err(UrlError::Scheme);
        };
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i..).unwrap_or_default(),
            ),
            None => (rest, ""),
        };
        let (host, port) = split_authority(authority, scheme.default_port())?;
        if !target.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
            return Err(UrlError::Path);
        }
        let path_and_query = if target.starts_with('/') {
            Cow::Borrowed(target)
        } else {
            Cow::Owned(format!("/{target}"))
        };
        Ok(Url {
            scheme,
            authority,
            host,
            port,
            path_and_query,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(u: &str) -> (Scheme, String, String, u16, String) {
        let u = Url::parse(u).unwrap();
        (
            u.scheme,
            u.authority.to_owned(),
            u.host.to_owned(),
            u.port,
            u.path_and_query.into_owned(),
        )
    }

    #[test]
    fn splits_urls() {
        assert_eq!(
            parts("http://127.0.0.1:8081/pets/1?x=1"),
            (
                Scheme::Http,
                "127.0.0.1:8081".into(),
                "127.0.0.1".into(),
                8081,
                "/pets/1?x=1".into()
            )
        );
        assert_eq!(
            parts("http://example.com"),
            (
                Scheme::Http,
                "example.com".into(),
                "example.com".into(),
                80,
                "/".into()
            )
        );
        assert_eq!(parts("HTTP://h?x").4, "/?x");
        assert_eq!(parts("http://h/a#frag").4, "/a");
        let v6 = parts("http://[::1]:81/a?b=c");
        assert_eq!(
            (v6.1.as_str(), v6.2.as_str(), v6.3),
            ("[::1]:81", "::1", 81)
        );
        assert_eq!(parts("http://[::1]").3, 80);
        let tls = parts("https://idp.example/jwks.json");
        assert_eq!((tls.0, tls.3), (Scheme::Https, 443));
        assert_eq!(Scheme::Https.as_str(), "https");
    }

    #[test]
    fn refuses_bad_urls() {
        for (bad, why) in [
            ("ftp://h/", UrlError::Scheme),
            ("h/x", UrlError::Scheme),
            ("http://", UrlError::NoHost),
            ("http:///x", UrlError::NoHost),
            ("http://:80/", UrlError::NoHost),
            ("http://h:99999/", UrlError::Port),
            ("http://h:0/", UrlError::Port),
            ("http://h:/", UrlError::Port),
            ("http://h:8x/", UrlError::Port),
            ("http://user@h/", UrlError::Host),
            ("http://h h/", UrlError::Host),
            ("http://h\r\nx: y/", UrlError::Host),
            ("http://[::1/", UrlError::Host),
            ("http://[::1]x/", UrlError::Host),
            ("http://a:b:c/", UrlError::Port),
            ("http://h/a b", UrlError::Path),
            ("http://h/\u{e9}", UrlError::Path),
        ] {
            assert_eq!(Url::parse(bad), Err(why), "{bad}");
        }
    }
}
