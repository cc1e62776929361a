//! Conformance: llhttp's request test cases (`testdata/llhttp-tests/request/*.md`).
//!
//! Every strict-mode case is parsed (pipelined messages in sequence) with `parse_request`,
//! Content-Length bodies are read directly and chunked bodies go through `ChunkedDecoder`.
//! A case llhttp rejects must be rejected by us; a case llhttp accepts must give the same
//! methods, URLs, headers and bodies. Cases in `DIFFERENCES` are the deliberate exceptions
//! (each one must still differ, so a stale entry fails too); docs/http.md lists the reasons.
//!
//! Harness rules (not differences):
//! - HTTP/1.1 requires exactly one Host (RFC 9112 §3.2) and llhttp does not check it. When we
//!   reject a message only for a missing Host, the harness inserts `Host: llhttp.test` after
//!   its request line, parses again, and leaves that header out of the comparison.
//! - llhttp stops at an upgrade (`Pause on CONNECT/Upgrade`): only the messages up to that
//!   head are compared. We do not implement upgrades; `Upgrade` is hop-by-hop and dropped.
//! - After a message that does not keep the connection alive the gateway closes it: bytes
//!   after it are never parsed (llhttp's "Data after `Connection: close`" error).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use tollgate_http::{BodyFraming, ChunkedDecoder, HttpError, RequestLimits, Step, parse_request};

/// Cases where we deliberately differ from llhttp's strict mode, with the reason.
const DIFFERENCES: &[(&str, &str)] = &[
    (
        "method.md: REPORT request",
        "method outside the API Gateway set: 501",
    ),
    (
        "method.md: CONNECT request",
        "CONNECT (tunnels) not implemented: 501",
    ),
    (
        "method.md: CONNECT request with CAPS",
        "CONNECT (tunnels) not implemented: 501",
    ),
    (
        "method.md: CONNECT with body",
        "CONNECT (tunnels) not implemented: 501",
    ),
    (
        "method.md: M-SEARCH request",
        "method outside the API Gateway set: 501",
    ),
    (
        "method.md: PURGE request",
        "method outside the API Gateway set: 501",
    ),
    (
        "method.md: SEARCH request",
        "method outside the API Gateway set: 501",
    ),
    (
        "method.md: LINK request",
        "method outside the API Gateway set: 501",
    ),
    (
        "method.md: LINK request #2",
        "method outside the API Gateway set: 501",
    ),
    (
        "method.md: SOURCE request",
        "method outside the API Gateway set: 501",
    ),
    (
        "method.md: QUERY request",
        "method outside the API Gateway set: 501",
    ),
    (
        "method.md: SOURCE request with ICE",
        "only HTTP/1.0 and HTTP/1.1, no ICE: 400",
    ),
    (
        "method.md: OPTIONS request with RTSP",
        "only HTTP/1.0 and HTTP/1.1, no RTSP: 400",
    ),
    (
        "method.md: ANNOUNCE request with RTSP",
        "only HTTP/1.0 and HTTP/1.1, no RTSP: 400",
    ),
    (
        "sample.md: No HTTP version",
        "HTTP/0.9-style request line: 400",
    ),
    (
        "transfer-encoding.md: POST with `chunked` as last transfer-encoding",
        "fragment `#` in the target: 400 (and `deflate, chunked` would be 501)",
    ),
    (
        "transfer-encoding.md: POST with `chunked` as last transfer-encoding (multiple headers)",
        "fragment `#` in the target: 400 (and `deflate, chunked` would be 501)",
    ),
    ("uri.md: Fragment in URI", "fragment `#` in the target: 400"),
    (
        "uri.md: Host terminated by a query string",
        "absolute-form target without a path: 400",
    ),
    (
        "uri.md: `host:port` terminated by a query string",
        "absolute-form target without a path: 400",
    ),
    (
        "uri.md: `host:port` terminated by a space",
        "absolute-form target without a path: 400",
    ),
    (
        "uri.md: Underscore in hostname",
        "CONNECT (tunnels) not implemented: 501",
    ),
    (
        "uri.md: `host:port` and basic auth",
        "userinfo in an absolute-form target: 400",
    ),
];

/// The harness must run at least this many strict cases (the suite has ~180 request cases).
const MIN_CASES_RUN: usize = 120;

fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/llhttp-tests/request"
    ));
    if dir.is_dir() {
        Some(dir)
    } else if std::env::var_os("CI").is_some() {
        panic!("llhttp test data missing at {}", dir.display());
    } else {
        eprintln!("llhttp test data missing at {}: skipped", dir.display());
        None
    }
}

struct Case {
    name: String,
    kind: String,
    meta: String,
    input: Vec<u8>,
    log: Vec<String>,
}

/// Decode an ```http block per testdata/README.md.
fn decode_block(lines: &[&str]) -> Vec<u8> {
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    text.pop(); // drop the final \n
    let text = text.replace("\\\n", "");
    let text = text.replace('\n', "\r\n");
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                b'f' => {
                    out.push(0x0c);
                    i += 2;
                    continue;
                }
                b'x' if i + 3 < b.len()
                    && b[i + 2].is_ascii_hexdigit()
                    && b[i + 3].is_ascii_hexdigit() =>
                {
                    // As llhttp's runner does: \xHH is the character U+00HH, sent as UTF-8
                    // (its logged offsets count `\xff` as two bytes).
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                    let c = char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap();
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                    i += 4;
                    continue;
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn meta_type(meta: &str) -> String {
    let at = meta.find("\"type\"").expect("meta has a type");
    let rest = &meta[at + 6..];
    let q1 = rest.find('"').unwrap();
    let rest = &rest[q1 + 1..];
    let q2 = rest.find('"').unwrap();
    rest[..q2].to_string()
}

fn read_cases(dir: &PathBuf) -> Vec<Case> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for f in files {
        let file = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut heading = String::new();
        let mut meta: Option<String> = None;
        let mut i = 0;
        while i < lines.len() {
            let l = lines[i];
            if l.starts_with('#') {
                heading = l.trim_start_matches('#').trim().to_string();
            } else if l.contains("<!-- meta=") {
                meta = Some(l.to_string());
            } else if l == "```http" {
                let start = i + 1;
                let mut end = start;
                while lines[end] != "```" {
                    end += 1;
                }
                let input = decode_block(&lines[start..end]);
                i = end + 1;
                while i < lines.len() && lines[i] != "```log" {
                    i += 1;
                }
                let mut log = Vec::new();
                i += 1;
                while i < lines.len() && lines[i] != "```" {
                    log.push(lines[i].to_string());
                    i += 1;
                }
                let meta_s = meta.take().expect("case without meta");
                let mut name = format!("{file}: {heading}");
                let n = seen.entry(name.clone()).or_insert(0);
                *n += 1;
                if *n > 1 {
                    name = format!("{name} #{n}");
                }
                cases.push(Case {
                    name,
                    kind: meta_type(&meta_s),
                    meta: meta_s,
                    input,
                    log,
                });
            }
            i += 1;
        }
    }
    cases
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Msg {
    method: Vec<u8>,
    url: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    headers_complete: bool,
    body: Vec<u8>,
    complete: bool,
}

#[derive(Debug, Default)]
struct Outcome {
    msgs: Vec<Msg>,
    error: Option<String>,
    /// llhttp stopped at an upgrade after the last message's head.
    upgrade: bool,
    /// We stopped inside an incomplete head (waiting for more bytes).
    incomplete_head: bool,
    /// We stopped after a non-keep-alive message with bytes left unread.
    closed_with_data_left: bool,
}

fn trim(v: &[u8]) -> Vec<u8> {
    let s = v
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(v.len());
    let e = v
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(s, |p| p + 1);
    v[s..e].to_vec()
}

/// What llhttp's log says.
fn expected(case: &Case) -> Outcome {
    let mut out = Outcome::default();
    let mut field: Vec<u8> = Vec::new();
    let mut value: Vec<u8> = Vec::new();
    for line in &case.log {
        let Some(rest) = line.strip_prefix("off=") else {
            continue;
        };
        let (off, rest) = rest.split_once(' ').unwrap();
        let off: Option<usize> = off.parse().ok();
        if rest == "message begin" {
            out.msgs.push(Msg::default());
            continue;
        }
        let msg = out.msgs.last_mut();
        if let Some(r) = rest.strip_prefix("len=") {
            let (len, r) = r.split_once(' ').unwrap();
            let len: usize = len.parse().unwrap();
            let off = off.unwrap();
            let bytes = case.input[off..off + len].to_vec();
            let kind = &r[r.find('[').unwrap() + 1..r.find(']').unwrap()];
            let msg = msg.unwrap();
            match kind {
                "method" => msg.method.extend(bytes),
                "url" => msg.url.extend(bytes),
                // Fields after "headers complete" are trailers: we validate and drop them.
                "header_field" if !msg.headers_complete => field.extend(bytes),
                "header_value" if !msg.headers_complete => value.extend(bytes),
                "body" => msg.body.extend(bytes),
                _ => {}
            }
        } else if rest == "header_value complete" {
            let msg = msg.unwrap();
            if msg.headers_complete {
                continue;
            }
            msg.headers.push((
                std::mem::take(&mut field),
                trim(&std::mem::take(&mut value)),
            ));
        } else if rest.starts_with("headers complete") {
            msg.unwrap().headers_complete = true;
        } else if rest == "message complete" {
            msg.unwrap().complete = true;
        } else if rest.starts_with("error") {
            if rest.contains("Pause on CONNECT/Upgrade") || rest.contains("Pause on PRI/Upgrade") {
                out.upgrade = true;
            } else {
                out.error = Some(rest.to_string());
            }
            break;
        }
    }
    out
}

const INJECTED_HOST: &[u8] = b"Host: llhttp.test\r\n";

/// What we do with the case's bytes. Returns the outcome and whether a Host was injected.
fn ours(input: &[u8], stop_after_head_of: Option<usize>, skip_body: bool) -> (Outcome, bool) {
    let limits = RequestLimits::default();
    let mut buf = input.to_vec();
    let mut injected_at: Vec<usize> = Vec::new();
    let mut out = Outcome::default();
    let mut pos = 0;
    while pos < buf.len() {
        if stop_after_head_of == Some(out.msgs.len()) {
            break;
        }
        let head = match parse_request(&buf[pos..], &limits) {
            Err(HttpError::BadRequest("missing Host")) => {
                // Insert a Host after the request line and retry this message.
                let mut start = pos;
                while buf[start..].starts_with(b"\r\n") {
                    start += 2;
                }
                let line_end =
                    start + buf[start..].windows(2).position(|w| w == b"\r\n").unwrap() + 2;
                buf.splice(line_end..line_end, INJECTED_HOST.iter().copied());
                injected_at.push(line_end);
                continue;
            }
            Err(e) => {
                out.error = Some(format!("{e:?}"));
                break;
            }
            Ok(None) => {
                out.incomplete_head = true;
                break;
            }
            Ok(Some(h)) => h,
        };
        let b = &buf[pos..];
        let mut msg = Msg {
            method: head.method.slice(b).to_vec(),
            url: head.target.slice(b).to_vec(),
            headers_complete: true,
            ..Msg::default()
        };
        for h in &head.headers {
            let abs = pos + h.name.start as usize;
            if injected_at.contains(&abs) {
                continue;
            }
            msg.headers
                .push((h.name.slice(b).to_vec(), h.value.slice(b).to_vec()));
        }
        pos += head.head_len;
        if stop_after_head_of == Some(out.msgs.len() + 1) {
            out.msgs.push(msg);
            break;
        }
        // `skipBody`: llhttp's caller declared the message bodiless.
        let framing = if skip_body {
            BodyFraming::None
        } else {
            head.framing
        };
        match framing {
            BodyFraming::None => msg.complete = true,
            BodyFraming::Length(n) => {
                let avail = buf.len() - pos;
                let take = (n as usize).min(avail);
                msg.body.extend_from_slice(&buf[pos..pos + take]);
                pos += take;
                msg.complete = take as u64 == n;
            }
            BodyFraming::Chunked => {
                let mut dec = ChunkedDecoder::new();
                loop {
                    match dec.step(&buf[pos..]) {
                        Ok(Step::Data { consumed, data }) => {
                            msg.body.extend_from_slice(&buf[pos..][data]);
                            pos += consumed;
                        }
                        Ok(Step::NeedMore { consumed }) => {
                            pos += consumed;
                            break;
                        }
                        Ok(Step::Done { consumed }) => {
                            pos += consumed;
                            msg.complete = true;
                            break;
                        }
                        Err(e) => {
                            out.error = Some(format!("{e:?}"));
                            break;
                        }
                    }
                }
            }
        }
        let complete = msg.complete;
        out.msgs.push(msg);
        if out.error.is_some() || !complete {
            break;
        }
        if !head.keep_alive {
            out.closed_with_data_left = pos < buf.len();
            break;
        }
    }
    (out, !injected_at.is_empty())
}

/// Compare; `None` = same, `Some(why)` = a difference.
fn compare(exp: &Outcome, got: &Outcome) -> Option<String> {
    if let Some(e) = &exp.error {
        if got.error.is_none() {
            // Data after `Connection: close` is never parsed by us: same effect.
            if e.contains("Data after `Connection: close`") && got.closed_with_data_left {
                return None;
            }
            return Some(format!("llhttp rejects ({e}), we accept: {:?}", got.msgs));
        }
        return None;
    }
    if let Some(e) = &got.error {
        return Some(format!("llhttp accepts, we reject: {e}"));
    }
    // Compare messages that reached "headers complete" in llhttp.
    let exp_msgs: Vec<&Msg> = exp.msgs.iter().filter(|m| m.headers_complete).collect();
    if exp_msgs.len() != got.msgs.len() {
        return Some(format!(
            "message count: llhttp {} ours {}\nllhttp {exp_msgs:?}\nours {:?}",
            exp_msgs.len(),
            got.msgs.len(),
            got.msgs
        ));
    }
    for (i, (e, g)) in exp_msgs.iter().zip(&got.msgs).enumerate() {
        let upgraded = exp.upgrade && i + 1 == exp_msgs.len();
        let same = e.method == g.method
            && e.url == g.url
            && e.headers == g.headers
            && (upgraded || (e.body == g.body && e.complete == g.complete));
        if !same {
            return Some(format!("message {i}: llhttp {e:?}\nours {g:?}"));
        }
    }
    None
}

#[test]
fn llhttp_request_cases() {
    let Some(dir) = data_dir() else { return };
    let cases = read_cases(&dir);
    assert!(cases.len() > 150, "read only {} cases", cases.len());

    let mut run = 0;
    let mut lenient = 0;
    let mut rejected_like_llhttp = 0;
    let mut accepted_like_llhttp = 0;
    let mut host_injected = 0;
    let mut head_completed = 0;
    let mut fragment_removed = 0;
    let mut unexpected = Vec::new();
    let mut differed = Vec::new();
    for case in &cases {
        assert!(
            case.kind.starts_with("request"),
            "{}: {}",
            case.name,
            case.meta
        );
        if case.kind.contains("lenient") {
            lenient += 1;
            continue;
        }
        run += 1;
        let exp = expected(case);
        let stop = exp
            .upgrade
            .then(|| exp.msgs.iter().filter(|m| m.headers_complete).count());
        let skip_body = case.meta.contains("\"skipBody\": true");
        let (mut got, mut injected) = ours(&case.input, stop, skip_body);
        if exp.error.is_some() && got.error.is_none() && got.incomplete_head {
            // llhttp rejects as the head streams in; we judge a head once it is complete.
            // End the head (CRLF, then an empty line) and we must reject it then.
            for tail in [&b"\r\n"[..], b"\r\n\r\n"] {
                let mut input = case.input.clone();
                input.extend_from_slice(tail);
                (got, injected) = ours(&input, stop, skip_body);
                if !got.incomplete_head {
                    break;
                }
            }
            head_completed += 1;
        }
        if exp.error.is_some()
            && got.error.as_deref() == Some("BadRequest(\"fragment in request target\")")
        {
            // We reject any fragment; take it out so that the case's own rule is checked too.
            let line_end = case.input.windows(2).position(|w| w == b"\r\n").unwrap();
            if let Some(h) = case.input[..line_end].iter().position(|b| *b == b'#') {
                let sp = h + case.input[h..].iter().position(|b| *b == b' ').unwrap();
                let mut input = case.input.clone();
                input.drain(h..sp);
                (got, injected) = ours(&input, stop, skip_body);
                fragment_removed += 1;
            }
        }
        host_injected += usize::from(injected);
        let diff = compare(&exp, &got);
        if std::env::var_os("LLHTTP_VERBOSE").is_some() {
            eprintln!(
                "{}: llhttp {:?} / ours {:?}",
                case.name, exp.error, got.error
            );
        }
        let listed = DIFFERENCES.iter().any(|(n, _)| *n == case.name);
        match (diff, listed) {
            (None, false) => {
                if exp.error.is_some() {
                    rejected_like_llhttp += 1;
                } else {
                    accepted_like_llhttp += 1;
                }
            }
            (None, true) => {
                unexpected.push(format!("{}: listed as a difference but agrees", case.name))
            }
            (Some(_), true) => differed.push(case.name.clone()),
            (Some(why), false) => unexpected.push(format!("{}:\n  {why}", case.name)),
        }
    }
    eprintln!(
        "llhttp: {} cases, {run} run ({rejected_like_llhttp} rejected and {accepted_like_llhttp} accepted like llhttp, \
         {} listed differences, {host_injected} with injected Host, {head_completed} with a completed head, {fragment_removed} without fragment), \
         {lenient} lenient skipped",
        cases.len(),
        differed.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} unexpected:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    assert_eq!(differed.len(), DIFFERENCES.len());
    assert!(run >= MIN_CASES_RUN, "only {run} cases run");
    assert!(rejected_like_llhttp >= 50, "{rejected_like_llhttp}");
    assert!(accepted_like_llhttp >= 50, "{accepted_like_llhttp}");
}
