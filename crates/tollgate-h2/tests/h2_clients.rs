//! HTTP/2 with independent clients: curl (prior knowledge, several requests, --parallel) and
//! nghttp, against a real monoio listener on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use support::{pattern, run, serial, start, start_on};
use tollgate_h2::H2Limits;

fn curl(args: &[&str]) -> (String, String) {
    let out = run(Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge", "--max-time", "20"])
        .args(args));
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curl_prior_knowledge_sees_method_path_authority_and_headers() {
    let _g = serial();
    let s = start(H2Limits::default());
    let url = format!("http://127.0.0.1:{}/echo?x=1&y=2", s.port());
    let (body, _) = curl(&[
        "-H",
        "X-Test: hello",
        "-H",
        "Cookie: a=1",
        "-H",
        "Cookie: b=2",
        &url,
    ]);
    assert!(body.contains("method=GET\n"), "{body}");
    assert!(body.contains("path=/echo?x=1&y=2\n"), "{body}");
    assert!(
        body.contains(&format!("authority=127.0.0.1:{}\n", s.port())),
        "{body}"
    );
    assert!(body.contains("scheme=http\n"), "{body}");
    assert!(body.contains("h:x-test=hello\n"), "{body}");
    assert!(body.contains("h:cookie=a=1; b=2\n"), "{body}");
    // the response really was HTTP/2
    let out = run(Command::new("curl").args([
        "-sS",
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        &url,
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
}

/// Several curl requests, each its own connection. (curl 7.88's HTTP/2 layer fails a second
/// stream on a prior-knowledge connection with "Error in the HTTP2 framing layer" against any
/// server, nghttpd included, so reuse and `--parallel` are covered with nghttp below.)
#[test]
fn curl_several_requests() {
    let _g = serial();
    let s = start(H2Limits::default());
    for n in 0..5 {
        let url = format!("http://127.0.0.1:{}/echo?n={n}", s.port());
        let (out, _) = curl(&["-X", if n % 2 == 0 { "GET" } else { "DELETE" }, &url]);
        assert!(out.contains(&format!("path=/echo?n={n}")), "{out}");
        let summary = s
            .next_summary(Duration::from_secs(5))
            .expect("connection closed");
        assert_eq!(
            (summary.streams, &summary.close),
            (1, &tollgate_h2::Close::Done)
        );
    }
    let (out, _) = curl(&[
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{}/missing", s.port()),
    ]);
    assert_eq!(out, "no route\n404");
}

#[test]
fn curl_streams_one_mib_up_and_down() {
    one_mib_up_and_down(false);
}

/// The same on monoio's epoll driver (the gateway's fallback without io_uring).
#[test]
fn curl_streams_one_mib_up_and_down_on_epoll() {
    one_mib_up_and_down(true);
}

fn one_mib_up_and_down(legacy: bool) {
    let _g = serial();
    let s = start_on(H2Limits::default(), legacy);
    let dir = std::env::temp_dir().join(format!("tollgate-h2-{}-{legacy}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let up = dir.join("up.bin");
    let data: Vec<u8> = (0..(1usize << 20)).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::File::create(&up)
        .unwrap()
        .write_all(&data)
        .unwrap();

    // up: the handler consumes the stream (flow control released as it reads)
    let url = format!("http://127.0.0.1:{}/upload", s.port());
    let (out, _) = curl(&["--data-binary", &format!("@{}", up.display()), &url]);
    let sum = data
        .iter()
        .fold(0u64, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)));
    assert_eq!(out, format!("len={} sum={sum}", 1 << 20));

    // down: a 1 MiB streamed body with backpressure
    let down = dir.join("down.bin");
    let url = format!("http://127.0.0.1:{}/download?size={}", s.port(), 1 << 20);
    curl(&["-o", down.to_str().unwrap(), &url]);
    assert_eq!(std::fs::read(&down).unwrap(), pattern(1 << 20));

    // down again, the producer handed over with the answer (`Response::with_rest`): the
    // stream's task drives it alongside the sending
    let url = format!(
        "http://127.0.0.1:{}/download?size={}&rest=1",
        s.port(),
        1 << 20
    );
    curl(&["-o", down.to_str().unwrap(), &url]);
    assert_eq!(std::fs::read(&down).unwrap(), pattern(1 << 20));

    // both at once: the request body streamed back as the response body
    let back = dir.join("back.bin");
    let url = format!("http://127.0.0.1:{}/mirror", s.port());
    curl(&[
        "--data-binary",
        &format!("@{}", up.display()),
        "-o",
        back.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(std::fs::read(&back).unwrap(), data);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nghttp_multiplexes_requests_and_downloads() {
    let _g = serial();
    let s = start(H2Limits::default());
    let base = format!("http://127.0.0.1:{}", s.port());
    // -n: discard bodies, -s: stats per stream; several URIs share one connection
    let out = run(Command::new("nghttp").args([
        "-n",
        "-s",
        "-t",
        "20",
        &format!("{base}/echo"),
        &format!("{base}/slow"),
        &format!("{base}/download?size=1048576"),
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "nghttp: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = s
        .next_summary(Duration::from_secs(5))
        .expect("connection closed");
    assert_eq!(
        summary.streams, 3,
        "one connection, three streams: {summary:?}"
    );
    for path in ["/echo", "/slow", "/download?size=1048576"] {
        assert!(text.contains(path), "{path} missing in {text}");
    }
    assert_eq!(text.matches(" 200 ").count(), 3, "{text}");

    // verbose run: the server's SETTINGS carry our limits
    let out = run(Command::new("nghttp").args(["-v", "-n", &format!("{base}/echo")]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100"),
        "{text}"
    );
    assert!(
        text.contains("SETTINGS_MAX_HEADER_LIST_SIZE(0x06):16384"),
        "{text}"
    );
}

/// Eight slow requests multiplexed on one nghttp connection: every one answered, one connection.
#[test]
fn nghttp_parallel_streams() {
    let _g = serial();
    let s = start(H2Limits::default());
    let urls: Vec<String> = (0..8)
        .map(|i| format!("http://127.0.0.1:{}/slow?i={i}", s.port()))
        .collect();
    let mut cmd = Command::new("nghttp");
    cmd.args(["-n", "-s", "-t", "20", "-m", "1"]).args(&urls);
    let out = run(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "nghttp: {text}");
    assert_eq!(text.matches(" 200 ").count(), 8, "{text}");
    let summary = s
        .next_summary(Duration::from_secs(5))
        .expect("connection closed");
    assert_eq!(summary.streams, 8, "{summary:?}");
}

/// nghttp uploads 1 MiB (`-d`) to the mirror and gets the same bytes streamed back.
#[test]
fn nghttp_mirrors_one_mib() {
    let _g = serial();
    let s = start(H2Limits::default());
    let dir = std::env::temp_dir().join(format!("tollgate-h2-ng-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let up = dir.join("up.bin");
    let data: Vec<u8> = (0..(1usize << 20)).map(|i| (i * 13 % 256) as u8).collect();
    std::fs::write(&up, &data).unwrap();
    let out = run(Command::new("nghttp").args([
        "-t",
        "20",
        "-d",
        up.to_str().unwrap(),
        &format!("http://127.0.0.1:{}/mirror", s.port()),
    ]));
    assert!(
        out.status.success(),
        "nghttp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == data,
        "mirrored {} bytes, not the 1 MiB sent",
        out.stdout.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
