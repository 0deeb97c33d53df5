//! Canonical JSON and definition hashes.
//!
//! A tool's definition hash is the hex SHA-256 of its canonical JSON: object
//! keys sorted by their UTF-8 bytes, no insignificant whitespace, strings
//! escaped by serde_json, numbers as serde_json prints them. Two definitions
//! that differ only in key order or spacing hash the same; any other change
//! (a description, a schema) changes the hash.

use ring::digest;
use serde_json::Value;

/// Returns the canonical JSON text of `value`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Returns the hex SHA-256 of the canonical JSON of `value`.
pub fn definition_hash(value: &Value) -> String {
    hex::encode(digest::digest(
        &digest::SHA256,
        canonical_json(value).as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_order_and_spacing_do_not_change_the_hash() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[1,2]},"b":1}"#).expect("json");
        assert_eq!(canonical_json(&a), r#"{"a":{"x":"s","y":[1,2]},"b":1}"#);
        assert_eq!(definition_hash(&a), definition_hash(&b));
        assert_eq!(definition_hash(&a).len(), 64);
    }

    #[test]
    fn any_content_change_changes_the_hash() {
        let base = json!({"name": "t", "description": "d", "inputSchema": {"type": "object"}});
        for changed in [
            json!({"name": "t", "description": "d2", "inputSchema": {"type": "object"}}),
            json!({"name": "t", "description": "d", "inputSchema": {"type": "string"}}),
            json!({"name": "t", "description": "d", "inputSchema": {"type": "object"}, "x": null}),
        ] {
            assert_ne!(definition_hash(&base), definition_hash(&changed));
        }
    }

    #[test]
    fn strings_are_escaped_unambiguously() {
        let v = json!({"k\"ey": "va\nlue", "ü": "\u{0}"});
        let text = canonical_json(&v);
        let back: Value = serde_json::from_str(&text).expect("canonical json parses");
        assert_eq!(back, v);
    }
}
