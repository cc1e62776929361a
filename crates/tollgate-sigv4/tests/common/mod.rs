//! Shared helpers of the integration tests: test-data location and a lenient parser for the
//! suites' request files (which carry obs-fold, raw spaces and raw UTF-8 that a strict HTTP
//! parser rejects, so they are fed to the signature code directly).
#![allow(dead_code)]

use std::path::PathBuf;

use tollgate_sigv4::RequestParts;

/// The repository's `testdata/`. `None` (the test then returns early)
/// when absent, except when `CI` is set: then the test fails.
pub fn testdata() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata"));
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "test data missing at {} while CI is set",
        dir.display()
    );
    eprintln!("SKIP: test data missing at {}", dir.display());
    None
}

/// An owned request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Req {
    pub method: Vec<u8>,
    pub path: Vec<u8>,
    pub query: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
}

fn trim(v: &[u8]) -> &[u8] {
    let s = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let e = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(s, |e| e + 1);
    &v[s..e]
}

/// Parses a suite request file: request line (the target may contain spaces; the version
/// may be absent), headers (continuation lines are unfolded into one space), blank line, body.
pub fn parse(raw: &[u8]) -> Req {
    let (head, body) = match raw.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&raw[..i], raw[i + 2..].to_vec()),
        None => (raw, Vec::new()),
    };
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = lines.next().expect("request line");
    let sp = line.iter().position(|&b| b == b' ').expect("method");
    let method = line[..sp].to_vec();
    let mut target = &line[sp + 1..];
    if let Some(last) = target.iter().rposition(|&b| b == b' ')
        && target[last + 1..].starts_with(b"HTTP/")
    {
        target = &target[..last];
    }
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(q) => (target[..q].to_vec(), Some(target[q + 1..].to_vec())),
        None => (target.to_vec(), None),
    };
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for l in lines {
        if l.is_empty() {
            continue;
        }
        if l[0] == b' ' || l[0] == b'\t' {
            let last = headers.last_mut().expect("continuation after a header");
            last.1.push(b' ');
            last.1.extend_from_slice(trim(l));
            continue;
        }
        let c = l.iter().position(|&b| b == b':').expect("header colon");
        headers.push((l[..c].to_vec(), trim(&l[c + 1..]).to_vec()));
    }
    Req {
        method,
        path,
        query,
        headers,
        body,
    }
}

impl Req {
    pub fn header_list(&self) -> Vec<(&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect()
    }

    pub fn parts<'a>(&'a self, headers: &'a [(&'a [u8], &'a [u8])]) -> RequestParts<'a> {
        RequestParts {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers,
            body: Some(&self.body),
        }
    }

    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    pub fn set_header(&mut self, name: &str, value: &[u8]) {
        let h = self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .expect("header present");
        h.1 = value.to_vec();
    }

    /// Replaces the first occurrence of `from` in the `Authorization` value or, without one,
    /// in the query string.
    pub fn replace_auth(&mut self, from: &[u8], to: &[u8]) {
        let target: &mut Vec<u8> = match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"authorization"))
        {
            Some(h) => &mut h.1,
            None => self.query.as_mut().expect("presigned query"),
        };
        let i = target
            .windows(from.len())
            .position(|w| w == from)
            .unwrap_or_else(|| panic!("{} not found", String::from_utf8_lossy(from)));
        target.splice(i..i + from.len(), to.iter().copied());
    }

    /// Flips the first hex digit of the signature.
    pub fn flip_signature_digit(&mut self) {
        let (target, marker): (&mut Vec<u8>, &[u8]) = match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"authorization"))
        {
            Some(h) => (&mut h.1, b"Signature="),
            None => (
                self.query.as_mut().expect("presigned query"),
                b"X-Amz-Signature=",
            ),
        };
        let i = target
            .windows(marker.len())
            .position(|w| w == marker)
            .expect("signature")
            + marker.len();
        target[i] = if target[i] == b'0' { b'1' } else { b'0' };
    }
}

/// `2015-08-30T12:36:00Z` -> Unix seconds.
pub fn iso_to_epoch(s: &str) -> i64 {
    let compact: String = s.chars().filter(|c| *c != '-' && *c != ':').collect();
    tollgate_sigv4::parse_amz_date(compact.as_bytes()).expect("timestamp")
}
