//! A connection's events: the connect and disconnect handlers, and how each event reaches its
//! handler (the session itself is `auth::Session`).

use std::sync::Arc;

use crate::socket::Socket;
use socketioxide::extract::State;
use socketioxide::socket::DisconnectReason;

use super::ack::{respond, EventError};
use super::client_event::ClientEvent;
use super::inbox::{self, Inbox, Queued};
use super::{chat, expiry, projects, refresh, tasks};
use crate::auth::{
    Authenticator, Caller, Cost, Identity, ProjectAccess, RateLimiter, RateSettings, Session,
};
use crate::broadcast::{send_to_socket, Outbox, OutboxSettings};
use crate::chat::ChatService;
use crate::error::{AppError, ErrorCode};
use crate::net::{Peer, WrittenBytes};
use crate::protocol::names;
use crate::protocol::outgoing::{ConnectionStatus, Pong};
use crate::protocol::payloads::Ping;
use crate::room::{Joiner, RoomService};
use crate::{rooms, time};

/// Rooms and the inbox, set up in a connect middleware (after `auth::authenticate`): those run
/// before the connect ack is sent, so a client's first event always finds its handler.
pub async fn prepare(
    socket: Socket,
    State(chat): State<ChatService>,
    State(room): State<RoomService>,
    State(authenticator): State<Arc<Authenticator>>,
    State(outbox): State<OutboxSettings>,
) -> Result<(), std::convert::Infallible> {
    let session = session_of(&socket);
    // Before the connect ack and any room: every event to this socket passes through it.
    socket.extensions.insert(Outbox::new(
        outbox,
        session.public_id,
        opened_as_websocket(&socket),
    ));
    socket.join(rooms::socket(socket.id));
    if let Some(user) = session.user_id() {
        socket.join(rooms::user(user));
    }
    socket.extensions.insert(Inbox::start(move |queued| {
        let (chat, room, authenticator) = (chat.clone(), room.clone(), authenticator.clone());
        async move { dispatch(queued, &chat, &room, &authenticator).await }
    }));
    for event in names::CLIENT_EVENTS {
        socket.on(*event, inbox::enqueued);
    }
    socket.on_disconnect(on_disconnect);
    Ok(())
}

/// The connection of a socket that opened as a websocket (no long-polling first): its writes
/// tell the outbox how much of the socket's queue has left. An upgraded one is told at its
/// upgrade (`engine`).
fn opened_as_websocket(socket: &Socket) -> Option<WrittenBytes> {
    let parts = socket.req_parts();
    let websocket = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "transport=websocket"));
    websocket
        .then(|| parts.extensions.get::<axum::extract::ConnectInfo<Peer>>())
        .flatten()
        .map(|info| info.0.written.clone())
}

/// Runs one event: the session's expiry, the rate limit, the payload parsed into a
/// `ClientEvent`, its handler, and the one answer (ack and `error`, metrics). The socket's next
/// event waits until it is done.
async fn dispatch(
    queued: Queued,
    chat: &ChatService,
    room: &RoomService,
    authenticator: &Authenticator,
) {
    let Queued {
        event,
        socket,
        data,
        ack,
    } = queued;
    let socket = &socket;
    // Checked at every event, so no event slips in between the expiry and its timer.
    if session_of(socket).expired() {
        let expired = AppError::new(ErrorCode::Unauthorized, "token expired");
        respond(socket, ack, event, Err::<(), _>(EventError::from(expired)));
        expiry::end_session(socket);
        return;
    }
    let admitted = admit(socket, event).and_then(|session| {
        let parsed = ClientEvent::parse(event, data)?;
        Ok((session, parsed))
    });
    let (session, parsed) = match admitted {
        Ok(admitted) => admitted,
        Err(refused) => return respond(socket, ack, event, Err::<(), _>(refused)),
    };
    let session = &*session;
    let mut ends_session = false;
    let result = match parsed {
        ClientEvent::Ping(ping) => Ok(reply(pong(socket, ping))),
        ClientEvent::JoinProject(to) => projects::join(socket, session, room, to).await.map(reply),
        ClientEvent::LeaveProject(from) => projects::leave(socket, session, room, from)
            .await
            .map(reply),
        ClientEvent::SendMessage(message) => {
            chat::send(socket, session, chat, *message).await.map(reply)
        }
        ClientEvent::CancelMessage(message) => {
            chat::cancel(session, chat, message).await.map(reply)
        }
        ClientEvent::ResumeMessage(resume) => {
            chat::resume(socket, session, chat, resume).await.map(reply)
        }
        ClientEvent::Typing(chat_ref, typing) => {
            chat::typing(socket, session, room, chat_ref, typing)
                .await
                .map(reply)
        }
        ClientEvent::TaskSubscribe(task) => tasks::subscribe(socket, session, room, task)
            .await
            .map(reply),
        ClientEvent::TaskUnsubscribe(task) => tasks::unsubscribe(socket, session, task).map(reply),
        ClientEvent::AuthRefresh(refresh) => {
            let result = refresh::refresh(socket, session, authenticator, room, refresh).await;
            ends_session = refresh::ends_session(&result);
            result.map(reply)
        }
        ClientEvent::Unknown(name) => {
            tracing::debug!(event = name, "no handler");
            return;
        }
    };
    respond(socket, ack, event, result);
    if ends_session {
        if let Err(e) = socket.clone().disconnect() {
            tracing::debug!(socket = %log_name(socket), "disconnect after a refused refresh: {e}");
        }
    }
}

/// A handler's answer as the ack's body.
fn reply(answer: impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(answer).unwrap_or_default()
}

/// After the connect ack: count, log, greet with `connection_status`, and watch the token's
/// expiry.
pub async fn on_connect(socket: Socket) {
    let session = session_of(&socket);
    let connected = session.mark_connected(|| {
        metrics::gauge!("ragcast_connected_sockets", "namespace" => "/").increment(1.0);
        tracing::info!(
            socket = %session.public_id,
            user = session.user_id().unwrap_or("-"),
            ip = ?session.client_ip,
            transport = ?socket.transport_type(),
            protocol = ?socket.protocol(),
            "socket connected"
        );
    });
    if !connected {
        return; // already closed, and logged so by `on_disconnect`
    }
    crate::activity::connected(&socket);
    send_to_socket(
        &socket,
        names::CONNECTION_STATUS,
        &ConnectionStatus {
            status: "connected",
            sid: socket.id.to_string(),
            public_id: session.public_id,
            server_time: time::unix_ms(),
            user_id: session.user_id(),
        },
    );
    expiry::watch(socket, session);
}

/// `pong`, through the socket's outbox, and the same as the ack.
fn pong(socket: &Socket, ping: Ping) -> Pong {
    let server_time = time::unix_ms();
    let pong = Pong {
        timestamp: ping.timestamp.unwrap_or_else(|| server_time.into()),
        server_time,
    };
    send_to_socket(socket, names::PONG, &pong);
    pong
}

async fn on_disconnect(socket: Socket, reason: DisconnectReason, State(room): State<RoomService>) {
    let session = session_of(&socket);
    session.closed.cancel();
    // Its project room's members learn it left (its last socket there, or one of a user's).
    let project = *session.project.lock().await;
    if let Some(project_id) = project {
        room.presence()
            .leave(project_id, &joiner(&socket, &session));
    }
    session.mark_closed(|was_connected| {
        if was_connected {
            crate::activity::disconnected(&socket, reason);
            metrics::gauge!("ragcast_connected_sockets", "namespace" => "/").decrement(1.0);
            tracing::info!(socket = %session.public_id, ?reason, "socket disconnected");
        } else {
            tracing::info!(socket = %session.public_id, ?reason, "socket closed during its handshake");
        }
    });
}

/// Who a socket is, as a project room's members see it (PROTOCOL §9.2).
pub fn joiner(socket: &Socket, session: &Session) -> Joiner {
    let caller = session.caller();
    Joiner {
        sid: socket.id,
        public_id: session.public_id,
        user_id: caller.user_id().map(str::to_owned),
        name: caller.user_name().map(str::to_owned),
    }
}

/// How logs name a socket: its public id, never its session id (a secret: whoever reads it
/// could take the session over).
pub fn log_name(socket: &Socket) -> String {
    socket
        .extensions
        .get::<Arc<Session>>()
        .map_or_else(|| "-".to_owned(), |session| session.public_id.to_string())
}

/// The session of a socket. Every socket gets one before it connects; were it missing, the
/// socket would be treated as a user with no projects, never as an open caller.
pub fn session_of(socket: &Socket) -> Arc<Session> {
    socket.extensions.get::<Arc<Session>>().unwrap_or_else(|| {
        tracing::error!("socket without a session");
        Arc::new(Session::new(
            Caller::User(Identity {
                user_id: String::new(),
                name: None,
                operator: false,
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
    let cost = if event == names::SEND_MESSAGE {
        Cost::Message
    } else {
        Cost::Event
    };
    match session.limiter.check(cost) {
        Ok(()) => Ok(session),
        Err(wait) => {
            let retry_after_ms = wait.as_millis().max(1) as u64;
            // Debug, not info: a flooding client would otherwise flood the log too.
            tracing::debug!(socket = %session.public_id, ip = ?session.client_ip, event, retry_after_ms, "rate limited");
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
