//! `resume_message`: what a client missed of a stream, to that socket only. A live stream is
//! replayed from its log, a finished one from the database; the `(index, token)` pairs are the
//! very ones that were streamed.

use socketioxide::extract::SocketRef;

use super::{ChatService, FinishReason};
use crate::broadcast::send_to_socket;
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
    ) -> Result<(), AppError> {
        if let Some(live) = self.live_stream(message_id) {
            let log = live.log();
            send(
                socket,
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
            return Ok(());
        }

        let row = messages::find(self.db(), message_id)
            .await?
            .filter(|m| m.role == "assistant")
            .ok_or_else(|| AppError::not_found("stream"))?;
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
        send(
            socket,
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

fn send(socket: &SocketRef, recording: &Recording<'_>, after_index: Option<u64>) {
    fn piece<'a>(recording: &Recording<'_>, token: &'a str, index: usize) -> MessageToken<'a> {
        MessageToken {
            chat_id: recording.chat_id,
            message_id: recording.message_id,
            token,
            index,
        }
    }
    let first_token = match after_index {
        None => {
            if let Some(sources) = recording.sources {
                send_to_socket(
                    socket,
                    names::MESSAGE_SOURCES,
                    &MessageSources {
                        chat_id: recording.chat_id,
                        message_id: recording.message_id,
                        sources,
                    },
                );
            }
            for (index, token) in recording.reasoning.iter().enumerate() {
                send_to_socket(
                    socket,
                    names::MESSAGE_REASONING,
                    &piece(recording, token, index),
                );
            }
            0
        }
        Some(after) => usize::try_from(after).map_or(usize::MAX, |a| a.saturating_add(1)),
    };
    for (index, token) in recording.tokens.iter().enumerate().skip(first_token) {
        send_to_socket(
            socket,
            names::MESSAGE_TOKEN,
            &piece(recording, token, index),
        );
    }
    if let Some(complete) = recording.complete {
        send_to_socket(socket, names::MESSAGE_COMPLETE, complete);
    }
}
