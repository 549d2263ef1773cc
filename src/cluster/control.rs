//! Control messages between nodes: the node that runs a stream acts on a `cancel_message` or
//! `resume_message` that a client sent to another node.

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use socketioxide_redis::drivers::{ChanItem, MessageStream};

use crate::chat::ChatService;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlMessage {
    Cancel {
        /// The node running the stream; the others ignore the message.
        node_id: String,
        message_id: i64,
    },
    Resume {
        node_id: String,
        message_id: i64,
        /// The resuming socket's own room, which the adapter reaches on its node.
        socket_room: String,
        after_index: Option<u64>,
    },
}

pub(super) async fn listen(mut messages: MessageStream<ChanItem>, chat: ChatService) {
    while let Some((_, bytes)) = messages.next().await {
        let message: ControlMessage = match serde_json::from_slice(&bytes) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!("unreadable control message: {e}");
                continue;
            }
        };
        let chat = chat.clone();
        match message {
            ControlMessage::Cancel {
                node_id,
                message_id,
            } if node_id == chat.node_id() && !chat.cancel_here(message_id) => {
                tracing::info!(message_id, "cancel from another node: the stream had ended");
            }
            ControlMessage::Resume {
                node_id,
                message_id,
                socket_room,
                after_index,
            } if node_id == chat.node_id() => {
                // Off the listener: a replay from the database awaits.
                tokio::spawn(async move {
                    if let Err(e) = chat
                        .replay_to_room(message_id, socket_room, after_index)
                        .await
                    {
                        tracing::warn!(message_id, "resume for another node failed: {e}");
                    }
                });
            }
            _ => {}
        }
    }
    tracing::warn!("control channel closed");
}
