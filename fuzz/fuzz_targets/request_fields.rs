#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mcp_registry::fuzz_targets::run("request_fields", data);
});
