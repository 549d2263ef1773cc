//! Several ragcast processes as one server (PROTOCOL §7 `--redis-url`).
//!
//! The Redis link itself (`socket::PubSub`, or none for one process) carries socketioxide-redis's
//! traffic and ragcast's own channels; it reconnects and subscribes again by itself.
//!
//! - `control`: `cancel_message` / `resume_message` for a stream that runs on another node.
//! - `events`: room broadcasts between nodes (the broadcaster's `Relay`), handed to each node's
//!   broadcaster for its own sockets.
//! - `lease`: node heartbeats in the database; the streams of a node that stopped beating are
//!   marked `interrupted` by another node, and its unfinished documents ingested again.
//!
//! A node broadcasts to its own sockets directly and publishes the event for the other nodes,
//! which deliver it to theirs the same way (each socket's outbox), so each socket gets each
//! event once and in the order it was sent. The adapter (socketioxide-redis) still answers
//! socketioxide's own cluster-wide operations.

mod control;
mod emitters;
mod events;
mod lease;

pub use control::{ControlHandler, ControlMessage, PiecesOutcome};
pub use emitters::EmitterSettings;
pub use lease::Orphans;

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use socketioxide_redis::drivers::Driver;
use socketioxide_redis::{RedisAdapterConfig, RedisAdapterCtr};

use sea_orm::DatabaseConnection;

use crate::broadcast::{Broadcaster, RoomEvent};
use crate::socket::{PubSub, PubSubError, RedisPubSub};

/// How long forwarded pieces wait for the stream's node to apply them (a full feed waits too).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a node checks that Redis answers.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// How long a check waits for the answer: a Redis that hangs is unready within about a second.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(500);

/// How processes find each other; `redis_url: None` is a single process.
#[derive(Clone)]
pub struct ClusterSettings {
    /// A `redis://` URL with RESP3 selected.
    pub redis_url: Option<String>,
    pub prefix: String,
    pub node_name: String,
    pub lease: Duration,
    /// Where the Socket.IO emitters publish; `None`: they are not listened to.
    pub emitters: Option<EmitterSettings>,
}

/// Why a node cannot join: Redis does not answer as the cluster needs.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot connect: {0}")]
    Connect(#[source] PubSubError),
    #[error("no answer: {0}")]
    Ping(#[source] PubSubError),
    #[error("cannot subscribe: {0}")]
    Subscribe(#[source] PubSubError),
}

#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    /// Unique per process start: a restarted process is a new node.
    node_id: String,
    node_name: String,
    pubsub: PubSub,
    prefix: String,
    lease: Duration,
    redis_up: AtomicBool,
    /// Set at a clean stop: the heartbeat stops, so the node's row stays removed.
    leaving: AtomicBool,
    emitters: Option<EmitterSettings>,
    /// Forwarded pieces waiting for the stream's node to answer, by request id.
    forwarded: std::sync::Mutex<
        std::collections::HashMap<String, tokio::sync::oneshot::Sender<PiecesOutcome>>,
    >,
}

impl Cluster {
    /// Connects to Redis when one is configured; an unreachable Redis stops the start.
    pub async fn connect(settings: &ClusterSettings) -> Result<Self, StartError> {
        let pubsub = match &settings.redis_url {
            None => PubSub::Off,
            Some(url) => {
                let redis = RedisPubSub::connect(url)
                    .await
                    .map_err(StartError::Connect)?;
                redis.ping().await.map_err(StartError::Ping)?;
                PubSub::Redis(redis)
            }
        };
        let node_id = new_node_id();
        Ok(Self {
            inner: Arc::new(Inner {
                node_id,
                node_name: settings.node_name.clone(),
                pubsub,
                prefix: settings.prefix.clone(),
                lease: settings.lease,
                redis_up: AtomicBool::new(true),
                leaving: AtomicBool::new(false),
                emitters: settings.emitters.clone(),
                forwarded: Default::default(),
            }),
        })
    }

    /// Marks `key` (under this deployment's prefix) for `ttl` on every node; nothing alone.
    pub async fn remember(&self, key: &str, ttl: Duration) -> Result<(), PubSubError> {
        match &self.inner.pubsub {
            PubSub::Off => Ok(()),
            PubSub::Redis(redis) => {
                let key = format!("{}:{key}", self.inner.prefix);
                redis.set_expiring(&key, ttl).await
            }
        }
    }

    /// Whether any node marked `key` and it has not expired; `false` alone.
    pub async fn remembers(&self, key: &str) -> Result<bool, PubSubError> {
        match &self.inner.pubsub {
            PubSub::Off => Ok(false),
            PubSub::Redis(redis) => redis.exists(&format!("{}:{key}", self.inner.prefix)).await,
        }
    }

    pub fn is_multi_node(&self) -> bool {
        matches!(self.inner.pubsub, PubSub::Redis(_))
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    pub fn node_name(&self) -> &str {
        &self.inner.node_name
    }

    pub fn lease(&self) -> Duration {
        self.inner.lease
    }

    /// Whether Redis answered the last check; always true for a single process.
    pub fn redis_up(&self) -> bool {
        self.inner.redis_up.load(Ordering::Relaxed)
    }

    /// The adapter's state: its channels carry the deployment's prefix.
    pub fn adapter_state(&self) -> RedisAdapterCtr<PubSub> {
        let config = RedisAdapterConfig::new()
            .with_prefix(self.inner.prefix.clone())
            .with_request_timeout(Duration::from_secs(2));
        RedisAdapterCtr::new_with_driver(self.inner.pubsub.clone(), config)
    }

    fn control_channel(&self) -> String {
        format!("{}#ragcast#control", self.inner.prefix)
    }

    fn events_channel(&self) -> String {
        format!("{}#ragcast#events", self.inner.prefix)
    }

    /// Starts the background work of a node: Redis health, control messages (to `control`),
    /// the other nodes' room events (to `events`), heartbeats in `db`, and the take-over of
    /// stopped nodes' work (by `orphans`).
    pub async fn start(
        &self,
        db: DatabaseConnection,
        control: Arc<dyn ControlHandler>,
        events: Broadcaster,
        orphans: Vec<Arc<dyn Orphans>>,
    ) -> Result<(), StartError> {
        if let PubSub::Redis(redis) = &self.inner.pubsub {
            let events_for_emitters = events.clone();
            tokio::spawn(watch_redis(self.clone(), redis.clone()));
            let room_events = self
                .inner
                .pubsub
                .subscribe(self.events_channel(), 0)
                .await
                .map_err(StartError::Subscribe)?;
            tokio::spawn(events::listen(
                room_events,
                self.node_id().to_owned(),
                events,
            ));
            let messages = self
                .inner
                .pubsub
                .subscribe(self.control_channel(), 0)
                .await
                .map_err(StartError::Subscribe)?;
            tokio::spawn(control::listen(messages, self.clone(), control));
            if let Some(settings) = self.inner.emitters.clone() {
                emitters::start(self, settings, events_for_emitters)
                    .await
                    .map_err(StartError::Subscribe)?;
            }
        }
        tokio::spawn(lease::keep(self.clone(), db, orphans));
        Ok(())
    }

    /// Sends a control message to every node (the one running the stream acts on it).
    pub async fn publish(&self, message: &ControlMessage) -> Result<(), PubSubError> {
        let bytes = serde_json::to_vec(message).expect("control messages serialize");
        self.inner
            .pubsub
            .publish(self.control_channel(), bytes)
            .await
    }

    /// Sends a room event to the other nodes.
    pub async fn publish_event(&self, event: &RoomEvent) -> Result<(), PubSubError> {
        let bytes = serde_json::to_vec(event).expect("room events serialize");
        self.inner
            .pubsub
            .publish(self.events_channel(), bytes)
            .await
    }

    /// The messages of one of ragcast's own channels (`{prefix}#ragcast#{name}`), from every
    /// node including this one; `None` alone.
    pub async fn subscribe(
        &self,
        name: &str,
    ) -> Result<Option<futures::stream::BoxStream<'static, Vec<u8>>>, PubSubError> {
        if !self.is_multi_node() {
            return Ok(None);
        }
        let channel = format!("{}#ragcast#{name}", self.inner.prefix);
        let stream = self.inner.pubsub.subscribe(channel, 0).await?;
        Ok(Some(Box::pin(futures::StreamExt::map(
            stream,
            |(_, bytes)| bytes,
        ))))
    }

    /// The messages, with their channel, of a channel (or, `pattern`, of every channel matching
    /// it) of other programs sharing the Redis: the Socket.IO emitters back ends use. `None`
    /// alone.
    pub async fn listen_foreign(
        &self,
        channel: &str,
        pattern: bool,
    ) -> Result<Option<futures::stream::BoxStream<'static, (String, Vec<u8>)>>, PubSubError> {
        let PubSub::Redis(redis) = &self.inner.pubsub else {
            return Ok(None);
        };
        let stream = if pattern {
            redis.psubscribe(channel.to_owned()).await?
        } else {
            self.inner.pubsub.subscribe(channel.to_owned(), 0).await?
        };
        Ok(Some(Box::pin(stream)))
    }

    /// Publishes on one of ragcast's own channels; nothing alone.
    pub async fn publish_to(&self, name: &str, bytes: Vec<u8>) -> Result<(), PubSubError> {
        if !self.is_multi_node() {
            return Ok(());
        }
        let channel = format!("{}#ragcast#{name}", self.inner.prefix);
        self.inner.pubsub.publish(channel, bytes).await
    }

    /// Hands a back end's pieces to the node running their stream and waits for what it made of
    /// them; `None` when it does not answer within `FORWARD_TIMEOUT` (or Redis is down).
    pub async fn forward_pieces(
        &self,
        node_id: String,
        message_id: i64,
        first_line: usize,
        lines: Vec<String>,
    ) -> Option<PiecesOutcome> {
        let request_id = format!(
            "{}-{}",
            self.node_id(),
            getrandom::u64().unwrap_or_default()
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.forwarded().insert(request_id.clone(), tx);
        let message = ControlMessage::Pieces {
            node_id,
            message_id,
            from_node: self.node_id().to_owned(),
            request_id: request_id.clone(),
            first_line,
            lines,
        };
        let answer = match self.publish(&message).await {
            Ok(()) => tokio::time::timeout(FORWARD_TIMEOUT, rx)
                .await
                .ok()
                .and_then(Result::ok),
            Err(e) => {
                tracing::warn!(message_id, "cannot forward pieces: {e}");
                None
            }
        };
        self.forwarded().remove(&request_id);
        answer
    }

    fn forwarded(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<String, tokio::sync::oneshot::Sender<PiecesOutcome>>,
    > {
        self.inner
            .forwarded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn answered(&self, request_id: &str, outcome: PiecesOutcome) {
        if let Some(waiting) = self.forwarded().remove(request_id) {
            let _ = waiting.send(outcome);
        }
    }

    /// Leaves at a clean stop, so no other node waits a lease for this node's streams.
    pub async fn leave(&self, db: &DatabaseConnection) {
        self.inner.leaving.store(true, Ordering::Relaxed);
        lease::leave(self, db).await;
    }

    fn is_leaving(&self) -> bool {
        self.inner.leaving.load(Ordering::Relaxed)
    }
}

/// Pings Redis every second: readiness follows it, and a change is logged once.
async fn watch_redis(cluster: Cluster, redis: RedisPubSub) {
    let mut tick = tokio::time::interval(HEALTH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let answer = match tokio::time::timeout(HEALTH_TIMEOUT, redis.ping()).await {
            Ok(answer) => answer.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                HEALTH_TIMEOUT.as_millis()
            )),
        };
        let up = match answer {
            Ok(()) => true,
            Err(e) => {
                if cluster.redis_up() {
                    tracing::error!(
                        "Redis does not answer ({e}): not ready; rooms reach only this node's sockets until it is back"
                    );
                }
                false
            }
        };
        let was_up = cluster.inner.redis_up.swap(up, Ordering::Relaxed);
        if up && !was_up {
            tracing::info!("Redis answers again: ready; rooms span every node again");
        }
        metrics::gauge!("ragcast_redis_up").set(if up { 1.0 } else { 0.0 });
    }
}

fn new_node_id() -> String {
    // Random enough to tell processes apart; no extra dependency for a UUID.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}
