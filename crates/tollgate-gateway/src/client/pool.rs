//! Connections of the client: address resolution, a keep-alive pool per address (one per
//! worker for upstreams, one for authorizer functions), and connecting with a deadline.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use tollgate_cache::BoundedCache;

use super::stream::{PoolKey, Upstream};
use super::url::{UrlError, split_authority};

/// A pooled idle connection.
struct Idle {
    stream: Upstream,
    since: Instant,
}

/// Idle keep-alive connections of one worker, per upstream address. Bounded per address.
pub(crate) struct Pool {
    idle: HashMap<PoolKey, Vec<Idle>>,
    max_idle_per_host: usize,
    idle_timeout: Duration,
    resolved: BoundedCache<(String, u16), SocketAddr, Instant>,
}

const RESOLVE_TTL: Duration = Duration::from_secs(30);
const MAX_RESOLVED: usize = 1024;

impl Pool {
    pub(crate) fn new(max_idle_per_host: usize, idle_timeout: Duration) -> Self {
        Self {
            idle: HashMap::new(),
            max_idle_per_host,
            idle_timeout,
            resolved: BoundedCache::new(MAX_RESOLVED),
        }
    }

    /// A pooled connection to `addr` that has not idled too long and is quiet (see
    /// [`quiet`]), newest first. The others are closed here.
    pub(crate) fn take(&mut self, key: &PoolKey) -> Option<Upstream> {
        let list = self.idle.get_mut(key)?;
        let now = Instant::now();
        while let Some(mut c) = list.pop() {
            if now.duration_since(c.since) < self.idle_timeout && c.stream.quiet() {
                return Some(c.stream);
            }
        }
        None
    }

    /// Pool a connection whose exchange ended cleanly. One that already has bytes to read
    /// (or its EOF) is closed instead.
    pub(crate) fn put(&mut self, key: &PoolKey, mut stream: Upstream) {
        if self.max_idle_per_host == 0 || !stream.quiet() {
            // No pooling, or not clean: the connection closes here.
            return;
        }
        let list = self.idle.entry(key.clone()).or_default();
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

    /// `host[:port]` (`default_port` when absent) -> address; see [`Pool::resolve`].
    pub(crate) fn resolve_authority(
        &mut self,
        authority: &str,
        default_port: u16,
    ) -> io::Result<SocketAddr> {
        let (host, port) = split_authority(authority, default_port).map_err(invalid_input)?;
        self.resolve(host, port)
    }

    /// `host`, `port` -> address. IP literals parse directly; names are resolved with the
    /// system resolver (a blocking call, cached for 30 s per worker, at most 1024 names).
    pub(crate) fn resolve(&mut self, host: &str, port: u16) -> io::Result<SocketAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let key = (host.to_owned(), port);
        let now = Instant::now();
        if let Some(a) = self.resolved.get(&key, now) {
            return Ok(*a);
        }
        let addr = resolve_all(host, port)?
            .into_iter()
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
        self.resolved.insert_at(key, addr, now + RESOLVE_TTL, now);
        Ok(addr)
    }
}

fn invalid_input(e: UrlError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// Every address of `host` (an IP literal or a name for the system resolver; blocking).
pub(crate) fn resolve_all(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    Ok((host, port).to_socket_addrs()?.collect())
}

/// Whether an idle upstream connection has nothing to read: no byte, no EOF, no error.
///
/// Between exchanges an HTTP/1.1 server has nothing to say. A byte waiting on an idle
/// connection is the rest of a response it should not have sent (a body after HEAD, 204 or
/// 304, more than its Content-Length, a second response): sending the next request on it
/// would make those bytes the next client's response. EOF or an error means it closed. Either
/// way the connection must not be reused. A non-blocking `MSG_PEEK` on the socket answers
/// without consuming anything and without the reactor, so it is the same under io_uring and
/// the epoll driver (both use plain socket descriptors).
pub(crate) fn quiet(stream: &TcpStream) -> bool {
    peek_would_block(stream.as_raw_fd())
}

fn peek_would_block(fd: std::os::fd::RawFd) -> bool {
    use nix::sys::socket::{MsgFlags, recv};
    let mut byte = [0u8; 1];
    // MSG_DONTWAIT makes the call non-blocking whatever the descriptor's mode; MSG_PEEK leaves
    // any data queued. Ok(0) is EOF, Ok(1) a pending byte: both mean "not quiet".
    matches!(
        recv(fd, &mut byte, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT),
        Err(nix::errno::Errno::EAGAIN)
    )
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Until `f` holds (the peer's bytes or FIN crossing loopback), at most 2 s.
    fn soon(mut f: impl FnMut() -> bool) -> bool {
        for _ in 0..200 {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    async fn pool_discards_readable_connections() {
        use std::io::Write;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut pool = Pool::new(4, Duration::from_secs(30));
        let key = PoolKey::plain(addr);

        // Quiet: pooled and taken back.
        let s = TcpStream::connect_addr(addr).await.unwrap();
        let (mut peer, _) = l.accept().unwrap();
        assert!(quiet(&s));
        pool.put(&key, Upstream::Plain(s));
        let s = pool.take(&key).expect("a quiet connection is reused");

        // Became readable while idle in the pool (a late body): discarded at take.
        pool.put(&key, s);
        peer.write_all(b"HTTP/1.1 302 Found\r\n").unwrap();
        let mut probe = TcpStream::connect_addr(addr).await.unwrap();
        let (mut probe_peer, _) = l.accept().unwrap();
        probe_peer.write_all(b"x").unwrap();
        assert!(soon(|| !quiet(&probe)), "the peeked byte never showed");
        // Peeking does not consume: the byte is still there to read.
        let (n, buf) = monoio::io::AsyncReadRent::read(&mut probe, vec![0u8; 8]).await;
        assert_eq!((n.unwrap(), buf.first().copied()), (1, Some(b'x')));
        assert!(
            pool.take(&key).is_none(),
            "a readable pooled connection was reused"
        );

        // Already readable when the exchange ends: not pooled at all.
        let s = TcpStream::connect_addr(addr).await.unwrap();
        let (mut peer, _) = l.accept().unwrap();
        peer.write_all(b"stale").unwrap();
        assert!(soon(|| !quiet(&s)));
        pool.put(&key, Upstream::Plain(s));
        assert!(pool.take(&key).is_none());

        // Closed by the upstream (EOF): discarded.
        let s = TcpStream::connect_addr(addr).await.unwrap();
        let (peer, _) = l.accept().unwrap();
        pool.put(&key, Upstream::Plain(s));
        drop(peer);
        assert!(soon(|| pool
            .idle
            .get_mut(&key)
            .and_then(|v| v.last_mut())
            .is_some_and(|c| !c.stream.quiet())));
        assert!(
            pool.take(&key).is_none(),
            "a closed pooled connection was reused"
        );
    }

    /// Under the epoll driver and, where the kernel offers it, io_uring.
    #[test]
    fn pool_discards_readable_connections_under_both_drivers() {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(pool_discards_readable_connections());
        match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .enable_timer()
            .build()
        {
            Ok(mut rt) => rt.block_on(pool_discards_readable_connections()),
            Err(e) => eprintln!("io_uring unavailable here ({e}); epoll driver only"),
        }
    }

    #[test]
    fn resolves_literals() {
        let mut p = Pool::new(2, Duration::from_secs(1));
        assert_eq!(
            p.resolve_authority("127.0.0.1:9", 80).unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert_eq!(
            p.resolve_authority("127.0.0.1", 80).unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(
            p.resolve_authority("[::1]:81", 80).unwrap(),
            "[::1]:81".parse().unwrap()
        );
        assert_eq!(p.resolve("::1", 80).unwrap(), "[::1]:80".parse().unwrap());
        assert!(p.resolve_authority("a:b:c", 80).is_err());
        assert!(p.resolve_authority("", 80).is_err());
    }
}
