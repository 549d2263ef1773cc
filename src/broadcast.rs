//! Sending server events, with every failure handled on purpose.
//!
//! socketioxide's emit fails when a socket's outgoing buffer is full. A dropped token would leave
//! a hole in that client's stream, so such a socket is disconnected (logged and counted): the
//! client reconnects and `resume_message` gives it exactly what it missed.

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError, SocketIo};

use crate::rooms;

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

/// Sends to rooms of this process's Socket.IO server.
#[derive(Clone, Default)]
pub struct Broadcaster {
    /// Set once the Socket.IO layer is built: the layer's state (the chat pipeline) needs a
    /// broadcaster before the `SocketIo` handle exists.
    io: Arc<OnceLock<SocketIo>>,
}

impl Broadcaster {
    pub fn attach(&self, io: SocketIo) {
        if self.io.set(io).is_err() {
            tracing::warn!("broadcaster attached twice; keeping the first Socket.IO handle");
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
        delivered
    }
}

/// How long a replay waits for a full socket buffer to drain before giving up on the socket.
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Emits to one socket, waiting while its buffer is full (for replays, which nothing else
/// interleaves with). A socket that stays full for `DRAIN_WAIT` is disconnected.
pub async fn send_when_ready<T: Serialize + ?Sized>(
    socket: &SocketRef,
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
pub fn send_to_socket<T: Serialize + ?Sized>(socket: &SocketRef, event: &str, payload: &T) -> bool {
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
fn emit<T: Serialize + ?Sized>(socket: &SocketRef, event: &str, payload: &T) -> bool {
    match socket.emit(event, payload) {
        Ok(()) => true,
        Err(SendError::Socket(SocketError::Closed)) => false,
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            metrics::counter!("ragcast_emit_overflow_total").increment(1);
            tracing::warn!(
                sid = %socket.id,
                event,
                "outgoing buffer full: the client is not reading fast enough; disconnecting it so it reconnects and resumes"
            );
            let _ = socket.clone().disconnect();
            false
        }
        Err(SendError::Serialize(e)) => {
            tracing::error!(event, "cannot serialize event: {e}");
            false
        }
    }
}
