//! Room events between nodes, on one Redis channel: this node's broadcasts go out through the
//! cluster as the broadcaster's `Relay`, and the other nodes' come in and are handed to the
//! broadcaster for this node's sockets.

use futures::StreamExt;
use socketioxide_redis::drivers::{ChanItem, MessageStream};

use super::Cluster;
use crate::broadcast::{Broadcaster, Relay, RoomEvent};
use crate::socket::PubSubError;

#[async_trait::async_trait]
impl Relay for Cluster {
    fn node_id(&self) -> &str {
        Cluster::node_id(self)
    }

    fn is_up(&self) -> bool {
        self.redis_up()
    }

    async fn publish(&self, event: &RoomEvent) -> Result<(), PubSubError> {
        self.publish_event(event).await
    }
}

pub(super) async fn listen(
    mut messages: MessageStream<ChanItem>,
    own_node_id: String,
    broadcaster: Broadcaster,
) {
    while let Some((_, bytes)) = messages.next().await {
        match serde_json::from_slice::<RoomEvent>(&bytes) {
            Ok(event) if event.from_node == own_node_id => {}
            Ok(event) => broadcaster.deliver_remote(event),
            Err(e) => tracing::warn!("unreadable room event from another node: {e}"),
        }
    }
    tracing::warn!("room event channel closed");
}
