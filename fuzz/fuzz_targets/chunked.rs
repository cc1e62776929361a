//! The chunked decoder on arbitrary input fed in pieces of arbitrary sizes: the result
//! (data, end offset, or failure) must not depend on how the input was split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_http::{ChunkedDecoder, Step};

/// Ok((body, consumed)) / Err(()) for a framing error / None for "needs more".
fn decode(input: &[u8], sizes: &[u8]) -> Option<Result<(Vec<u8>, usize), ()>> {
    let mut dec = ChunkedDecoder::new();
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut k = 0usize;
    let mut next = |avail: usize| {
        let s = sizes.get(k).map_or(input.len(), |s| usize::from(*s).max(1));
        k += 1;
        (avail + s).min(input.len())
    };
    let mut avail = next(0);
    loop {
        match dec.step(&input[pos..avail]) {
            Err(_) => return Some(Err(())),
            Ok(Step::Data { consumed, data }) => {
                assert!(data.end <= consumed && consumed <= avail - pos);
                out.extend_from_slice(&input[pos + data.start..pos + data.end]);
                pos += consumed;
            }
            Ok(Step::NeedMore { consumed }) => {
                assert_eq!(pos + consumed, avail);
                pos += consumed;
                if avail == input.len() {
                    return None;
                }
                avail = next(avail);
            }
            Ok(Step::Done { consumed }) => return Some(Ok((out, pos + consumed))),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (sizes, input) = rest.split_at(n);
    let whole = decode(input, &[]);
    assert_eq!(whole, decode(input, sizes));
    assert_eq!(whole, decode(input, &vec![1; input.len()]));
});
