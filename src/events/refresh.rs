//! `auth_refresh { token }` (PROTOCOL §8): a long session swaps its token without dropping. The
//! new token must be valid and for the same user; the socket's project room is then checked
//! against the new `projects` and left (with `project_left`) when the token lost it. Anything
//! else is `unauthorized` and the socket is disconnected, as an expired one is.

use serde::{Deserialize, Serialize};

use super::ack::EventError;
use super::session::joiner;
use crate::auth::{Authenticator, Caller, Session};
use crate::error::{AppError, ErrorCode};
use crate::protocol::payloads::{check_len, Payload};
use crate::room::RoomService;
use crate::socket::Socket;

#[derive(Debug, Deserialize)]
pub struct AuthRefresh {
    token: String,
}

impl Payload for AuthRefresh {
    fn validate(&self) -> Result<(), String> {
        check_len("token", Some(&self.token), 16_384)
    }
}

#[derive(Serialize)]
pub struct Refreshed {
    /// The new token's `exp` (Unix seconds); `null` for callers whose session does not expire.
    exp: Option<i64>,
}

/// Swaps the session's token; a refused one is `unauthorized`, and the caller then ends the
/// session (`ends_session`).
pub async fn refresh(
    socket: &Socket,
    session: &Session,
    authenticator: &Authenticator,
    room: &RoomService,
    AuthRefresh { token }: AuthRefresh,
) -> Result<Refreshed, EventError> {
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
            room.leave(socket, &joiner(socket, session), project_id);
            *project = None;
        }
    }
    session.replace_caller(new);
    tracing::info!(socket = %session.public_id, exp, "token refreshed");
    Ok(Refreshed { exp })
}

/// A refused refresh ends the session, as an expired token does.
pub fn ends_session(result: &Result<Refreshed, EventError>) -> bool {
    matches!(result, Err(e) if e.error.code == ErrorCode::Unauthorized)
}
