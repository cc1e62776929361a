//! The per-worker upstream side of `http_proxy`: address resolution, a keep-alive pool per
//! upstream address, and connecting with a deadline.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

/// A pooled idle connection.
struct Idle {
    stream: TcpStream,
    since: Instant,
}

/// Idle keep-alive connections of one worker, per upstream address. Bounded per address.
pub(crate) struct Pool {
    idle: HashMap<SocketAddr, Vec<Idle>>,
    max_idle_per_host: usize,
    idle_timeout: Duration,
    resolved: HashMap<String, (SocketAddr, Instant)>,
}

const RESOLVE_TTL: Duration = Duration::from_secs(30);
const MAX_RESOLVED: usize = 1024;

impl Pool {
    pub(crate) fn new(max_idle_per_host: usize, idle_timeout: Duration) -> Self {
        Self {
            idle: HashMap::new(),
            max_idle_per_host,
            idle_timeout,
            resolved: HashMap::new(),
        }
    }

    /// A pooled connection to `addr` that has not idled too long, newest first.
    pub(crate) fn take(&mut self, addr: SocketAddr) -> Option<TcpStream> {
        let list = self.idle.get_mut(&addr)?;
        let now = Instant::now();
        while let Some(c) = list.pop() {
            if now.duration_since(c.since) < self.idle_timeout {
                return Some(c.stream);
            }
        }
        None
    }

    pub(crate) fn put(&mut self, addr: SocketAddr, stream: TcpStream) {
        if self.max_idle_per_host == 0 {
            // No pooling: the connection closes here.
            return;
        }
        let list = self.idle.entry(addr).or_default();
        if list.len() >= self.max_idle_per_host {
            // Drop the oldest.
            if !list.is_empty() {
                list.remove(0);
            }
        }
        list.push(Idle {
            stream,
            since: Instant::now(),
        });
    }

    /// `host:port` -> address. IP literals parse directly; names are resolved with the
    /// system resolver (a blocking call, cached for 30 s per worker).
    pub(crate) fn resolve(&mut self, authority: &str) -> io::Result<SocketAddr> {
        let with_port;
        let authority = if has_port(authority) {
            authority
        } else {
            with_port = format!("{authority}:80");
            &with_port
        };
        if let Ok(a) = authority.parse::<SocketAddr>() {
            return Ok(a);
        }
        if let Some((a, at)) = self.resolved.get(authority)
            && at.elapsed() < RESOLVE_TTL
        {
            return Ok(*a);
        }
        let addr = authority
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
        if self.resolved.len() >= MAX_RESOLVED {
            self.resolved.clear();
        }
        self.resolved
            .insert(authority.to_owned(), (addr, Instant::now()));
        Ok(addr)
    }
}

fn has_port(authority: &str) -> bool {
    match authority.rfind(':') {
        Some(i) => {
            let after = authority.get(i + 1..).unwrap_or_default();
            !after.is_empty()
                && after.bytes().all(|b| b.is_ascii_digit())
                && !authority.ends_with(']')
        }
        None => false,
    }
}

/// Connect with a deadline. Refused/unreachable -> the io error; timeout -> `TimedOut`.
pub(crate) async fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    match monoio::time::timeout(timeout, TcpStream::connect_addr(addr)).await {
        Ok(r) => {
            let s = r?;
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

/// Split `http://authority/path?query` into (authority, path-and-query).
pub(crate) fn split_http_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (auth, path) = match rest.find('/') {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => match rest.find('?') {
            Some(i) => (rest.get(..i)?, rest.get(i..)?),
            None => (rest, "/"),
        },
    };
    if auth.is_empty() {
        return None;
    }
    Some((auth, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_http_url("http://127.0.0.1:8081/pets/1?x=1"),
            Some(("127.0.0.1:8081", "/pets/1?x=1"))
        );
        assert_eq!(split_http_url("http://h"), Some(("h", "/")));
        assert_eq!(split_http_url("https://h/"), None);
        assert!(has_port("a:80"));
        assert!(!has_port("[::1]"));
        assert!(has_port("[::1]:8080"));
    }

    #[test]
    fn resolves_literals() {
        let mut p = Pool::new(2, Duration::from_secs(1));
        assert_eq!(
            p.resolve("127.0.0.1:9").unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert_eq!(
            p.resolve("127.0.0.1").unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
    }
}
