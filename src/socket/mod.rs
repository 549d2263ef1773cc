//! The Socket.IO types every transport-side module names: one adapter for every deployment
//! (socketioxide-redis over `PubSub`, which is local-only without Redis).

mod pubsub;

pub use pubsub::{PubSub, PubSubError, RedisPubSub};

use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::SocketIo;
use socketioxide_redis::CustomRedisAdapter;

pub type Adapter = CustomRedisAdapter<socketioxide::adapter::Emitter, PubSub>;
pub type Io = SocketIo<Adapter>;
pub type Socket = SocketRef<Adapter>;
pub type Ack = AckSender<Adapter>;
