//! Conversions between `google.protobuf.Struct`/`Value` and `serde_json`.

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
