//! `auth_refresh { token }` (PROTOCOL §8): a long session swaps its token without dropping. The
//! new token must be valid and for the same user; the socket's project room is then checked
//! against the new `projects` and left (with `project_left`) when the token lost it. Anything
//! else is `unauthorized` and the socket is disconnected, as an expired one is.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ack::{respond, EventError};
use super::session::{admit, joiner, log_name};
use crate::auth::{Authenticator, Caller};
use crate::error::{AppError, ErrorCode};
use crate::protocol::names;
use crate::protocol::payloads::{check_len, parse, Payload};
use crate::room::RoomService;
use crate::socket::{Ack, Socket};

#[derive(Debug, Deserialize)]
struct AuthRefresh {
    token: String,
}

impl Payload for AuthRefresh {
    fn validate(&self) -> Result<(), String> {
        check_len("token", Some(&self.token), 16_384)
    }
}

#[derive(Serialize)]
struct Refreshed {
    /// The new token's `exp` (Unix seconds); `null` for callers whose session does not expire.
    exp: Option<i64>,
}

pub async fn on_refresh(
    socket: &Socket,
    data: Value,
    ack: Ack,
    authenticator: &Authenticator,
    room: &RoomService,
) {
    let result = refresh(socket, data, authenticator, room).await;
    let refused = matches!(&result, Err(e) if e.error.code == ErrorCode::Unauthorized);
    respond(socket, ack, names::AUTH_REFRESH, result);
    if refused {
        if let Err(e) = socket.clone().disconnect() {
            tracing::debug!(socket = %log_name(socket), "disconnect after a refused refresh: {e}");
        }
    }
}

async fn refresh(
    socket: &Socket,
    data: Value,
    authenticator: &Authenticator,
    room: &RoomService,
) -> Result<Refreshed, EventError> {
    let session = admit(socket, names::AUTH_REFRESH)?;
    let AuthRefresh { token } = parse(data)?;
    let unauthorized = |why: &str| EventError::from(AppError::new(ErrorCode::Unauthorized, why));
    let new = authenticator
        .caller(Some(&token))
        .map_err(|e| unauthorized(&format!("the new token is refused: {e}")))?;
    let same_holder = match (&session.caller(), &new) {
        (Caller::User(old), Caller::User(new)) => old.user_id == new.user_id,
        (Caller::Backend, Caller::Backend) | (Caller::Open, _) => true,
        _ => false,
    };
    if !same_holder {
        return Err(unauthorized("the new token is for another user"));
    }
    let exp = match &new {
        Caller::User(identity) => identity.expires_at,
        Caller::Open | Caller::Backend => None,
    };
    let mut project = session.project.lock().await;
    if let Some(project_id) = *project {
        if !new.may_use(project_id) {
            room.leave(socket, &joiner(socket, &session), project_id);
            *project = None;
        }
    }
    session.replace_caller(new);
    tracing::info!(socket = %session.public_id, exp, "token refreshed");
    Ok(Refreshed { exp })
}
