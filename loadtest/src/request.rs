//! The target (loopback only) and the bytes of each request: a fixed prefix plus the
//! per-request authentication (a token from a list, or a fresh SigV4 signature).

use std::cell::RefCell;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::LoadError;
use crate::sigv4::SigV4Signer;

/// Where the requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// The `Host` header (authority of the URL).
    pub host: String,
    /// Path and query (`/prod/hello?x=1`).
    pub path: String,
    /// The resolved loopback address.
    pub addr: SocketAddr,
    /// `https://`: speak TLS.
    pub tls: bool,
    /// The host without the port (the default TLS server name).
    pub hostname: String,
}

/// Parses an `http://` or `https://` URL and resolves it; refuses anything that is not
/// loopback.
pub fn parse_target(url: &str) -> Result<Target, LoadError> {
    let bad = |why: &str| LoadError::Url {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    let (rest, tls) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(r), _) => (r, false),
        (None, Some(r)) => (r, true),
        (None, None) => return Err(bad("only http:// and https:// are supported")),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("/")),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("missing or unsupported authority"));
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    let bracketed_v6 = authority.starts_with('[') && authority.ends_with(']');
    let with_port = if bracketed_v6 || !authority.contains(':') {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    } else {
        authority.to_owned()
    };
    let hostname = match authority.rfind(':') {
        Some(i) if !bracketed_v6 => authority.get(..i).unwrap_or(authority),
        _ => authority,
    };
    let hostname = hostname
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| bad(&format!("cannot resolve: {e}")))?
        .collect();
    // Prefer IPv4 (servers here bind 127.0.0.1; `localhost` may resolve to ::1 first).
    let addr = *addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .ok_or_else(|| bad("resolves to nothing"))?;
    if !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(LoadError::NotLoopback(authority.to_owned()));
    }
    Ok(Target {
        url: url.to_owned(),
        host: authority.to_owned(),
        path,
        addr,
        tls,
        hostname,
    })
}

/// Per-request authentication.
#[derive(Debug, Clone)]
pub enum Auth {
    /// None beyond the static headers.
    None,
    /// One header whose value cycles through a list (JWTs, TOKEN-authorizer tokens).
    Tokens {
        /// Header name, e.g. `Authorization`.
        header: String,
        /// The values, used in turn.
        values: Arc<Vec<String>>,
    },
    /// A SigV4 signature at the current time, keys in turn. With `cache`, the signed
    /// headers of a key are reused while the clock stays in the same second (`X-Amz-Date`
    /// has one-second resolution, so a fresh signature would be byte-identical); without,
    /// `aws-sigv4` signs every request.
    SigV4 {
        /// The signer.
        signer: Arc<SigV4Signer>,
        /// Reuse a key's signature within one second.
        cache: bool,
    },
}

/// Per key: (unix second, rendered header lines).
type SigCache = RefCell<Vec<Option<(u64, Vec<u8>)>>>;

/// Builds the bytes of each request.
#[derive(Debug, Clone)]
pub struct RequestFactory {
    method: String,
    target: Target,
    headers: Vec<(String, String)>,
    body: Arc<Vec<u8>>,
    auth: Auth,
    prefix: Vec<u8>,
    /// Per clone (each generator thread owns one).
    sig_cache: SigCache,
}

impl RequestFactory {
    /// A factory for `method target` with extra `headers` and `body`.
    pub fn new(
        method: &str,
        target: Target,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        auth: Auth,
    ) -> Self {
        let mut prefix = format!(
            "{method} {} HTTP/1.1\r\nhost: {}\r\n",
            target.path, target.host
        );
        prefix.push_str("user-agent: tollgate-load\r\n");
        for (k, v) in &headers {
            prefix.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
            prefix.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        Self {
            method: method.to_owned(),
            target,
            headers,
            body: Arc::new(body),
            auth,
            prefix: prefix.into_bytes(),
            sig_cache: RefCell::new(Vec::new()),
        }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// True for HEAD (the response has no body).
    pub fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }

    /// Writes request number `seq` into `out` (cleared first). `seq` picks the token or key
    /// (`seq % count`).
    pub fn build(&self, seq: u64, now: SystemTime, out: &mut Vec<u8>) -> Result<(), LoadError> {
        out.clear();
        out.extend_from_slice(&self.prefix);
        match &self.auth {
            Auth::None => {}
            Auth::Tokens { header, values } => {
                let n = values.len().max(1) as u64;
                if let Some(v) = values.get((seq % n) as usize) {
                    push_header(out, header, v);
                }
            }
            Auth::SigV4 { signer, cache } => {
                let n = signer.key_count().max(1) as u64;
                let key = (seq % n) as usize;
                let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                if *cache {
                    let c = self.sig_cache.borrow();
                    if let Some(Some((sec, lines))) = c.get(key)
                        && *sec == second
                    {
                        out.extend_from_slice(lines);
                        out.extend_from_slice(b"\r\n");
                        out.extend_from_slice(&self.body);
                        return Ok(());
                    }
                }
                let mut hs = Vec::with_capacity(self.headers.len() + 1);
                hs.push(("host".to_owned(), self.target.host.clone()));
                hs.extend(self.headers.iter().cloned());
                let url = format!("http://{}{}", self.target.host, self.target.path);
                let at = UNIX_EPOCH + Duration::from_secs(second);
                let added = signer.sign(key, &self.method, &url, &hs, &self.body, at)?;
                let mut lines = Vec::with_capacity(256);
                for (k, v) in &added {
                    push_header(&mut lines, k, v);
                }
                out.extend_from_slice(&lines);
                if *cache {
                    let mut c = self.sig_cache.borrow_mut();
                    if c.len() < n as usize {
                        c.resize(n as usize, None);
                    }
                    if let Some(slot) = c.get_mut(key) {
                        *slot = Some((second, lines));
                    }
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        Ok(())
    }
}

fn push_header(out: &mut Vec<u8>, k: &str, v: &str) {
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(v.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Parses `Name: value` (from `--header`).
pub fn parse_header(s: &str) -> Result<(String, String), LoadError> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| LoadError::Option(format!("header {s:?}: expected 'Name: value'")))?;
    let k = k.trim();
    if k.is_empty()
        || k.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(LoadError::Option(format!("header {s:?}: bad name")));
    }
    Ok((k.to_owned(), v.trim().to_owned()))
}

/// `n` distinct TOKEN-authorizer tokens: `{bearer}{prefix}-{i:06}`.
pub fn token_values(prefix: &str, n: u64, bearer: bool) -> Vec<String> {
    let b = if bearer { "Bearer " } else { "" };
    (0..n.max(1))
        .map(|i| format!("{b}{prefix}-{i:06}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::{AccessKey, SigV4Signer};

    #[test]
    fn targets() {
        let t = parse_target("http://127.0.0.1:8080/prod/hello?x=1").unwrap();
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.path, "/prod/hello?x=1");
        assert_eq!(t.addr.port(), 8080);
        let t = parse_target("http://localhost").unwrap();
        assert_eq!(t.path, "/");
        assert!(t.addr.is_ipv4());
        assert_eq!(t.addr.port(), 80);
        assert!(t.addr.ip().is_loopback());
        assert_eq!(parse_target("http://[::1]:9?q").unwrap().path, "/?q");
        assert!(matches!(
            parse_target("http://10.1.2.3:80/"),
            Err(LoadError::NotLoopback(_))
        ));
        let t = parse_target("https://localhost/").unwrap();
        assert!(t.tls);
        assert_eq!((t.addr.port(), t.hostname.as_str()), (443, "localhost"));
        let t = parse_target("https://[::1]:8443/").unwrap();
        assert_eq!((t.addr.port(), t.hostname.as_str()), (8443, "::1"));
        assert!(!parse_target("http://127.0.0.1:1/").unwrap().tls);
        assert!(parse_target("ftp://127.0.0.1/").is_err());
        assert!(parse_target("http:///x").is_err());
    }

    #[test]
    fn tokens_cycle_and_request_bytes() {
        let t = parse_target("http://127.0.0.1:1/p").unwrap();
        let f = RequestFactory::new(
            "POST",
            t,
            vec![parse_header("X-A: b c").unwrap()],
            b"{}".to_vec(),
            Auth::Tokens {
                header: "Authorization".into(),
                values: Arc::new(token_values("allow", 2, true)),
            },
        );
        let mut out = Vec::new();
        f.build(3, SystemTime::now(), &mut out).unwrap();
        let s = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            s,
            "POST /p HTTP/1.1\r\nhost: 127.0.0.1:1\r\nuser-agent: tollgate-load\r\nX-A: b c\r\n\
             content-length: 2\r\nAuthorization: Bearer allow-000001\r\n\r\n{}"
        );
        f.build(4, SystemTime::now(), &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("allow-000000"));
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header("a b: c").is_err());
    }

    #[test]
    fn sigv4_request_is_parseable() {
        let t = parse_target("http://127.0.0.1:1/prod/admin/x").unwrap();
        let keys = vec![AccessKey {
            id: "AKIDEXAMPLE".into(),
            secret: "s".into(),
            session_token: None,
        }];
        let signer = Arc::new(SigV4Signer::new(&keys, "us-east-1", "execute-api").unwrap());
        let f = RequestFactory::new(
            "GET",
            t.clone(),
            vec![],
            vec![],
            Auth::SigV4 {
                signer: signer.clone(),
                cache: true,
            },
        );
        let uncached = RequestFactory::new(
            "GET",
            t,
            vec![],
            vec![],
            Auth::SigV4 {
                signer,
                cache: false,
            },
        );
        // Within one second the cached and the fresh signature are byte-identical; the next
        // second gives a new one.
        let t0 = UNIX_EPOCH + Duration::from_millis(1_767_225_600_100);
        let t1 = UNIX_EPOCH + Duration::from_millis(1_767_225_600_900);
        let t2 = UNIX_EPOCH + Duration::from_millis(1_767_225_601_000);
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        f.build(0, t0, &mut a).unwrap();
        f.build(0, t1, &mut b).unwrap();
        uncached.build(0, t1, &mut c).unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        f.build(0, t2, &mut b).unwrap();
        assert_ne!(a, b);
        assert!(String::from_utf8_lossy(&b).contains("x-amz-date: 20260101T000001Z"));
        let mut out = Vec::new();
        f.build(0, SystemTime::now(), &mut out).unwrap();
        let h = crate::h1::parse_request(&out).unwrap().unwrap();
        assert_eq!(h.head_len, out.len());
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.contains("authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{s}"
        );
        assert!(s.contains("x-amz-date: "), "{s}");
    }
}
