//! A connection: who it is, which project room it is in, and its handlers.

use std::sync::Arc;

use crate::cluster::{Ack, Cluster, Socket};
use serde_json::Value;
use socketioxide::extract::{State, TryData};
use socketioxide::socket::DisconnectReason;
use tokio::sync::Mutex;

use super::ack::{payload_or_null, respond, EventError};
use super::outgoing::{ConnectionStatus, Pong};
use super::payloads::{parse, Ping};
use super::{chat, names, projects, tasks};
use crate::auth::{Caller, ConnectionSlot, Identity, ProjectAccess, RateLimiter, RateSettings};
use crate::broadcast::send_to_socket;
use crate::error::{AppError, ErrorCode};
use crate::{rooms, time};

/// Per-socket state, kept in the socket's extensions (stored by `auth::authenticate`).
#[derive(Debug)]
pub struct Session {
    /// Who is connected: decides which projects and tasks this socket may touch.
    pub caller: Caller,
    /// This connection's place in the per-address cap, given back when the session is dropped.
    pub connection: Option<ConnectionSlot>,
    /// The one project room the socket is in. A tokio mutex: it is held across the database
    /// check of a join, so two quick joins cannot interleave their leave/join events.
    pub project: Mutex<Option<i64>>,
    pub limiter: RateLimiter,
}

impl Session {
    pub fn user_id(&self) -> Option<&str> {
        self.caller.user_id()
    }
}

/// Rooms and event handlers, set up in a connect middleware (after `auth::authenticate`): those
/// run before the connect ack is sent, while socketioxide spawns the connect handler only after
/// it, so a client's first event could otherwise arrive before `socket.on` ran and be dropped.
pub async fn prepare(
    socket: Socket,
    State(cluster): State<Cluster>,
) -> Result<(), std::convert::Infallible> {
    let session = session_of(&socket);
    socket.join(rooms::socket(socket.id));
    if cluster.is_multi_node() {
        socket.join(cluster.node_room().to_owned());
    }
    if let Some(user) = session.user_id() {
        socket.join(rooms::user(user));
    }
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
    Ok(())
}

/// After the connect ack: count, log, and greet with `connection_status`.
pub async fn on_connect(socket: Socket) {
    let session = session_of(&socket);
    metrics::gauge!("ragcast_connected_sockets", "namespace" => "/").increment(1.0);
    tracing::info!(
        sid = %socket.id,
        user = session.user_id().unwrap_or("-"),
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
            user_id: session.user_id(),
        },
    );
}

async fn on_ping(socket: Socket, TryData(data): TryData<Value>, ack: Ack) {
    let result = admit(&socket, names::PING)
        .and_then(|_| match payload_or_null(data) {
            Value::Null => Ok(Ping::default()),
            other => parse::<Ping>(other).map_err(EventError::from),
        })
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

async fn on_disconnect(socket: Socket, reason: DisconnectReason) {
    metrics::gauge!("ragcast_connected_sockets", "namespace" => "/").decrement(1.0);
    tracing::info!(sid = %socket.id, ?reason, "socket disconnected");
}

/// The session of a socket. Every socket gets one before it connects; were it missing, the
/// socket would be treated as a user with no projects, never as an open caller.
pub fn session_of(socket: &Socket) -> Arc<Session> {
    socket.extensions.get::<Arc<Session>>().unwrap_or_else(|| {
        tracing::error!(sid = %socket.id, "socket without a session");
        Arc::new(Session {
            caller: Caller::User(Identity {
                user_id: String::new(),
                projects: ProjectAccess::Only(Default::default()),
            }),
            connection: None,
            project: Mutex::new(None),
            limiter: RateLimiter::new(&RateSettings {
                events_per_sec: 1.0,
                events_burst: 1.0,
                messages_per_min: 1.0,
                messages_burst: 1.0,
            }),
        })
    })
}

/// The rate limit, checked before any event is handled. Returns the session.
pub fn admit(socket: &Socket, event: &'static str) -> Result<Arc<Session>, EventError> {
    let session = session_of(socket);
    match session.limiter.check(event == names::SEND_MESSAGE) {
        Ok(()) => Ok(session),
        Err(wait) => {
            let retry_after_ms = wait.as_millis().max(1) as u64;
            Err(EventError {
                error: AppError::new(
                    ErrorCode::RateLimited,
                    format!("too many events; retry in {retry_after_ms} ms"),
                ),
                chat_id: None,
                message_id: None,
                retry_after_ms: Some(retry_after_ms),
            })
        }
    }
}
