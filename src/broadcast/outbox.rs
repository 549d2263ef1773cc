//! A socket's outbox: where events wait for a socket that cannot keep up, in front of
//! socketioxide's per-socket queue (which counts packets and cannot be looked into or changed).
//!
//! While socketioxide's queue for a socket has room (`--socket-high-water` packets, and an
//! eighth of `--socket-buffer-bytes` not yet taken by the transport), events go straight into
//! it. Once it is full they wait here, in order, and one task per waiting socket hands them on
//! as the queue drains. While they wait, consecutive pieces of one stream (`message_token`,
//! `message_reasoning`) merge into one event covering `from_index..=index`, a newer
//! `document_status` of a document replaces the older one, and `typing` is dropped. Other
//! sockets, and the stream itself, never wait for a slow socket. A socket with more than
//! `max_waiting` events, or `max_bytes` bytes, waiting (here and in socketioxide's queue), or
//! that hands nothing on for `stall_limit`, is disconnected: its client reconnects and resumes.
//!
//! What waits here is shared: a broadcast's payload is serialised once and every socket's
//! outbox holds the same `Arc`.
//!
//! Bytes in socketioxide's queue are what was handed to it minus what the transport took:
//! a websocket's connection counts its writes (`net::WrittenBytes`), a long-polling session's
//! answers are counted as they leave (`engine`). Framing and pings count as taken, so the figure
//! errs low by a few bytes a packet.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use socketioxide::{SendError, SocketError, TransportType};

use super::FoldKind;
use crate::net::WrittenBytes;
use crate::protocol::outgoing::{MergedPiece, MessageToken};
use crate::protocol::PublicId;
use crate::socket::{Ack, Socket};

/// A serialised event payload, shared by every socket it is sent to.
pub type Payload = Arc<RawValue>;

#[derive(Debug, Clone, Copy)]
pub struct OutboxSettings {
    /// Events (after merging) that may wait for one socket; past it the socket is disconnected.
    pub max_waiting: usize,
    /// Bytes that may wait for one socket (outbox and socketioxide's queue); past it the socket
    /// is disconnected.
    pub max_bytes: u64,
    /// Bytes handed to socketioxide and not yet taken by the transport past which events wait
    /// in the outbox instead.
    pub high_water_bytes: u64,
    /// How long a socket's waiting events may make no progress before it is disconnected.
    pub stall_limit: Duration,
}

/// How an event may be folded into others while it waits for a slow socket.
#[derive(Clone, Copy)]
pub enum Fold<'a> {
    /// Waits as it is.
    Keep,
    /// A piece of a stream: merges into the waiting piece of the same stream and event just
    /// before it.
    Piece(&'a MessageToken<'a>),
    /// Replaces a waiting event with the same key (a document's `document_status`).
    Latest(i64),
    /// Not worth waiting for (`typing`): dropped while the socket is behind.
    Droppable,
}

impl Fold<'_> {
    /// The fold without its borrowed piece, as it travels to other nodes.
    pub fn kind(&self) -> FoldKind {
        match self {
            Fold::Keep => FoldKind::Keep,
            Fold::Piece(_) => FoldKind::Piece,
            Fold::Latest(key) => FoldKind::Latest(*key),
            Fold::Droppable => FoldKind::Droppable,
        }
    }
}

/// What became of one event for one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to socketioxide.
    Sent,
    /// Waiting in the outbox (maybe merged into, or replacing, another).
    Waiting,
    /// Dropped on purpose (`Fold::Droppable`) while the socket is behind.
    Dropped,
    /// The socket is closed or being disconnected; nothing more reaches it.
    Closed,
}

/// One socket's outbox, kept in the socket's extensions.
#[derive(Clone)]
pub struct Outbox {
    queue: Arc<Mutex<Queue>>,
    settings: OutboxSettings,
    /// How logs name the socket (never by its session id).
    name: PublicId,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    /// The bytes of `waiting`.
    waiting_bytes: u64,
    flow: Flow,
    mode: Mode,
}

/// Where a socket's queue stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Events go straight to socketioxide.
    #[default]
    KeepingUp,
    /// Events wait here; a task hands them on as socketioxide's queue drains.
    Behind,
    /// Disconnected for being too slow: everything is refused from now on.
    Closed,
}

/// What socketioxide was handed for this socket, and what its transport took of it.
#[derive(Default)]
struct Flow {
    handed: u64,
    /// Bytes of the long-polling answers that left.
    polled: u64,
    /// The websocket's connection and its write count when the socket began writing on it.
    websocket: Option<(WrittenBytes, u64)>,
}

impl Flow {
    /// Bytes handed to socketioxide that the transport has not taken yet; `None` when that
    /// cannot be told (a websocket whose connection was not seen), and only the packet count
    /// bounds socketioxide's queue.
    fn in_flight(&self, transport: TransportType) -> Option<u64> {
        let taken = match (&self.websocket, transport) {
            (Some((written, base)), _) => self.polled + written.get().saturating_sub(*base),
            (None, TransportType::Polling) => self.polled,
            (None, TransportType::Websocket) => return None,
        };
        Some(self.handed.saturating_sub(taken))
    }
}

enum Waiting {
    Event {
        event: String,
        payload: Payload,
        /// `Fold::Latest`'s key.
        latest: Option<i64>,
    },
    /// The answer to a client's event, in its place among the events.
    Ack { ack: Ack, payload: Box<RawValue> },
    Pieces {
        event: String,
        chat_id: i64,
        message_id: i64,
        text: String,
        from_index: usize,
        index: usize,
    },
}

/// About how many bytes a merged piece's fields add to its text.
const PIECE_OVERHEAD: u64 = 96;

impl Waiting {
    /// About how many bytes this event is on the wire.
    fn bytes(&self) -> u64 {
        match self {
            Waiting::Event { event, payload, .. } => event_bytes(event, payload.get()),
            Waiting::Ack { payload, .. } => payload.get().len() as u64 + 8,
            Waiting::Pieces { event, text, .. } => {
                (event.len() + text.len()) as u64 + PIECE_OVERHEAD
            }
        }
    }
}

/// `42["event",payload]`: about as long as its name and payload.
fn event_bytes(event: &str, payload: &str) -> u64 {
    (event.len() + payload.len()) as u64 + 8
}

/// Why handing on stopped.
enum Stop {
    /// socketioxide's queue is full again (in packets or in bytes).
    Full,
    Closed,
}

/// How long the handing-on task first sleeps, and at most, while the socket's queue is full.
const MIN_PAUSE: Duration = Duration::from_millis(2);
const MAX_PAUSE: Duration = Duration::from_millis(50);

impl Outbox {
    /// `websocket`: the connection of a socket that opened as a websocket, whose writes tell
    /// how much of its queue has left.
    pub fn new(settings: OutboxSettings, name: PublicId, websocket: Option<WrittenBytes>) -> Self {
        let queue = Queue {
            flow: Flow {
                websocket: websocket.map(|written| {
                    let base = written.get();
                    (written, base)
                }),
                ..Flow::default()
            },
            ..Queue::default()
        };
        Self {
            queue: Arc::new(Mutex::new(queue)),
            settings,
            name,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A poisoned queue is still a list of events: the panic was elsewhere.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The socket's session moved to a websocket on this connection (an upgrade).
    pub fn websocket_opened(&self, written: WrittenBytes) {
        let base = written.get();
        self.lock().flow.websocket = Some((written, base));
    }

    /// A long-polling answer of `bytes` left for the socket.
    pub fn polled(&self, bytes: usize) {
        self.lock().flow.polled += bytes as u64;
    }

    /// Sends `event` to `socket` now, or keeps it waiting (folded per `fold`) behind what already
    /// waits. Synchronous: the caller's order is the socket's order.
    pub fn send(
        &self,
        socket: &Socket,
        event: &str,
        payload: &Payload,
        fold: Fold<'_>,
    ) -> Delivery {
        let mut queue = self.lock();
        if queue.mode == Mode::Closed {
            return Delivery::Closed;
        }
        if queue.waiting.is_empty() {
            let bytes = event_bytes(event, payload.get());
            if queue.has_room(socket, bytes, &self.settings) {
                match emit(socket, event, &**payload) {
                    Ok(()) => {
                        queue.flow.handed += bytes;
                        return Delivery::Sent;
                    }
                    Err(Stop::Closed) => return Delivery::Closed,
                    Err(Stop::Full) => {}
                }
            }
        }
        let delivery = queue.push(event, payload, fold);
        self.keep_waiting(queue, socket, event, delivery)
    }

    /// The first token index of stream `message_id` still waiting here, if any: how far behind
    /// the stream this socket is (beyond what socketioxide's own queue holds).
    pub fn first_waiting_token(&self, message_id: i64) -> Option<usize> {
        self.lock().waiting.iter().find_map(|w| match w {
            Waiting::Pieces {
                event,
                message_id: id,
                from_index,
                ..
            } if *id == message_id && event.as_str() == crate::protocol::names::MESSAGE_TOKEN => {
                Some(*from_index)
            }
            _ => None,
        })
    }

    /// Answers a client's ack now, or after the events already waiting for the socket (the
    /// client sees them in the order they were sent). Never merged nor dropped.
    pub fn send_ack(&self, socket: &Socket, ack: Ack, payload: &RawValue) -> Delivery {
        let mut queue = self.lock();
        if queue.mode == Mode::Closed {
            return Delivery::Closed;
        }
        if queue.waiting.is_empty() {
            match send_ack(&ack, payload) {
                Ok(()) => {
                    queue.flow.handed += payload.get().len() as u64 + 8;
                    return Delivery::Sent;
                }
                Err(Stop::Closed) => return Delivery::Closed,
                Err(Stop::Full) => {}
            }
        }
        queue.enqueue(Waiting::Ack {
            ack,
            payload: payload.to_owned(),
        });
        self.keep_waiting(queue, socket, "ack", Delivery::Waiting)
    }

    /// After an event joined the waiting ones: disconnects a socket with too many, or too many
    /// bytes, or makes sure a task hands them on.
    fn keep_waiting(
        &self,
        mut queue: MutexGuard<'_, Queue>,
        socket: &Socket,
        event: &str,
        delivery: Delivery,
    ) -> Delivery {
        let over = if queue.waiting.len() > self.settings.max_waiting {
            Some("too many events waiting")
        } else if queue.bytes_waiting(socket) > self.settings.max_bytes {
            Some("too many bytes waiting")
        } else {
            None
        };
        if let Some(why) = over {
            queue.close();
            drop(queue);
            super::disconnect_slow(socket, self.name, event, why);
            return Delivery::Closed;
        }
        if queue.mode == Mode::KeepingUp && !queue.waiting.is_empty() {
            queue.mode = Mode::Behind;
            metrics::gauge!("ragcast_sockets_behind").increment(1.0);
            tracing::debug!(socket = %self.name, event, "socket behind: its events wait, tokens merge");
            tokio::spawn(hand_on(socket.clone(), self.clone()));
        }
        delivery
    }
}

impl Queue {
    /// Whether socketioxide's queue may take `bytes` more for `socket`: always when nothing is
    /// in flight (one event larger than the bound still goes), else within the bound.
    fn has_room(&self, socket: &Socket, bytes: u64, settings: &OutboxSettings) -> bool {
        match self.flow.in_flight(socket.transport_type()) {
            None | Some(0) => true,
            Some(in_flight) => in_flight + bytes <= settings.high_water_bytes,
        }
    }

    /// Everything waiting for the socket: here, and in socketioxide's queue when that is known.
    fn bytes_waiting(&self, socket: &Socket) -> u64 {
        self.waiting_bytes
            + self
                .flow
                .in_flight(socket.transport_type())
                .unwrap_or_default()
    }

    fn enqueue(&mut self, waiting: Waiting) {
        self.waiting_bytes += waiting.bytes();
        self.waiting.push_back(waiting);
    }

    fn dequeue(&mut self) -> Option<Waiting> {
        let front = self.waiting.pop_front()?;
        self.waiting_bytes = self.waiting_bytes.saturating_sub(front.bytes());
        Some(front)
    }

    fn push(&mut self, event: &str, payload: &Payload, fold: Fold<'_>) -> Delivery {
        match fold {
            Fold::Droppable => {
                metrics::counter!("ragcast_outbox_dropped_total", "event" => event.to_owned())
                    .increment(1);
                return Delivery::Dropped;
            }
            Fold::Piece(piece) => {
                if let Some(Waiting::Pieces {
                    event: last_event,
                    message_id,
                    text,
                    index,
                    ..
                }) = self.waiting.back_mut()
                {
                    if last_event.as_str() == event
                        && *message_id == piece.message_id
                        && *index + 1 == piece.index
                    {
                        text.push_str(piece.token);
                        *index = piece.index;
                        self.waiting_bytes += piece.token.len() as u64;
                        metrics::counter!("ragcast_outbox_merged_total").increment(1);
                        return Delivery::Waiting;
                    }
                }
                self.enqueue(Waiting::Pieces {
                    event: event.to_owned(),
                    chat_id: piece.chat_id,
                    message_id: piece.message_id,
                    text: piece.token.to_owned(),
                    from_index: piece.index,
                    index: piece.index,
                });
                return Delivery::Waiting;
            }
            Fold::Latest(key) => {
                let older = self.waiting.iter().position(|w| {
                    matches!(w, Waiting::Event { event: e, latest: Some(k), .. } if e.as_str() == event && *k == key)
                });
                // The newer one takes the older one's place at the back: nothing overtakes it.
                if let Some(older) = older {
                    if let Some(removed) = self.waiting.remove(older) {
                        self.waiting_bytes = self.waiting_bytes.saturating_sub(removed.bytes());
                    }
                    metrics::counter!("ragcast_outbox_replaced_total").increment(1);
                }
            }
            Fold::Keep => {}
        }
        self.enqueue(Waiting::Event {
            event: event.to_owned(),
            payload: payload.clone(),
            latest: match fold {
                Fold::Latest(key) => Some(key),
                _ => None,
            },
        });
        Delivery::Waiting
    }

    /// Hands waiting events to socketioxide until its queue is full again (in packets or in
    /// bytes) or none is left.
    fn hand_on(&mut self, socket: &Socket, settings: &OutboxSettings) -> Result<(), Stop> {
        while let Some(front) = self.waiting.front() {
            let bytes = front.bytes();
            if !self.has_room(socket, bytes, settings) {
                return Err(Stop::Full);
            }
            let sent = match front {
                Waiting::Event { event, payload, .. } => emit(socket, event, &**payload),
                Waiting::Ack { ack, payload } => send_ack(ack, payload),
                Waiting::Pieces {
                    event,
                    chat_id,
                    message_id,
                    text,
                    from_index,
                    index,
                } => emit(
                    socket,
                    event,
                    &MergedPiece {
                        chat_id: *chat_id,
                        message_id: *message_id,
                        token: text,
                        index: *index,
                        from_index: (from_index != index).then_some(*from_index),
                    },
                ),
            };
            sent?;
            self.dequeue();
            self.flow.handed += bytes;
        }
        Ok(())
    }

    fn close(&mut self) {
        self.mode = Mode::Closed;
        self.waiting.clear();
        self.waiting_bytes = 0;
    }
}

/// The task that hands a slow socket's events on while socketioxide's queue drains, backing
/// off while it stays full; it ends when nothing waits any more.
async fn hand_on(socket: Socket, outbox: Outbox) {
    let mut pause = MIN_PAUSE;
    let mut progress_at = Instant::now();
    loop {
        tokio::time::sleep(pause).await;
        let mut queue = outbox.lock();
        let before = queue.waiting.len();
        let result = queue.hand_on(&socket, &outbox.settings);
        let done = queue.waiting.is_empty() || matches!(result, Err(Stop::Closed));
        if done {
            queue.waiting.clear();
            queue.waiting_bytes = 0;
            // A queue closed meanwhile stays closed.
            if queue.mode == Mode::Behind {
                queue.mode = Mode::KeepingUp;
            }
            metrics::gauge!("ragcast_sockets_behind").decrement(1.0);
            return;
        }
        if queue.waiting.len() < before {
            progress_at = Instant::now();
            pause = MIN_PAUSE;
        } else {
            pause = (pause * 2).min(MAX_PAUSE);
        }
        if progress_at.elapsed() >= outbox.settings.stall_limit {
            queue.close();
            drop(queue);
            metrics::gauge!("ragcast_sockets_behind").decrement(1.0);
            super::disconnect_slow(
                &socket,
                outbox.name,
                "-",
                "nothing could be sent for the slow-socket timeout",
            );
            return;
        }
    }
}

fn send_ack(ack: &Ack, payload: &RawValue) -> Result<(), Stop> {
    stop_of(ack.send(payload), "ack")
}

fn emit<T: serde::Serialize + ?Sized>(
    socket: &Socket,
    event: &str,
    payload: &T,
) -> Result<(), Stop> {
    stop_of(socket.emit(event, payload), event)
}

/// What a failed send means for handing on.
fn stop_of(sent: Result<(), SendError>, event: &str) -> Result<(), Stop> {
    match sent {
        Ok(()) => Ok(()),
        Err(SendError::Socket(SocketError::InternalChannelFull)) => Err(Stop::Full),
        Err(SendError::Socket(SocketError::Closed)) => Err(Stop::Closed),
        Err(SendError::Serialize(e)) => {
            // A payload that does not serialise is a bug; skipping it keeps the socket going.
            tracing::error!(event, "cannot serialize event: {e}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Payload {
        RawValue::from_string(json.to_owned()).unwrap().into()
    }

    fn piece(message_id: i64, index: usize, token: &str) -> MessageToken<'_> {
        MessageToken {
            chat_id: 1,
            message_id,
            token,
            index,
        }
    }

    /// One waiting event: its name, its payload (or joined text), and a merge's index range.
    type Seen = (String, String, Option<(usize, usize)>);

    fn waiting(queue: &Queue) -> Vec<Seen> {
        queue
            .waiting
            .iter()
            .map(|w| match w {
                Waiting::Event { event, payload, .. } => {
                    (event.clone(), payload.get().to_owned(), None)
                }
                Waiting::Ack { payload, .. } => ("ack".into(), payload.get().to_owned(), None),
                Waiting::Pieces {
                    event,
                    text,
                    from_index,
                    index,
                    ..
                } => (event.clone(), text.clone(), Some((*from_index, *index))),
            })
            .collect()
    }

    #[test]
    fn consecutive_pieces_of_one_stream_merge_and_anything_else_starts_a_new_run() {
        let mut queue = Queue::default();
        let payload = raw("{}");
        for (i, token) in ["a ", "b ", "c "].into_iter().enumerate() {
            let p = piece(7, i, token);
            queue.push("message_token", &payload, Fold::Piece(&p));
        }
        queue.push("message_sources", &raw(r#"{"x":1}"#), Fold::Keep);
        let other_stream = piece(8, 0, "z");
        queue.push("message_token", &payload, Fold::Piece(&other_stream));
        let reasoning = piece(8, 0, "r");
        queue.push("message_reasoning", &payload, Fold::Piece(&reasoning));
        let next = piece(8, 1, "y");
        queue.push("message_token", &payload, Fold::Piece(&next));
        assert_eq!(
            waiting(&queue),
            vec![
                ("message_token".into(), "a b c ".into(), Some((0, 2))),
                ("message_sources".into(), r#"{"x":1}"#.into(), None),
                ("message_token".into(), "z".into(), Some((0, 0))),
                ("message_reasoning".into(), "r".into(), Some((0, 0))),
                ("message_token".into(), "y".into(), Some((1, 1))),
            ]
        );
    }

    #[test]
    fn a_newer_status_of_a_document_replaces_the_waiting_one_and_typing_is_dropped() {
        let mut queue = Queue::default();
        queue.push("document_status", &raw(r#"{"p":10}"#), Fold::Latest(3));
        queue.push("document_status", &raw(r#"{"other":1}"#), Fold::Latest(4));
        queue.push("project_update", &raw("{}"), Fold::Keep);
        assert_eq!(
            queue.push("typing", &raw("{}"), Fold::Droppable),
            Delivery::Dropped
        );
        queue.push("document_status", &raw(r#"{"p":90}"#), Fold::Latest(3));
        let events: Vec<String> = waiting(&queue)
            .into_iter()
            .map(|(event, payload, _)| format!("{event} {payload}"))
            .collect();
        assert_eq!(
            events,
            [
                r#"document_status {"other":1}"#,
                "project_update {}",
                r#"document_status {"p":90}"#
            ]
        );
    }
}
