//! The PROXY protocol v1/v2 parser on arbitrary bytes: no panic, `consumed` inside the input,
//! and a complete header parses the same with bytes after it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_gateway::proxy_protocol::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(h)) = parse(data) {
        assert!(h.consumed <= data.len());
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let again = parse(&longer)
            .ok()
            .flatten()
            .map(|h2| (h2.source, h2.vpce_id, h2.consumed));
        assert_eq!(again, Some((h.source, h.vpce_id, h.consumed)));
    }
});
