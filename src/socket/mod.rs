//! The Socket.IO types every transport-side module names: one adapter for every deployment
//! (socketioxide-redis over `PubSub`, which is local-only without Redis).

mod pubsub;

pub use pubsub::{PubSub, PubSubError, RedisPubSub};

use std::sync::Arc;

use serde::Serialize;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::handler::{FromMessageParts, Value};
use socketioxide::{SendError, SocketIo};
use socketioxide_redis::CustomRedisAdapter;

pub type Adapter = CustomRedisAdapter<socketioxide::adapter::Emitter, PubSub>;
pub type Io = SocketIo<Adapter>;
pub type Socket = SocketRef<Adapter>;

/// A client's ack callback that can be tried more than once. socketioxide's `AckSender` is spent
/// by a try that finds the socket's queue full, and its answer lost; this one makes a fresh
/// sender for each try, so an ack can wait in the socket's outbox like any event.
#[derive(Clone)]
pub struct Ack {
    socket: Arc<socketioxide::socket::Socket<Adapter>>,
    /// `None`: the client asked for no ack.
    id: Option<i64>,
}

impl Ack {
    /// From the parts socketioxide hands a message extractor.
    pub fn new(socket: &Arc<socketioxide::socket::Socket<Adapter>>, id: Option<i64>) -> Self {
        Self {
            socket: socket.clone(),
            id,
        }
    }

    /// Whether the client waits for an answer.
    pub fn expected(&self) -> bool {
        self.id.is_some()
    }

    /// One try; fails (`InternalChannelFull`) while the socket's queue is full.
    pub fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), SendError> {
        let mut unused = Value::Bytes(Default::default());
        let Ok(sender) = AckSender::from_message_parts(&self.socket, &mut unused, &self.id);
        sender.send(data)
    }
}
