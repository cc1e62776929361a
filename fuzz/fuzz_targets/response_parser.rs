//! `parse_response` (upstream heads) on arbitrary bytes: no panic, the head inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_http::parse_response;

fuzz_target!(|data: &[u8]| {
    let Some((&flag, rest)) = data.split_first() else {
        return;
    };
    if let Ok(Some(head)) = parse_response(rest, 8192, flag & 1 == 1) {
        assert!(head.head_len <= rest.len());
        for h in &head.headers {
            assert!(h.value.end as usize <= head.head_len);
        }
    }
});
