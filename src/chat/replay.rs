//! `resume_message`: what a client missed of a stream, to that socket only. A live stream is
//! replayed from its log, a finished one from the database; the `(index, token)` pairs are the
//! very ones that were streamed, one by one or (`compact`) as one `message_snapshot`. A stream
//! live on another node is replayed by that node, through the adapter, to the socket's own room.

use entities::message;
use serde_json::Value;

use super::{ChatService, Ending, FinishReason};
use crate::auth::Caller;
use crate::broadcast::{send_piece_to_socket, send_to_socket, Audience, Broadcaster};
use crate::cluster::ControlMessage;
use crate::error::{AppError, ErrorCode};
use crate::protocol::names;
use crate::protocol::outgoing::{
    CompleteMetadata, ErrorEvent, MessageComplete, MessageSnapshot, MessageSources, MessageToken,
};
use crate::protocol::payloads::ResumeFrom;
use crate::protocol::producer::{action_event, ActionEvent};
use crate::retrieval::Source;
use crate::socket::Socket;
use crate::store::messages::{self, TokenLog};
use crate::store::{MessageStatus, Role};
use crate::{rooms, store};
use entities::{steps_and_calls, Action};

/// A stream's recorded events, borrowed from the live log or read from the database.
struct Recording<'a> {
    chat_id: i64,
    message_id: i64,
    status: MessageStatus,
    sources: Option<&'a [Source]>,
    reasoning: &'a [String],
    /// Steps, tool calls and their results.
    actions: &'a [Action],
    tokens: &'a [String],
    complete: Option<&'a MessageComplete>,
    /// How it ended, once it did: a failure's `error` goes just before `message_complete`, as
    /// it went live.
    ending: Option<&'a Ending>,
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
        let token_log = row.token_log.clone().unwrap_or_default();
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
                usage: row.usage,
            },
        })
    }

    fn recording<'a>(
        &'a self,
        complete: Option<&'a MessageComplete>,
        ending: Option<&'a Ending>,
    ) -> Recording<'a> {
        Recording {
            chat_id: self.row.chat_id,
            message_id: self.row.id,
            status: self.row.status,
            sources: self.sources.as_deref(),
            reasoning: &self.token_log.reasoning,
            actions: &self.token_log.actions,
            tokens: &self.token_log.tokens,
            complete,
            ending,
        }
    }

    /// How the row ended; `None` while it streams.
    pub(crate) fn ending(&self) -> Option<Ending> {
        Ending::of_row(self.row.status, self.row.finish_reason)
    }
}

/// Where a replay goes: a socket of this node, or a socket room reached through the adapter.
enum Target<'a> {
    Socket(&'a Socket),
    Room(String),
}

impl Target<'_> {
    /// Sends the replay in order; stops once the socket is closed or being disconnected.
    fn send(&self, broadcaster: &Broadcaster, packets: &[Replayed<'_>]) {
        for packet in packets {
            let reached = match (self, packet) {
                (Target::Socket(socket), Replayed::Piece(event, piece)) => {
                    send_piece_to_socket(socket, event, piece)
                }
                (Target::Socket(socket), Replayed::Event(event, payload)) => {
                    send_to_socket(socket, event, payload)
                }
                (Target::Room(room), Replayed::Piece(event, piece)) => {
                    broadcaster.send_piece(&Audience::room(room.clone()), event, piece);
                    true
                }
                (Target::Room(room), Replayed::Event(event, payload)) => {
                    broadcaster.send(&Audience::room(room.clone()), event, payload);
                    true
                }
            };
            if !reached {
                break;
            }
        }
    }
}

/// One event of a replay: a stream piece (which a socket that is behind gets merged), or any
/// other event.
enum Replayed<'a> {
    Piece(&'static str, MessageToken<'a>),
    Event(&'static str, Value),
}

impl ChatService {
    pub async fn replay(
        &self,
        socket: &Socket,
        message_id: i64,
        from: ResumeFrom,
        caller: &Caller,
    ) -> Result<(), AppError> {
        if let Some(live) = self.live_stream(message_id) {
            caller.require_visible(live.project_id, "stream")?;
            self.replay_live(&live, &Target::Socket(socket), from);
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
                    from,
                })
                .await;
        }
        self.replay_stored(&stored, &Target::Socket(socket), from);
        Ok(())
    }

    /// A resume sent to another node for a stream of this one.
    pub async fn replay_to_room(
        &self,
        message_id: i64,
        socket_room: String,
        from: ResumeFrom,
    ) -> Result<(), AppError> {
        let target = Target::Room(socket_room);
        if let Some(live) = self.live_stream(message_id) {
            self.replay_live(&live, &target, from);
            return Ok(());
        }
        // It ended after the other node looked: the stored reply is complete.
        let (stored, _) = self.stored_stream(message_id).await?;
        self.replay_stored(&stored, &target, from);
        Ok(())
    }

    /// Under the log lock, so no live event slips in between; what follows comes live.
    fn replay_live(&self, live: &super::LiveStream, target: &Target<'_>, from: ResumeFrom) {
        let log = live.log();
        let recording = Recording {
            chat_id: live.chat_id,
            message_id: live.message_id,
            status: log
                .ending
                .as_ref()
                .map_or(MessageStatus::Streaming, Ending::status),
            sources: log.sources.as_deref(),
            reasoning: &log.reasoning,
            actions: &log.actions,
            tokens: &log.tokens,
            complete: log.complete.as_ref(),
            ending: log.ending.as_ref(),
        };
        target.send(&self.inner.broadcaster, &recording.packets(from));
    }

    /// Through the socket's outbox: a socket that falls behind gets the pieces merged.
    fn replay_stored(&self, stored: &StoredStream, target: &Target<'_>, from: ResumeFrom) {
        let complete = stored.complete();
        let ending = stored.ending();
        let recording = stored.recording(complete.as_ref(), ending.as_ref());
        target.send(&self.inner.broadcaster, &recording.packets(from));
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

fn value(payload: impl serde::Serialize) -> Value {
    serde_json::to_value(payload).unwrap_or_default()
}

impl<'a> Recording<'a> {
    /// The replay's events in order.
    fn packets(&self, from: ResumeFrom) -> Vec<Replayed<'a>> {
        let mut out = if from.compact {
            vec![Replayed::Event(
                names::MESSAGE_SNAPSHOT,
                value(self.snapshot(from.after_index)),
            )]
        } else {
            self.pieces(from.after_index)
        };
        if let Some(complete) = self.complete {
            if let Some(message) = self.ending.and_then(Ending::failure) {
                out.push(Replayed::Event(
                    names::ERROR,
                    value(ErrorEvent {
                        code: ErrorCode::GenerationFailed,
                        message: message.to_owned(),
                        event: names::SEND_MESSAGE,
                        chat_id: Some(self.chat_id),
                        message_id: Some(self.message_id),
                        retry_after_ms: None,
                    }),
                ));
            }
            out.push(Replayed::Event(names::MESSAGE_COMPLETE, value(complete)));
        }
        out
    }

    /// The first token after `after_index` (the whole stream, sources and reasoning included,
    /// without one).
    fn first_token(after_index: Option<u64>) -> usize {
        after_index.map_or(0, |a| {
            usize::try_from(a).map_or(usize::MAX, |a| a.saturating_add(1))
        })
    }

    /// Sources, reasoning and tokens one by one, as they were streamed.
    fn pieces(&self, after_index: Option<u64>) -> Vec<Replayed<'a>> {
        let piece = |event, token: &'a str, index| {
            Replayed::Piece(
                event,
                MessageToken {
                    chat_id: self.chat_id,
                    message_id: self.message_id,
                    token,
                    index,
                },
            )
        };
        let mut out = Vec::with_capacity(self.tokens.len() + 2);
        if after_index.is_none() {
            if let Some(sources) = self.sources {
                out.push(Replayed::Event(
                    names::MESSAGE_SOURCES,
                    value(MessageSources {
                        chat_id: self.chat_id,
                        message_id: self.message_id,
                        sources,
                    }),
                ));
            }
            for (index, token) in self.reasoning.iter().enumerate() {
                out.push(piece(names::MESSAGE_REASONING, token, index));
            }
            // Steps and tool calls after the reasoning, before the tokens (PROTOCOL §9.3).
            for (index, action) in self.actions.iter().enumerate() {
                out.push(Replayed::Event(
                    action_event(action),
                    value(ActionEvent {
                        chat_id: self.chat_id,
                        message_id: self.message_id,
                        index,
                        action: action.into(),
                    }),
                ));
            }
        }
        let first = Self::first_token(after_index);
        for (index, token) in self.tokens.iter().enumerate().skip(first) {
            out.push(piece(names::MESSAGE_TOKEN, token, index));
        }
        out
    }

    /// Everything after `after_index` so far, as one event.
    fn snapshot(&self, after_index: Option<u64>) -> MessageSnapshot<'a> {
        let first = Self::first_token(after_index);
        let (steps, tool_calls) = steps_and_calls(self.actions);
        MessageSnapshot {
            chat_id: self.chat_id,
            message_id: self.message_id,
            content: self.tokens.iter().skip(first).map(String::as_str).collect(),
            // Reasoning comes before the answer: a client past a token has it already.
            reasoning: if after_index.is_none() {
                self.reasoning.concat()
            } else {
                String::new()
            },
            last_index: self.tokens.len().checked_sub(1),
            last_reasoning_index: self.reasoning.len().checked_sub(1),
            sources: self.sources.unwrap_or_default(),
            status: self.status,
            steps,
            tool_calls,
            last_action_index: self.actions.len().checked_sub(1),
        }
    }
}

#[async_trait::async_trait]
impl crate::cluster::ControlHandler for ChatService {
    fn cancel_here(&self, message_id: i64) -> bool {
        ChatService::cancel_here(self, message_id)
    }

    async fn replay_to_room(&self, message_id: i64, socket_room: String, from: ResumeFrom) {
        if let Err(e) = ChatService::replay_to_room(self, message_id, socket_room, from).await {
            tracing::warn!(message_id, "resume for another node failed: {e}");
        }
    }

    async fn apply_pieces(
        &self,
        message_id: i64,
        first_line: usize,
        lines: Vec<String>,
    ) -> crate::cluster::PiecesOutcome {
        ChatService::apply_pieces(self, message_id, first_line, lines).await
    }
}
