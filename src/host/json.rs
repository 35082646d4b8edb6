//! Conversions between Rhai values and JSON, and the canonical JSON form of evidence.
//!
//! `to_json` walks the value itself (rather than `rhai::serde`) so that a refusal names the exact
//! place of the offending value: `payload.db.password is a Secret`.

use crate::rules::secret::Secret;
use rhai::Dynamic;
use serde_json::Value;

/// Why a value cannot become JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonRefusal {
    /// A `Secret` at this path: never serialised.
    Secret { path: String, handle: String },
    /// A value with no JSON form (function pointer, timestamp, NaN...).
    Unsupported { path: String, type_name: String },
}

impl std::fmt::Display for JsonRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonRefusal::Secret { path, handle } => {
                write!(
                    f,
                    "{path} holds a Secret (<redacted:{handle}>); secrets are never serialised"
                )
            }
            JsonRefusal::Unsupported { path, type_name } => {
                write!(f, "{path} is a {type_name}, which has no JSON form")
            }
        }
    }
}

/// Converts a Rhai value to JSON; `path` names the root in refusals.
pub fn to_json(value: &Dynamic, path: &str) -> Result<Value, JsonRefusal> {
    let value = value.flatten_clone();
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| JsonRefusal::Unsupported {
                path: path.to_owned(),
                type_name: "non-finite number".to_owned(),
            });
    }
    if value.is_string() {
        return Ok(Value::String(value.into_string().unwrap_or_default()));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if value.is_array() {
        let array = value.into_array().unwrap_or_default();
        return array
            .iter()
            .enumerate()
            .map(|(i, item)| to_json(item, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if value.is_map() {
        let map = value.cast::<rhai::Map>();
        let mut out = serde_json::Map::new();
        for (k, v) in map.iter() {
            out.insert(k.to_string(), to_json(v, &format!("{path}.{k}"))?);
        }
        return Ok(Value::Object(out));
    }
    if value.is_blob() {
        let blob = value.cast::<rhai::Blob>();
        return Ok(Value::Array(blob.into_iter().map(Value::from).collect()));
    }
    if let Some(secret) = value.read_lock::<Secret>() {
        return Err(JsonRefusal::Secret {
            path: path.to_owned(),
            handle: secret.handle().to_owned(),
        });
    }
    Err(JsonRefusal::Unsupported {
        path: path.to_owned(),
        type_name: value.type_name().to_owned(),
    })
}

/// Converts JSON to a Rhai value (objects become maps, integers stay integers).
pub fn from_json(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or(f64::NAN).into(),
        },
        Value::String(s) => s.clone().into(),
        Value::Array(items) => items.iter().map(from_json).collect::<rhai::Array>().into(),
        Value::Object(members) => members
            .iter()
            .map(|(k, v)| (k.as_str().into(), from_json(v)))
            .collect::<rhai::Map>()
            .into(),
    }
}

/// Rebuilds every object with its keys in sorted order, whatever map type serde_json uses.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        Value::Object(members) => {
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&members[k]));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// The canonical bytes of an evidence document: sorted keys, two-space indent, final newline.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    // serde_json fails only for a map with non-string keys or a failing custom serialiser; a
    // `Value` has neither, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut bytes =
        serde_json::to_vec_pretty(&sorted(value)).expect("a JSON value always serialises");
    bytes.push(b'\n');
    bytes
}

/// The JSON of one of m4host's own records (a view, a report, a probe's outcome). Every such
/// type derives `Serialize` over strings, numbers, options, sequences and string-keyed maps, for
/// which serde_json cannot fail; a type that could would be a defect, so it is one (E-DEFECT).
pub fn record<T: serde::Serialize + ?Sized>(value: &T) -> Value {
    #[allow(clippy::expect_used)]
    serde_json::to_value(value).expect("m4host's records serialise to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_inside_map_is_refused_with_its_path() {
        let mut inner = rhai::Map::new();
        inner.insert(
            "password".into(),
            Dynamic::from(Secret::new("DB_PASSWORD", "pw")),
        );
        let mut outer = rhai::Map::new();
        outer.insert("db".into(), inner.into());
        let err = to_json(&outer.into(), "payload").unwrap_err();
        assert_eq!(
            err,
            JsonRefusal::Secret {
                path: "payload.db.password".into(),
                handle: "DB_PASSWORD".into()
            }
        );
        assert!(!err.to_string().contains("pw\""));
    }

    #[test]
    fn canonical_bytes_sort_keys() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":2,"c":3}}"#).unwrap();
        let text = String::from_utf8(canonical_bytes(&v)).unwrap();
        assert!(text.find("\"a\"").unwrap() < text.find("\"b\"").unwrap());
        assert!(text.find("\"c\"").unwrap() < text.find("\"d\"").unwrap());
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn round_trip_keeps_integers() {
        let v: Value = serde_json::from_str(r#"{"n":1,"f":1.5,"l":[true,null,"s"]}"#).unwrap();
        assert_eq!(to_json(&from_json(&v), "x").unwrap(), v);
    }
}
