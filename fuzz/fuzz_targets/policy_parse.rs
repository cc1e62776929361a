//! `parse_policy` on arbitrary JSON, then compiling whatever parses, as a resource and as an
//! identity policy: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_policy::{CompiledPolicy, ExpandCtx, PolicyKind, parse_policy};

const CTX: ExpandCtx<'static> = ExpandCtx {
    region: "us-east-1",
    account_id: "111122223333",
    api_id: Some("api1"),
};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    match parse_policy(&value, &CTX) {
        Ok(p) => {
            let policies = [p];
            let _ = CompiledPolicy::new(PolicyKind::Resource, &policies);
            let _ = CompiledPolicy::new(PolicyKind::Identity, &policies);
        }
        Err(errors) => assert!(!errors.is_empty(), "a rejection names at least one error"),
    }
});
