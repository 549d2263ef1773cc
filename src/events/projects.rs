//! `join_project` / `leave_project`: the one-project-room rule (PROTOCOL §3).

use crate::socket::Socket;
use serde::Serialize;

use super::ack::EventError;
use super::session::joiner;
use crate::auth::Session;
use crate::broadcast::send_to_socket;
use crate::protocol::names;
use crate::protocol::outgoing::ProjectRoom;
use crate::protocol::payloads::ProjectRef;
use crate::room::RoomService;

#[derive(Serialize)]
pub struct Joined {
    project_id: i64,
}

pub async fn join(
    socket: &Socket,
    session: &Session,
    room: &RoomService,
    ProjectRef { project_id }: ProjectRef,
) -> Result<Joined, EventError> {
    let project_id = project_id.0;
    let mut current = session.project.lock().await;
    room.check_join(&session.caller(), project_id).await?;
    let joiner = joiner(socket, session);
    if let Some(previous) = *current {
        if previous == project_id {
            // Already in it: joining again is idempotent, presence included.
            send_to_socket(socket, names::PROJECT_JOINED, &ProjectRoom { project_id });
            return Ok(Joined { project_id });
        }
        room.leave(socket, &joiner, previous);
    }
    *current = Some(project_id);
    room.enter(socket, &joiner, project_id);
    Ok(Joined { project_id })
}

pub async fn leave(
    socket: &Socket,
    session: &Session,
    room: &RoomService,
    ProjectRef { project_id }: ProjectRef,
) -> Result<Joined, EventError> {
    let project_id = project_id.0;
    let mut current = session.project.lock().await;
    if *current == Some(project_id) {
        room.leave(socket, &joiner(socket, session), project_id);
        *current = None;
    } else {
        // Not in it: leaving is idempotent, and still answered.
        send_to_socket(socket, names::PROJECT_LEFT, &ProjectRoom { project_id });
    }
    Ok(Joined { project_id })
}
