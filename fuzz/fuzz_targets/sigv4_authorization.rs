//! `parse_authorization_header` on arbitrary bytes, with and without a date header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tollgate_sigv4::parse_authorization_header(data, true);
    let _ = tollgate_sigv4::parse_authorization_header(data, false);
});
