//! `resume_message`: what a client missed of a stream, to that socket only. A live stream is
//! replayed from its log, a finished one from the database; the `(index, token)` pairs are the
//! very ones that were streamed. A stream live on another node is replayed by that node, through
//! the adapter, to the socket's own room.

use entities::message;
use serde_json::Value;

use super::{ChatService, FinishReason};
use crate::auth::Caller;
use crate::broadcast::{send_to_socket, send_when_ready, Audience};
use crate::cluster::ControlMessage;
use crate::error::{AppError, ErrorCode};
use crate::protocol::names;
use crate::protocol::outgoing::{
    CompleteMetadata, ErrorEvent, MessageComplete, MessageSources, MessageToken,
};
use crate::retrieval::Source;
use crate::socket::Socket;
use crate::store::messages::{self, TokenLog};
use crate::store::{MessageStatus, Role};
use crate::{rooms, store};

/// A stream's recorded events, borrowed from the live log or read from the database.
struct Recording<'a> {
    chat_id: i64,
    message_id: i64,
    sources: Option<&'a [Source]>,
    reasoning: &'a [String],
    tokens: &'a [String],
    complete: Option<&'a MessageComplete>,
    /// A stream that failed or was interrupted: its `error`, sent just before `message_complete`
    /// as it was live.
    failure: Option<&'a str>,
}

/// A stored assistant row, decoded.
pub(crate) struct StoredStream {
    pub row: message::Model,
    pub sources: Option<Vec<Source>>,
    pub token_log: TokenLog,
}

impl StoredStream {
    pub fn new(row: message::Model) -> Self {
        let sources = row
            .sources
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        let token_log = row
            .token_log
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        Self {
            row,
            sources,
            token_log,
        }
    }

    /// The terminal event of an ended row, as it was (or would have been) sent.
    pub fn complete(&self) -> Option<MessageComplete> {
        let row = &self.row;
        (row.status != MessageStatus::Streaming).then(|| MessageComplete {
            chat_id: row.chat_id,
            message_id: row.id,
            content: row.content.clone(),
            metadata: CompleteMetadata {
                model: row.model.clone().unwrap_or_default(),
                sources_count: self.sources.as_ref().map_or(0, Vec::len),
                tokens: self.token_log.tokens.len(),
                finish_reason: row.finish_reason.unwrap_or(FinishReason::Error),
                first_token_ms: row.first_token_ms,
                duration_ms: row.duration_ms.unwrap_or_default(),
                usage: row
                    .usage
                    .clone()
                    .and_then(|v| serde_json::from_value(v).ok()),
            },
        })
    }

    fn packets(&self, after_index: Option<u64>) -> Vec<(&'static str, Value)> {
        let complete = self.complete();
        packets(
            &Recording {
                chat_id: self.row.chat_id,
                message_id: self.row.id,
                sources: self.sources.as_deref(),
                reasoning: &self.token_log.reasoning,
                tokens: &self.token_log.tokens,
                complete: complete.as_ref(),
                failure: self.failure(),
            },
            after_index,
        )
    }

    /// The `error` a live ending of this row sent, when it failed.
    fn failure(&self) -> Option<&'static str> {
        match self.row.status {
            MessageStatus::Interrupted => Some("the server stopped before the reply was complete"),
            MessageStatus::Failed => Some("the generation failed"),
            MessageStatus::Streaming | MessageStatus::Complete | MessageStatus::Cancelled => None,
        }
    }
}

/// Where a replay goes: a socket of this node, or a socket room reached through the adapter.
enum Target<'a> {
    Socket(&'a Socket),
    Room(String),
}

impl ChatService {
    pub async fn replay(
        &self,
        socket: &Socket,
        message_id: i64,
        after_index: Option<u64>,
        caller: &Caller,
    ) -> Result<(), AppError> {
        if let Some(live) = self.live_stream(message_id) {
            caller.require_visible(live.project_id, "stream")?;
            self.replay_live(&live, &Target::Socket(socket), after_index);
            return Ok(());
        }
        let (stored, project_id) = self.stored_stream(message_id).await?;
        caller.require_visible(project_id, "stream")?;
        if let Some(node_id) = self.running_elsewhere(&stored.row) {
            return self
                .publish(ControlMessage::Resume {
                    node_id,
                    message_id,
                    socket_room: rooms::socket(socket.id),
                    after_index,
                })
                .await;
        }
        self.replay_stored(&stored, Target::Socket(socket), after_index)
            .await;
        Ok(())
    }

    /// A resume sent to another node for a stream of this one.
    pub async fn replay_to_room(
        &self,
        message_id: i64,
        socket_room: String,
        after_index: Option<u64>,
    ) -> Result<(), AppError> {
        let target = Target::Room(socket_room);
        if let Some(live) = self.live_stream(message_id) {
            self.replay_live(&live, &target, after_index);
            return Ok(());
        }
        // It ended after the other node looked: the stored reply is complete.
        let (stored, _) = self.stored_stream(message_id).await?;
        self.replay_stored(&stored, target, after_index).await;
        Ok(())
    }

    /// Under the log lock, so no live event slips in between: sent at once, and a socket
    /// that overflows is disconnected (it resumes again from where it got to).
    fn replay_live(&self, live: &super::LiveStream, target: &Target<'_>, after_index: Option<u64>) {
        let log = live.log();
        let packets = packets(
            &Recording {
                chat_id: live.chat_id,
                message_id: live.message_id,
                sources: log.sources.as_deref(),
                reasoning: &log.reasoning,
                tokens: &log.tokens,
                complete: log.complete.as_ref(),
                failure: None,
            },
            after_index,
        );
        for (event, payload) in &packets {
            let sent = match target {
                Target::Socket(socket) => send_to_socket(socket, event, payload),
                Target::Room(room) => {
                    self.inner
                        .broadcaster
                        .send(&Audience::room(room.clone()), event, payload);
                    true
                }
            };
            if !sent {
                break;
            }
        }
    }

    async fn replay_stored(
        &self,
        stored: &StoredStream,
        target: Target<'_>,
        after_index: Option<u64>,
    ) {
        let packets = stored.packets(after_index);
        match target {
            // Nothing else is sent for a finished stream, so the replay can wait for the socket.
            Target::Socket(socket) => {
                for (event, payload) in &packets {
                    if !send_when_ready(socket, event, payload).await {
                        break;
                    }
                }
            }
            Target::Room(room) => {
                let audience = Audience::room(room);
                for (event, payload) in &packets {
                    self.inner.broadcaster.send(&audience, event, payload);
                }
            }
        }
    }

    /// The assistant row `message_id` and its project.
    pub(crate) async fn stored_stream(
        &self,
        message_id: i64,
    ) -> Result<(StoredStream, i64), AppError> {
        let row = messages::find(self.db(), message_id)
            .await?
            .filter(|m| m.role == Role::Assistant)
            .ok_or_else(|| AppError::not_found("stream"))?;
        let chat = store::chats::find(self.db(), row.chat_id)
            .await?
            .ok_or_else(|| AppError::not_found("stream"))?;
        Ok((StoredStream::new(row), chat.project_id))
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
        if let Some(message) = recording.failure {
            out.push((
                names::ERROR,
                value(ErrorEvent {
                    code: ErrorCode::GenerationFailed,
                    message: message.to_owned(),
                    event: names::SEND_MESSAGE,
                    chat_id: Some(recording.chat_id),
                    message_id: Some(recording.message_id),
                    retry_after_ms: None,
                }),
            ));
        }
        out.push((names::MESSAGE_COMPLETE, value(complete)));
    }
    out
}

#[async_trait::async_trait]
impl crate::cluster::ControlHandler for ChatService {
    fn cancel_here(&self, message_id: i64) -> bool {
        ChatService::cancel_here(self, message_id)
    }

    async fn replay_to_room(&self, message_id: i64, socket_room: String, after_index: Option<u64>) {
        if let Err(e) =
            ChatService::replay_to_room(self, message_id, socket_room, after_index).await
        {
            tracing::warn!(message_id, "resume for another node failed: {e}");
        }
    }
}
