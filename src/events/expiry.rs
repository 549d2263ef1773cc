//! A session ends when its token does: at `exp` plus the leeway the socket gets `error`
//! `unauthorized` (“token expired”) and a Socket.IO disconnect, which socket.io-client answers by
//! reconnecting with fresh credentials. `auth_refresh` moves the end; every event checks it too
//! (`session::dispatch`), so no event slips in between the expiry and this timer.

use super::session::log_name;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Session;
use crate::broadcast::send_to_socket;
use crate::error::ErrorCode;
use crate::protocol::names;
use crate::protocol::outgoing::ErrorEvent;
use crate::socket::Socket;
use crate::time;

/// The `event` of the `error` a session's end sends: no client event caused it, the handshake's
/// `auth` did.
const EXPIRY_EVENT: &str = "auth";

/// Ends the session once its token has run out, unless a refresh moved the end meanwhile.
pub fn watch(socket: Socket, session: Arc<Session>) {
    if session.over_at_ms().is_none() {
        return;
    }
    tokio::spawn(async move {
        while let Some(over) = session.over_at_ms() {
            let wait = Duration::from_millis((over - time::unix_ms()).max(0) as u64);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = session.closed.cancelled() => return,
            }
            if session.expired() {
                end_session(&socket);
                return;
            }
        }
    });
}

/// Tells the client its token expired and disconnects it.
pub fn end_session(socket: &Socket) {
    tracing::info!(socket = %log_name(socket), "token expired: disconnecting the socket");
    send_to_socket(
        socket,
        names::ERROR,
        &ErrorEvent {
            code: ErrorCode::Unauthorized,
            message: "token expired".into(),
            event: EXPIRY_EVENT,
            chat_id: None,
            message_id: None,
            retry_after_ms: None,
        },
    );
    if let Err(e) = socket.clone().disconnect() {
        tracing::debug!(socket = %log_name(socket), "disconnect after expiry: {e}");
    }
}
