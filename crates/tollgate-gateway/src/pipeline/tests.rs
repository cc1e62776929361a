//! The pipeline and the HTTP/1 loop over in-memory client streams: scripted request bytes in
//! (delivered a few bytes per read), the gateway's answers collected. Upstreams, where a test
//! needs one, are real sockets.

#![allow(unsafe_code)] // the in-memory stream hands monoio buffers to the test's Vec

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};

use crate::conn::Transport;
use crate::shared::Shared;
use crate::state::Worker;

/// A client connection in memory: reads come from `input`, at most `chunk` bytes at a time,
/// then end of stream; writes are appended to `output`.
struct Mem {
    input: Vec<u8>,
    pos: usize,
    chunk: usize,
    output: Rc<RefCell<Vec<u8>>>,
}

impl AsyncReadRent for Mem {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        let end = (self.pos + self.chunk).min(self.input.len());
        let mut rest: &[u8] = &self.input[self.pos..end];
        let (res, buf) = rest.read(buf).await;
        if let Ok(n) = res {
            self.pos += n;
        }
        (res, buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        let end = (self.pos + self.chunk).min(self.input.len());
        let mut rest: &[u8] = &self.input[self.pos..end];
        let (res, buf) = rest.readv(buf).await;
        if let Ok(n) = res {
            self.pos += n;
        }
        (res, buf)
    }
}

impl AsyncWriteRent for Mem {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: an `IoBuf` is `bytes_init` initialized bytes at `read_ptr`.
        let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        self.output.borrow_mut().extend_from_slice(data);
        (Ok(data.len()), buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        (Err(std::io::ErrorKind::Unsupported.into()), buf)
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Transport for Mem {
    async fn first_read(
        &mut self,
        buf: &mut Vec<u8>,
        _deadline: Instant,
    ) -> std::io::Result<usize> {
        crate::io::fill(self, buf, None).await
    }

    async fn wait_readable(&self) -> std::io::Result<()> {
        Ok(())
    }
}

const CONFIG: &str = r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{ bind: "127.0.0.1:0" }]
  admin: { bind: "127.0.0.1:0" }
  access_log: off
authorizers:
  - name: tokens
    type: TOKEN
    function_url: "http://127.0.0.1:9/never-called"
    identity_source: "method.request.header.Authorization"
    ttl_seconds: 0
apis:
  - id: openapi001
    name: open
    hosts: ["open.test"]
    stages:
      prod:
        variables: { up: "UPSTREAM" }
    routes:
      - path: /hello
        methods: [GET, POST]
        authorization: NONE
        integration:
          type: mock
          status: 200
          headers: { content-type: application/json }
          body: '{"hello":true}'
      - path: /private
        methods: [GET]
        authorization: CUSTOM
        authorizer: tokens
        integration: { type: mock, status: 200, body: '{"private":true}' }
      - path: /echo
        methods: [POST]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://${stageVariables.up}/echo"
  - id: fenced0001
    name: fenced
    hosts: ["fenced.test"]
    stages: { prod: {} }
    resource_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: "*"
          Action: "execute-api:Invoke"
          Resource: "execute-api:/*"
          Condition: { IpAddress: { "aws:SourceIp": ["10.0.0.0/8"] } }
    routes:
      - path: /status
        methods: [GET]
        authorization: NONE
        integration: { type: mock, status: 200, body: '{"status":"green"}' }
"#;

fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap()
}

fn worker(upstream: &str) -> Worker {
    let text = CONFIG.replace("UPSTREAM", upstream);
    let compiled = tollgate_config::load_str(&text, std::path::Path::new(".")).unwrap();
    Worker::for_tests(Shared::for_tests(compiled))
}

/// Serve `input` as one client connection (delivered `chunk` bytes per read); the bytes the
/// gateway wrote back.
async fn serve(w: &Worker, input: &[u8], chunk: usize) -> String {
    let output = Rc::new(RefCell::new(Vec::new()));
    let mem = Mem {
        input: input.to_vec(),
        pos: 0,
        chunk,
        output: output.clone(),
    };
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    crate::conn::serve(w, mem, peer, local, false).await;
    let out = output.borrow().clone();
    String::from_utf8(out).unwrap()
}

/// The worker's metrics as `/metrics` renders them.
fn metrics_text(w: &Worker) -> String {
    let g = crate::metrics::GlobalMetrics {
        config_version: 1,
        reloads_ok: 0,
        reloads_rejected: 0,
        workers: 1,
        config_revision: 0,
        watch_state: 0,
        watch_connection_failures: 0,
        watch_invalid_revisions: 0,
    };
    crate::metrics::render(std::slice::from_ref(&w.metrics), &g)
}

/// The status codes of the responses in `out`, in order.
fn statuses(out: &str) -> Vec<u16> {
    out.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| out.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

#[test]
fn a_mock_route_answers_200() {
    runtime().block_on(async {
        let w = worker("127.0.0.1:9");
        let out = serve(
            &w,
            b"GET /prod/hello HTTP/1.1\r\nHost: open.test\r\n\r\n",
            7,
        )
        .await;
        assert_eq!(statuses(&out), [200], "{out}");
        assert!(out.ends_with("\r\n\r\n{\"hello\":true}"), "{out}");
        assert!(out.contains("x-amzn-RequestId: "), "{out}");
        // Counted under the route's labels.
        let metrics = metrics_text(&w);
        assert!(metrics.contains("api=\"open\""), "{metrics}");
    });
}

#[test]
fn a_missing_identity_source_is_401_without_a_call() {
    runtime().block_on(async {
        let w = worker("127.0.0.1:9");
        let out = serve(
            &w,
            b"GET /prod/private HTTP/1.1\r\nHost: open.test\r\n\r\n",
            64,
        )
        .await;
        assert_eq!(statuses(&out), [401], "{out}");
        assert!(out.contains("{\"message\":\"Unauthorized\"}"), "{out}");
    });
}

#[test]
fn a_resource_policy_without_an_allow_for_the_client_is_403() {
    runtime().block_on(async {
        let w = worker("127.0.0.1:9");
        let out = serve(
            &w,
            b"GET /prod/status HTTP/1.1\r\nHost: fenced.test\r\n\r\n",
            64,
        )
        .await;
        assert_eq!(statuses(&out), [403], "{out}");
        assert!(
            out.contains("x-amzn-ErrorType: AccessDeniedException"),
            "{out}"
        );
        // The error exit keeps the route: counted under the API's labels with its status.
        let metrics = metrics_text(&w);
        assert!(
            metrics
                .lines()
                .any(|l| l.contains("api=\"fenced\"") && l.contains("403")),
            "{metrics}"
        );
        // An unknown path on a known host is the missing-token 403.
        let out = serve(
            &w,
            b"GET /prod/nowhere HTTP/1.1\r\nHost: open.test\r\n\r\n",
            64,
        )
        .await;
        assert_eq!(statuses(&out), [403], "{out}");
        assert!(out.contains("Missing Authentication Token"), "{out}");
    });
}

#[test]
fn a_malformed_request_is_400_and_closes() {
    runtime().block_on(async {
        let w = worker("127.0.0.1:9");
        let input = b"GET /prod/hello HTTP/1.1\r\nHost: open.test\r\nContent-Length: x\r\n\r\n\
                      GET /prod/hello HTTP/1.1\r\nHost: open.test\r\n\r\n";
        let out = serve(&w, input, 64).await;
        assert_eq!(statuses(&out), [400], "{out}");
        assert!(out.contains("connection: close"), "{out}");
    });
}

#[test]
fn pipelined_keep_alive_requests_are_answered_in_order() {
    runtime().block_on(async {
        let w = worker("127.0.0.1:9");
        let input = b"GET /prod/hello HTTP/1.1\r\nHost: open.test\r\n\r\n\
                      POST /prod/hello HTTP/1.1\r\nHost: open.test\r\nContent-Length: 5\r\n\r\nhello\
                      GET /prod/status HTTP/1.1\r\nHost: fenced.test\r\n\r\n\
                      GET /prod/hello HTTP/1.1\r\nHost: open.test\r\n\r\n";
        // All in one read, and a few bytes per read.
        for chunk in [input.len(), 5] {
            let out = serve(&w, input, chunk).await;
            assert_eq!(statuses(&out), [200, 200, 403, 200], "{chunk}: {out}");
            assert!(!out.contains("connection: close"), "{out}");
        }
    });
}

#[test]
fn a_chunked_body_is_forwarded_decoded_and_reframed() {
    runtime().block_on(async {
        // A real upstream socket: read the request to its last chunk, answer with what came.
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = monoio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            while !got.ends_with(b"0\r\n\r\n") {
                let n = crate::io::fill(&mut s, &mut got, None).await.unwrap();
                assert!(n > 0, "{}", String::from_utf8_lossy(&got));
            }
            let text = String::from_utf8(got).unwrap();
            let reply = "HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nreceived".to_owned();
            let (res, _) = crate::io::write_all(&mut s, reply.into_bytes(), None).await;
            res.unwrap();
            text
        });
        let w = worker(&addr.to_string());
        let input =
            b"POST /prod/echo HTTP/1.1\r\nHost: open.test\r\nTransfer-Encoding: chunked\r\n\r\n\
                      5\r\nhello\r\n1;ext=1\r\n,\r\n6\r\n world\r\n0\r\n\r\n\
                      GET /prod/hello HTTP/1.1\r\nHost: open.test\r\n\r\n";
        let out = serve(&w, input, 3).await;
        let seen = upstream.await;
        assert!(seen.starts_with("POST /echo HTTP/1.1\r\n"), "{seen}");
        assert!(seen.contains("transfer-encoding: chunked\r\n"), "{seen}");
        // Decoded, then sent on as chunks of the data only (the extension dropped).
        let decoded = seen.split("\r\n\r\n").nth(1).unwrap();
        let mut data = String::new();
        let mut rest = decoded;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size, 16).unwrap();
            if n == 0 {
                break;
            }
            data.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        assert_eq!(data, "hello, world");
        assert_eq!(statuses(&out), [200, 200], "{out}");
        assert!(out.contains("\r\n\r\nreceived"), "{out}");
    });
}

#[test]
fn the_error_exit_keeps_the_route_and_the_reason_in_the_access_log() {
    runtime().block_on(async {
        let w = worker("127.0.0.1:9");
        let path = std::env::temp_dir().join(format!(
            "tollgate-pipeline-access-{}.log",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let sink =
            crate::accesslog::Sink::from_config(&tollgate_config::AccessLog::File(path.clone()))
                .unwrap();
        w.shared.access_log.store(std::sync::Arc::new(sink));
        let input = b"GET /prod/status HTTP/1.1\r\nHost: fenced.test\r\n\r\n\
                      GET /prod/private HTTP/1.1\r\nHost: open.test\r\n\r\n\
                      GET /prod/hello HTTP/1.1\r\nHost: open.test\r\n\r\n";
        let out = serve(&w, input, 64).await;
        assert_eq!(statuses(&out), [403, 401, 200], "{out}");
        let log = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{log}");
        assert_eq!(lines[0]["status"], 403);
        assert_eq!(lines[0]["apiId"], "fenced0001");
        assert_eq!(lines[0]["route"], "GET /status");
        assert!(
            lines[0]["error"]
                .as_str()
                .unwrap()
                .starts_with("access denied"),
            "{log}"
        );
        assert_eq!(lines[1]["status"], 401);
        assert_eq!(lines[1]["apiId"], "openapi001");
        assert!(
            lines[1]["error"]
                .as_str()
                .unwrap()
                .contains("identity source"),
            "{log}"
        );
        assert_eq!(lines[2]["status"], 200);
        assert!(lines[2].get("error").is_none(), "{log}");
    });
}

/// Read one request head (and no body) from `s` into `got`; false at end of stream.
async fn read_request_head(s: &mut monoio::net::TcpStream, got: &mut Vec<u8>) -> bool {
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        if crate::io::fill(s, got, None).await.unwrap() == 0 {
            return false;
        }
    }
    got.clear();
    true
}

#[test]
fn upstream_answers_are_streamed_through_the_neutral_response_and_the_connection_reused() {
    runtime().block_on(async {
        // One upstream connection serves both requests: the first answer (chunked) leaves it
        // clean, so the pool hands it out again; the second answer is delimited by close.
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = monoio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            assert!(read_request_head(&mut s, &mut got).await);
            let reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-up: 1\r\n\r\n\
                          3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n"
                .to_vec();
            crate::io::write_all(&mut s, reply, None).await.0.unwrap();
            assert!(read_request_head(&mut s, &mut got).await, "not reused");
            let reply = b"HTTP/1.1 201 Created\r\nconnection: close\r\n\r\nuntil-close".to_vec();
            crate::io::write_all(&mut s, reply, None).await.0.unwrap();
        });
        let w = worker(&addr.to_string());
        let input = b"POST /prod/echo HTTP/1.1\r\nHost: open.test\r\nContent-Length: 0\r\n\r\n\
                      POST /prod/echo HTTP/1.1\r\nHost: open.test\r\nContent-Length: 0\r\n\r\n\
                      GET /prod/hello HTTP/1.1\r\nHost: open.test\r\n\r\n";
        let out = serve(&w, input, 64).await;
        upstream.await;
        assert_eq!(statuses(&out), [200, 201, 200], "{out}");
        let answers: Vec<&str> = out.split("HTTP/1.1 ").skip(1).collect();
        // Re-chunked for the HTTP/1.1 client: data only, the extension dropped.
        let first = answers[0];
        assert!(first.contains("x-up: 1\r\n"), "{first}");
        assert!(first.contains("transfer-encoding: chunked\r\n"), "{first}");
        assert!(first.contains("x-amzn-RequestId: "), "{first}");
        assert!(
            first.ends_with("\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"),
            "{first}"
        );
        // A close-delimited upstream body is chunked to the client, whose connection stays.
        let second = answers[1];
        assert!(!second.contains("connection: close"), "{second}");
        assert!(
            second.ends_with("\r\n\r\nb\r\nuntil-close\r\n0\r\n\r\n"),
            "{second}"
        );
    });
}

#[test]
fn an_error_answer_to_head_carries_its_length_but_no_body() {
    runtime().block_on(async {
        let w = worker("127.0.0.1:9");
        let input = b"HEAD /prod/nowhere HTTP/1.1\r\nHost: open.test\r\n\r\n\
                      GET /prod/nowhere HTTP/1.1\r\nHost: open.test\r\n\r\n";
        let out = serve(&w, input, 64).await;
        assert_eq!(statuses(&out), [403, 403], "{out}");
        let body = r#"{"message":"Missing Authentication Token"}"#;
        let (head_answer, get_answer) = out.split_at(out.rfind("HTTP/1.1 ").unwrap());
        assert!(head_answer.ends_with("\r\n\r\n"), "{out}");
        for a in [head_answer, get_answer] {
            assert!(a.contains("content-length: 42\r\n"), "{a}");
            assert!(a.contains("content-type: application/json\r\n"), "{a}");
            assert!(
                a.contains("x-amzn-ErrorType: MissingAuthenticationTokenException\r\n"),
                "{a}"
            );
        }
        assert!(get_answer.ends_with(&format!("\r\n\r\n{body}")), "{out}");
    });
}

#[test]
fn a_chunked_request_body_is_pulled_gathered_into_one_upstream_chunk() {
    runtime().block_on(async {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = monoio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            while !got.ends_with(b"0\r\n\r\n") {
                let n = crate::io::fill(&mut s, &mut got, None).await.unwrap();
                assert!(n > 0, "{}", String::from_utf8_lossy(&got));
            }
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec();
            crate::io::write_all(&mut s, reply, None).await.0.unwrap();
            String::from_utf8(got).unwrap()
        });
        let w = worker(&addr.to_string());
        // Twelve one-byte chunks arriving in one read: one upstream chunk of 12 bytes.
        let mut input =
            b"POST /prod/echo HTTP/1.1\r\nHost: open.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        for b in b"hello, world" {
            input.extend_from_slice(b"1\r\n");
            input.push(*b);
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b"0\r\n\r\nGET /prod/hello HTTP/1.1\r\nHost: open.test\r\n\r\n");
        let out = serve(&w, &input, 4096).await;
        let seen = upstream.await;
        let body = seen.split("\r\n\r\n").nth(1).unwrap();
        assert_eq!(body, "c\r\nhello, world\r\n0", "{seen}");
        assert_eq!(statuses(&out), [200, 200], "{out}");
    });
}

/// Allocations made serving one connection that carries `n` mock requests (the stream's own
/// buffers made beforehand), on a worker already warmed by one such connection.
fn allocations_for(w: &Worker, n: usize, user_agent: bool) -> u64 {
    let ua = if user_agent {
        "User-Agent: curl/8.0\r\n"
    } else {
        ""
    };
    let one = format!("GET /prod/hello HTTP/1.1\r\nHost: open.test\r\n{ua}\r\n");
    let input = one.repeat(n).into_bytes();
    let output = Rc::new(RefCell::new(Vec::with_capacity(64 * 1024)));
    let mem = Mem {
        input,
        pos: 0,
        chunk: 1 << 20,
        output: output.clone(),
    };
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut rt = runtime();
    let ((), count) = crate::alloc_count::count(|| {
        rt.block_on(crate::conn::serve(w, mem, peer, local, false));
    });
    let out = String::from_utf8(output.borrow().clone()).unwrap();
    assert_eq!(statuses(&out), vec![200; n], "{out}");
    count
}

/// Allocations the mock path still makes per request (access log off): the parsed head's
/// header index (`RequestHead::headers`, a `Vec`), and the resource path copied out of the
/// connection buffer (`OwnedMatch::resource_path`; its stage and template borrow from the
/// snapshot). Nothing else: no request id, method, path or user-agent string, no identity
/// context, no response head formatting.
const MOCK_ALLOCATIONS_PER_REQUEST: u64 = 2;

/// A connection carrying 21 mock requests makes exactly 20 x [`MOCK_ALLOCATIONS_PER_REQUEST`]
/// more allocations than one carrying a single request, with and without a user agent.
/// (Counted by the test build's counting global allocator: a count, not a time.)
#[test]
fn a_mock_request_makes_a_fixed_small_number_of_allocations() {
    let w = worker("127.0.0.1:9");
    for ua in [false, true] {
        allocations_for(&w, 3, ua);
        let one = allocations_for(&w, 1, ua);
        let many = allocations_for(&w, 21, ua);
        eprintln!("allocations (user agent {ua}): 1 request {one}, 21 requests {many}");
        assert_eq!(
            many - one,
            20 * MOCK_ALLOCATIONS_PER_REQUEST,
            "per-request allocations (user agent {ua}): 1 request {one}, 21 requests {many}"
        );
    }
}

/// What an idle keep-alive connection's task holds: the connection (stream, addresses, empty
/// buffers) and a readiness wait (its deadline is kept by the worker's sweeper, no timer). The request pipeline is boxed per busy period
/// and is not part of it. (A size, not a time.)
#[test]
fn the_connection_task_stays_small() {
    runtime().block_on(async {
        let w = worker("127.0.0.1:9");
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let s = monoio::net::TcpStream::from_std(s).unwrap();
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let fut = crate::conn::serve(&w, s, peer, peer, true);
        let size = std::mem::size_of_val(&fut);
        eprintln!("connection task future: {size} bytes");
        assert!(size <= 1024, "{size} bytes");
    });
}
