//! `/api/chats/{id}/ui-stream`: the chat pipeline for the Vercel AI SDK's `useChat`
//! (`DefaultChatTransport`), answered as its UI message stream over Server-Sent Events.
//!
//! `POST` runs the same pipeline as `send_message` (same rooms, rows, limits and auth) and
//! follows the new reply from its start. `GET` (what `resume: true` calls) follows the chat's
//! reply that is streaming now, from its start, on whichever node runs it; 204 when none is. A
//! client that goes away stops only its own copy: the reply goes on and is stored (PROTOCOL §8).
//! Stopping a reply is `POST /api/messages/{id}/cancel`, or — for a client that asks with
//! `?cancel_on_stop=true` — the AI SDK's `stop()`, which aborts the request (PROTOCOL §9.3).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use super::extract::{Ids, JsonValue, QueryParams};
use crate::auth::{ApiCaller, Caller};
use crate::chat::{ChatService, Ending, Origin, SourceDocument, StreamUpdate};
use crate::error::{AppError, ErrorCode};
use crate::protocol::payloads::parse;
use crate::protocol::sources::Metadata;
use crate::protocol::ui_message::{StreamMetadata, UiChunk, UiStreamRequest, DONE};
use crate::store::FinishReason;
use entities::Action;

/// The header the AI SDK's docs ask a custom back end to set.
const STREAM_HEADER: HeaderName = HeaderName::from_static("x-vercel-ai-ui-message-stream");

/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[utoipa::path(post, path = "/api/chats/{id}/ui-stream", tag = "chats", params(("id" = i64, Path), ("cancel_on_stop" = Option<bool>, Query, description = "the client going away before the end (the AI SDK's `stop()`) cancels the reply")),
    request_body(content = serde_json::Value, description = "`DefaultChatTransport`'s body: `{ id, messages, trigger, messageId? }`, plus `top_k`, `model`, `temperature`, `include_history`, `task_id`"),
    responses((status = 200, description = "the AI SDK UI message stream", content_type = "text/event-stream")))]
pub async fn send(
    State(chat): State<ChatService>,
    ApiCaller(caller): ApiCaller,
    Ids([chat_id]): Ids<1>,
    QueryParams(options): QueryParams<StreamOptions>,
    JsonValue(body): JsonValue,
) -> Result<Response, AppError> {
    let request: UiStreamRequest = parse(body)?;
    let message = request.send_message(chat_id).map_err(AppError::invalid)?;
    let started = chat
        .send(
            message.into(),
            Origin {
                sid: None,
                caller: caller.clone(),
            },
        )
        .await?;
    let Some(message_id) = started.received().map(|r| r.message_id) else {
        return Err(AppError::new(
            ErrorCode::Conflict,
            "this chat's assistant is off (a person answers here): the message was stored, no reply streams",
        ));
    };
    let stop = options.stop_guard(&chat, message_id, caller);
    Ok(ui_stream(&chat, chat_id, message_id, stop))
}

#[utoipa::path(get, path = "/api/chats/{id}/ui-stream", tag = "chats", params(("id" = i64, Path), ("cancel_on_stop" = Option<bool>, Query, description = "the client going away before the end (the AI SDK's `stop()`) cancels the reply")),
    responses((status = 200, description = "the chat's streaming reply from its start, then live", content_type = "text/event-stream"),
        (status = 204, description = "no reply of the chat is streaming")))]
pub async fn resume(
    State(chat): State<ChatService>,
    ApiCaller(caller): ApiCaller,
    Ids([chat_id]): Ids<1>,
    QueryParams(options): QueryParams<StreamOptions>,
) -> Result<Response, AppError> {
    match chat.streaming_in_chat(chat_id, &caller).await? {
        Some(message_id) => {
            let stop = options.stop_guard(&chat, message_id, caller);
            Ok(ui_stream(&chat, chat_id, message_id, stop))
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// The query both routes take.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    /// The client going away before the end cancels the reply (the AI SDK's `stop()`).
    #[serde(default)]
    cancel_on_stop: bool,
}

impl StreamOptions {
    fn stop_guard(&self, chat: &ChatService, message_id: i64, caller: Caller) -> Option<StopGuard> {
        self.cancel_on_stop.then(|| StopGuard {
            chat: chat.clone(),
            message_id,
            caller,
            armed: true,
        })
    }
}

/// Cancels its reply when dropped: the response body holds it, so a client that stops reading
/// before `[DONE]` (an aborted fetch) drops it, and the end of the stream defuses it first.
struct StopGuard {
    chat: ChatService,
    message_id: i64,
    caller: Caller,
    armed: bool,
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (chat, message_id, caller) = (self.chat.clone(), self.message_id, self.caller.clone());
        tokio::spawn(async move {
            match chat.cancel(message_id, &caller).await {
                Ok(()) => tracing::info!(message_id, "the AI SDK client stopped: reply cancelled"),
                // It ended meanwhile, or this caller may not cancel it.
                Err(e) => tracing::debug!(message_id, error = %e, "stop not applied"),
            }
        });
    }
}

/// The SSE response: `start`, the chunks of each update, `[DONE]`.
fn ui_stream(
    chat: &ChatService,
    chat_id: i64,
    message_id: i64,
    mut stop: Option<StopGuard>,
) -> Response {
    let updates = chat.follow(message_id);
    let mut encoder = Encoder::new(message_id);
    let start = UiChunk::Start {
        message_id: message_id.to_string(),
        message_metadata: StreamMetadata {
            chat_id,
            message_id,
        },
    };
    let head = stream::iter([data(&start)]);
    let body = updates.flat_map(move |update| stream::iter(encoder.chunks(update)));
    let events = head
        .chain(body)
        .chain(stream::iter([DONE.to_owned()]))
        .map(move |line| {
            if line == DONE {
                // The reply ended: nothing to cancel.
                if let Some(stop) = stop.as_mut() {
                    stop.armed = false;
                }
            }
            Ok::<_, Infallible>(Event::default().data(line))
        });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(STREAM_HEADER, HeaderValue::from_static("v1"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx would otherwise buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One `data:` line's JSON.
fn data(chunk: &UiChunk<'_>) -> String {
    // A chunk is plain data: it always serialises.
    serde_json::to_string(chunk).unwrap_or_default()
}

/// Turns a stream's updates into chunks: reasoning and text in parts (`*-start`, `*-delta`,
/// `*-end`), a new part whenever the kind changes, and the ending.
struct Encoder {
    message_id: i64,
    /// The open part: its kind and id.
    open: Option<(PartKind, String)>,
    parts: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartKind {
    Reasoning,
    Text,
}

impl Encoder {
    fn new(message_id: i64) -> Self {
        Self {
            message_id,
            open: None,
            parts: 0,
        }
    }

    fn chunks(&mut self, update: StreamUpdate) -> Vec<String> {
        let mut out = Vec::new();
        match update {
            StreamUpdate::Sources(sources) => {
                out.extend(sources.iter().map(|s| data(&source_chunk(s))));
            }
            StreamUpdate::Reasoning(piece) => {
                let id = self.part(PartKind::Reasoning, &mut out);
                out.push(data(&UiChunk::ReasoningDelta {
                    id: &id,
                    delta: &piece,
                }));
            }
            StreamUpdate::Action(action) => {
                // Tool and data parts stand between text parts: the open one closes.
                self.close(&mut out);
                out.push(data(&match &action {
                    Action::Step { step } => UiChunk::DataStep {
                        id: &step.id,
                        data: step,
                    },
                    Action::ToolCall { call } => UiChunk::ToolInputAvailable {
                        tool_call_id: &call.id,
                        tool_name: &call.name,
                        input: &call.arguments,
                    },
                    Action::ToolResult {
                        call_id,
                        error: Some(error),
                        ..
                    } => UiChunk::ToolOutputError {
                        tool_call_id: call_id,
                        error_text: error,
                    },
                    Action::ToolResult {
                        call_id, result, ..
                    } => UiChunk::ToolOutputAvailable {
                        tool_call_id: call_id,
                        output: result.as_ref().unwrap_or(&Value::Null),
                    },
                }));
            }
            StreamUpdate::Token(token) => {
                let id = self.part(PartKind::Text, &mut out);
                out.push(data(&UiChunk::TextDelta {
                    id: &id,
                    delta: &token,
                }));
            }
            StreamUpdate::Ended(ending) => {
                self.close(&mut out);
                match (&ending, ending.failure()) {
                    (Ending::Cancelled, _) => out.push(data(&UiChunk::Abort)),
                    (_, Some(failure)) => {
                        out.push(data(&UiChunk::Error {
                            error_text: failure,
                        }));
                        out.push(data(&UiChunk::Finish {
                            finish_reason: "error",
                        }));
                    }
                    (_, None) => out.push(data(&UiChunk::Finish {
                        finish_reason: finish_reason_of(ending.finish_reason()),
                    })),
                }
            }
        }
        out
    }

    /// The id of the open part of `kind`, opening it (and closing another) when needed.
    fn part(&mut self, kind: PartKind, out: &mut Vec<String>) -> String {
        if let Some((open, id)) = &self.open {
            if *open == kind {
                return id.clone();
            }
        }
        self.close(out);
        self.parts += 1;
        let id = match kind {
            PartKind::Reasoning => format!("reasoning-{}-{}", self.message_id, self.parts),
            PartKind::Text => format!("text-{}-{}", self.message_id, self.parts),
        };
        out.push(data(&match kind {
            PartKind::Reasoning => UiChunk::ReasoningStart { id: &id },
            PartKind::Text => UiChunk::TextStart { id: &id },
        }));
        self.open = Some((kind, id.clone()));
        id
    }

    fn close(&mut self, out: &mut Vec<String>) {
        if let Some((kind, id)) = self.open.take() {
            out.push(data(&match kind {
                PartKind::Reasoning => UiChunk::ReasoningEnd { id: &id },
                PartKind::Text => UiChunk::TextEnd { id: &id },
            }));
        }
    }
}

fn source_chunk(document: &SourceDocument) -> UiChunk<'_> {
    let source = &document.source;
    let (title, details) = match &source.metadata {
        Metadata::Document(meta) => {
            let mut details = json!({
                "document_id": meta.document_id,
                "chunk_index": meta.chunk_index,
                "score": source.score,
            });
            if let Some(page) = meta.page {
                details["page"] = json!(page);
            }
            (meta.filename.as_str(), details)
        }
        // A back end's source: its own metadata, titled by its `title` when it has one.
        Metadata::Backend(meta) => (
            meta.get("title")
                .and_then(|t| t.as_str())
                .unwrap_or("source"),
            json!({ "metadata": meta, "score": source.score }),
        ),
    };
    UiChunk::SourceDocument {
        source_id: source.id.to_string(),
        media_type: document
            .media_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
        title,
        filename: title,
        provider_metadata: json!({ "ragcast": details }),
    }
}

/// The SDK's finish reasons (`stop`, `length`, `error`, …); a cancel is an `abort` instead.
fn finish_reason_of(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::Error => "error",
        FinishReason::Cancelled => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn kinds(lines: &[String]) -> Vec<String> {
        lines
            .iter()
            .map(|line| {
                let chunk: Value = serde_json::from_str(line).unwrap();
                let kind = chunk["type"].as_str().unwrap().to_owned();
                match chunk.get("delta") {
                    Some(delta) => format!("{kind} {}", delta.as_str().unwrap()),
                    None => kind,
                }
            })
            .collect()
    }

    fn run(updates: Vec<StreamUpdate>) -> Vec<String> {
        let mut encoder = Encoder::new(5);
        kinds(
            &updates
                .into_iter()
                .flat_map(|u| encoder.chunks(u))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn reasoning_then_text_in_parts_then_finish() {
        let chunks = run(vec![
            StreamUpdate::Sources(Vec::new()),
            StreamUpdate::Reasoning("hm".into()),
            StreamUpdate::Reasoning("m".into()),
            StreamUpdate::Token("Hi".into()),
            StreamUpdate::Token(" there".into()),
            StreamUpdate::Ended(Ending::Finished(FinishReason::Length)),
        ]);
        assert_eq!(
            chunks,
            [
                "reasoning-start",
                "reasoning-delta hm",
                "reasoning-delta m",
                "reasoning-end",
                "text-start",
                "text-delta Hi",
                "text-delta  there",
                "text-end",
                "finish"
            ]
        );
    }

    #[test]
    fn a_failure_is_an_error_then_finish_and_a_cancel_an_abort() {
        let failed = run(vec![
            StreamUpdate::Token("a".into()),
            StreamUpdate::Ended(Ending::Failed("upstream down".into())),
        ]);
        assert_eq!(
            failed,
            ["text-start", "text-delta a", "text-end", "error", "finish"]
        );
        let cancelled = run(vec![StreamUpdate::Ended(Ending::Cancelled)]);
        assert_eq!(cancelled, ["abort"]);
    }
}
