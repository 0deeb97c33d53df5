//! Entry points for the coverage-guided fuzzers in `fuzz/` (cargo-fuzz) and
//! for the corpus replay test (`tests/faults/fuzz_corpus.rs`). Each takes
//! arbitrary bytes, runs one parser or validator on them and panics only
//! when one of its properties breaks; a panic is a finding.

// Panicking is how a fuzz target reports a finding.
#![allow(clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use serde_json::Value;

use crate::crypto::Keyring;
use crate::error::Violations;
use crate::grpc::import;
use crate::pagination::PageTokens;
use crate::registry::canonical::{canonical_json, definition_hash};
use crate::registry::servers::validate;
use crate::registry::{Category, Description, DisplayName, ServerName, UpstreamUrl};
use crate::sync::client::jsonrpc_outcome;
use crate::sync::sse::Parser;

/// The names of the targets, as `fuzz/fuzz_targets/<name>.rs` and
/// `fuzz/corpus/<name>/`.
pub const TARGETS: &[&str] = &[
    "request_fields",
    "import_config",
    "page_token",
    "canonical_json",
    "sse_parser",
    "jsonrpc_message",
];

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "request_fields" => request_fields(data),
        "import_config" => import_config(data),
        "page_token" => page_token(data),
        "canonical_json" => canonical(data),
        "sse_parser" => sse_parser(data),
        "jsonrpc_message" => jsonrpc_message(data),
        other => panic!("no fuzz target {other}"),
    }
}

/// The field rules of CreateMcpServer/UpdateMcpServer on arbitrary text:
/// never a panic, and what they accept is usable where it goes — a name
/// matches `[a-z0-9][a-z0-9_-]{0,63}`, a url parses as https without user
/// info or fragment, a header name and value can be sent by the sync client.
pub fn request_fields(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle -= 1;
    }
    let (first, second) = text.split_at(middle);
    if ServerName::parse(text.as_ref()).is_ok() {
        let bytes = text.as_bytes();
        assert!(!bytes.is_empty() && bytes.len() <= 64, "{text:?}");
        assert!(
            bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit(),
            "{text:?}"
        );
        assert!(
            bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-'),
            "{text:?}"
        );
    }
    let strict = validate::UrlPolicy {
        allow_insecure: false,
    };
    if UpstreamUrl::parse(text.as_ref(), strict).is_ok() {
        let url = url::Url::parse(&text).expect("an accepted url parses");
        assert_eq!(url.scheme(), "https", "{text:?}");
        assert!(
            url.username().is_empty() && url.password().is_none(),
            "{text:?}"
        );
        assert!(url.fragment().is_none(), "{text:?}");
    }
    if validate::header_name(first).is_ok() {
        assert!(
            reqwest::header::HeaderName::from_bytes(first.as_bytes()).is_ok(),
            "accepted header name {first:?} cannot be sent"
        );
        if validate::header_value(first, second).is_ok() {
            assert!(
                reqwest::header::HeaderValue::from_str(second).is_ok(),
                "accepted header value {second:?} cannot be sent"
            );
        }
    }
    let _ = DisplayName::parse(text.as_ref());
    let _ = Description::parse(text.as_ref());
    let _ = Category::parse(text.as_ref());
    let _ = validate::tool_name(&text);
}

/// ImportMcpConfig's reader (client configurations and server.json, told
/// apart by shape): never panics; every server it accepts has a valid
/// derived name.
pub fn import_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let variables = HashMap::from([("TOKEN".to_owned(), "t".to_owned())]);
    let mut violations = Violations::new();
    let entries = import::read_document(
        text,
        None,
        &variables,
        &import::SecretPlaceholders::new(),
        crate::registry::servers::UrlPolicy::default(),
        &mut violations,
    );
    if violations.is_empty() {
        for entry in entries {
            let server = match entry.kind {
                import::EntryKind::Remote(server) => *server,
                import::EntryKind::Registry(remote) => remote.server,
                import::EntryKind::Local => continue,
            };
            {
                assert!(
                    ServerName::parse(server.name.as_str()).is_ok(),
                    "accepted entry {:?} with an invalid name {:?}",
                    entry.key,
                    server.name
                );
            }
        }
    }
    let name = import::server_name(text);
    assert!(
        name.is_empty() || ServerName::parse(name.as_str()).is_ok(),
        "{name:?}"
    );
}

/// Page tokens: arbitrary tokens are refused or decoded, never a panic; a
/// token made for one query decodes to its key there and nowhere else.
pub fn page_token(data: &[u8]) {
    let keyring = Keyring::new(vec![("fuzz".to_owned(), [7u8; 32])]).expect("keyring");
    let tokens = PageTokens::new(&keyring, "servers?org=a");
    let other = PageTokens::new(&keyring, "servers?org=b");
    let text = String::from_utf8_lossy(data);
    let mut violations = Violations::new();
    let _ = tokens.parse::<String>(20, &text, &mut violations);
    let _ = tokens.parse::<(String, String)>(-1, &text, &mut violations);

    // Keys are names and URIs; up to 16 KiB must make a working token.
    let key: String = text.chars().take(16 * 1024).collect();
    let token = tokens.encode(&key);
    let mut clean = Violations::new();
    let page = tokens.parse::<String>(20, &token, &mut clean);
    assert!(clean.is_empty(), "a fresh token was refused");
    assert_eq!(page.after.as_deref(), Some(key.as_str()));
    let mut refused = Violations::new();
    let _ = other.parse::<String>(20, &token, &mut refused);
    assert!(!refused.is_empty(), "a token crossed to another query");
}

/// Canonical JSON: parses back to the same value, is a fixed point, and
/// gives the same hash as the value it came from.
pub fn canonical(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let text = canonical_json(&value);
    let back: Value = serde_json::from_str(&text).expect("canonical JSON parses");
    assert_eq!(canonical_json(&back), text, "not a fixed point");
    assert_eq!(definition_hash(&back), definition_hash(&value));
}

/// The event-stream parser: never panics, and cutting the input anywhere
/// gives the same events (or the same error).
pub fn sse_parser(data: &[u8]) {
    const LIMIT: usize = 4096;
    let whole = Parser::new(LIMIT).feed(data);
    let cut = data.first().map_or(0, |b| usize::from(*b)) % (data.len() + 1);
    let mut parser = Parser::new(LIMIT);
    let pieces = parser.feed(&data[..cut]).and_then(|mut first| {
        first.extend(parser.feed(&data[cut..])?);
        Ok(first)
    });
    match (&whole, &pieces) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "events depend on where the input was cut"),
        (Err(_), Err(_)) => {}
        _ => assert!(
            // A limit counts what is buffered, which differs by where it was cut.
            data.len() > LIMIT / 2,
            "{whole:?} vs {pieces:?}"
        ),
    }
}

/// A JSON-RPC answer as the MCP client reads it: never panics.
pub fn jsonrpc_message(data: &[u8]) {
    let _ = jsonrpc_outcome(data, 1);
}
