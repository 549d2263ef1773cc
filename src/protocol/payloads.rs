//! Payloads clients send (PROTOCOL §4), parsed into types with one explicit path for what does
//! not parse: `AppError::invalid` naming the field.

use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::AppError;
use entities::{Role, Sender};

/// A positive integer id; a string of digits is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id(pub i64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive integer id")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                match i64::try_from(v) {
                    Ok(id) if id > 0 => Ok(Id(id)),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                if v > 0 {
                    Ok(Id(v))
                } else {
                    Err(E::invalid_value(de::Unexpected::Signed(v), &self))
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Id, E> {
                Err(E::invalid_value(de::Unexpected::Float(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                if !v.is_empty() && v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit()) {
                    if let Ok(id) = v.parse::<i64>() {
                        return self.visit_i64(id);
                    }
                }
                Err(E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

/// A client payload: serde parses the shape, `validate` the ranges.
pub trait Payload: DeserializeOwned {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Parses a payload; the error names the offending field and is fit to show a person.
pub fn parse<T: Payload>(value: Value) -> Result<T, AppError> {
    if !value.is_object() {
        return Err(AppError::invalid("the payload must be an object"));
    }
    if let Some(path) = nul_path(&value, String::new()) {
        return Err(AppError::invalid(format!(
            "`{path}` must not contain the NUL character (U+0000)"
        )));
    }
    let parsed: T = serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        if path == "." {
            AppError::invalid(inner)
        } else {
            AppError::invalid(format!("`{path}`: {inner}"))
        }
    })?;
    parsed.validate().map_err(AppError::invalid)?;
    Ok(parsed)
}

/// The path of the first string holding U+0000, which PostgreSQL text cannot store: one rule for
/// both databases, at the edge, so such input is `invalid_payload` and never an internal error.
fn nul_path(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(s) if s.contains('\0') => Some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                return Some(path);
            }
            nul_path(item, path)
        }),
        _ => None,
    }
}

pub(crate) fn chars(s: &str) -> usize {
    s.chars().count()
}

pub(crate) fn check_len(field: &str, value: Option<&str>, max: usize) -> Result<(), String> {
    match value {
        Some(v) if chars(v) > max => Err(format!("`{field}` must be at most {max} characters")),
        Some("") => Err(format!("`{field}` must not be empty")),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize)]
pub struct ProjectRef {
    pub project_id: Id,
}
impl Payload for ProjectRef {}

#[derive(Debug, Deserialize)]
pub struct ChatRef {
    pub chat_id: Id,
}
impl Payload for ChatRef {}

#[derive(Debug, Deserialize)]
pub struct MessageRef {
    pub message_id: Id,
}
impl Payload for MessageRef {}

pub const MAX_MESSAGE_CHARS: usize = 32_768;
pub const MAX_ID_CHARS: usize = 128;

/// `send_message`; `POST /api/chats/{id}/messages` takes the same body with `chat_id` from the
/// path (its OpenAPI schema, `SendMessageBody`, leaves `chat_id` out).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[schema(as = SendMessageBody)]
pub struct SendMessage {
    #[schema(ignore)]
    pub chat_id: Id,
    /// 1..32768 characters after trimming.
    pub message: String,
    pub model: Option<String>,
    /// 0..2
    pub temperature: Option<f64>,
    pub include_history: Option<bool>,
    /// 1..50, default 5
    pub top_k: Option<u32>,
    /// At most 128 characters; a repeat in the same chat is not generated again.
    pub client_message_id: Option<String>,
    pub task_id: Option<String>,
    /// A repeated `client_message_id` is replayed as one `message_snapshot` instead of the
    /// events one by one (PROTOCOL §9).
    #[serde(default)]
    pub compact: bool,
    /// `false`: store and announce the message, generate nothing (PROTOCOL §9.1).
    pub reply: Option<bool>,
    /// Over HTTP with the API key only: `user` (default), `assistant` or `system`.
    pub role: Option<Role>,
    /// Over HTTP with the API key only: who wrote the message.
    pub sender: Option<Sender>,
}

impl SendMessage {
    /// The fields only the API key may set, and which is set, for a clear refusal.
    pub fn backend_only_field(&self) -> Option<&'static str> {
        if self.role.is_some() {
            Some("role")
        } else if self.sender.is_some() {
            Some("sender")
        } else {
            None
        }
    }
}

impl Payload for SendMessage {
    fn validate(&self) -> Result<(), String> {
        let trimmed = chars(self.message.trim());
        if trimmed == 0 {
            return Err("`message` must not be empty".into());
        }
        if trimmed > MAX_MESSAGE_CHARS {
            return Err(format!(
                "`message` must be at most {MAX_MESSAGE_CHARS} characters"
            ));
        }
        if let Some(t) = self.temperature {
            if !(0.0..=2.0).contains(&t) {
                return Err("`temperature` must be between 0 and 2".into());
            }
        }
        if let Some(k) = self.top_k {
            if !(1..=50).contains(&k) {
                return Err("`top_k` must be between 1 and 50".into());
            }
        }
        check_len("model", self.model.as_deref(), 200)?;
        check_len(
            "client_message_id",
            self.client_message_id.as_deref(),
            MAX_ID_CHARS,
        )?;
        if let Some(sender) = &self.sender {
            check_len("sender.user_id", sender.user_id.as_deref(), MAX_ID_CHARS)?;
            check_len("sender.name", sender.name.as_deref(), MAX_NAME_CHARS)?;
        }
        check_len("task_id", self.task_id.as_deref(), MAX_ID_CHARS)
    }
}

/// The longest sender name.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest chat title.
pub const MAX_TITLE_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
pub struct TaskRef {
    pub task_id: String,
}

impl Payload for TaskRef {
    fn validate(&self) -> Result<(), String> {
        check_len("task_id", Some(&self.task_id), MAX_ID_CHARS)
    }
}

#[derive(Debug, Deserialize)]
pub struct ResumeMessage {
    pub message_id: Id,
    pub after_index: Option<u64>,
    /// One `message_snapshot` instead of the events one by one (PROTOCOL §8).
    #[serde(default)]
    pub compact: bool,
}
impl Payload for ResumeMessage {}

impl ResumeMessage {
    pub fn from(&self) -> ResumeFrom {
        ResumeFrom {
            after_index: self.after_index,
            compact: self.compact,
        }
    }
}

/// Where a resume starts, and whether it wants one snapshot or the events one by one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeFrom {
    pub after_index: Option<u64>,
    #[serde(default)]
    pub compact: bool,
}

impl ResumeFrom {
    /// From the start: what a repeated `client_message_id` gets (PROTOCOL §5 step 2, §9), one
    /// by one unless its `send_message` asked for `compact`.
    pub fn whole(compact: bool) -> ResumeFrom {
        ResumeFrom {
            after_index: None,
            compact,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Ping {
    pub timestamp: Option<serde_json::Number>,
}
impl Payload for Ping {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_nul_character_anywhere_is_refused_naming_its_field() {
        let err = parse::<SendMessage>(json!({ "chat_id": 1, "message": "a\0b" })).unwrap_err();
        assert!(err.message.contains("`message`"), "{}", err.message);
        let err = parse::<SendMessage>(json!({ "chat_id": 1, "message": "ok", "model": "m\0" }))
            .unwrap_err();
        assert!(err.message.contains("`model`"), "{}", err.message);
        assert_eq!(
            nul_path(&json!({ "a": [1, { "b": "\0" }] }), String::new()).as_deref(),
            Some("a[1].b")
        );
        assert_eq!(nul_path(&json!({ "a": "fine" }), String::new()), None);
    }

    #[test]
    fn ids_accept_digit_strings_and_refuse_the_rest() {
        let ok: ProjectRef = parse(json!({ "project_id": "42" })).unwrap();
        assert_eq!(ok.project_id, Id(42));
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("4a"),
            json!(null),
            json!([1]),
        ] {
            let err = parse::<ProjectRef>(json!({ "project_id": bad })).unwrap_err();
            assert!(err.message.contains("project_id"), "{}", err.message);
        }
    }

    #[test]
    fn missing_field_and_non_object_are_named() {
        let err = parse::<ChatRef>(json!({})).unwrap_err();
        assert!(err.message.contains("chat_id"), "{}", err.message);
        let err = parse::<ChatRef>(json!("chat")).unwrap_err();
        assert!(err.message.contains("object"));
    }

    #[test]
    fn send_message_ranges() {
        let base = || json!({ "chat_id": 1, "message": "hi" });
        assert!(parse::<SendMessage>(base()).is_ok());
        for (field, value) in [
            ("message", json!("   ")),
            ("message", json!("x".repeat(MAX_MESSAGE_CHARS + 1))),
            ("temperature", json!(2.5)),
            ("top_k", json!(0)),
            ("top_k", json!(51)),
            ("client_message_id", json!("é".repeat(129))),
            ("include_history", json!("yes")),
        ] {
            let mut payload = base();
            payload[field] = value;
            let err = parse::<SendMessage>(payload).unwrap_err();
            assert!(err.message.contains(field), "{field}: {}", err.message);
        }
        // Counted in Unicode scalar values, not bytes.
        let mut payload = base();
        payload["client_message_id"] = json!("é".repeat(128));
        assert!(parse::<SendMessage>(payload).is_ok());
    }
}
