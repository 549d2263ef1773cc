//! Sending server events, with every failure handled on purpose.
//!
//! Each socket's events pass through its `Outbox`: straight to socketioxide while the socket
//! keeps up, waiting (tokens merged) while it does not, and a socket that stays behind is
//! disconnected (logged and counted): the client reconnects and `resume_message` gives it
//! exactly what it missed.
//!
//! With several nodes, this node's sockets get the event directly and the other nodes get it
//! through Redis (one queue, forwarded in order), each delivering it to its own sockets through
//! their outboxes, so every receiver sees a stream's events in the order they were sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

mod outbox;
mod remote;

pub use outbox::{Delivery, Fold, Outbox, OutboxSettings, Payload};
pub use remote::{FoldKind, Relay, RoomEvent};

use serde::Serialize;
use socketioxide::socket::Sid;
use socketioxide::SocketError;
use tokio::sync::mpsc;

use crate::protocol::outgoing::MessageToken;
use crate::protocol::PublicId;
use crate::rooms;
use crate::socket::{Ack, Io, Socket};

/// Who receives an event: the sockets of `rooms` (each once), minus `except`.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    rooms: Vec<String>,
    except: Option<Sid>,
    /// Rooms whose sockets are left out (what a Socket.IO emitter's `except` names).
    except_rooms: Vec<String>,
    /// Every socket of the main namespace (an emitter's `emit` to no room).
    everyone: bool,
}

impl Audience {
    pub fn room(room: String) -> Self {
        Self {
            rooms: vec![room],
            ..Self::default()
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

    /// The sockets of `rooms` (every socket when there are none), minus those of `except`: a
    /// Socket.IO emitter's audience.
    pub fn emitter(rooms: Vec<String>, except: Vec<String>) -> Self {
        Self {
            everyone: rooms.is_empty(),
            rooms,
            except: None,
            except_rooms: except,
        }
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
    node_id: String,
    tx: mpsc::UnboundedSender<RoomEvent>,
    pending: Arc<AtomicUsize>,
    /// Dropped because the queue was full, for the log.
    dropped: AtomicUsize,
}

impl Broadcaster {
    /// Sends through `io`, and to the other nodes through `relay` when there are any.
    pub fn attach(&self, io: Io, relay: Option<Arc<dyn Relay>>) {
        if self.io.set(io).is_err() {
            tracing::warn!("broadcaster attached twice; keeping the first Socket.IO handle");
            return;
        }
        if let Some(relay) = relay {
            let (tx, rx) = mpsc::unbounded_channel();
            let pending = Arc::new(AtomicUsize::new(0));
            let node_id = relay.node_id().to_owned();
            tokio::spawn(remote::forward(relay, rx, pending.clone()));
            let _ = self.remote.set(RemoteQueue {
                node_id,
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

    /// The first token index of stream `message_id` still waiting for the slowest of this
    /// node's sockets in `room`, if one is behind.
    pub fn slowest_token(&self, room: &str, message_id: i64) -> Option<usize> {
        let io = self.io.get()?;
        io.local()
            .within(room.to_owned())
            .sockets()
            .iter()
            .filter_map(|socket| socket.extensions.get::<Outbox>())
            .filter_map(|outbox| outbox.first_waiting_token(message_id))
            .min()
    }

    /// Sends `event` to every socket of the audience (here, and through the other nodes);
    /// returns how many of this node's sockets got it or have it waiting. Synchronous, so a
    /// caller holding a lock keeps the order of its events.
    pub fn send<T: Serialize + ?Sized>(
        &self,
        audience: &Audience,
        event: &str,
        payload: &T,
    ) -> usize {
        self.send_folded(audience, event, payload, Fold::Keep)
    }

    /// `send` for a stream's piece: a socket that fell behind gets consecutive pieces merged.
    pub fn send_piece(&self, audience: &Audience, event: &str, piece: &MessageToken<'_>) -> usize {
        self.send_folded(audience, event, piece, Fold::Piece(piece))
    }

    /// `send` to this node's sockets only: for what every node finds out by itself (a stopped
    /// node's members leaving), which would otherwise reach each socket once per node.
    pub fn send_here<T: Serialize + ?Sized>(
        &self,
        audience: &Audience,
        event: &str,
        payload: &T,
    ) -> usize {
        match encode(event, payload) {
            Some(encoded) => self.deliver_here(audience, event, &encoded, Fold::Keep),
            None => 0,
        }
    }

    /// Delivers to this node's sockets of the audience; returns how many got it or have it
    /// waiting.
    fn deliver_here(
        &self,
        audience: &Audience,
        event: &str,
        encoded: &Payload,
        fold: Fold<'_>,
    ) -> usize {
        let delivered = self
            .sockets_here(audience)
            .iter()
            .filter(|socket| reaches(deliver(socket, event, encoded, fold)))
            .count();
        // Counted once per broadcast, not per socket: the label lookup stays off the per-socket path.
        count_out(event, delivered);
        delivered
    }

    /// This node's sockets of the audience.
    pub fn sockets_here(&self, audience: &Audience) -> Vec<Socket> {
        let Some(io) = self.io.get() else {
            return Vec::new();
        };
        if audience.rooms.is_empty() && !audience.everyone {
            return Vec::new();
        }
        let mut operators = if audience.everyone {
            io.local()
        } else {
            io.to(audience.rooms.clone())
        };
        if let Some(sid) = audience.except {
            operators = operators.except(rooms::socket(sid));
        }
        if !audience.except_rooms.is_empty() {
            operators = operators.except(audience.except_rooms.clone());
        }
        operators.sockets()
    }

    /// `send`, saying how the event may be folded while it waits for a socket that fell behind.
    pub fn send_folded<T: Serialize + ?Sized>(
        &self,
        audience: &Audience,
        event: &str,
        payload: &T,
        fold: Fold<'_>,
    ) -> usize {
        if self.io.get().is_none() || audience.rooms.is_empty() {
            return 0;
        }
        // Serialised once; every socket's outbox holds the same payload.
        let Some(encoded) = encode(event, payload) else {
            return 0;
        };
        let delivered = self.deliver_here(audience, event, &encoded, fold);
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
            let queued = remote.tx.send(RoomEvent {
                from_node: remote.node_id.clone(),
                rooms: audience.rooms.clone(),
                except: audience.except.map(rooms::socket),
                event: event.to_owned(),
                payload: encoded.as_ref().to_owned(),
                fold: fold.kind(),
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

/// Disconnects a socket that fell too far behind. The disconnect packet itself needs room in
/// its full queue, so until the client drains it the socket is out of every room (nothing more
/// reaches it: no hole in its stream) and the disconnect is retried. A client that never reads
/// is closed by the stall guard and the Engine.IO heartbeat, whose ping cannot be queued either.
fn disconnect_slow(socket: &Socket, name: PublicId, event: &str, why: &'static str) {
    if socket.extensions.insert(Overflowed).is_some() {
        return; // already on its way out
    }
    metrics::counter!("ragcast_emit_overflow_total").increment(1);
    tracing::warn!(
        socket = %name,
        event,
        why,
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

/// Marks a socket being disconnected for being slow, so that it is counted, logged and retried once.
#[derive(Clone)]
struct Overflowed;

/// Past the Engine.IO heartbeat (ping interval + timeout), which closes a client that never reads.
const DISCONNECT_RETRY_LIMIT: Duration = Duration::from_secs(60);

/// Sends to one socket through its outbox (waiting, merged, while it is behind). Returns
/// whether it was sent or is waiting; `false` once the socket is closed or being disconnected.
pub fn send_to_socket<T: Serialize + ?Sized>(socket: &Socket, event: &str, payload: &T) -> bool {
    let Some(encoded) = encode(event, payload) else {
        return false;
    };
    let reached = reaches(deliver(socket, event, &encoded, Fold::Keep));
    count_out(event, usize::from(reached));
    reached
}

/// `send_to_socket` for a stream's piece: merged with the one before while the socket is behind.
pub fn send_piece_to_socket(socket: &Socket, event: &str, piece: &MessageToken<'_>) -> bool {
    let Some(encoded) = encode(event, piece) else {
        return false;
    };
    let reached = reaches(deliver(socket, event, &encoded, Fold::Piece(piece)));
    count_out(event, usize::from(reached));
    reached
}

/// Answers a client's ack through the socket's outbox: after the events sent to it before, and
/// kept (not lost) while its queue is full. Returns whether it was sent or is waiting.
pub fn send_ack<T: Serialize + ?Sized>(socket: &Socket, ack: Ack, payload: &T) -> bool {
    if !ack.expected() {
        return true;
    }
    let encoded = match serde_json::value::to_raw_value(payload) {
        Ok(raw) => raw,
        Err(e) => {
            tracing::error!("cannot serialize an ack: {e}");
            return false;
        }
    };
    let delivery = match socket.extensions.get::<Outbox>() {
        Some(outbox) => outbox.send_ack(socket, ack, &encoded),
        None => match ack.send(&encoded) {
            Ok(()) => Delivery::Sent,
            Err(_) => Delivery::Closed,
        },
    };
    reaches(delivery)
}

fn count_out(event: &str, delivered: usize) {
    if delivered > 0 {
        crate::traffic::packets_out(delivered as u64);
        metrics::counter!("ragcast_events_out_total", "event" => event.to_owned())
            .increment(delivered as u64);
    }
}

fn reaches(delivery: Delivery) -> bool {
    matches!(delivery, Delivery::Sent | Delivery::Waiting)
}

/// A payload serialised once, to be shared by every socket it goes to.
fn encode<T: Serialize + ?Sized>(event: &str, payload: &T) -> Option<Payload> {
    match serde_json::value::to_raw_value(payload) {
        Ok(raw) => Some(raw.into()),
        Err(e) => {
            tracing::error!(event, "cannot serialize event: {e}");
            None
        }
    }
}

/// One event to one socket, through its outbox; not counted (callers count).
fn deliver(socket: &Socket, event: &str, payload: &Payload, fold: Fold<'_>) -> Delivery {
    let delivery = deliver_quietly(socket, event, payload, fold);
    // One relaxed load when no Admin UI watches.
    if crate::activity::watched() && reaches(delivery) {
        crate::activity::event_out(socket, event, payload);
    }
    delivery
}

fn deliver_quietly(socket: &Socket, event: &str, payload: &Payload, fold: Fold<'_>) -> Delivery {
    match socket.extensions.get::<Outbox>() {
        Some(outbox) => outbox.send(socket, event, payload, fold),
        // Every socket gets its outbox before its connect ack; none is in a room before that.
        None => match socket.emit(event, &**payload) {
            Ok(()) => Delivery::Sent,
            Err(_) => Delivery::Closed,
        },
    }
}
