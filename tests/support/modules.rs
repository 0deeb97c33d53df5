// The shared test support every suite binary declares: included with
// `include!` by each tests/*/main.rs (the paths are relative to those files).

#[allow(dead_code)]
#[path = "../support/mcp.rs"]
mod mcp;
#[allow(dead_code)]
#[path = "../support/oauth.rs"]
mod oauth;
#[allow(dead_code)]
#[path = "../support/process.rs"]
mod process;
