//! The attacks of the HTTP/2 era, sent by a raw Python client (`tests/h2_client.py`, frames
//! from hyperframe, header blocks from hpack) at a real monoio listener: each must end in a
//! bounded way (GOAWAY, a stream reset, or a 431) with memory bounded, and a second connection
//! must still be served.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use support::{Server, attack, rss, run, serial, start};
use tollgate_h2::{Close, Flood, H2Limits};

const ENHANCE_YOUR_CALM: u64 = 11;
const CANCEL: u64 = 8;
const MIB: u64 = 1024 * 1024;

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("bad client output {s:?}: {e}"))
}

/// A fresh connection from an independent client is answered.
fn still_serving(s: &Server) {
    let out = run(Command::new("curl").args([
        "-sS",
        "--http2-prior-knowledge",
        "--max-time",
        "10",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        &format!("http://127.0.0.1:{}/echo", s.port()),
    ]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2 200",
        "a second connection was not served"
    );
}

/// The summary of the attacking connection (the first to close).
fn summary(s: &Server) -> tollgate_h2::ConnSummary {
    s.next_summary(Duration::from_secs(10))
        .expect("the attacking connection never closed")
}

#[test]
fn rapid_reset_burst_gets_goaway() {
    let _g = serial();
    let s = start(H2Limits::default());
    let before = rss();
    let out = json(&attack(&s, &["rapid_reset", "20000", "500"]));
    assert_eq!(out["goaway"], ENHANCE_YOUR_CALM, "{out}");
    assert_eq!(out["closed"], true, "{out}");
    let sum = summary(&s);
    assert!(
        matches!(sum.close, Close::Flood(Flood::Resets))
            || matches!(
                sum.close,
                Close::Error {
                    reason: Some(11),
                    ..
                }
            ),
        "{sum:?}"
    );
    // far fewer handler calls than streams opened, memory flat
    let calls = s.counters.calls.load(Ordering::Relaxed);
    assert!(calls < 1000, "{calls} handler calls for a reset flood");
    assert!(
        rss().saturating_sub(before) < 32 * MIB,
        "rss grew {}",
        rss() - before
    );
    still_serving(&s);
}

#[test]
fn rapid_reset_paced_is_capped_per_second() {
    let _g = serial();
    // h2's own guard (resets pending accept) loosened: the per-second cap must catch it
    let limits = H2Limits {
        max_pending_accept_reset_streams: 1_000_000,
        max_resets_per_second: 50,
        ..H2Limits::default()
    };
    let s = start(limits);
    let out = json(&attack(&s, &["rapid_reset", "2000", "1"]));
    assert_eq!(out["goaway"], ENHANCE_YOUR_CALM, "{out}");
    let sum = summary(&s);
    assert_eq!(sum.close, Close::Flood(Flood::Resets), "{sum:?}");
    assert!(sum.resets_received <= 200, "{sum:?}");
    still_serving(&s);
}

#[test]
fn continuation_flood_gets_goaway() {
    let _g = serial();
    let s = start(H2Limits::default());
    let before = rss();
    let out = json(&attack(&s, &["continuation_flood", "200000"]));
    assert_eq!(out["goaway"], ENHANCE_YOUR_CALM, "{out}");
    let sum = summary(&s);
    assert!(
        matches!(
            sum.close,
            Close::Error {
                reason: Some(11),
                remote: false,
                ..
            }
        ),
        "{sum:?}"
    );
    assert_eq!(s.counters.calls.load(Ordering::Relaxed), 0);
    assert!(rss().saturating_sub(before) < 16 * MIB);
    still_serving(&s);
}

#[test]
fn oversized_header_block_is_431_and_the_connection_lives() {
    let _g = serial();
    let s = start(H2Limits::default());
    let out = json(&attack(&s, &["big_header", "20000"]));
    assert_eq!(out["status"]["1"], 431, "{out}");
    assert_eq!(
        out["status"]["3"], 200,
        "next stream on the same connection: {out}"
    );
    assert_eq!(out["goaway"], Value::Null, "{out}");
    // curl too: a 20 KB header gets 431
    let big = format!("x-big: {}", "a".repeat(20_000));
    let res = run(Command::new("curl").args([
        "-sS",
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &big,
        &format!("http://127.0.0.1:{}/echo", s.port()),
    ]));
    assert_eq!(String::from_utf8_lossy(&res.stdout), "431");
}

#[test]
fn hpack_bomb_gets_goaway_and_memory_stays_flat() {
    let _g = serial();
    let s = start(H2Limits::default());
    let before = rss();
    // ~8 KiB on the wire that decode to 16 MB: far past the header list limit, so h2 stops
    // decoding and ends the connection (GOAWAY ENHANCE_YOUR_CALM), never holding the 16 MB
    let out = json(&attack(&s, &["hpack_bomb", "4000", "4000"]));
    assert!(out["wire"].as_u64().unwrap() < 16 * 1024, "{out}");
    assert_eq!(out["goaway"], ENHANCE_YOUR_CALM, "{out}");
    assert_eq!(s.counters.calls.load(Ordering::Relaxed), 0);
    assert!(
        rss().saturating_sub(before) < 8 * MIB,
        "rss grew {}",
        rss() - before
    );
    still_serving(&s);
}

#[test]
fn hpack_references_just_over_the_limit_are_431() {
    let _g = serial();
    let s = start(H2Limits::default());
    // 6 x 4000 bytes decoded (over 16 KiB, under h2's abuse threshold) from ~4 KiB on the wire
    let out = json(&attack(&s, &["hpack_bomb", "6", "4000"]));
    assert_eq!(out["status"]["1"], 431, "{out}");
    assert_eq!(out["status"]["3"], 200, "the connection lives: {out}");
    assert_eq!(out["goaway"], Value::Null, "{out}");
}

#[test]
fn ping_flood_gets_goaway() {
    let _g = serial();
    let s = start(H2Limits::default());
    let out = json(&attack(&s, &["ping_flood", "20000"]));
    assert_eq!(out["goaway"], ENHANCE_YOUR_CALM, "{out}");
    let sum = summary(&s);
    assert_eq!(sum.close, Close::Flood(Flood::ControlFrames), "{sum:?}");
    still_serving(&s);
}

#[test]
fn settings_flood_gets_goaway() {
    let _g = serial();
    let s = start(H2Limits::default());
    let out = json(&attack(&s, &["settings_flood", "20000"]));
    assert_eq!(out["goaway"], ENHANCE_YOUR_CALM, "{out}");
    let sum = summary(&s);
    assert_eq!(sum.close, Close::Flood(Flood::ControlFrames), "{sum:?}");
    still_serving(&s);
}

#[test]
fn zero_window_stall_is_reset_after_the_send_timeout() {
    zero_window_stall("0");
}

#[test]
fn zero_window_stall_ends_a_producer_handed_over_with_the_answer() {
    // The producer runs as the answer's rest in the stream's task: the reset drops the body,
    // its next write fails, and the stream's task ends (the connection closes normally).
    zero_window_stall("1");
}

fn zero_window_stall(rest: &str) {
    let _g = serial();
    let limits = H2Limits {
        send_timeout: Duration::from_millis(500),
        ..H2Limits::default()
    };
    let s = start(limits);
    let out = json(&attack(
        &s,
        &["zero_window", &(64 * MIB).to_string(), "10", rest],
    ));
    assert_eq!(out["resets"]["1"], CANCEL, "{out}");
    assert!(out["waited"].as_f64().unwrap() < 5.0, "{out}");
    // the producer was held back by the channel: nowhere near the 64 MiB asked for
    let produced = s.counters.produced.load(Ordering::Relaxed);
    assert!(
        produced < MIB,
        "{produced} bytes produced for a client with a zero window"
    );
    let sum = summary(&s);
    assert_eq!(sum.send_timeouts, 1, "{sum:?}");
    still_serving(&s);
}

#[test]
fn zero_window_small_answer_is_held_until_the_idle_and_shutdown_timeouts() {
    // A whole answer within the per-stream send buffer goes to h2 at once (no send timeout):
    // it waits there for the window, and the connection, with no stream of ours left
    // running, ends at the idle timeout (GOAWAY) plus the shutdown timeout.
    let _g = serial();
    let limits = H2Limits {
        idle_timeout: Duration::from_secs(1),
        shutdown_timeout: Duration::from_millis(500),
        ..H2Limits::default()
    };
    let s = start(limits);
    let out = json(&attack(&s, &["zero_window_small", "10"]));
    assert_eq!(out["status"]["1"], 200, "{out}");
    assert!(out["data"].get("1").is_none(), "{out}");
    assert!(out["goaway"].is_number(), "{out}");
    assert_eq!(out["closed"], true, "{out}");
    assert!(out["waited"].as_f64().unwrap() < 5.0, "{out}");
    let sum = summary(&s);
    assert_eq!(sum.close, Close::Idle, "{sum:?}");
    still_serving(&s);
}

#[test]
fn client_that_never_reads_holds_bounded_memory() {
    let _g = serial();
    let limits = H2Limits {
        send_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(1),
        shutdown_timeout: Duration::from_millis(500),
        ..H2Limits::default()
    };
    let s = start(limits);
    let out = json(&attack(&s, &["no_read", &(64 * MIB).to_string(), "3"]));
    assert!(
        !out["ended"].as_array().unwrap().contains(&1.into()),
        "the stream completed? {out}"
    );
    let produced = s.counters.produced.load(Ordering::Relaxed);
    // the connection's send buffers plus the kernel's socket buffers, not 64 MiB
    assert!(
        produced < 16 * MIB,
        "{produced} bytes produced for a client that never reads"
    );
    let sum = summary(&s);
    assert_eq!(sum.send_timeouts, 1, "{sum:?}");
    still_serving(&s);
}

#[test]
fn a_reset_stream_leaves_its_siblings_alone() {
    let _g = serial();
    let s = start(H2Limits::default());
    let out = json(&attack(&s, &["reset_sibling"]));
    // stream 1 was reset by the client while its handler slept; 3 and 5 completed
    assert_eq!(out["status"]["3"], 200, "{out}");
    assert_eq!(out["status"]["5"], 200, "{out}");
    assert!(out["status"].get("1").is_none(), "{out}");
    assert_eq!(out["goaway"], Value::Null, "{out}");
    // its handler future was dropped at the reset: it never finished
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(s.counters.finished_after_reset.load(Ordering::Relaxed), 0);
}

#[test]
fn a_handler_that_runs_after_reset_finishes_and_sees_the_reset() {
    let _g = serial();
    let s = start(H2Limits::default());
    s.counters.run_after_reset.store(true, Ordering::Relaxed);
    let out = json(&attack(&s, &["reset_sibling"]));
    assert_eq!(out["status"]["3"], 200, "{out}");
    assert_eq!(out["status"]["5"], 200, "{out}");
    // stream 1's answer went nowhere: no HEADERS for it
    assert!(out["status"].get("1").is_none(), "{out}");
    // its handler ran to its end (the 200 ms sleep) and saw the reset flag
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while s.counters.finished_after_reset.load(Ordering::Relaxed) == 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.counters.finished_after_reset.load(Ordering::Relaxed), 1);
    still_serving(&s);
}

#[test]
fn handlers_that_run_after_reset_are_bounded_per_connection() {
    let _g = serial();
    let s = start(H2Limits {
        max_concurrent_streams: 4,
        ..H2Limits::default()
    });
    s.counters.run_after_reset.store(true, Ordering::Relaxed);
    // 5 rounds of 4 streams reset while their handlers (2 s each) run: 20 streams, never more
    // than 4 open at once, but every handler runs on
    let out = json(&attack(&s, &["reset_churn", "5", "4", "2000"]));
    // two rounds' handlers start (twice the stream limit); the rest are refused unstarted
    assert_eq!(s.counters.calls.load(Ordering::Relaxed), 8, "{out}");
    // every reset the server sent is REFUSED_STREAM (none for a stream whose HEADERS and
    // RST_STREAM the server read together: the client's reset came first)
    let resets = out["resets"].as_object().unwrap();
    assert!(!resets.is_empty(), "{out}");
    assert!(resets.values().all(|v| *v == 7), "{out}");
    assert_eq!(out["goaway"], Value::Null, "{out}");
    // the client is gone, but the connection ends only after the handlers it started did: a
    // client that opens, resets and closes cannot leave work running past the caller's limit
    // on connections
    let sum = s
        .next_summary(Duration::from_secs(10))
        .expect("the connection never ended");
    assert_eq!(s.counters.finished_after_reset.load(Ordering::Relaxed), 8);
    assert_eq!((sum.streams, sum.refused), (8, 12), "{sum:?}");
    still_serving(&s);
}

#[test]
fn streams_past_the_concurrency_limit_are_refused() {
    let _g = serial();
    let s = start(H2Limits {
        max_concurrent_streams: 4,
        ..H2Limits::default()
    });
    let out = json(&attack(&s, &["concurrency", "6"]));
    // 4 slow streams run; the 5th and 6th are refused (REFUSED_STREAM = 7), not queued
    let ok = out["status"]
        .as_object()
        .unwrap()
        .values()
        .filter(|v| **v == 200)
        .count();
    let refused = out["resets"]
        .as_object()
        .unwrap()
        .values()
        .filter(|v| **v == 7)
        .count();
    assert_eq!((ok, refused), (4, 2), "{out}");
    still_serving(&s);
}

#[test]
fn silent_connection_is_closed_after_the_handshake_timeout() {
    use std::io::Read;
    let _g = serial();
    let limits = H2Limits {
        handshake_timeout: Duration::from_millis(300),
        ..H2Limits::default()
    };
    let s = start(limits);
    // the preface, then nothing: no SETTINGS
    let mut sock = std::net::TcpStream::connect(s.addr).unwrap();
    std::io::Write::write_all(&mut sock, tollgate_h2::PREFACE).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = sock.read_to_end(&mut buf); // returns at the server's close
    let sum = summary(&s);
    assert_eq!(sum.close, Close::HandshakeTimeout, "{sum:?}");
}

#[test]
fn idle_connection_gets_a_graceful_goaway() {
    let _g = serial();
    let limits = H2Limits {
        idle_timeout: Duration::from_millis(300),
        ..H2Limits::default()
    };
    let s = start(limits);
    let out = json(&attack(&s, &["idle", "5"]));
    assert_eq!(out["status"]["1"], 200, "{out}");
    assert_eq!(out["goaway"], 0, "NO_ERROR: {out}");
    assert_eq!(summary(&s).close, Close::Idle);
}

#[test]
fn a_draining_server_sends_a_graceful_goaway_and_finishes_the_stream_in_flight() {
    let _g = serial();
    // The shutdown signal fires 50 ms after the accept; /slow answers after 200 ms.
    let s = support::start_until(H2Limits::default(), Duration::from_millis(50));
    let out = json(&attack(&s, &["drain", "5"]));
    assert_eq!(out["goaway"], 0, "NO_ERROR: {out}");
    assert_eq!(out["goaway_last"], 1, "{out}");
    assert_eq!(out["status"]["1"], 200, "{out}");
    assert_eq!(out["data"]["1"], 5, "{out}");
    assert_eq!(out["ended"], serde_json::json!([1]), "{out}");
    assert_eq!(
        out["closed"], true,
        "the server closes after the stream: {out}"
    );
    let sum = summary(&s);
    assert_eq!(sum.close, Close::Shutdown, "{sum:?}");
    assert_eq!(sum.streams, 1);
}

#[test]
fn http1_without_the_preface_gets_505_not_a_hang() {
    let _g = serial();
    let s = start(H2Limits::default());
    let out = run(Command::new("curl").args([
        "-sS",
        "--http1.1",
        "--max-time",
        "5",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{}/echo", s.port()),
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "505");
}

#[test]
fn request_body_past_the_window_is_a_flow_control_error() {
    let _g = serial();
    let s = start(H2Limits::default());
    // the handler (/slow) never reads its body: the server holds at most the stream window
    // (256 KiB); 512 KiB sent regardless is FLOW_CONTROL_ERROR (3)
    let out = json(&attack(&s, &["overrun", "524288"]));
    let stream_err = out["resets"]["1"] == 3;
    let conn_err = out["goaway"] == 3;
    assert!(stream_err || conn_err, "{out}");
    still_serving(&s);
}

#[test]
fn a_request_body_that_never_comes_times_out_for_the_handler() {
    let _g = serial();
    let limits = H2Limits {
        body_timeout: Duration::from_millis(300),
        ..H2Limits::default()
    };
    let s = start(limits);
    // /upload answers 400 when its body read fails: here with BodyError::Timeout
    let out = json(&attack(&s, &["stalled_body", "5"]));
    assert_eq!(out["status"]["1"], 400, "{out}");
}
