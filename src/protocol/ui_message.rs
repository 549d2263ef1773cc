//! The Vercel AI SDK's UI message stream (`ai` 5.x / 6.x, `DefaultChatTransport`): the body its
//! transport posts, and the chunks an SSE answer is made of. Optional fields are left out, never
//! `null` (the SDK's schema refuses `null`), and no chunk carries a field the SDK does not know
//! (its older versions refuse unknown keys).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::payloads::{chars, Id, Payload, SendMessage, MAX_ID_CHARS, MAX_MESSAGE_CHARS};

/// What `DefaultChatTransport.sendMessages` posts: `{ id, messages, trigger, messageId? }` and
/// the transport's `body` extras, of which ragcast reads the `send_message` options.
#[derive(Debug, Deserialize)]
pub struct UiStreamRequest {
    /// The client's chat id; the chat is the one of the URL.
    #[serde(default)]
    pub id: Option<String>,
    pub messages: Vec<UiMessage>,
    /// `submit-message` (a repeat of the same user message is not generated again) or
    /// `regenerate-message` (a new reply to the last user message).
    #[serde(default)]
    pub trigger: Option<Trigger>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub include_history: Option<bool>,
    pub top_k: Option<u32>,
    pub task_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    SubmitMessage,
    RegenerateMessage,
}

/// One message of the client's history. Parts other than text (reasoning, sources, tools, data)
/// are read past: earlier replies come back with everything the client assembled.
#[derive(Debug, Deserialize)]
pub struct UiMessage {
    #[serde(default)]
    pub id: Option<String>,
    pub role: String,
    #[serde(default)]
    pub parts: Vec<UiPart>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum UiPart {
    #[serde(rename = "text")]
    Text { text: String },
    #[serde(other)]
    Other,
}

impl UiMessage {
    fn text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|part| match part {
                UiPart::Text { text } => Some(text.as_str()),
                UiPart::Other => None,
            })
            .collect::<Vec<_>>()
            .join("")
    }
}

impl UiStreamRequest {
    /// The last user message: the question.
    fn question(&self) -> Option<&UiMessage> {
        self.messages.iter().rev().find(|m| m.role == "user")
    }

    /// The `send_message` this request stands for, in chat `chat_id`.
    pub fn send_message(&self, chat_id: i64) -> Result<SendMessage, String> {
        let question = self
            .question()
            .ok_or("`messages` must hold a message with role `user`")?;
        // A resubmitted user message (same id) gets the first reply again, as a repeated
        // `client_message_id` does; a regeneration asks for a new one.
        let client_message_id = match self.trigger {
            Some(Trigger::RegenerateMessage) => None,
            Some(Trigger::SubmitMessage) | None => question
                .id
                .clone()
                .filter(|id| !id.is_empty() && chars(id) <= MAX_ID_CHARS),
        };
        let send = SendMessage {
            chat_id: Id(chat_id),
            message: question.text(),
            model: self.model.clone(),
            temperature: self.temperature,
            include_history: self.include_history,
            top_k: self.top_k,
            client_message_id,
            task_id: self.task_id.clone(),
            compact: false,
            reply: None,
            role: None,
            sender: None,
        };
        send.validate()?;
        Ok(send)
    }
}

impl Payload for UiStreamRequest {
    fn validate(&self) -> Result<(), String> {
        let Some(question) = self.question() else {
            return Err("`messages` must hold a message with role `user`".into());
        };
        let length = chars(question.text().trim());
        if length == 0 {
            return Err("`messages`: the last user message has no text part".into());
        }
        if length > MAX_MESSAGE_CHARS {
            return Err(format!(
                "`messages`: the last user message must be at most {MAX_MESSAGE_CHARS} characters"
            ));
        }
        Ok(())
    }
}

/// One chunk of the stream, sent as `data: <json>`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum UiChunk<'a> {
    #[serde(rename_all = "camelCase")]
    Start {
        message_id: String,
        message_metadata: StreamMetadata,
    },
    #[serde(rename_all = "camelCase")]
    SourceDocument {
        source_id: String,
        media_type: &'a str,
        title: &'a str,
        filename: &'a str,
        provider_metadata: Value,
    },
    ReasoningStart {
        id: &'a str,
    },
    ReasoningDelta {
        id: &'a str,
        delta: &'a str,
    },
    ReasoningEnd {
        id: &'a str,
    },
    TextStart {
        id: &'a str,
    },
    TextDelta {
        id: &'a str,
        delta: &'a str,
    },
    TextEnd {
        id: &'a str,
    },
    /// A back end's tool call (PROTOCOL §9.3).
    #[serde(rename_all = "camelCase")]
    ToolInputAvailable {
        tool_call_id: &'a str,
        tool_name: &'a str,
        input: &'a Value,
    },
    #[serde(rename_all = "camelCase")]
    ToolOutputAvailable {
        tool_call_id: &'a str,
        output: &'a Value,
    },
    #[serde(rename_all = "camelCase")]
    ToolOutputError {
        tool_call_id: &'a str,
        error_text: &'a str,
    },
    /// A back end's step, as a data part: a later state of the same step (same `id`) replaces
    /// the earlier one in the client's message.
    #[serde(rename = "data-step")]
    DataStep {
        id: &'a str,
        data: &'a entities::Step,
    },
    #[serde(rename_all = "camelCase")]
    Error {
        error_text: &'a str,
    },
    Abort,
    #[serde(rename_all = "camelCase")]
    Finish {
        finish_reason: &'static str,
    },
}

/// Merged into the client's `message.metadata`: where the reply lives in ragcast.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StreamMetadata {
    pub chat_id: i64,
    pub message_id: i64,
}

/// The line that ends the stream.
pub const DONE: &str = "[DONE]";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::payloads::parse;
    use serde_json::json;

    fn request(body: Value) -> Result<UiStreamRequest, String> {
        parse::<UiStreamRequest>(body).map_err(|e| e.message)
    }

    #[test]
    fn the_question_is_the_last_user_messages_text_and_its_id_dedups_a_submit() {
        let body = json!({
            "id": "c1",
            "trigger": "submit-message",
            "top_k": 3,
            "messages": [
                {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "old"}]},
                {"id": "a1", "role": "assistant", "metadata": {"x": 1}, "parts": [
                    {"type": "step-start"}, {"type": "reasoning", "text": "…", "state": "done"},
                    {"type": "source-document", "sourceId": "1", "mediaType": "text/plain", "title": "t"},
                    {"type": "text", "text": "answer", "state": "done"}]},
                {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "rivers "}, {"type": "text", "text": "and water"}]}
            ]
        });
        let send = request(body).unwrap().send_message(7).unwrap();
        assert_eq!(send.chat_id, Id(7));
        assert_eq!(send.message, "rivers and water");
        assert_eq!(send.client_message_id.as_deref(), Some("u2"));
        assert_eq!(send.top_k, Some(3));
    }

    #[test]
    fn a_regeneration_is_a_new_reply_and_bad_bodies_name_the_field() {
        let body = json!({"trigger": "regenerate-message", "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "q"}]}]});
        assert_eq!(
            request(body)
                .unwrap()
                .send_message(1)
                .unwrap()
                .client_message_id,
            None
        );
        let no_user = json!({"messages": [{"role": "assistant", "parts": []}]});
        assert!(request(no_user).unwrap_err().contains("`messages`"));
        let empty =
            json!({"messages": [{"role": "user", "parts": [{"type": "file", "url": "x"}]}]});
        assert!(request(empty).unwrap_err().contains("no text part"));
        let bad_k = json!({"top_k": 99, "messages": [{"role": "user", "parts": [{"type": "text", "text": "q"}]}]});
        let err = request(bad_k).unwrap().send_message(1).unwrap_err();
        assert!(err.contains("`top_k`"), "{err}");
        assert!(request(json!({"messages": "no"}))
            .unwrap_err()
            .contains("messages"));
    }

    #[test]
    fn chunks_have_the_sdks_shapes() {
        let start = UiChunk::Start {
            message_id: "9".into(),
            message_metadata: StreamMetadata {
                chat_id: 1,
                message_id: 9,
            },
        };
        assert_eq!(
            serde_json::to_value(&start).unwrap(),
            json!({"type": "start", "messageId": "9", "messageMetadata": {"chat_id": 1, "message_id": 9}})
        );
        let delta = UiChunk::TextDelta {
            id: "t",
            delta: "hi",
        };
        assert_eq!(
            serde_json::to_value(&delta).unwrap(),
            json!({"type": "text-delta", "id": "t", "delta": "hi"})
        );
        assert_eq!(
            serde_json::to_value(UiChunk::Abort).unwrap(),
            json!({"type": "abort"})
        );
        let finish = UiChunk::Finish {
            finish_reason: "stop",
        };
        assert_eq!(
            serde_json::to_value(&finish).unwrap(),
            json!({"type": "finish", "finishReason": "stop"})
        );
        let error = UiChunk::Error { error_text: "boom" };
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({"type": "error", "errorText": "boom"})
        );
    }
}
