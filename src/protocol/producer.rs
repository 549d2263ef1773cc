//! Streams a back end produces (PROTOCOL §9.3): the request that starts one, the pieces it sends,
//! and the steps and tool calls a stream may carry besides its tokens.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::outgoing::Usage;
use super::payloads::{check_len, Payload, MAX_ID_CHARS, MAX_MESSAGE_CHARS};
pub use entities::{Action, Step, StepStatus, ToolCall};
use entities::{FinishReason, Sender};

/// `POST /api/chats/{id}/streams`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStream {
    /// The question, stored and announced before the stream starts.
    pub user_message: Option<UserMessage>,
    pub model: Option<String>,
    pub task_id: Option<String>,
    /// The same key in the same chat answers the first stream's ids and starts nothing.
    pub stream_key: Option<String>,
    /// Told `{ message_id, chat_id, reason }` when the stream is cancelled.
    pub cancel_url: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserMessage {
    pub content: String,
    pub client_message_id: Option<String>,
    pub sender: Option<Sender>,
}

impl Payload for NewStream {
    fn validate(&self) -> Result<(), String> {
        if let Some(question) = &self.user_message {
            let chars = question.content.trim().chars().count();
            if chars == 0 || chars > MAX_MESSAGE_CHARS {
                return Err(format!(
                    "`user_message.content` must be 1..{MAX_MESSAGE_CHARS} characters"
                ));
            }
            check_len(
                "user_message.client_message_id",
                question.client_message_id.as_deref(),
                MAX_ID_CHARS,
            )?;
        }
        check_len("model", self.model.as_deref(), 200)?;
        check_len("task_id", self.task_id.as_deref(), MAX_ID_CHARS)?;
        check_len("stream_key", self.stream_key.as_deref(), MAX_ID_CHARS)?;
        if let Some(url) = &self.cancel_url {
            let parsed =
                url::Url::parse(url).map_err(|e| format!("`cancel_url` is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err("`cancel_url` must be an http(s) URL".into());
            }
        }
        Ok(())
    }
}

/// One line (or array item) of `POST /api/messages/{id}/pieces`.
#[derive(Debug)]
pub struct PieceLine {
    /// 0, 1, 2, … for the whole stream: a retried piece is skipped, a gap refused.
    pub seq: Option<u64>,
    pub piece: Piece,
}

#[derive(Debug, Clone)]
pub enum Piece {
    Sources {
        sources: Vec<BackendSource>,
    },
    Token {
        text: String,
    },
    Reasoning {
        text: String,
    },
    Step {
        step: Step,
    },
    ToolCall {
        call: ToolCall,
    },
    ToolResult {
        call_id: String,
        result: Option<Value>,
        error: Option<String>,
    },
    End {
        finish_reason: EndReason,
        error: Option<String>,
        usage: Option<Usage>,
    },
}

impl PieceLine {
    /// Reads one piece; `Err` names the field that is wrong (`step.status`: …). Its `type` is
    /// read first, then the piece's own fields, so a wrong value is named by its path.
    pub fn parse(text: &str) -> Result<PieceLine, String> {
        let Value::Object(mut fields) =
            serde_json::from_str::<Value>(text).map_err(|e| format!("not JSON: {e}"))?
        else {
            return Err("a piece must be a JSON object".into());
        };
        let seq = match fields.remove("seq") {
            None | Some(Value::Null) => None,
            Some(seq) => Some(
                seq.as_u64()
                    .ok_or("`seq` must be an integer of 0 or more")?,
            ),
        };
        let kind = match fields.remove("type") {
            Some(Value::String(kind)) => kind,
            Some(_) => return Err("`type` must be a string".into()),
            None => return Err("`type` is missing".into()),
        };
        let fields = Value::Object(fields);
        let piece = match kind.as_str() {
            "sources" => {
                let f: SourcesFields = fields_of(fields)?;
                Piece::Sources { sources: f.sources }
            }
            "token" => Piece::Token {
                text: fields_of::<TextFields>(fields)?.text,
            },
            "reasoning" => Piece::Reasoning {
                text: fields_of::<TextFields>(fields)?.text,
            },
            "step" => Piece::Step {
                step: fields_of::<StepFields>(fields)?.step,
            },
            "tool_call" => Piece::ToolCall {
                call: fields_of::<ToolCallFields>(fields)?.call,
            },
            "tool_result" => {
                let f: ToolResultFields = fields_of(fields)?;
                Piece::ToolResult {
                    call_id: f.call_id,
                    result: f.result,
                    error: f.error,
                }
            }
            "end" => {
                let f: EndFields = fields_of(fields)?;
                Piece::End {
                    finish_reason: f.finish_reason,
                    error: f.error,
                    usage: f.usage,
                }
            }
            other => {
                return Err(format!(
                    "`type`: unknown piece type `{other}` (sources, token, reasoning, step, tool_call, tool_result, end)"
                ))
            }
        };
        Ok(PieceLine { seq, piece })
    }
}

/// A piece's own fields, with the path of the first wrong one.
fn fields_of<T: serde::de::DeserializeOwned>(fields: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(fields).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        if path == "." {
            inner
        } else {
            format!("`{path}`: {inner}")
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcesFields {
    sources: Vec<BackendSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextFields {
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFields {
    step: Step,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolCallFields {
    call: ToolCall,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolResultFields {
    call_id: String,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndFields {
    finish_reason: EndReason,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    usage: Option<Usage>,
}

/// A source as a back end gives it; ragcast numbers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSource {
    pub content: String,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub score: Option<f64>,
}

/// How a back end ends its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Stop,
    Length,
    Error,
}

impl From<EndReason> for FinishReason {
    fn from(reason: EndReason) -> Self {
        match reason {
            EndReason::Stop => FinishReason::Stop,
            EndReason::Length => FinishReason::Length,
            EndReason::Error => FinishReason::Error,
        }
    }
}

/// `message_step` / `message_tool_call` / `message_tool_result`: the action's own fields beside
/// the stream's ids and its index.
#[derive(Debug, Serialize)]
pub struct ActionEvent<'a> {
    pub chat_id: i64,
    pub message_id: i64,
    pub index: usize,
    #[serde(flatten)]
    pub action: ActionFields<'a>,
}

/// An action's fields as its event carries them (`result` and `error` always present, `null`
/// when absent).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ActionFields<'a> {
    Step {
        step: &'a Step,
    },
    ToolCall {
        call: &'a ToolCall,
    },
    ToolResult {
        call_id: &'a str,
        result: &'a Option<Value>,
        error: &'a Option<String>,
    },
}

impl<'a> From<&'a Action> for ActionFields<'a> {
    fn from(action: &'a Action) -> Self {
        match action {
            Action::Step { step } => ActionFields::Step { step },
            Action::ToolCall { call } => ActionFields::ToolCall { call },
            Action::ToolResult {
                call_id,
                result,
                error,
            } => ActionFields::ToolResult {
                call_id,
                result,
                error,
            },
        }
    }
}

impl Piece {
    /// What a piece becomes once checked: `Err` names the field that is wrong.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Piece::Step { step } => {
                check_len("step.id", Some(&step.id), MAX_ID_CHARS)?;
                if let Some(p) = step.progress {
                    if !(0.0..=100.0).contains(&p) {
                        return Err("`step.progress` must be between 0 and 100".into());
                    }
                }
                Ok(())
            }
            Piece::ToolCall { call } => check_len("call.id", Some(&call.id), MAX_ID_CHARS),
            Piece::ToolResult { call_id, .. } => check_len("call_id", Some(call_id), MAX_ID_CHARS),
            Piece::Sources { sources } => {
                for (i, source) in sources.iter().enumerate() {
                    if let Some(score) = source.score {
                        if !(0.0..=1.0).contains(&score) {
                            return Err(format!("`sources[{i}].score` must be between 0 and 1"));
                        }
                    }
                }
                Ok(())
            }
            Piece::Token { .. } | Piece::Reasoning { .. } | Piece::End { .. } => Ok(()),
        }
    }
}

/// An action's event name.
pub fn action_event(action: &Action) -> &'static str {
    match action {
        Action::Step { .. } => super::names::MESSAGE_STEP,
        Action::ToolCall { .. } => super::names::MESSAGE_TOOL_CALL,
        Action::ToolResult { .. } => super::names::MESSAGE_TOOL_RESULT,
    }
}

/// What the stream's node made of pieces another node forwarded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PiecesOutcome {
    Applied {
        status: entities::MessageStatus,
        last_index: Option<usize>,
        cancelled: bool,
    },
    /// The request stops: `conflict` or `unprocessable`, and why.
    Refused {
        unprocessable: bool,
        message: String,
    },
}
