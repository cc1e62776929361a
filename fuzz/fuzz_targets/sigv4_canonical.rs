//! `Verifier::canonicalize` on arbitrary request parts (method, wire path, query, headers,
//! body): no panic, and the same parts always give the same canonical request.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_sigv4::{RequestParts, Verifier};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    method: &'a [u8],
    path: &'a [u8],
    query: Option<&'a [u8]>,
    authorization: &'a [u8],
    date: Option<&'a [u8]>,
    headers: Vec<(&'a [u8], &'a [u8])>,
    body: Option<&'a [u8]>,
}

fuzz_target!(|input: Input<'_>| {
    let mut headers: Vec<(&[u8], &[u8])> = vec![(b"host", b"example.amazonaws.com")];
    headers.push((b"authorization", input.authorization));
    if let Some(d) = input.date {
        headers.push((b"x-amz-date", d));
    }
    headers.extend(input.headers.iter().take(16).copied());
    let req = RequestParts {
        method: input.method,
        path: input.path,
        query: input.query,
        headers: &headers,
        body: input.body,
    };
    let v = Verifier::new("us-east-1");
    let a = v.canonicalize(&req).map(|c| format!("{c:?}"));
    let b = v.canonicalize(&req).map(|c| format!("{c:?}"));
    assert_eq!(a.is_ok(), b.is_ok());
    if let (Ok(a), Ok(b)) = (a, b) {
        assert_eq!(a, b);
    }
});
