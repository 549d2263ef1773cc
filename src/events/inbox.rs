//! A socket's events take effect one at a time, in the order they arrived, as in node's
//! socket.io: socketioxide spawns a task per event, so `join_project 1`, `join_project 2`,
//! `leave_project 2` sent back to back could otherwise land in any order. The `Queued` extractor
//! runs while socketioxide reads each packet, in arrival order, and only puts the event in the
//! socket's inbox; one task per socket takes them out and runs their handlers. Long work (a
//! stream) is spawned by its handler, so only its start is ordered.

use std::convert::Infallible;
use std::sync::Arc;

use serde_json::Value;
use socketioxide::extract::{Event, SocketRef, TryData};
use socketioxide::handler::FromMessageParts;
use tokio::sync::mpsc;

use super::ack::{respond, EventError};
use super::incoming::Incoming;
use crate::error::{AppError, ErrorCode};
use crate::protocol::names;
use crate::socket::{Ack, Adapter, Socket};

/// Events waiting for their turn, per socket; past it the client is sending faster than it is
/// served, and the event is refused at once (`busy`).
const CAPACITY: usize = 256;

/// One event waiting for its turn.
pub struct Queued {
    pub event: &'static str,
    pub socket: Socket,
    /// The payload; `None` when the client sent none (`42["ping"]`), which only `ping`
    /// accepts: an explicit `null` is a payload that is not an object.
    pub data: Option<Value>,
    pub ack: Ack,
}

/// The sending side of a socket's inbox, kept in its extensions.
#[derive(Clone)]
pub struct Inbox(mpsc::Sender<Queued>);

impl Inbox {
    /// An inbox whose events `handle` runs one after the other; the task ends with the socket.
    pub fn start<F, Fut>(handle: F) -> Inbox
    where
        F: Fn(Queued) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Queued>(CAPACITY);
        tokio::spawn(async move {
            while let Some(queued) = rx.recv().await {
                handle(queued).await;
            }
        });
        Inbox(tx)
    }
}

/// The extractor of every client event handler: it enqueues the event and the handler itself
/// does nothing.
pub struct Enqueued;

impl FromMessageParts<Adapter> for Enqueued {
    type Error = Infallible;

    fn from_message_parts(
        s: &Arc<socketioxide::socket::Socket<Adapter>>,
        v: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let parts = (
            Event::from_message_parts(s, v, ack_id),
            SocketRef::from_message_parts(s, v, ack_id),
        );
        let (Ok(Event(name)), Ok(socket)) = parts else {
            return Ok(Enqueued);
        };
        let ack = Ack::new(s, *ack_id);
        let Ok(TryData(data)) = TryData::<Incoming>::from_message_parts(s, v, ack_id);
        // socketioxide fails the first element's extraction only when there is none: `Incoming`
        // takes any JSON value.
        let data = data.ok().map(|Incoming(value)| value);
        crate::activity::event_in(&socket, &name, data.as_ref());
        let Some(event) = names::CLIENT_EVENTS.iter().copied().find(|e| *e == name) else {
            return Ok(Enqueued);
        };
        let Some(Inbox(inbox)) = socket.extensions.get::<Inbox>() else {
            return Ok(Enqueued);
        };
        if let Err(mpsc::error::TrySendError::Full(queued)) = inbox.try_send(Queued {
            event,
            socket,
            data,
            ack,
        }) {
            let busy = AppError::new(
                ErrorCode::Busy,
                "too many events waiting on this connection; send this one again shortly",
            );
            respond(
                &queued.socket,
                queued.ack,
                event,
                Err::<(), _>(EventError::from(busy)),
            );
        }
        Ok(Enqueued)
    }
}

/// The handler every client event is registered with.
pub async fn enqueued(_: Enqueued) {}
