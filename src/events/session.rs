//! A connection: who it is, which project room it is in, and its handlers.

use std::sync::Arc;

use serde_json::Value;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use socketioxide::socket::DisconnectReason;
use tokio::sync::Mutex;

use super::ack::{payload_or_null, respond, EventError};
use super::outgoing::{ConnectionStatus, Pong};
use super::payloads::{parse, Ping};
use super::{chat, names, projects, tasks};
use crate::broadcast::send_to_socket;
use crate::chat::ChatService;
use crate::{rooms, time};

/// Per-socket state, kept in the socket's extensions.
#[derive(Debug, Default)]
pub struct Session {
    /// `sub` of the token; `None` in auth mode `none`.
    pub user_id: Option<String>,
    /// The one project room the socket is in. A tokio mutex: it is held across the database
    /// check of a join, so two quick joins cannot interleave their leave/join events.
    pub project: Mutex<Option<i64>>,
}

pub async fn on_connect(socket: SocketRef, State(_chat): State<ChatService>) {
    let session = Arc::new(Session::default());
    socket.extensions.insert(session.clone());
    socket.join(rooms::socket(socket.id));
    if let Some(user) = &session.user_id {
        socket.join(rooms::user(user));
    }
    metrics::gauge!("ragcast_connected_sockets", "namespace" => "/").increment(1.0);
    tracing::info!(
        sid = %socket.id,
        user = session.user_id.as_deref().unwrap_or("-"),
        transport = ?socket.transport_type(),
        "socket connected"
    );
    send_to_socket(
        &socket,
        names::CONNECTION_STATUS,
        &ConnectionStatus {
            status: "connected",
            sid: socket.id.to_string(),
            server_time: time::unix_ms(),
            user_id: session.user_id.as_deref(),
        },
    );

    socket.on(names::JOIN_PROJECT, projects::on_join);
    socket.on(names::LEAVE_PROJECT, projects::on_leave);
    socket.on(names::SEND_MESSAGE, chat::on_send);
    socket.on(names::CANCEL_MESSAGE, chat::on_cancel);
    socket.on(names::RESUME_MESSAGE, chat::on_resume);
    socket.on(names::TYPING_START, chat::on_typing_start);
    socket.on(names::TYPING_STOP, chat::on_typing_stop);
    socket.on(names::TASK_SUBSCRIBE, tasks::on_subscribe);
    socket.on(names::TASK_UNSUBSCRIBE, tasks::on_unsubscribe);
    socket.on(names::PING, on_ping);
    socket.on_disconnect(on_disconnect);
}

async fn on_ping(socket: SocketRef, TryData(data): TryData<Value>, ack: AckSender) {
    let result = match payload_or_null(data) {
        Value::Null => Ok(Ping::default()),
        other => parse::<Ping>(other).map_err(EventError::from),
    }
    .map(|ping| {
        let server_time = time::unix_ms();
        let pong = Pong {
            timestamp: ping.timestamp.unwrap_or_else(|| server_time.into()),
            server_time,
        };
        send_to_socket(&socket, names::PONG, &pong);
        pong
    });
    respond(&socket, ack, names::PING, result);
}

async fn on_disconnect(socket: SocketRef, reason: DisconnectReason) {
    metrics::gauge!("ragcast_connected_sockets", "namespace" => "/").decrement(1.0);
    tracing::info!(sid = %socket.id, ?reason, "socket disconnected");
}

/// The session of a socket; every socket gets one at connect.
pub fn session_of(socket: &SocketRef) -> Arc<Session> {
    socket.extensions.get::<Arc<Session>>().unwrap_or_default()
}
