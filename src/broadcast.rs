//! Sending server events, with every failure handled on purpose.
//!
//! socketioxide's emit fails when a socket's outgoing buffer is full. A dropped token would leave
//! a hole in that client's stream, so such a socket is disconnected (logged and counted): the
//! client reconnects and `resume_message` gives it exactly what it missed.
//!
//! With several nodes, this node's sockets get the event directly and the other nodes' sockets
//! through the Redis adapter: one queue, forwarded in order, so every receiver sees a stream's
//! events in the order they were sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError};
use tokio::sync::mpsc;

use crate::cluster::Cluster;
use crate::rooms;
use crate::socket::{Io, Socket};

/// Who receives an event: the sockets of `rooms` (each once), minus `except`.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    rooms: Vec<String>,
    except: Option<Sid>,
}

impl Audience {
    pub fn room(room: String) -> Self {
        Self {
            rooms: vec![room],
            except: None,
        }
    }

    pub fn and_room(mut self, room: String) -> Self {
        self.rooms.push(room);
        self
    }

    /// Also the socket `sid`, whether or not it is in one of the rooms.
    pub fn and_socket(self, sid: Option<Sid>) -> Self {
        match sid {
            Some(sid) => self.and_room(rooms::socket(sid)),
            None => self,
        }
    }

    pub fn except(mut self, sid: Sid) -> Self {
        self.except = Some(sid);
        self
    }
}

/// Sends to rooms of every node.
#[derive(Clone, Default)]
pub struct Broadcaster {
    /// Set once the Socket.IO layer is built: the layer's state (the chat pipeline) needs a
    /// broadcaster before the `SocketIo` handle exists.
    io: Arc<OnceLock<Io>>,
    /// Set when there are other nodes.
    remote: Arc<OnceLock<RemoteQueue>>,
}

/// Events on their way to the other nodes, forwarded by one task in the order they were queued.
struct RemoteQueue {
    tx: mpsc::UnboundedSender<RemoteEvent>,
    pending: Arc<AtomicUsize>,
    /// Dropped because the queue was full, for the log.
    dropped: AtomicUsize,
}

struct RemoteEvent {
    rooms: Vec<String>,
    except: Option<String>,
    event: String,
    payload: Box<RawValue>,
}

impl Broadcaster {
    pub fn attach(&self, io: Io, cluster: &Cluster) {
        if self.io.set(io.clone()).is_err() {
            tracing::warn!("broadcaster attached twice; keeping the first Socket.IO handle");
            return;
        }
        if cluster.is_multi_node() {
            let (tx, rx) = mpsc::unbounded_channel();
            let pending = Arc::new(AtomicUsize::new(0));
            tokio::spawn(forward(io, cluster.clone(), rx, pending.clone()));
            let _ = self.remote.set(RemoteQueue {
                tx,
                pending,
                dropped: AtomicUsize::new(0),
            });
        }
    }

    /// Waits (at most `limit`) until the events queued for other nodes have left: at shutdown,
    /// so the last `message_complete` of a stream reaches every node.
    pub async fn flush(&self, limit: Duration) {
        let Some(remote) = self.remote.get() else {
            return;
        };
        let deadline = tokio::time::Instant::now() + limit;
        while remote.pending.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends `event` to every socket of the audience, in this process; returns how many got it.
    /// Synchronous, so a caller holding a lock keeps the order of its events.
    pub fn send<T: Serialize + ?Sized>(
        &self,
        audience: &Audience,
        event: &str,
        payload: &T,
    ) -> usize {
        let Some(io) = self.io.get() else {
            return 0;
        };
        if audience.rooms.is_empty() {
            return 0;
        }
        let mut operators = io.to(audience.rooms.clone());
        if let Some(sid) = audience.except {
            operators = operators.except(rooms::socket(sid));
        }
        let sockets = operators.sockets();
        // Serialise the payload once; each socket's packet then only copies the JSON text.
        let encoded = match serde_json::value::to_raw_value(payload) {
            Ok(raw) => raw,
            Err(e) => {
                tracing::error!(event, "cannot serialize event: {e}");
                return 0;
            }
        };
        let delivered = sockets
            .iter()
            .filter(|socket| emit(socket, event, &*encoded))
            .count();
        // Counted once per broadcast, not per socket: the label lookup stays off the per-socket path.
        count_out(event, delivered);
        if let Some(remote) = self.remote.get() {
            if remote.pending.load(Ordering::Acquire) >= REMOTE_QUEUE_LIMIT {
                // Redis answers too slowly to keep up: better a counted drop (those clients
                // resume) than a queue that grows until the process runs out of memory.
                metrics::counter!("ragcast_remote_dropped_total").increment(1);
                let dropped = remote.dropped.fetch_add(1, Ordering::Relaxed);
                if dropped % 10_000 == 0 {
                    tracing::warn!(
                        dropped = dropped + 1,
                        "events for other nodes are piling up (Redis is slow): dropping them"
                    );
                }
                return delivered;
            }
            remote.pending.fetch_add(1, Ordering::AcqRel);
            let queued = remote.tx.send(RemoteEvent {
                rooms: audience.rooms.clone(),
                except: audience.except.map(rooms::socket),
                event: event.to_owned(),
                payload: encoded,
            });
            if queued.is_err() {
                remote.pending.fetch_sub(1, Ordering::AcqRel);
            }
        }
        delivered
    }
}

/// Events waiting for Redis at most; past it, new ones for other nodes are dropped (counted).
const REMOTE_QUEUE_LIMIT: usize = 100_000;

/// Sends queued events to the other nodes' sockets through the adapter, skipping this node's
/// sockets (they had theirs already). While Redis is down, events for other nodes are dropped
/// (counted): nothing tells those clients, which resume when they see a gap (README, "Limits to
/// know").
async fn forward(
    io: Io,
    cluster: Cluster,
    mut rx: mpsc::UnboundedReceiver<RemoteEvent>,
    pending: Arc<AtomicUsize>,
) {
    while let Some(remote) = rx.recv().await {
        if cluster.redis_up() {
            let mut operators = io.to(remote.rooms).except(cluster.node_room().to_owned());
            if let Some(except) = remote.except {
                operators = operators.except(except);
            }
            if let Err(e) = operators.emit(&remote.event, &*remote.payload).await {
                metrics::counter!("ragcast_remote_dropped_total").increment(1);
                tracing::warn!(event = remote.event, "cannot send to other nodes: {e}");
            }
        } else {
            metrics::counter!("ragcast_remote_dropped_total").increment(1);
        }
        pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Disconnects a socket whose buffer overflowed. The disconnect packet itself needs room in that
/// buffer, so until the client drains it the socket is out of every room (nothing more reaches
/// it: no hole in its stream) and the disconnect is retried. A client that never reads is closed
/// by the Engine.IO heartbeat, whose ping cannot be queued either.
fn disconnect_when_possible(socket: &Socket, event: &str) {
    if socket.extensions.insert(Overflowed).is_some() {
        return; // already on its way out (a direct send, such as an ack, found it full again)
    }
    metrics::counter!("ragcast_emit_overflow_total").increment(1);
    tracing::warn!(
        sid = %socket.id,
        event,
        "outgoing buffer full: the client is not reading fast enough; disconnecting it so it reconnects and resumes"
    );
    socket.leave_all();
    let socket = socket.clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        while socket.connected() && started.elapsed() < DISCONNECT_RETRY_LIMIT {
            match socket.clone().disconnect() {
                Err(SocketError::InternalChannelFull) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(()) | Err(SocketError::Closed) => return,
            }
        }
    });
}

/// Marks a socket being disconnected for an overflow, so that it is counted, logged and retried once.
#[derive(Clone)]
struct Overflowed;

/// Past the Engine.IO heartbeat (ping interval + timeout), which closes a client that never reads.
const DISCONNECT_RETRY_LIMIT: Duration = Duration::from_secs(60);

/// How long a replay waits for a full socket buffer to drain before giving up on the socket.
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Emits to one socket, waiting while its buffer is full (for replays, which nothing else
/// interleaves with). A socket that stays full for `DRAIN_WAIT` is disconnected.
pub async fn send_when_ready<T: Serialize + ?Sized>(
    socket: &Socket,
    event: &str,
    payload: &T,
) -> bool {
    let started = std::time::Instant::now();
    loop {
        match socket.emit(event, payload) {
            Ok(()) => {
                count_out(event, 1);
                return true;
            }
            Err(SendError::Socket(SocketError::InternalChannelFull))
                if started.elapsed() < DRAIN_WAIT =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            Err(_) => return send_to_socket(socket, event, payload),
        }
    }
}

/// Emits to one socket; a full buffer disconnects it so the client resumes. Returns whether sent.
pub fn send_to_socket<T: Serialize + ?Sized>(socket: &Socket, event: &str, payload: &T) -> bool {
    let sent = emit(socket, event, payload);
    count_out(event, usize::from(sent));
    sent
}

fn count_out(event: &str, delivered: usize) {
    if delivered > 0 {
        metrics::counter!("ragcast_events_out_total", "event" => event.to_owned())
            .increment(delivered as u64);
    }
}

/// One emit with the overflow policy; not counted (callers count).
fn emit<T: Serialize + ?Sized>(socket: &Socket, event: &str, payload: &T) -> bool {
    match socket.emit(event, payload) {
        Ok(()) => true,
        Err(SendError::Socket(SocketError::Closed)) => false,
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            disconnect_when_possible(socket, event);
            false
        }
        Err(SendError::Serialize(e)) => {
            tracing::error!(event, "cannot serialize event: {e}");
            false
        }
    }
}
