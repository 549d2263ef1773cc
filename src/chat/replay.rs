//! `resume_message`: what a client missed of a stream, to that socket only. A live stream is
//! replayed from its log, a finished one from the database; the `(index, token)` pairs are the
//! very ones that were streamed.

use socketioxide::extract::SocketRef;

use super::{ChatService, FinishReason};
use serde_json::Value;

use crate::auth::Caller;
use crate::broadcast::{send_to_socket, send_when_ready};
use crate::error::AppError;
use crate::events::names;
use crate::events::outgoing::{CompleteMetadata, MessageComplete, MessageSources, MessageToken};
use crate::retrieval::Source;
use crate::store::messages::{self, MessageStatus, TokenLog};

/// A stream's recorded events, borrowed from the live log or read from the database.
struct Recording<'a> {
    chat_id: i64,
    message_id: i64,
    sources: Option<&'a [Source]>,
    reasoning: &'a [String],
    tokens: &'a [String],
    complete: Option<&'a MessageComplete>,
}

impl ChatService {
    pub async fn replay(
        &self,
        socket: &SocketRef,
        message_id: i64,
        after_index: Option<u64>,
        caller: &Caller,
    ) -> Result<(), AppError> {
        if let Some(live) = self.live_stream(message_id) {
            caller.require_project(live.project_id)?;
            // Under the log lock, so no live event slips in between: sent at once, and a socket
            // that overflows is disconnected (it resumes again from where it got to).
            let log = live.log();
            let packets = packets(
                &Recording {
                    chat_id: live.chat_id,
                    message_id,
                    sources: log.sources.as_deref(),
                    reasoning: &log.reasoning,
                    tokens: &log.tokens,
                    complete: log.complete.as_ref(),
                },
                after_index,
            );
            for (event, payload) in &packets {
                if !send_to_socket(socket, event, payload) {
                    break;
                }
            }
            return Ok(());
        }

        let row = messages::find(self.db(), message_id)
            .await?
            .filter(|m| m.role == "assistant")
            .ok_or_else(|| AppError::not_found("stream"))?;
        let chat = crate::store::chats::find(self.db(), row.chat_id)
            .await?
            .ok_or_else(|| AppError::not_found("stream"))?;
        caller.require_project(chat.project_id)?;
        let sources: Option<Vec<Source>> = row
            .sources
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        let token_log: TokenLog = row
            .token_log
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let ended = row.status != MessageStatus::Streaming.as_str();
        let complete = ended.then(|| MessageComplete {
            chat_id: row.chat_id,
            message_id,
            content: row.content.clone(),
            metadata: CompleteMetadata {
                model: row.model.clone().unwrap_or_default(),
                sources_count: sources.as_ref().map_or(0, Vec::len),
                tokens: token_log.tokens.len(),
                finish_reason: stored_finish_reason(row.finish_reason.as_deref()),
                first_token_ms: row.first_token_ms,
                duration_ms: row.duration_ms.unwrap_or_default(),
                usage: row
                    .usage
                    .clone()
                    .and_then(|v| serde_json::from_value(v).ok()),
            },
        });
        let packets = packets(
            &Recording {
                chat_id: row.chat_id,
                message_id,
                sources: sources.as_deref(),
                reasoning: &token_log.reasoning,
                tokens: &token_log.tokens,
                complete: complete.as_ref(),
            },
            after_index,
        );
        // Nothing else is sent for a finished stream, so the replay can wait for the socket.
        for (event, payload) in &packets {
            if !send_when_ready(socket, event, payload).await {
                break;
            }
        }
        Ok(())
    }
}

/// An interrupted row has no finish reason stored: it ended in error.
fn stored_finish_reason(stored: Option<&str>) -> FinishReason {
    match stored {
        Some("stop") => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        Some("cancelled") => FinishReason::Cancelled,
        _ => FinishReason::Error,
    }
}

/// The replay's events in order, as `(event, payload)`.
fn packets(recording: &Recording<'_>, after_index: Option<u64>) -> Vec<(&'static str, Value)> {
    fn value(payload: impl serde::Serialize) -> Value {
        serde_json::to_value(payload).unwrap_or_default()
    }
    let piece = |token: &str, index: usize| {
        value(MessageToken {
            chat_id: recording.chat_id,
            message_id: recording.message_id,
            token,
            index,
        })
    };
    let mut out = Vec::with_capacity(recording.tokens.len() + 2);
    let first_token = match after_index {
        None => {
            if let Some(sources) = recording.sources {
                out.push((
                    names::MESSAGE_SOURCES,
                    value(MessageSources {
                        chat_id: recording.chat_id,
                        message_id: recording.message_id,
                        sources,
                    }),
                ));
            }
            for (index, token) in recording.reasoning.iter().enumerate() {
                out.push((names::MESSAGE_REASONING, piece(token, index)));
            }
            0
        }
        Some(after) => usize::try_from(after).map_or(usize::MAX, |a| a.saturating_add(1)),
    };
    for (index, token) in recording.tokens.iter().enumerate().skip(first_token) {
        out.push((names::MESSAGE_TOKEN, piece(token, index)));
    }
    if let Some(complete) = recording.complete {
        out.push((names::MESSAGE_COMPLETE, value(complete)));
    }
    out
}
