//! A client payload as JSON, read so that binary attachments (PROTOCOL §1: binary payloads work
//! as in Socket.IO) never lose the rest of the payload: each one becomes `{ "_binary": <bytes> }`,
//! which a typed payload ignores where the field is unknown and refuses, naming the field,
//! where a number or string is required. serde_json's own `Value` cannot hold bytes, so a payload
//! with one would not parse at all.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};

/// What a binary attachment becomes.
pub const BINARY_MARKER: &str = "_binary";

pub struct Incoming(pub Value);

impl<'de> Deserialize<'de> for Incoming {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IncomingVisitor).map(Incoming)
    }
}

struct IncomingVisitor;

impl<'de> Visitor<'de> for IncomingVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Socket.IO payload")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(json!({ BINARY_MARKER: v.len() }))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        self.visit_bytes(&v)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Incoming::deserialize(deserializer).map(|i| i.0)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Value, S::Error> {
        let mut items = Vec::new();
        while let Some(Incoming(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Value, M::Error> {
        let mut fields = Map::new();
        while let Some((key, Incoming(value))) = map.next_entry::<String, Incoming>()? {
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reads_as_itself() {
        let value = json!({ "a": [1, -2, 2.5, "x", null, true], "b": { "c": "d" } });
        let Incoming(read) = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(read, value);
    }

    #[test]
    fn bytes_become_a_marker() {
        // A deserializer that hands over bytes, as Socket.IO's parser does for an attachment.
        let de = serde::de::value::BytesDeserializer::<serde::de::value::Error>::new(&[1, 2, 3]);
        let Incoming(read) = Incoming::deserialize(de).unwrap();
        assert_eq!(read, json!({ BINARY_MARKER: 3 }));
    }
}
