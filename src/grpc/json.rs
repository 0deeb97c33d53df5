//! Conversions between `google.protobuf.Struct`/`Value` and `serde_json`.

use bytes::BufMut;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};
use serde_json::{Map, Number, Value as Json};

/// Deepest nesting accepted from a client, so that a hostile message cannot
/// exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Converts a Struct to a JSON object; fails on non-finite numbers or too deep nesting.
pub fn struct_to_json(value: Struct) -> Result<Map<String, Json>, String> {
    struct_inner(value, 0)
}

fn struct_inner(value: Struct, depth: usize) -> Result<Map<String, Json>, String> {
    if depth > MAX_DEPTH {
        return Err(format!("must not nest deeper than {MAX_DEPTH} levels"));
    }
    value
        .fields
        .into_iter()
        .map(|(key, value)| Ok((key, value_inner(value, depth + 1)?)))
        .collect()
}

fn value_inner(value: Value, depth: usize) -> Result<Json, String> {
    if depth > MAX_DEPTH {
        return Err(format!("must not nest deeper than {MAX_DEPTH} levels"));
    }
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(b),
        Some(Kind::NumberValue(n)) => {
            Json::Number(Number::from_f64(n).ok_or("must not contain NaN or infinite numbers")?)
        }
        Some(Kind::StringValue(s)) => Json::String(s),
        Some(Kind::StructValue(s)) => Json::Object(struct_inner(s, depth + 1)?),
        Some(Kind::ListValue(list)) => Json::Array(
            list.values
                .into_iter()
                .map(|v| value_inner(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Converts a JSON object to a Struct.
pub fn json_to_struct(map: &Map<String, Json>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(key, value)| (key.clone(), json_to_value(value)))
            .collect(),
    }
}

/// Converts JSON to a protobuf Value (numbers become doubles, as in proto3 JSON).
pub fn json_to_value(value: &Json) -> Value {
    let kind = match value {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        Json::Object(map) => Kind::StructValue(json_to_struct(map)),
    };
    Value { kind: Some(kind) }
}

/// Writes `map` as message field `tag` of type `google.protobuf.Struct`,
/// straight from JSON: no `Struct` tree is built. The bytes decode to
/// [`json_to_struct`]'s Struct (entries in the map's order, not sorted).
pub fn encode_struct_field(tag: u32, map: &Map<String, Json>, buf: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(struct_len(map) as u64, buf);
    encode_struct(map, buf);
}

/// Length of message field `tag` holding `map` as a Struct.
pub fn struct_field_len(tag: u32, map: &Map<String, Json>) -> usize {
    delimited_len(tag, struct_len(map))
}

/// Length of a length-delimited field `tag` with `len` bytes of content.
fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

// Struct: `map<string, Value> fields = 1`, each entry a message with the key
// as field 1 (left out when empty, as prost does) and the Value as field 2.
fn struct_len(map: &Map<String, Json>) -> usize {
    map.iter()
        .map(|(key, value)| delimited_len(1, entry_len(key, value)))
        .sum()
}

fn entry_len(key: &str, value: &Json) -> usize {
    let key = if key.is_empty() {
        0
    } else {
        delimited_len(1, key.len())
    };
    key + delimited_len(2, value_len(value))
}

fn encode_struct(map: &Map<String, Json>, buf: &mut impl BufMut) {
    for (key, value) in map {
        encode_key(1, WireType::LengthDelimited, buf);
        encode_varint(entry_len(key, value) as u64, buf);
        if !key.is_empty() {
            encode_bytes(1, key.as_bytes(), buf);
        }
        encode_key(2, WireType::LengthDelimited, buf);
        encode_varint(value_len(value) as u64, buf);
        encode_value(value, buf);
    }
}

// Value: a oneof, written even when its value is the default: null_value = 1
// (enum 0), number_value = 2 (double), string_value = 3, bool_value = 4,
// struct_value = 5, list_value = 6 (`repeated Value values = 1`).
fn value_len(value: &Json) -> usize {
    match value {
        Json::Null | Json::Bool(_) => 2,
        Json::Number(_) => 9,
        Json::String(s) => delimited_len(3, s.len()),
        Json::Object(map) => delimited_len(5, struct_len(map)),
        Json::Array(items) => delimited_len(6, list_len(items)),
    }
}

fn list_len(items: &[Json]) -> usize {
    items.iter().map(|v| delimited_len(1, value_len(v))).sum()
}

fn encode_value(value: &Json, buf: &mut impl BufMut) {
    match value {
        Json::Null => {
            encode_key(1, WireType::Varint, buf);
            encode_varint(0, buf);
        }
        Json::Bool(b) => {
            encode_key(4, WireType::Varint, buf);
            encode_varint(u64::from(*b), buf);
        }
        Json::Number(n) => {
            encode_key(2, WireType::SixtyFourBit, buf);
            buf.put_f64_le(n.as_f64().unwrap_or_default());
        }
        Json::String(s) => encode_bytes(3, s.as_bytes(), buf),
        Json::Object(map) => {
            encode_key(5, WireType::LengthDelimited, buf);
            encode_varint(struct_len(map) as u64, buf);
            encode_struct(map, buf);
        }
        Json::Array(items) => {
            encode_key(6, WireType::LengthDelimited, buf);
            encode_varint(list_len(items) as u64, buf);
            for item in items {
                encode_key(1, WireType::LengthDelimited, buf);
                encode_varint(value_len(item) as u64, buf);
                encode_value(item, buf);
            }
        }
    }
}

fn encode_bytes(tag: u32, bytes: &[u8], buf: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(bytes.len() as u64, buf);
    buf.put_slice(bytes);
}

/// Returns `value[key]` as a Struct when it is an object.
pub fn object_field(value: &Json, key: &str) -> Option<Struct> {
    value.get(key).and_then(Json::as_object).map(json_to_struct)
}

/// Returns `value[key]` as a string, or empty.
pub fn string_field(value: &Json, key: &str) -> String {
    value
        .get(key)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_round_trips_through_struct() {
        let original = json!({"a": 1.5, "b": [true, null, "x"], "c": {"d": {}}});
        let map = original.as_object().expect("object").clone();
        let back = struct_to_json(json_to_struct(&map)).expect("convert");
        assert_eq!(Json::Object(back), original);
    }

    #[test]
    fn structs_written_straight_from_json_decode_as_converted_ones() {
        use prost::Message;
        let original = json!({
            "type": "object",
            "": "an empty key",
            "properties": {"q": {"type": "string", "enum": ["a", "", null]}, "n": {"minimum": -1.5e300}},
            "required": [],
            "nested": [[true, false], {}, 0, 18446744073709551615u64, -3],
            "long": "x".repeat(300),
        });
        let map = original.as_object().expect("object");
        let mut bytes = Vec::new();
        encode_struct_field(7, map, &mut bytes);
        assert_eq!(bytes.len(), struct_field_len(7, map));
        let mut converted = Vec::new();
        prost::encoding::message::encode(7, &json_to_struct(map), &mut converted);
        assert_eq!(bytes.len(), converted.len());
        #[derive(Clone, PartialEq, prost::Message)]
        struct Holder {
            #[prost(message, optional, tag = "7")]
            value: Option<Struct>,
        }
        let decoded = Holder::decode(bytes.as_slice()).expect("decode");
        assert_eq!(decoded.value, Some(json_to_struct(map)));
    }

    #[test]
    fn non_finite_numbers_and_deep_nesting_are_refused() {
        let nan = Struct {
            fields: [(
                "x".to_owned(),
                Value {
                    kind: Some(Kind::NumberValue(f64::NAN)),
                },
            )]
            .into(),
        };
        assert!(struct_to_json(nan).is_err());
        let mut deep = Struct::default();
        for _ in 0..100 {
            deep = Struct {
                fields: [(
                    "x".to_owned(),
                    Value {
                        kind: Some(Kind::StructValue(deep)),
                    },
                )]
                .into(),
            };
        }
        assert!(struct_to_json(deep).is_err());
    }
}
