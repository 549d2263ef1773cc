//! A connection: who it is, which project room it is in, and how its events reach handlers.

use std::sync::{Arc, RwLock};

use crate::socket::{Ack, Socket};
use serde_json::Value;
use socketioxide::extract::State;
use socketioxide::socket::DisconnectReason;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::ack::{respond, EventError};
use super::inbox::{self, Inbox, Queued};
use super::{chat, expiry, projects, refresh, tasks};
use crate::auth::{
    Authenticator, Caller, ConnectionSlot, Identity, ProjectAccess, RateLimiter, RateSettings,
};
use crate::broadcast::{send_to_socket, Outbox, OutboxSettings};
use crate::chat::ChatService;
use crate::error::{AppError, ErrorCode};
use crate::protocol::names;
use crate::protocol::outgoing::{ConnectionStatus, Pong};
use crate::protocol::payloads::{parse, Ping};
use crate::{rooms, time};

/// Per-socket state, kept in the socket's extensions (stored by `auth::authenticate`).
#[derive(Debug)]
pub struct Session {
    /// The user, fixed for the connection: a token refresh must keep it.
    user_id: Option<String>,
    /// Who is connected: decides which projects and tasks this socket may touch. Replaced by
    /// `auth_refresh`.
    caller: RwLock<Caller>,
    /// The client's address (behind a trusted proxy, the one it forwarded).
    pub client_ip: Option<std::net::IpAddr>,
    /// This connection's place in the per-address cap, given back when the session is dropped.
    pub connection: Option<ConnectionSlot>,
    /// The one project room the socket is in. A tokio mutex: it is held across the database
    /// check of a join, so two quick joins cannot interleave their leave/join events.
    pub project: Mutex<Option<i64>>,
    pub limiter: RateLimiter,
    /// Cancelled when the socket disconnects: ends its expiry timer.
    pub closed: CancellationToken,
    lifecycle: Lifecycle,
}

/// Whether the connect handler or the disconnect handler ran first. A client that sends an
/// invalid packet right after its CONNECT has its transport closed while the connect
/// middlewares still run, and socketioxide may then call the disconnect handler before the
/// connect one: such a socket is logged once, as closed during its handshake, and never counted.
/// A mutex, not an atomic: each side logs while holding it, so the log's order is the real one.
#[derive(Debug, Default)]
struct Lifecycle(std::sync::Mutex<Stage>);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    Connecting,
    Connected,
    Closed,
}

impl Lifecycle {
    /// Runs `announce` and marks the socket connected, unless it is closed already.
    fn connect(&self, announce: impl FnOnce()) -> bool {
        let mut stage = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if *stage != Stage::Connecting {
            return false;
        }
        *stage = Stage::Connected;
        announce();
        true
    }

    /// Marks the socket closed and runs `announce` with whether it had been connected.
    fn close(&self, announce: impl FnOnce(bool)) {
        let mut stage = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let was_connected = *stage == Stage::Connected;
        *stage = Stage::Closed;
        announce(was_connected);
    }
}

impl Session {
    pub fn new(
        caller: Caller,
        client_ip: Option<std::net::IpAddr>,
        connection: Option<ConnectionSlot>,
        limiter: RateLimiter,
    ) -> Self {
        Self {
            user_id: caller.user_id().map(str::to_owned),
            caller: RwLock::new(caller),
            client_ip,
            connection,
            project: Mutex::new(None),
            limiter,
            closed: CancellationToken::new(),
            lifecycle: Lifecycle::default(),
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The caller as of now (a refresh may replace it).
    pub fn caller(&self) -> Caller {
        match self.caller.read() {
            Ok(caller) => caller.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace_caller(&self, caller: Caller) {
        match self.caller.write() {
            Ok(mut current) => *current = caller,
            Err(poisoned) => *poisoned.into_inner() = caller,
        }
    }

    /// When the session is over (after the token's `exp` plus the leeway), in Unix ms.
    pub fn over_at_ms(&self) -> Option<i64> {
        match self.caller() {
            Caller::User(identity) => identity.over_at_ms(),
            Caller::Open | Caller::Backend => None,
        }
    }

    pub fn expired(&self) -> bool {
        match self.caller() {
            Caller::User(identity) => identity.expired(time::unix_ms()),
            Caller::Open | Caller::Backend => false,
        }
    }
}

/// Rooms and the inbox, set up in a connect middleware (after `auth::authenticate`): those run
/// before the connect ack is sent, so a client's first event always finds its handler.
pub async fn prepare(
    socket: Socket,
    State(chat): State<ChatService>,
    State(authenticator): State<Arc<Authenticator>>,
    State(outbox): State<OutboxSettings>,
) -> Result<(), std::convert::Infallible> {
    let session = session_of(&socket);
    // Before the connect ack and any room: every event to this socket passes through it.
    socket.extensions.insert(Outbox::new(outbox));
    socket.join(rooms::socket(socket.id));
    if let Some(user) = session.user_id() {
        socket.join(rooms::user(user));
    }
    socket.extensions.insert(Inbox::start(move |queued| {
        let (chat, authenticator) = (chat.clone(), authenticator.clone());
        async move { dispatch(queued, &chat, &authenticator).await }
    }));
    for event in names::CLIENT_EVENTS {
        socket.on(*event, inbox::enqueued);
    }
    socket.on_disconnect(on_disconnect);
    Ok(())
}

/// Runs one event's handler; the socket's next event waits until it is done.
async fn dispatch(queued: Queued, chat: &ChatService, authenticator: &Authenticator) {
    let Queued {
        event,
        socket,
        data,
        ack,
    } = queued;
    // Checked at every event, so no event slips in between the expiry and its timer.
    if session_of(&socket).expired() {
        let expired = AppError::new(ErrorCode::Unauthorized, "token expired");
        respond(&socket, ack, event, Err::<(), _>(EventError::from(expired)));
        expiry::end_session(&socket);
        return;
    }
    match event {
        names::JOIN_PROJECT => projects::on_join(&socket, data, ack, chat).await,
        names::LEAVE_PROJECT => projects::on_leave(&socket, data, ack).await,
        names::SEND_MESSAGE => chat::on_send(&socket, data, ack, chat).await,
        names::CANCEL_MESSAGE => chat::on_cancel(&socket, data, ack, chat).await,
        names::RESUME_MESSAGE => chat::on_resume(&socket, data, ack, chat).await,
        names::TYPING_START => chat::on_typing(&socket, data, ack, chat, true).await,
        names::TYPING_STOP => chat::on_typing(&socket, data, ack, chat, false).await,
        names::TASK_SUBSCRIBE => tasks::on_subscribe(&socket, data, ack, chat).await,
        names::TASK_UNSUBSCRIBE => tasks::on_unsubscribe(&socket, data, ack),
        names::PING => on_ping(&socket, data, ack),
        names::AUTH_REFRESH => refresh::on_refresh(&socket, data, ack, authenticator).await,
        other => tracing::debug!(event = other, "no handler"),
    }
}

/// After the connect ack: count, log, greet with `connection_status`, and watch the token's
/// expiry.
pub async fn on_connect(socket: Socket) {
    let session = session_of(&socket);
    let connected = session.lifecycle.connect(|| {
        metrics::gauge!("ragcast_connected_sockets", "namespace" => "/").increment(1.0);
        tracing::info!(
            sid = %socket.id,
            user = session.user_id().unwrap_or("-"),
            ip = ?session.client_ip,
            transport = ?socket.transport_type(),
            "socket connected"
        );
    });
    if !connected {
        return; // already closed, and logged so by `on_disconnect`
    }
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
    expiry::watch(socket, session);
}

fn on_ping(socket: &Socket, data: Value, ack: Ack) {
    let result = admit(socket, names::PING)
        .and_then(|_| match data {
            Value::Null => Ok(Ping::default()),
            other => parse::<Ping>(other).map_err(EventError::from),
        })
        .map(|ping| {
            let server_time = time::unix_ms();
            let pong = Pong {
                timestamp: ping.timestamp.unwrap_or_else(|| server_time.into()),
                server_time,
            };
            send_to_socket(socket, names::PONG, &pong);
            pong
        });
    respond(socket, ack, names::PING, result);
}

async fn on_disconnect(socket: Socket, reason: DisconnectReason) {
    let session = session_of(&socket);
    session.closed.cancel();
    session.lifecycle.close(|was_connected| {
        if was_connected {
            metrics::gauge!("ragcast_connected_sockets", "namespace" => "/").decrement(1.0);
            tracing::info!(sid = %socket.id, ?reason, "socket disconnected");
        } else {
            tracing::info!(sid = %socket.id, ?reason, "socket closed during its handshake");
        }
    });
}

/// The session of a socket. Every socket gets one before it connects; were it missing, the
/// socket would be treated as a user with no projects, never as an open caller.
pub fn session_of(socket: &Socket) -> Arc<Session> {
    socket.extensions.get::<Arc<Session>>().unwrap_or_else(|| {
        tracing::error!(sid = %socket.id, "socket without a session");
        Arc::new(Session::new(
            Caller::User(Identity {
                user_id: String::new(),
                projects: ProjectAccess::Only(Default::default()),
                expires_at: None,
                ends_at: None,
            }),
            None,
            None,
            RateLimiter::new(&RateSettings {
                events_per_sec: 1.0,
                events_burst: 1,
                messages_per_min: 1.0,
                messages_burst: 1,
            }),
        ))
    })
}

/// The rate limit, checked before any event is handled. Returns the session.
pub fn admit(socket: &Socket, event: &'static str) -> Result<Arc<Session>, EventError> {
    let session = session_of(socket);
    match session.limiter.check(event == names::SEND_MESSAGE) {
        Ok(()) => Ok(session),
        Err(wait) => {
            let retry_after_ms = wait.as_millis().max(1) as u64;
            // Debug, not info: a flooding client would otherwise flood the log too.
            tracing::debug!(sid = %socket.id, ip = ?session.client_ip, event, retry_after_ms, "rate limited");
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
