//! The pub/sub link between nodes: the driver socketioxide-redis sends room broadcasts through,
//! also used for ragcast's own control messages. `Off` is a single process: nothing is published
//! and nothing arrives, so the same adapter type serves both deployments.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, PushInfo, PushKind};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

/// How long a Redis command may take before it fails (and the node reports not ready).
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

#[derive(Clone)]
pub enum PubSub {
    Off,
    Redis(RedisPubSub),
}

/// One multiplexed Redis connection that reconnects by itself and subscribes again to every
/// channel afterwards (redis-rs `ConnectionManager`, RESP3 push messages).
#[derive(Clone)]
pub struct RedisPubSub {
    conn: ConnectionManager,
    handlers: Handlers,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PubSubError(#[from] redis::RedisError);

impl RedisPubSub {
    pub async fn connect(url: &str) -> Result<Self, PubSubError> {
        let client = redis::Client::open(url)?;
        let handlers = Handlers::default();
        let routes = handlers.clone();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_max_delay(Duration::from_secs(1))
            .set_push_sender(move |push: PushInfo| {
                route(push, &routes);
                Ok::<(), std::convert::Infallible>(())
            })
            .set_automatic_resubscription();
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self { conn, handlers })
    }

    pub async fn ping(&self) -> Result<(), PubSubError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Sets `key` (to 1) for `ttl`.
    pub async fn set_expiring(&self, key: &str, ttl: Duration) -> Result<(), PubSubError> {
        let mut conn = self.conn.clone();
        conn.set_ex::<_, _, ()>(key, 1u8, ttl.as_secs().max(1))
            .await?;
        Ok(())
    }

    /// The messages of every channel matching `pattern` (Redis `PSUBSCRIBE`), with their
    /// channel.
    pub async fn psubscribe(
        &self,
        pattern: String,
    ) -> Result<MessageStream<ChanItem>, PubSubError> {
        let (tx, rx) = mpsc::channel(CHANNEL_BUFFER);
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pattern.clone(), tx);
        self.conn.clone().psubscribe(pattern).await?;
        Ok(MessageStream::new(rx))
    }

    pub async fn exists(&self, key: &str) -> Result<bool, PubSubError> {
        let mut conn = self.conn.clone();
        Ok(conn.exists(key).await?)
    }
}

/// Hands a pushed message to the stream subscribed to its channel (or, for a pattern
/// subscription, to its pattern's).
fn route(push: PushInfo, handlers: &Handlers) {
    let mut data = push.data.into_iter();
    let key = match push.kind {
        PushKind::Message => None,
        PushKind::PMessage => data
            .next()
            .and_then(|pattern| redis::from_redis_value::<String>(pattern).ok()),
        _ => return,
    };
    let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(channel), Ok(payload)) = (
        redis::from_redis_value::<String>(channel),
        redis::from_redis_value::<Vec<u8>>(payload),
    ) else {
        tracing::warn!("unreadable message from Redis pub/sub");
        return;
    };
    let handlers = handlers.read().unwrap_or_else(|p| p.into_inner());
    if let Some(tx) = handlers.get(key.as_ref().unwrap_or(&channel)) {
        if tx.try_send((channel, payload)).is_err() {
            metrics::counter!("ragcast_redis_dropped_total").increment(1);
            tracing::error!("a Redis pub/sub message was dropped: this node cannot keep up");
        }
    }
}

/// Messages that may wait for a node's reader before one is dropped (allocated as used).
const CHANNEL_BUFFER: usize = 1 << 16;

impl Driver for PubSub {
    type Error = PubSubError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        match self {
            PubSub::Off => Ok(()),
            PubSub::Redis(redis) => {
                let mut conn = redis.conn.clone();
                conn.publish::<_, _, ()>(chan, val).await?;
                Ok(())
            }
        }
    }

    async fn subscribe(
        &self,
        chan: String,
        _size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        match self {
            PubSub::Off => Ok(MessageStream::new_empty()),
            PubSub::Redis(redis) => {
                let (tx, rx) = mpsc::channel(CHANNEL_BUFFER);
                redis
                    .handlers
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(chan.clone(), tx);
                redis.conn.clone().subscribe(chan).await?;
                Ok(MessageStream::new(rx))
            }
        }
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        match self {
            PubSub::Off => Ok(()),
            PubSub::Redis(redis) => {
                redis
                    .handlers
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&chan);
                redis.conn.clone().unsubscribe(chan).await?;
                Ok(())
            }
        }
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        match self {
            PubSub::Off => Ok(1),
            PubSub::Redis(redis) => {
                let mut conn = redis.conn.clone();
                let (_, count): (String, u16) = redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg(chan)
                    .query_async(&mut conn)
                    .await?;
                Ok(count)
            }
        }
    }
}
