//! What happens to this process's sockets, for whoever watches (the Admin UI): connections,
//! transport upgrades, disconnections with their reason, and the events sockets receive and are
//! sent, each stamped when it happened. Nothing is published until a watcher has subscribed, and
//! events in and out only while one is connected (`set_watched`), at most `EVENTS_PER_SECOND`:
//! a stream's tokens cost one relaxed atomic load per delivery when nobody watches.
//!
//! One bus per process, like the traffic totals: every part of the server reports to it without
//! being handed it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;
use serde_json::Value;
use socketioxide::socket::DisconnectReason;
use tokio::sync::mpsc;

use crate::socket::Socket;
use crate::time;

/// Events in and out reported per second at most, all sockets together.
pub const EVENTS_PER_SECOND: u64 = 100;
/// Happenings that may wait for the watcher before new ones are left out (counted).
const CAPACITY: usize = 1024;

#[derive(Clone)]
pub enum Happening {
    Connected {
        socket: Socket,
        at_ms: i64,
    },
    /// The socket's transport is now a websocket.
    Upgraded {
        socket: Socket,
        at_ms: i64,
    },
    Disconnected {
        nsp: String,
        id: String,
        /// In node's words (`transport close`, `ping timeout`, …).
        reason: &'static str,
        at_ms: i64,
    },
    /// An event a socket sent: its name, then its arguments.
    EventIn {
        nsp: String,
        id: String,
        event: String,
        data: Option<Value>,
        at_ms: i64,
    },
    /// An event sent to a socket.
    EventOut {
        nsp: String,
        id: String,
        event: String,
        payload: Arc<RawValue>,
        at_ms: i64,
    },
}

struct Bus {
    tx: mpsc::Sender<Happening>,
    /// An admin socket is connected: events in and out are reported.
    watched: AtomicBool,
    /// The second `sampled` counts in, and how many were reported in it.
    second: AtomicU64,
    sampled: AtomicU64,
}

static BUS: OnceLock<Bus> = OnceLock::new();

/// Starts listening to what happens: the one watcher of this process (`None` for a second).
pub fn subscribe() -> Option<mpsc::Receiver<Happening>> {
    let (tx, rx) = mpsc::channel(CAPACITY);
    BUS.set(Bus {
        tx,
        watched: AtomicBool::new(false),
        second: AtomicU64::new(0),
        sampled: AtomicU64::new(0),
    })
    .ok()
    .map(|()| rx)
}

/// Whether events in and out are to be reported (an admin socket is connected).
pub fn set_watched(watched: bool) {
    if let Some(bus) = BUS.get() {
        bus.watched.store(watched, Ordering::Relaxed);
    }
}

fn publish(happening: Happening) {
    if let Some(bus) = BUS.get() {
        if bus.tx.try_send(happening).is_err() {
            metrics::counter!("ragcast_admin_events_unreported_total").increment(1);
        }
    }
}

/// Whether one more event in or out may be reported this second.
fn sample() -> Option<&'static Bus> {
    let bus = BUS.get()?;
    if !bus.watched.load(Ordering::Relaxed) {
        return None;
    }
    let second = (time::unix_ms() / 1000) as u64;
    if bus.second.swap(second, Ordering::Relaxed) != second {
        bus.sampled.store(0, Ordering::Relaxed);
    }
    if bus.sampled.fetch_add(1, Ordering::Relaxed) >= EVENTS_PER_SECOND {
        metrics::counter!("ragcast_admin_events_unreported_total").increment(1);
        return None;
    }
    Some(bus)
}

pub fn connected(socket: &Socket) {
    publish(Happening::Connected {
        socket: socket.clone(),
        at_ms: time::unix_ms(),
    });
}

pub fn upgraded(socket: &Socket) {
    publish(Happening::Upgraded {
        socket: socket.clone(),
        at_ms: time::unix_ms(),
    });
}

pub fn disconnected(socket: &Socket, reason: DisconnectReason) {
    publish(Happening::Disconnected {
        nsp: socket.ns().to_owned(),
        id: socket.id.to_string(),
        reason: node_reason(reason),
        at_ms: time::unix_ms(),
    });
}

pub fn event_in(socket: &Socket, event: &str, data: Option<&Value>) {
    if sample().is_some() {
        publish(Happening::EventIn {
            nsp: socket.ns().to_owned(),
            id: socket.id.to_string(),
            event: event.to_owned(),
            data: data.cloned(),
            at_ms: time::unix_ms(),
        });
    }
}

/// Whether an event sent now would be reported: lets a sender skip the work when nobody watches.
pub fn watched() -> bool {
    BUS.get()
        .is_some_and(|bus| bus.watched.load(Ordering::Relaxed))
}

pub fn event_out(socket: &Socket, event: &str, payload: &Arc<RawValue>) {
    if sample().is_some() {
        publish(Happening::EventOut {
            nsp: socket.ns().to_owned(),
            id: socket.id.to_string(),
            event: event.to_owned(),
            payload: payload.clone(),
            at_ms: time::unix_ms(),
        });
    }
}

/// A disconnect's reason as node's socket.io words it (what the Admin UI shows).
fn node_reason(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport close",
        DisconnectReason::MultipleHttpPollingError | DisconnectReason::TransportError => {
            "transport error"
        }
        DisconnectReason::PacketParsingError => "parse error",
        DisconnectReason::HeartbeatTimeout => "ping timeout",
        DisconnectReason::ClientNSDisconnect => "client namespace disconnect",
        DisconnectReason::ServerNSDisconnect => "server namespace disconnect",
        DisconnectReason::ClosingServer => "server shutting down",
    }
}
