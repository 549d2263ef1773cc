//! Room events between nodes. A node's broadcasts reach the other nodes through a `Relay` (the
//! cluster's Redis channel), and each node delivers what arrives to its own sockets through
//! their outboxes: a socket that is behind gets the same merging and disconnect policy
//! whichever node the event came from. One publisher and one reader per node keep a stream's
//! order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{count_out, deliver, reaches, Broadcaster, Fold};
use crate::protocol::outgoing::MessageToken;

/// One broadcast, as it travels between nodes.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoomEvent {
    /// The node that sent it, whose own sockets had it already.
    pub from_node: String,
    pub rooms: Vec<String>,
    /// A socket room left out (the sender of `typing`).
    pub except: Option<String>,
    pub event: String,
    pub payload: Box<RawValue>,
    #[serde(default)]
    pub fold: FoldKind,
}

/// How the event may be folded while it waits for a socket that is behind (`Fold` without the
/// borrowed piece).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FoldKind {
    #[default]
    Keep,
    /// A stream piece: the payload is a `message_token` / `message_reasoning`.
    Piece,
    Latest(i64),
    Droppable,
}

/// The way to the other nodes (the cluster implements it).
#[async_trait::async_trait]
pub trait Relay: Send + Sync + 'static {
    fn node_id(&self) -> &str;
    /// Whether events can be sent now; while not, they are dropped (counted).
    fn is_up(&self) -> bool;
    async fn publish(&self, event: &RoomEvent) -> Result<(), crate::socket::PubSubError>;
}

/// Publishes queued events for the other nodes, which deliver them to their own sockets. While
/// Redis is down, events for other nodes are dropped (counted): nothing tells those clients,
/// which resume when they see a gap (README, "Limits to know").
pub(super) async fn forward(
    relay: Arc<dyn Relay>,
    mut rx: mpsc::UnboundedReceiver<RoomEvent>,
    pending: Arc<AtomicUsize>,
) {
    while let Some(event) = rx.recv().await {
        if relay.is_up() {
            if let Err(e) = relay.publish(&event).await {
                metrics::counter!("ragcast_remote_dropped_total").increment(1);
                tracing::warn!(event = event.event, "cannot send to other nodes: {e}");
            }
        } else {
            metrics::counter!("ragcast_remote_dropped_total").increment(1);
        }
        pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A stream piece as another node sent it.
#[derive(serde::Deserialize)]
struct RemotePiece {
    chat_id: i64,
    message_id: i64,
    token: String,
    index: usize,
}

impl Broadcaster {
    /// Another node's broadcast, to this node's sockets of its rooms, through their outboxes.
    pub fn deliver_remote(&self, remote: RoomEvent) {
        let Some(io) = self.io.get() else {
            return;
        };
        let mut operators = io.to(remote.rooms);
        if let Some(except) = remote.except {
            operators = operators.except(except);
        }
        let sockets = operators.sockets();
        if sockets.is_empty() {
            return;
        }
        let piece = match remote.fold {
            FoldKind::Piece => serde_json::from_str::<RemotePiece>(remote.payload.get()).ok(),
            _ => None,
        };
        let token = piece.as_ref().map(|p| MessageToken {
            chat_id: p.chat_id,
            message_id: p.message_id,
            token: &p.token,
            index: p.index,
        });
        let fold = match (remote.fold, &token) {
            (FoldKind::Piece, Some(token)) => Fold::Piece(token),
            (FoldKind::Latest(key), _) => Fold::Latest(key),
            (FoldKind::Droppable, _) => Fold::Droppable,
            (FoldKind::Keep | FoldKind::Piece, _) => Fold::Keep,
        };
        let payload: super::Payload = remote.payload.clone().into();
        let delivered = sockets
            .iter()
            .filter(|socket| reaches(deliver(socket, &remote.event, &payload, fold)))
            .count();
        count_out(&remote.event, delivered);
    }
}
