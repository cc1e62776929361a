//! A configuration held in etcd (v3 API): `serve --config etcd://...` reads the key, watches
//! it and swaps each new valid revision in through the same path as `PUT /config`;
//! `tollgate push` validates a file and writes it with a compare-and-swap on the key's
//! modification revision. See docs/operations.md ("A fleet on etcd").
//!
//! The etcd client (gRPC over tonic/tokio) runs on its own control-plane thread with a
//! current-thread tokio runtime; the data-plane workers never touch it.
//!
//! `etcds://` speaks TLS to the members (rustls with ring): the server is verified against
//! `--etcd-ca` (else the system trust store), and `--etcd-cert`/`--etcd-key` present a client
//! certificate for etcd's `--client-cert-auth`. The PEM files are read and checked once at
//! start; the key is never printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, Identity, TlsOptions, Txn,
    TxnOp, TxnOpResponse, WatchOptions,
};
use tollgate_gateway::{ApplyError, Origin, Shared, WatchState};
use tollgate_tls::rustls;
use tollgate_tls::rustls::pki_types::pem::{self, PemObject};
use tollgate_tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Largest stored configuration accepted (the same bound as `PUT /config`).
pub const MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;
/// Environment variables with the etcd user and password (used when the URL has none).
pub const ENV_USER: &str = "TOLLGATE_ETCD_USER";
pub const ENV_PASSWORD: &str = "TOLLGATE_ETCD_PASSWORD";
/// Environment variables naming the `etcds://` PEM files (the `--etcd-ca`, `--etcd-cert` and
/// `--etcd-key` options win over them).
pub const ENV_CA: &str = "TOLLGATE_ETCD_CA";
pub const ENV_CERT: &str = "TOLLGATE_ETCD_CERT";
pub const ENV_KEY: &str = "TOLLGATE_ETCD_KEY";
/// Largest gRPC message read from etcd: a value of [`MAX_CONFIG_BYTES`] with room to spare, or
/// a watch response (split by etcd at its request size limit: `with_fragment`). A response
/// over it ends the watch with a re-read of the key, never a loop.
const MAX_MESSAGE_BYTES: usize = 4 * MAX_CONFIG_BYTES;
/// HTTP/2 keep-alive pings to etcd.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// A watch that stayed up this long resets the reconnection backoff when it ends.
const STABLE_WATCH: Duration = Duration::from_secs(10);
/// Reconnection backoff: starts here, doubles, never above [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The PEM files for `etcds://`, as given on the command line (or in the environment).
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    /// CA certificate(s) the members' certificates must chain to (default: system roots).
    pub ca: Option<PathBuf>,
    /// Client certificate (chain, leaf first) and its private key, for mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    fn is_empty(&self) -> bool {
        self.ca.is_none() && self.cert.is_none() && self.key.is_none()
    }

    /// Read and check every file once (errors name the file, never echo a key).
    fn load(&self) -> Result<TlsMaterial, String> {
        let ca = match &self.ca {
            Some(p) => {
                let pem = read_pem(p, "--etcd-ca")?;
                check_certificates(p, "--etcd-ca", &pem)?;
                Some(pem)
            }
            None => None,
        };
        let client = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => {
                let cert = read_pem(c, "--etcd-cert")?;
                let chain = check_certificates(c, "--etcd-cert", &cert)?;
                let mut key = read_pem(k, "--etcd-key")?;
                let parsed = PrivateKeyDer::from_pem_slice(&key);
                let parsed = match parsed {
                    Ok(der) => der,
                    Err(e) => {
                        key.fill(0);
                        return Err(match e {
                            pem::Error::NoItemsFound => format!(
                                "--etcd-key {}: no private key (PKCS#8, PKCS#1 or SEC1 PEM) in the file",
                                k.display()
                            ),
                            // pem::Error's Display never echoes the section's content.
                            e => format!("--etcd-key {}: not a valid PEM file: {e}", k.display()),
                        });
                    }
                };
                // The key must be usable and belong to the certificate (else the TLS settings
                // fail at each connection with an opaque transport error).
                let provider = rustls::crypto::ring::default_provider();
                if let Err(e) = rustls::sign::CertifiedKey::from_der(chain, parsed, &provider) {
                    key.fill(0);
                    return Err(format!(
                        "--etcd-key {}: cannot be used with the certificate of --etcd-cert {}: {e}",
                        k.display(),
                        c.display()
                    ));
                }
                Some((cert, key))
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(
                    "--etcd-cert needs --etcd-key (the client certificate's private key)".into(),
                );
            }
            (None, Some(_)) => {
                return Err("--etcd-key needs --etcd-cert (the client certificate)".into());
            }
        };
        Ok(TlsMaterial { ca, client })
    }
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: cannot read: {e}", path.display()))
}

fn check_certificates(
    path: &Path,
    what: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} {}: not a valid PEM file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{what} {}: no CERTIFICATE section in the file",
            path.display()
        ));
    }
    Ok(certs)
}

/// An etcd client error with its causes (a transport error's own text is only "transport
/// error"; the cause says connection refused, a certificate problem, ...).
fn describe(e: &etcd_client::Error) -> String {
    let mut s = e.to_string();
    if let etcd_client::Error::TransportError(t) = e {
        let mut cause = std::error::Error::source(t);
        while let Some(c) = cause {
            let text = c.to_string();
            if !s.contains(&text) {
                s.push_str(": ");
                s.push_str(&text);
            }
            cause = c.source();
        }
    }
    s
}

/// The checked PEM contents (kept to rebuild the TLS settings on each reconnection).
#[derive(Clone)]
struct TlsMaterial {
    ca: Option<Vec<u8>>,
    /// Certificate chain and private key.
    client: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsMaterial {
    fn options(&self) -> TlsOptions {
        let mut t = TlsOptions::new();
        t = match &self.ca {
            Some(ca) => t.ca_certificate(Certificate::from_pem(ca)),
            None => t.with_native_roots(),
        };
        if let Some((cert, key)) = &self.client {
            t = t.identity(Identity::from_pem(cert, key));
        }
        t
    }
}

/// `etcd[s]://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/KEY`, parsed.
#[derive(Clone)]
pub struct EtcdUrl {
    /// `HOST:PORT` of each member.
    pub endpoints: Vec<String>,
    /// The key: the URL's path, leading slash kept.
    pub key: String,
    pub user: Option<(String, String)>,
    /// `etcds://`: the TLS material (`None`: plaintext `etcd://`).
    tls: Option<Arc<TlsMaterial>>,
}

impl std::fmt::Debug for EtcdUrl {
    // The password is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdUrl")
            .field("endpoints", &self.endpoints)
            .field("key", &self.key)
            .field("user", &self.user.as_ref().map(|(u, _)| u))
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl std::fmt::Display for EtcdUrl {
    // Without the credentials: safe to log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls.is_some() { "etcds" } else { "etcd" };
        write!(f, "{scheme}://{}{}", self.endpoints.join(","), self.key)
    }
}

/// Is `s` an etcd URL (`etcd://` or `etcds://`)?
pub fn is_etcd_url(s: &str) -> bool {
    s.starts_with("etcd://") || s.starts_with("etcds://")
}

impl EtcdUrl {
    /// Parse `etcd://...` or `etcds://...` (with the TLS files, read and checked here);
    /// credentials from the URL, else from [`ENV_USER`] / [`ENV_PASSWORD`].
    pub fn parse(s: &str, tls: &TlsFiles) -> Result<Self, String> {
        let mut u = Self::parse_with_env(s, |k| std::env::var(k).ok())?;
        if u.tls.is_some() {
            u.tls = Some(Arc::new(tls.load()?));
        } else if !tls.is_empty() {
            return Err(format!(
                "{u}: --etcd-ca/--etcd-cert/--etcd-key (or {ENV_CA}/{ENV_CERT}/{ENV_KEY}) are \
                 for TLS: use etcds://"
            ));
        }
        Ok(u)
    }

    /// The URL alone (`etcds://` gets TLS with the system roots and no client certificate).
    fn parse_with_env(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let (rest, tls) = match (s.strip_prefix("etcd://"), s.strip_prefix("etcds://")) {
            (Some(r), _) => (r, None),
            (None, Some(r)) => (
                r,
                Some(Arc::new(TlsMaterial {
                    ca: None,
                    client: None,
                })),
            ),
            (None, None) => {
                return Err(format!(
                    "{}: an etcd URL starts with etcd:// or etcds://",
                    redact(s)
                ));
            }
        };
        let (authority, key) = match rest.find('/') {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("")),
            None => (rest, ""),
        };
        if key.contains('@') {
            // `USER:PA/SS@HOST...` would read as the endpoint USER:PA and a key holding the
            // rest: refused without echoing any of it.
            return Err(format!(
                "{}: the key holds '@': write a '/' or '@' of the user or password as %2F or %40",
                redact(s)
            ));
        }
        if key.len() <= 1 {
            return Err(format!(
                "{}: the URL names no key (etcd://HOST:PORT/KEY, e.g. etcd://127.0.0.1:2379/tollgate/config)",
                redact(s)
            ));
        }
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(i) => (
                Some(authority.get(..i).unwrap_or("")),
                authority.get(i + 1..).unwrap_or(""),
            ),
            None => (None, authority),
        };
        let mut endpoints = Vec::new();
        for h in hosts.split(',') {
            let ok = h
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                // With credentials in the URL, the text before '@' may be a mistyped password.
                return Err(if userinfo.is_some() {
                    format!("{}: an endpoint is not HOST:PORT", redact(s))
                } else {
                    format!("{}: endpoint {h:?} is not HOST:PORT", redact(s))
                });
            }
            endpoints.push(h.to_owned());
        }
        let user = match userinfo {
            Some(u) => match u
                .split_once(':')
                .and_then(|(n, p)| Some((decode(n)?, decode(p)?)))
            {
                Some((name, pw)) if !name.is_empty() => Some((name, pw)),
                _ => {
                    return Err(format!(
                        "{}: credentials in the URL are USER:PASSWORD@",
                        redact(s)
                    ));
                }
            },
            None => match (env(ENV_USER), env(ENV_PASSWORD)) {
                (Some(u), Some(p)) if !u.is_empty() => Some((u, p)),
                (Some(u), None) if !u.is_empty() => {
                    return Err(format!("{ENV_USER} is set but {ENV_PASSWORD} is not"));
                }
                _ => None,
            },
        };
        Ok(Self {
            endpoints,
            key: key.to_owned(),
            user,
            tls,
        })
    }

    fn options(&self) -> ConnectOptions {
        let o = self.base_options();
        match &self.tls {
            Some(t) => o.with_tls(t.options()),
            None => o,
        }
    }

    fn base_options(&self) -> ConnectOptions {
        let mut o = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(5))
            // HTTP/2 pings find a dead member or a cut link while the watch is idle. Not more
            // often than every 5 s: etcd closes a connection that pings more often than its
            // --grpc-keepalive-min-time (5 s by default), which would break every watch.
            .with_keep_alive(KEEPALIVE_INTERVAL, Duration::from_secs(5))
            .with_keep_alive_while_idle(true)
            // A member cut off from its cluster's leader ends the watch instead of staying
            // silent, so the node reconnects (possibly to another member).
            .with_require_leader(true);
        if let Some((u, p)) = &self.user {
            // etcd's auth tokens expire (simple tokens after 5 minutes idle): renew on demand.
            o = o
                .with_user(u.clone(), p.clone())
                .with_auto_token_refresh(true);
        }
        o
    }

    /// What a failure message says about the TLS set-up (plaintext URLs: nothing).
    fn tls_verdict(&self, msg: &str) -> TlsVerdict {
        let Some(t) = &self.tls else {
            return TlsVerdict::None;
        };
        let msg = msg.to_ascii_lowercase();
        if msg.contains("invalid peer certificate") {
            TlsVerdict::Untrusted
        } else if msg.contains("received fatal alert") {
            TlsVerdict::Refused
        } else if msg.contains("connection closed")
            || msg.contains("broken pipe")
            || msg.contains("connection reset")
        {
            // However the client saw the close (a read's EOF, or a write's EPIPE/ECONNRESET
            // when its first request was still going out), it came right after the handshake.
            // A reset can also come during it: a plaintext member answering a ClientHello
            // with a close while the hello is unread (seen in CI).
            TlsVerdict::Closed {
                with_cert: t.client.is_some(),
                reset: !msg.contains("connection closed"),
            }
        } else if msg.contains("tls handshake eof") {
            TlsVerdict::HandshakeEof
        } else {
            TlsVerdict::None
        }
    }

    /// `msg` with a hint when it looks like a TLS set-up problem.
    fn explain(&self, msg: String) -> String {
        let verdict = self.tls_verdict(&msg);
        let msg = self.hint(msg, verdict);
        match verdict {
            TlsVerdict::Closed { reset: true, .. } => format!(
                "{msg} (or, if the reset came during the handshake, the member may serve \
                 plaintext: then the URL is etcd://)"
            ),
            _ => msg,
        }
    }

    fn hint(&self, msg: String, verdict: TlsVerdict) -> String {
        match verdict {
            TlsVerdict::None => msg,
            TlsVerdict::Untrusted => format!(
                "{msg} (TLS: the member's certificate is not trusted: it must chain to \
                 --etcd-ca, or to the system roots without it, and name the endpoint's host)"
            ),
            TlsVerdict::Refused => format!(
                "{msg} (TLS: etcd refused the handshake: with --client-cert-auth it needs a \
                 client certificate signed by its --trusted-ca-file: --etcd-cert and --etcd-key)"
            ),
            TlsVerdict::Closed {
                with_cert: false, ..
            } => format!(
                "{msg} (TLS: etcd closed the connection after the handshake; with \
                 --client-cert-auth it requires a client certificate: give --etcd-cert and \
                 --etcd-key)"
            ),
            TlsVerdict::HandshakeEof => format!(
                "{msg} (TLS: the member closed the connection during the handshake: does it \
                 serve plaintext? then the URL is etcd://)"
            ),
            TlsVerdict::Closed {
                with_cert: true, ..
            } => format!(
                "{msg} (TLS: etcd closed the connection after the handshake; does it refuse \
                 the client certificate? it must be signed by etcd's --trusted-ca-file)"
            ),
        }
    }

    /// Connect (the client connects lazily; errors show on the first call).
    pub async fn connect(&self) -> Result<Client, String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let eps: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| format!("{scheme}://{e}"))
            .collect();
        Client::connect(eps, Some(self.options()))
            .await
            .map_err(|e| self.explain(format!("cannot connect to {self}: {}", describe(&e))))
    }
}

/// How a connection failure relates to TLS.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TlsVerdict {
    /// Not a TLS problem (or plaintext): retry.
    None,
    /// The member's certificate failed verification: retrying cannot help.
    Untrusted,
    /// The member sent a TLS alert (e.g. no or an unknown client certificate).
    Refused,
    /// Closed right after the handshake: with TLS 1.3 that is how etcd's `--client-cert-auth`
    /// refuses a missing or unknown client certificate (its alert may not be read).
    /// `reset`: the client saw a reset or a broken pipe, which a plaintext member can cause
    /// during the handshake too.
    Closed { with_cert: bool, reset: bool },
    /// Closed during the handshake: most likely a plaintext member.
    HandshakeEof,
}

/// At start, this many connections in a row closed during or right after the TLS handshake end
/// the node: a member restarting does not close three in a row.
const NO_CLIENT_CERT_TRIES: u32 = 3;

/// A percent-encoded user or password (`%2F` for '/'), or `None` when it is not UTF-8.
fn decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// The URL with any `user:password@` removed, for messages.
fn redact(s: &str) -> String {
    match (s.find("://"), s.rfind('@')) {
        (Some(a), Some(b)) if b > a => {
            format!(
                "{}{}",
                s.get(..a + 3).unwrap_or(""),
                s.get(b + 1..).unwrap_or("")
            )
        }
        _ => s.to_owned(),
    }
}

/// The runtime the etcd client runs on: one current-thread tokio runtime.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the etcd client runtime: {e}"))
}

/// The key's value at one revision.
pub struct Stored {
    pub text: String,
    /// The key's modification revision.
    pub mod_revision: i64,
    /// The store's revision when it was read (watch from here + 1).
    pub store_revision: i64,
}

/// Why a read failed.
pub enum ReadError {
    /// etcd could not be reached or answered an error: retry.
    Unreachable(String),
    /// The key does not exist.
    Missing { store_revision: i64 },
    /// The value is not a config text (not UTF-8, too large).
    Unusable {
        mod_revision: i64,
        store_revision: i64,
        message: String,
    },
}

/// Read the key once.
pub async fn read(client: &mut Client, url: &EtcdUrl) -> Result<Stored, ReadError> {
    let mut kv = client
        .kv_client()
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let r = kv.get(url.key.as_bytes(), None).await.map_err(|e| {
        ReadError::Unreachable(url.explain(format!("cannot read {url}: {}", describe(&e))))
    })?;
    let store_revision = r.header().map_or(0, |h| h.revision());
    let Some(kv) = r.kvs().first() else {
        return Err(ReadError::Missing { store_revision });
    };
    let text = value_text(kv.value()).map_err(|message| ReadError::Unusable {
        mod_revision: kv.mod_revision(),
        store_revision,
        message,
    })?;
    Ok(Stored {
        text,
        mod_revision: kv.mod_revision(),
        store_revision,
    })
}

fn value_text(v: &[u8]) -> Result<String, String> {
    if v.len() > MAX_CONFIG_BYTES {
        return Err(format!(
            "config: the stored value is {} bytes, more than {MAX_CONFIG_BYTES}",
            v.len()
        ));
    }
    String::from_utf8(v.to_vec()).map_err(|_| "config: the stored value is not UTF-8".to_owned())
}

/// Read the key at start, retrying with backoff while etcd cannot be reached (every failure is
/// logged). A missing key or an unusable value is an error: there is nothing to serve.
pub fn initial_read(
    rt: &tokio::runtime::Runtime,
    url: &EtcdUrl,
) -> Result<(Client, Stored), Vec<String>> {
    rt.block_on(async {
        let mut backoff = Backoff::default();
        let mut closed_in_a_row = 0;
        loop {
            let attempt = async {
                let mut c = url.connect().await.map_err(ReadError::Unreachable)?;
                let s = read(&mut c, url).await?;
                Ok::<_, ReadError>((c, s))
            };
            match attempt.await {
                Ok(v) => return Ok(v),
                Err(ReadError::Unreachable(m)) => {
                    // A TLS set-up that cannot work is an error at start, not a retry loop.
                    match url.tls_verdict(&m) {
                        TlsVerdict::Untrusted | TlsVerdict::Refused => {
                            return Err(vec![format!("config: {m}")]);
                        }
                        TlsVerdict::Closed { .. } | TlsVerdict::HandshakeEof => {
                            closed_in_a_row += 1;
                            if closed_in_a_row >= NO_CLIENT_CERT_TRIES {
                                return Err(vec![format!("config: {m}")]);
                            }
                        }
                        TlsVerdict::None => closed_in_a_row = 0,
                    }
                    let wait = backoff.next();
                    log::warn!("tollgate: etcd: {m}; retrying in {} ms", wait.as_millis());
                    tokio::time::sleep(wait).await;
                }
                Err(ReadError::Missing { .. }) => {
                    return Err(vec![format!(
                        "config: {url}: the key does not exist (write one with `tollgate push`)"
                    )]);
                }
                Err(ReadError::Unusable { message, .. }) => return Err(vec![message]),
            }
        }
    })
}

/// Exponential backoff with jitter.
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: BACKOFF_MIN }
    }
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        // Up to +25 % jitter so that a fleet does not reconnect in lockstep.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
    }
    fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

/// Follows the key: applies each new revision, refuses and logs invalid ones.
pub struct Follower {
    pub url: EtcdUrl,
    pub shared: Arc<Shared>,
    /// Relative file paths in a stored config resolve against this directory (the node's
    /// working directory at start).
    pub base_dir: PathBuf,
    /// The last modification revision of the key handled (applied or refused).
    pub last_seen: i64,
    /// Watch from here (the store revision after the last read or event, + 1).
    pub watch_from: i64,
}

enum WatchEnd {
    /// The connection failed: reconnect and resume from `watch_from`.
    Lost(String),
    /// The watch was cancelled (e.g. the start revision was compacted): re-read the key.
    Resync(String),
}

impl Follower {
    /// Apply (or refuse) one revision of the key.
    pub fn handle(&mut self, text: Result<String, String>, mod_revision: i64) {
        if mod_revision <= self.last_seen {
            return;
        }
        self.last_seen = mod_revision;
        let applied = self.shared.etcd_revision_applied();
        if mod_revision < applied {
            // A reload (SIGHUP, `POST /config/reload`) read a newer revision first: this one
            // is not invalid, only behind.
            log::info!(
                "tollgate: etcd: {}: revision {mod_revision} skipped: revision {applied} is already live",
                self.url
            );
            return;
        }
        let r = match text {
            Ok(t) => self.shared.apply_config_from(
                &t,
                &self.base_dir,
                Origin::Etcd {
                    revision: mod_revision,
                },
            ),
            Err(e) => Err(ApplyError::Invalid(vec![e])),
        };
        match r {
            Ok(v) => log::info!(
                "tollgate: etcd: {}: revision {mod_revision} is live (config version {v})",
                self.url
            ),
            Err(ApplyError::Invalid(errors)) => {
                self.shared.watch_status().invalid_revision();
                log::error!(
                    "tollgate: etcd: {}: revision {mod_revision} refused, {} error(s); the running config (version {}) keeps serving:\n  {}",
                    self.url,
                    errors.len(),
                    self.shared.version(),
                    errors.join("\n  ")
                );
            }
        }
    }

    /// Run forever (the process exits when the gateway stops): watch, and on any failure
    /// reconnect with backoff and resume from the last seen revision + 1; after a compaction
    /// (or a cancelled watch) re-read the key.
    pub async fn run(mut self, mut client: Option<Client>) {
        let mut backoff = Backoff::default();
        let mut resync = false;
        loop {
            let mut c = match client.take() {
                Some(c) => c,
                None => match self.url.connect().await {
                    Ok(c) => c,
                    Err(e) => {
                        self.failed(&e, &mut backoff).await;
                        continue;
                    }
                },
            };
            if resync {
                match read(&mut c, &self.url).await {
                    Ok(s) => {
                        self.watch_from = s.store_revision + 1;
                        self.handle(Ok(s.text), s.mod_revision);
                        resync = false;
                    }
                    Err(ReadError::Missing { store_revision }) => {
                        log::error!(
                            "tollgate: etcd: {}: the key does not exist; the running config keeps serving",
                            self.url
                        );
                        self.watch_from = store_revision + 1;
                        resync = false;
                    }
                    Err(ReadError::Unusable {
                        mod_revision,
                        store_revision,
                        message,
                    }) => {
                        self.handle(Err(message), mod_revision);
                        // From the store's revision, as for the other reads: from the value's
                        // own, a compacted history would send the watch back here at once.
                        self.watch_from = store_revision + 1;
                        resync = false;
                    }
                    Err(ReadError::Unreachable(e)) => {
                        self.failed(&e, &mut backoff).await;
                        continue;
                    }
                }
            }
            match self.watch(&mut c, &mut backoff).await {
                WatchEnd::Lost(e) => {
                    self.failed(&e, &mut backoff).await;
                }
                WatchEnd::Resync(why) => {
                    log::warn!("tollgate: etcd: {}: {why}; re-reading the key", self.url);
                    resync = true;
                    client = Some(c);
                }
            }
        }
    }

    async fn failed(&self, e: &str, backoff: &mut Backoff) {
        let st = self.shared.watch_status();
        st.set_state(WatchState::Reconnecting);
        st.connection_failed();
        let wait = backoff.next();
        log::warn!(
            "tollgate: etcd: {e}; serving config version {} (revision {}), reconnecting in {} ms",
            self.shared.version(),
            self.last_seen,
            wait.as_millis()
        );
        tokio::time::sleep(wait).await;
    }

    /// Watch until the watch ends. The backoff starts again from its minimum only after a
    /// watch that stayed up [`STABLE_WATCH`]: a watch that etcd creates and then breaks at
    /// once (a catch-up it cannot send, say) must not reconnect at full speed.
    async fn watch(&mut self, c: &mut Client, backoff: &mut Backoff) -> WatchEnd {
        let mut created = None;
        let end = self.watch_until_end(c, &mut created).await;
        if created.is_some_and(|t: Instant| t.elapsed() >= STABLE_WATCH) {
            backoff.reset();
        }
        end
    }

    async fn watch_until_end(&mut self, c: &mut Client, created: &mut Option<Instant>) -> WatchEnd {
        // Large revisions come split (`with_fragment`), each response under etcd's request
        // size limit; a response over MAX_MESSAGE_BYTES still ends in a re-read, below.
        let opts = WatchOptions::new()
            .with_start_revision(self.watch_from)
            .with_progress_notify()
            .with_fragment();
        let mut w = c
            .watch_client()
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let mut stream = match w.watch(self.url.key.as_bytes(), Some(opts)).await {
            Ok(s) => s,
            Err(e) => {
                return WatchEnd::Lost(format!("cannot watch {}: {}", self.url, describe(&e)));
            }
        };
        loop {
            let msg = match stream.message().await {
                Ok(Some(m)) => m,
                Ok(None) => return WatchEnd::Lost(format!("{}: the watch stream ended", self.url)),
                Err(e) => {
                    let why = describe(&e);
                    if why.contains("message length too large") {
                        // Resuming would ask for the same catch-up again: read the key's
                        // latest value instead, and watch from there.
                        return WatchEnd::Resync(format!("a watch response was too large ({why})"));
                    }
                    return WatchEnd::Lost(format!("{}: watch failed: {why}", self.url));
                }
            };
            if msg.created() {
                self.shared.watch_status().set_state(WatchState::Watching);
                *created = Some(Instant::now());
                log::info!(
                    "tollgate: etcd: {}: watching from revision {}",
                    self.url,
                    self.watch_from
                );
            }
            if msg.compact_revision() > 0 {
                return WatchEnd::Resync(format!(
                    "revisions before {} were compacted",
                    msg.compact_revision()
                ));
            }
            if msg.canceled() {
                return WatchEnd::Resync(format!(
                    "the watch was cancelled ({})",
                    msg.cancel_reason()
                ));
            }
            for ev in msg.events() {
                let Some(kv) = ev.kv() else { continue };
                let rev = kv.mod_revision();
                match ev.event_type() {
                    EventType::Put => self.handle(value_text(kv.value()), rev),
                    EventType::Delete => {
                        self.last_seen = self.last_seen.max(rev);
                        log::error!(
                            "tollgate: etcd: {}: the key was deleted at revision {rev}; the running config keeps serving",
                            self.url
                        );
                    }
                }
                self.watch_from = self.watch_from.max(rev + 1);
            }
        }
    }
}

/// SIGHUP / `POST /config/reload` for a config held in etcd: read the key now (own short-lived
/// runtime and connection) and apply it, re-reading the files it names. Applies the current
/// revision even when it is the one being served (the files may have changed on this node).
pub fn reloader(
    url: EtcdUrl,
    base_dir: PathBuf,
    shared: std::sync::Weak<Shared>,
) -> tollgate_gateway::Reloader {
    Box::new(move || {
        let invalid = |m: String| ApplyError::Invalid(vec![m]);
        let shared = shared
            .upgrade()
            .ok_or_else(|| invalid("config: the gateway is stopping".into()))?;
        let rt = runtime().map_err(invalid)?;
        let stored = rt.block_on(async {
            let mut c = url.connect().await?;
            match read(&mut c, &url).await {
                Ok(s) => Ok(s),
                Err(ReadError::Unreachable(m)) => Err(m),
                Err(ReadError::Missing { .. }) => {
                    Err(format!("config: {url}: the key does not exist"))
                }
                Err(ReadError::Unusable { message, .. }) => Err(message),
            }
        });
        let stored = match stored {
            Ok(s) => s,
            Err(m) => {
                // Counted like a reload whose file cannot be read.
                shared.count_rejected_reload();
                return Err(invalid(m));
            }
        };
        shared.apply_config_from(
            &stored.text,
            &base_dir,
            Origin::Etcd {
                revision: stored.mod_revision,
            },
        )
    })
}

/// `serve --config etcd://...`: the control-plane thread that follows the key.
pub fn spawn_follower(
    rt: tokio::runtime::Runtime,
    follower: Follower,
    client: Client,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("tollgate-etcd".into())
        .spawn(move || {
            tollgate_gateway::lower_priority_of_current_thread();
            rt.block_on(follower.run(Some(client)));
        })
        .map(|_| ())
}

/// How `push` ended.
#[derive(Debug)]
pub enum PushError {
    /// The file is invalid: every error.
    Invalid(Vec<String>),
    /// The key changed since the expected revision.
    Stale { expected: i64, current: i64 },
    /// etcd could not be reached or refused the write.
    Store(String),
}

impl PushError {
    /// Exit codes: 1 invalid config, 3 stale revision, 4 etcd unreachable or refused.
    pub fn exit_code(&self) -> u8 {
        match self {
            PushError::Invalid(_) => 1,
            PushError::Stale { .. } => 3,
            PushError::Store(_) => 4,
        }
    }
}

/// `tollgate push`: validate `file` (paths resolved against its directory, as `validate`
/// does), then write it if the key's modification revision is `expect` (0: the key must not
/// exist). Without `expect`, the revision read just before the write is compared, so a
/// concurrent write is never overwritten silently. Returns the new revision.
pub fn push(file: &Path, url: &EtcdUrl, expect: Option<i64>) -> Result<(i64, i64), PushError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        PushError::Invalid(vec![format!("config: cannot read {}: {e}", file.display())])
    })?;
    if text.len() > MAX_CONFIG_BYTES {
        return Err(PushError::Invalid(vec![format!(
            "config: {} is {} bytes, more than {MAX_CONFIG_BYTES}",
            file.display(),
            text.len()
        )]));
    }
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if let Err(e) = tollgate_config::load_str(&text, &dir) {
        return Err(PushError::Invalid(
            e.0.iter().map(ToString::to_string).collect(),
        ));
    }
    let rt = runtime().map_err(PushError::Store)?;
    rt.block_on(async {
        let mut c = url.connect().await.map_err(PushError::Store)?;
        let expected = match expect {
            Some(n) => n,
            None => match read(&mut c, url).await {
                Ok(s) => s.mod_revision,
                Err(ReadError::Missing { .. }) => 0,
                Err(ReadError::Unusable { mod_revision, .. }) => mod_revision,
                Err(ReadError::Unreachable(e)) => return Err(PushError::Store(e)),
            },
        };
        let key = url.key.as_bytes();
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::put(key, text.as_bytes(), None)])
            .or_else([TxnOp::get(key, None)]);
        let r = c.txn(txn).await.map_err(|e| {
            PushError::Store(url.explain(format!("cannot write {url}: {}", describe(&e))))
        })?;
        if r.succeeded() {
            return Ok((expected, r.header().map_or(0, |h| h.revision())));
        }
        let current = r
            .op_responses()
            .into_iter()
            .find_map(|o| match o {
                TxnOpResponse::Get(g) => Some(g.kvs().first().map_or(0, |kv| kv.mod_revision())),
                _ => None,
            })
            .unwrap_or(0);
        Err(PushError::Stale { expected, current })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_endpoints_key_and_credentials() {
        let u = EtcdUrl::parse_with_env("etcd://127.0.0.1:2379/tollgate/config", no_env).unwrap();
        assert_eq!(u.endpoints, ["127.0.0.1:2379"]);
        assert_eq!(u.key, "/tollgate/config");
        assert_eq!(u.user, None);
        let u = EtcdUrl::parse_with_env("etcd://ops:s3cret@a:1,b:2,[::1]:3/k", no_env).unwrap();
        assert_eq!(u.endpoints, ["a:1", "b:2", "[::1]:3"]);
        assert_eq!(u.key, "/k");
        assert_eq!(u.user, Some(("ops".into(), "s3cret".into())));
        assert_eq!(
            u.to_string(),
            "etcd://a:1,b:2,[::1]:3/k",
            "no password shown"
        );
        assert!(!format!("{u:?}").contains("s3cret"));
    }

    #[test]
    fn credentials_from_the_environment() {
        let env = |k: &str| match k {
            ENV_USER => Some("u".to_owned()),
            ENV_PASSWORD => Some("p".to_owned()),
            _ => None,
        };
        let u = EtcdUrl::parse_with_env("etcd://h:1/k", env).unwrap();
        assert_eq!(u.user, Some(("u".into(), "p".into())));
        let only_user = |k: &str| (k == ENV_USER).then(|| "u".to_owned());
        assert!(EtcdUrl::parse_with_env("etcd://h:1/k", only_user).is_err());
    }

    #[test]
    fn refuses_bad_urls_without_echoing_the_password() {
        for bad in [
            "etcd://h:1",
            "etcd://h:1/",
            "etcd://h/k",
            "etcd://h:x/k",
            "etcd://:1/k",
            "http://h:1/k",
            "etcd://user@h:1/k",
        ] {
            assert!(EtcdUrl::parse_with_env(bad, no_env).is_err(), "{bad}");
        }
        let e = EtcdUrl::parse_with_env("etcdx://u:pw@h:1/k", no_env).unwrap_err();
        assert!(!e.contains("pw"), "{e}");
        let e = EtcdUrl::parse_with_env("etcd://u:pw@h/k", no_env).unwrap_err();
        assert!(!e.contains("pw"), "{e}");
        // A '/' in the password would end the authority: never read as endpoint and key, and
        // no part of the password shown.
        for bad in [
            "etcd://ops:1234/secretpart@127.0.0.1:2379/tg/config",
            "etcd://ops:pa/ssw0rd@127.0.0.1:2379/tg/config",
        ] {
            let e = EtcdUrl::parse_with_env(bad, no_env).unwrap_err();
            assert!(
                !e.contains("secretpart") && !e.contains("ssw0rd") && !e.contains("ops"),
                "{e}"
            );
            assert!(e.contains("%2F"), "{e}");
        }
        let e = EtcdUrl::parse_with_env("etcd://ops:p4ss@h:x/k", no_env).unwrap_err();
        assert!(!e.contains("p4ss") && !e.contains("ops"), "{e}");
    }

    #[test]
    fn percent_encoded_credentials_are_decoded() {
        let u =
            EtcdUrl::parse_with_env("etcd://op%40s:pa%2Fss%3Aw@127.0.0.1:2379/k", no_env).unwrap();
        assert_eq!(u.user, Some(("op@s".into(), "pa/ss:w".into())));
        assert_eq!(u.endpoints, ["127.0.0.1:2379"]);
        assert_eq!(u.to_string(), "etcd://127.0.0.1:2379/k");
        // Not UTF-8 once decoded: refused.
        assert!(EtcdUrl::parse_with_env("etcd://u:%FF@h:1/k", no_env).is_err());
    }

    #[test]
    fn etcds_urls_and_tls_files() {
        let u = EtcdUrl::parse_with_env("etcds://u:pw@a:1,b:2/k", no_env).unwrap();
        assert_eq!(u.to_string(), "etcds://a:1,b:2/k");
        assert!(u.tls.is_some());
        let dir = std::env::temp_dir().join(format!("tollgate-etcd-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not pem at all\n").unwrap();
        let missing = dir.join("missing.pem");
        let files = |ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>| TlsFiles {
            ca: ca.map(Path::to_path_buf),
            cert: cert.map(Path::to_path_buf),
            key: key.map(Path::to_path_buf),
        };
        for (f, names) in [
            (files(Some(&missing), None, None), "missing.pem"),
            (files(Some(&junk), None, None), "junk.pem"),
            (files(None, Some(&junk), Some(&junk)), "junk.pem"),
        ] {
            let e = f.load().err().unwrap();
            assert!(e.contains(names), "{e}");
        }
        assert!(files(None, Some(&junk), None).load().is_err());
        // TLS files with a plaintext URL: refused, not silently ignored.
        let e = EtcdUrl::parse("etcd://h:1/k", &files(Some(&junk), None, None)).unwrap_err();
        assert!(e.contains("etcds://"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_close_right_after_the_handshake_is_read_as_a_client_certificate_refusal() {
        let u = EtcdUrl::parse_with_env("etcds://a:1/k", no_env).unwrap();
        for (seen, reset) in [
            (
                "transport error: connection closed before message completed",
                false,
            ),
            (
                "transport error: stream closed because of a broken pipe",
                true,
            ),
            (
                "transport error: Connection reset by peer (os error 104)",
                true,
            ),
        ] {
            assert_eq!(
                u.tls_verdict(seen),
                TlsVerdict::Closed {
                    with_cert: false,
                    reset
                },
                "{seen}"
            );
            let e = u.explain(seen.to_owned());
            assert!(e.contains("client certificate"), "{e}");
            // A reset may also be a plaintext member's answer to the ClientHello.
            assert_eq!(e.contains("serve plaintext"), reset, "{e}");
            assert_eq!(e.contains("etcd://"), reset, "{e}");
        }
        let plain = EtcdUrl::parse_with_env("etcd://a:1/k", no_env).unwrap();
        assert_eq!(plain.tls_verdict("broken pipe"), TlsVerdict::None);
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let mut b = Backoff::default();
        let first = b.next();
        assert!(first >= BACKOFF_MIN && first <= BACKOFF_MIN.mul_f64(1.25));
        for _ in 0..20 {
            assert!(b.next() <= BACKOFF_MAX.mul_f64(1.25));
        }
        b.reset();
        assert!(b.next() <= BACKOFF_MIN.mul_f64(1.25));
    }
}
