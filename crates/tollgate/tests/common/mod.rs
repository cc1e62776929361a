//! Support for the loopback end-to-end tests: start the real `tollgate` binary with a
//! config written to a temp file, real upstream servers on real sockets, and a raw
//! `TcpStream` HTTP/1.1 client with byte-exact control.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Generous bound for anything that should happen "soon" on a loaded machine.
pub const SOON: Duration = Duration::from_secs(15);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique temp file holding `contents`; removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, contents: &str) -> TempFile {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p =
            std::env::temp_dir().join(format!("tollgate-e2e-{}-{n}-{name}", std::process::id()));
        std::fs::write(&p, contents).unwrap();
        TempFile(p)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tollgate")
}

/// A running `tollgate serve`; Drop sends SIGTERM, then kills it if it lingers.
pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every listener, in config order (`addr` is the first).
    pub addrs: Vec<SocketAddr>,
    pub admin: SocketAddr,
    pub io: String,
    pub stderr: Arc<Mutex<String>>,
    pub _config: Option<TempFile>,
}

fn parse_addr(line: &str, prefix: &str) -> Option<SocketAddr> {
    let rest = line.split(prefix).nth(1)?;
    // A JSON log line ends the message with `"}`.
    let addr = rest.split_whitespace().next()?.trim_end_matches(['"', '}']);
    addr.parse().ok()
}

impl Gateway {
    /// Start with `config` (YAML) and extra `serve` arguments.
    pub fn start(config: &str, args: &[&str]) -> Gateway {
        let cfg = TempFile::new("config.yaml", config);
        let mut all: Vec<&str> = vec!["serve", "--config", cfg.0.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut gw = Gateway::launch(&all, None);
        gw._config = Some(cfg);
        gw
    }

    /// Start the binary with `args` (the whole command line after the program name, e.g.
    /// `serve --config etcd://...`) in `cwd` (default: the test's), and wait for its listening
    /// and admin lines.
    pub fn launch(args: &[&str], cwd: Option<&std::path::Path>) -> Gateway {
        let mut cmd = Command::new(bin());
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        let mut child = cmd
            .args(args)
            .env_remove("TOLLGATE_IO_DRIVER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tollgate");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let log2 = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                log2.lock().unwrap().push_str(&line);
                log2.lock().unwrap().push('\n');
                let _ = tx.send(line);
            }
        });
        let (mut addr, mut admin, mut io) = (None, None, String::new());
        let mut addrs = Vec::new();
        let until = Instant::now() + Duration::from_secs(30);
        while addr.is_none() || admin.is_none() {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(a) = parse_addr(&line, "tollgate: listening on http://")
                        .or_else(|| parse_addr(&line, "tollgate: listening on https://"))
                    {
                        addrs.push(a);
                        addr = addr.or(Some(a));
                        io = line
                            .rsplit("io: ")
                            .next()
                            .unwrap_or("")
                            .trim_end_matches(['"', '}'])
                            .trim_end_matches(')')
                            .to_owned();
                    }
                    if let Some(a) = parse_addr(&line, "tollgate: admin on http://") {
                        admin = Some(a);
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait();
                    panic!(
                        "tollgate did not start ({status:?}); stderr:\n{}",
                        log.lock().unwrap()
                    );
                }
            }
        }
        Gateway {
            child,
            addr: addr.unwrap(),
            addrs,
            admin: admin.unwrap(),
            io,
            stderr: log,
            _config: None,
        }
    }

    pub fn sigterm(&self) {
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success(), "kill -TERM failed");
    }

    /// Poll until the process exits, up to `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            if Instant::now() >= until {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            if self.wait_exit(Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// Run the binary to completion with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tollgate")
}

// ----------------------------------------------------------------------------------------
// Client

/// One parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    /// Header names as sent, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body came chunked (then `chunk_sizes` lists the data chunk sizes).
    pub chunked: bool,
    pub chunk_sizes: Vec<usize>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }
    /// The gateway's 403 for an unknown route, exactly.
    pub fn assert_missing_token(&self) {
        assert_eq!(self.status, 403, "{self:?}");
        assert_eq!(
            self.json(),
            serde_json::json!({"message": "Missing Authentication Token"})
        );
        assert_eq!(
            self.header("x-amzn-ErrorType"),
            Some("MissingAuthenticationTokenException")
        );
        assert!(
            self.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "{self:?}"
        );
        assert!(self.has("x-amzn-RequestId"), "{self:?}");
    }
}

/// A raw client connection with a read buffer (so pipelined responses parse one by one).
pub struct Client {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, SOON).expect("connect");
        stream.set_read_timeout(Some(SOON)).unwrap();
        stream.set_write_timeout(Some(SOON)).unwrap();
        let _ = stream.set_nodelay(true);
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Read more bytes into the buffer; 0 = EOF. Panics on timeout.
    fn more(&mut self) -> usize {
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                n
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => 0,
            Err(e) => panic!(
                "read failed: {e}; have {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    fn need(&mut self, n: usize) {
        while self.buf.len() < n {
            assert!(
                self.more() > 0,
                "EOF inside a response; have {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = String::from_utf8_lossy(&self.buf[..p]).into_owned();
                self.buf.drain(..p + 2);
                return l;
            }
            assert!(
                self.more() > 0,
                "EOF inside a line; have {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// Read one response (a 1xx is returned as it is, without a body).
    pub fn read_response(&mut self, head_request: bool) -> Response {
        let status_line = self.line();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("").to_owned();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let l = self.line();
            if l.is_empty() {
                break;
            }
            let (k, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("bad header line {l:?}"));
            headers.push((k.to_owned(), v.trim().to_owned()));
        }
        let mut r = Response {
            version,
            status,
            headers,
            body: Vec::new(),
            chunked: false,
            chunk_sizes: Vec::new(),
        };
        if head_request || status / 100 == 1 || status == 204 || status == 304 {
            return r;
        }
        let te = r.header("transfer-encoding").map(str::to_ascii_lowercase);
        if te.as_deref().is_some_and(|t| t.contains("chunked")) {
            r.chunked = true;
            loop {
                let size_line = self.line();
                let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
                    .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
                if size == 0 {
                    // trailers
                    while !self.line().is_empty() {}
                    break;
                }
                self.need(size + 2);
                r.body.extend_from_slice(&self.buf[..size]);
                assert_eq!(
                    &self.buf[size..size + 2],
                    b"\r\n",
                    "chunk not followed by CRLF"
                );
                self.buf.drain(..size + 2);
                r.chunk_sizes.push(size);
            }
        } else if let Some(cl) = r.header("content-length") {
            let n: usize = cl.parse().unwrap();
            self.need(n);
            r.body = self.buf.drain(..n).collect();
        } else {
            // delimited by close
            while self.more() > 0 {}
            r.body = std::mem::take(&mut self.buf);
        }
        r
    }

    /// Send one request and read its response.
    pub fn request(&mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        let head = bytes.starts_with(b"HEAD ");
        self.read_response(head)
    }

    /// True if the server closes (EOF or reset) within `within` with no further bytes;
    /// panics if unexpected bytes arrive. False if still open after `within`.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut tmp = [0u8; 4096];
        let r = match self.stream.read(&mut tmp) {
            Ok(0) => true,
            Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&tmp[..n])),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => false,
            Err(_) => true,
        };
        self.stream.set_read_timeout(Some(SOON)).unwrap();
        r
    }

    /// Wait up to `within` for the server to close; Some(bytes it sent before closing),
    /// None if it is still open.
    pub fn wait_close(&mut self, within: Duration) -> Option<Vec<u8>> {
        let until = Instant::now() + within;
        let mut got = Vec::new();
        let mut tmp = [0u8; 4096];
        let res = loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut tmp) {
                Ok(0) => break Some(std::mem::take(&mut got)),
                Ok(n) => got.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    break None;
                }
                Err(_) => break Some(std::mem::take(&mut got)),
            }
        };
        self.stream.set_read_timeout(Some(SOON)).unwrap();
        if res.is_none() {
            self.buf.extend_from_slice(&got);
        }
        res
    }

    /// Everything until EOF (bounded by SOON).
    pub fn read_to_end(&mut self) -> Vec<u8> {
        while self.more() > 0 {}
        std::mem::take(&mut self.buf)
    }
}

/// A GET with the given path and extra header lines (each ending in CRLF).
pub fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: gw.test\r\n{extra}\r\n").into_bytes()
}

// ----------------------------------------------------------------------------------------
// Origin (upstream) servers

/// A request as the origin received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunked: bool,
    pub chunk_count: usize,
}

/// A real HTTP/1.1 origin on 127.0.0.1 with keep-alive. Behaviour by path:
/// - `/raw...`: answers the request body back as it is (Content-Length).
/// - `/chunked...`: answers `chunks` chunks (query `n=`, default 5) of known text, chunked.
/// - `/slow...`: sleeps `ms=` milliseconds (default 3000) then answers the JSON echo.
/// - `/close...`: reads the request, then closes without answering.
/// - `/reset...`: reads the head only, then closes with the body unread (a TCP reset).
/// - `/oneshot...`: answers the body back, then closes (no `Connection: close`).
/// - `/garbage...`: answers a non-HTTP line and closes.
/// - anything else: a JSON echo `{method, target, headers:[[k,v]...], body, body_len, chunked}`.
pub struct Origin {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub started: Arc<AtomicUsize>,
    pub connections: Arc<AtomicUsize>,
}

impl Origin {
    pub fn start() -> Origin {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (s2, st2, c2) = (seen.clone(), started.clone(), connections.clone());
        thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                c2.fetch_add(1, Ordering::SeqCst);
                let (s3, st3) = (s2.clone(), st2.clone());
                thread::spawn(move || origin_conn(conn, &s3, &st3));
            }
        });
        Origin {
            addr,
            seen,
            started,
            connections,
        }
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the origin saw no request")
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

fn query_num(target: &str, key: &str, default: u64) -> u64 {
    target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .find_map(|kv| {
            kv.strip_prefix(key)
                .and_then(|v| v.strip_prefix('='))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(default)
}

/// The text the `/chunked` origin sends: chunk i is `chunk-i:` followed by i+1 letters.
pub fn chunk_text(i: usize) -> String {
    format!("chunk-{i}:{}\n", "abcdefghijklmnopqrstuvwxyz".repeat(i + 1))
}

fn origin_conn(conn: TcpStream, seen: &Mutex<Vec<Seen>>, started: &AtomicUsize) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut it = line.trim_end().split(' ');
        let method = it.next().unwrap_or("").to_owned();
        let target = it.next().unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end_matches(['\r', '\n']);
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.to_owned(), v.trim().to_owned()));
            }
        }
        if target
            .split('?')
            .next()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .starts_with("reset")
        {
            // Leave the body unread and close: the kernel answers with a RST.
            thread::sleep(Duration::from_millis(200));
            return;
        }
        let hv = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        let mut chunk_count = 0;
        let chunked =
            hv("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            loop {
                let mut sl = String::new();
                if r.read_line(&mut sl).unwrap_or(0) == 0 {
                    return;
                }
                let size = usize::from_str_radix(sl.trim().split(';').next().unwrap_or(""), 16)
                    .unwrap_or(0);
                if size == 0 {
                    loop {
                        let mut t = String::new();
                        if r.read_line(&mut t).unwrap_or(0) == 0 || t.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                chunk_count += 1;
                let mut data = vec![0u8; size + 2];
                if r.read_exact(&mut data).is_err() {
                    return;
                }
                body.extend_from_slice(&data[..size]);
            }
        } else if let Some(n) = hv("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body = vec![0u8; n];
            if r.read_exact(&mut body).is_err() {
                return;
            }
        }
        started.fetch_add(1, Ordering::SeqCst);
        let s = Seen {
            method: method.clone(),
            target: target.clone(),
            headers: headers.clone(),
            body,
            chunked,
            chunk_count,
        };
        seen.lock().unwrap().push(s.clone());
        let path = target.split('?').next().unwrap_or("");
        let last = path.rsplit('/').next().unwrap_or("");
        let ok = match last {
            l if l.starts_with("raw") => {
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    s.body.len()
                )
                .into_bytes();
                out.extend_from_slice(&s.body);
                w.write_all(&out).is_ok()
            }
            l if l.starts_with("chunked") => {
                let n = query_num(&target, "n", 5) as usize;
                let mut ok = w
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nX-Origin: chunked\r\n\r\n")
                    .is_ok();
                for i in 0..n {
                    let t = chunk_text(i);
                    ok &= w
                        .write_all(format!("{:x}\r\n{t}\r\n", t.len()).as_bytes())
                        .is_ok();
                    let _ = w.flush();
                    thread::sleep(Duration::from_millis(10));
                }
                ok && w.write_all(b"0\r\n\r\n").is_ok()
            }
            l if l.starts_with("oneshot") => {
                // answers normally, then closes like a server whose keep-alive timer fired
                let out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    s.body.len()
                );
                let _ = w.write_all(out.as_bytes());
                let _ = w.write_all(&s.body);
                let _ = w.shutdown(Shutdown::Both);
                return;
            }
            l if l.starts_with("close") => {
                let _ = w.shutdown(Shutdown::Both);
                return;
            }
            l if l.starts_with("garbage") => {
                let _ = w.write_all(b"THIS IS NOT HTTP\r\n\r\n");
                let _ = w.shutdown(Shutdown::Both);
                return;
            }
            l => {
                if l.starts_with("slow") {
                    thread::sleep(Duration::from_millis(query_num(&target, "ms", 3000)));
                }
                let body = serde_json::json!({
                    "method": s.method,
                    "target": s.target,
                    "headers": s.headers.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect::<Vec<_>>(),
                    "body": String::from_utf8_lossy(&s.body),
                    "body_len": s.body.len(),
                    "chunked": s.chunked,
                })
                .to_string();
                let out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Origin: echo\r\nContent-Length: {}\r\n\r\n{}",
                    body.len(),
                    if s.method == "HEAD" {
                        ""
                    } else {
                        body.as_str()
                    }
                );
                w.write_all(out.as_bytes()).is_ok()
            }
        };
        if !ok {
            return;
        }
    }
}

/// A port on 127.0.0.1 with nothing listening.
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Headers of an echoed request, lower-cased names -> values (all values of a name joined by "\n").
pub fn echo_headers(v: &serde_json::Value) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    for pair in v["headers"].as_array().expect("headers array") {
        let k = pair[0].as_str().unwrap().to_ascii_lowercase();
        let val = pair[1].as_str().unwrap().to_owned();
        m.entry(k)
            .and_modify(|e| {
                e.push('\n');
                e.push_str(&val);
            })
            .or_insert(val);
    }
    m
}

/// Poll `f` until it is true or `within` passes.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The standard test configuration. `limits` is inserted under `gateway.limits`
/// (indented YAML lines), `origin` is the prod backend, `refused` a closed port.
pub fn std_config(origin: SocketAddr, refused: u16, limits: &str) -> String {
    format!(
        r#"gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 1
  listeners:
    - bind: "127.0.0.1:0"
  admin:
    bind: "{ADMIN_BIND}"
  access_log: off
  limits:
{limits}
apis:
  - id: e2ehost001
    name: hostonly
    hosts: ["only.example"]
    stages:
      prod:
        variables: {{}}
    routes:
      - path: /hostonly
        methods: [GET]
        authorization: NONE
        integration:
          type: mock
          status: 200
          body: '{{"host":"only"}}'
  - id: e2eapi0001
    name: e2e
    hosts: ["*"]
    stages:
      prod:
        variables: {{ backend: "{origin}", env: prod }}
      beta:
        variables: {{ backend: "127.0.0.1:{refused}", env: beta }}
    routes:
      - path: /mock
        methods: [GET, HEAD, POST]
        authorization: NONE
        integration:
          type: mock
          status: 201
          headers: {{ content-type: text/plain, x-mock: "yes" }}
          body: "mock body"
      - path: "/pets/{{petId}}"
        methods: [GET, POST, PUT, DELETE]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/backend/pets/{{petId}}"
          timeout_ms: 10000
          request_headers:
            x-source-ip: "context.identity.sourceIp"
            x-gateway: "'tollgate'"
            x-stage-env: "stageVariables.env"
      - path: "/files/{{proxy+}}"
        methods: [ANY]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/{{proxy}}"
          timeout_ms: 20000
      - path: "/timeout/{{proxy+}}"
        methods: [ANY]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/{{proxy}}"
          timeout_ms: 300
      - path: /refused
        methods: [GET]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://127.0.0.1:{refused}/x"
          timeout_ms: 5000
"#
    )
}

/// The admin bind of test configs. `127.0.0.1:0` for both the listener and the admin is
/// refused by tollgate-config today ("conflicts with gateway.listeners[0].bind"), although
/// port 0 never conflicts; a second loopback address sidesteps that.
pub const ADMIN_BIND: &str = "127.0.0.2:0";

/// Limits lines used by most tests.
pub const STD_LIMITS: &str = "    max_header_bytes: 4096
    max_body_bytes: 4194304
    header_timeout_ms: 5000
    idle_timeout_ms: 10000
    drain_timeout_ms: 10000";

/// A keep-alive HTTP/1.1 server on a real socket: each Content-Length-framed request (raw
/// bytes, head and body) is passed to `handler`, whose return value is written back whole.
pub fn serve_requests(handler: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let handler = Arc::new(handler);
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let handler = handler.clone();
            thread::spawn(move || {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 8192];
                loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            let req: Vec<u8> = buf.drain(..end + 4 + len).collect();
                            if s.write_all(&handler(&req)).is_err() {
                                return;
                            }
                            continue;
                        }
                    }
                    match s.read(&mut tmp) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
            });
        }
    });
    addr
}

/// Every line of a JSON-lines file (an access log), parsed; none when it does not exist yet.
pub fn json_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
