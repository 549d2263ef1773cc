//! Control messages between nodes: the node that runs a stream acts on a `cancel_message` or
//! `resume_message` that a client sent to another node.

use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use socketioxide_redis::drivers::{ChanItem, MessageStream};

use crate::protocol::payloads::ResumeFrom;
pub use crate::protocol::producer::PiecesOutcome;

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
        /// Where the resume starts; a node before v1.1 sends only `after_index`.
        #[serde(flatten)]
        from: ResumeFrom,
    },
    /// A back end's pieces that reached another node than the stream's (PROTOCOL §9.3).
    Pieces {
        node_id: String,
        message_id: i64,
        /// Where the answer goes.
        from_node: String,
        request_id: String,
        /// The number of the first line, for the refusals' messages.
        first_line: usize,
        lines: Vec<String>,
    },
    /// What became of forwarded pieces.
    PiecesAnswer {
        node_id: String,
        request_id: String,
        outcome: PiecesOutcome,
    },
}

/// What a node does with the control messages addressed to it (the chat service implements it,
/// so the cluster never knows the pipeline).
#[async_trait::async_trait]
pub trait ControlHandler: Send + Sync + 'static {
    /// Cancels a stream running here; false when it had already ended.
    fn cancel_here(&self, message_id: i64) -> bool;
    /// Replays a stream of this node to a socket's own room (logging a failure itself).
    async fn replay_to_room(&self, message_id: i64, socket_room: String, from: ResumeFrom);
    /// Applies a back end's pieces to a stream of this node.
    async fn apply_pieces(
        &self,
        message_id: i64,
        first_line: usize,
        lines: Vec<String>,
    ) -> PiecesOutcome;
}

pub(super) async fn listen(
    mut messages: MessageStream<ChanItem>,
    cluster: super::Cluster,
    handler: Arc<dyn ControlHandler>,
) {
    let own_node_id = cluster.node_id().to_owned();
    while let Some((_, bytes)) = messages.next().await {
        let message: ControlMessage = match serde_json::from_slice(&bytes) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!("unreadable control message: {e}");
                continue;
            }
        };
        match message {
            ControlMessage::Cancel {
                node_id,
                message_id,
            } if node_id == own_node_id && !handler.cancel_here(message_id) => {
                tracing::info!(message_id, "cancel from another node: the stream had ended");
            }
            ControlMessage::Resume {
                node_id,
                message_id,
                socket_room,
                from,
            } if node_id == own_node_id => {
                // Off the listener: a replay from the database awaits.
                let handler = handler.clone();
                tokio::spawn(
                    async move { handler.replay_to_room(message_id, socket_room, from).await },
                );
            }
            ControlMessage::Pieces {
                node_id,
                message_id,
                from_node,
                request_id,
                first_line,
                lines,
            } if node_id == own_node_id => {
                // In arrival order: one forwarded batch at a time per stream comes from the
                // forwarding node, which waits for each answer.
                let outcome = handler.apply_pieces(message_id, first_line, lines).await;
                let answer = ControlMessage::PiecesAnswer {
                    node_id: from_node,
                    request_id,
                    outcome,
                };
                if let Err(e) = cluster.publish(&answer).await {
                    tracing::warn!(message_id, "cannot answer forwarded pieces: {e}");
                }
            }
            ControlMessage::PiecesAnswer {
                node_id,
                request_id,
                outcome,
            } if node_id == own_node_id => cluster.answered(&request_id, outcome),
            _ => {}
        }
    }
    tracing::warn!("control channel closed");
}
