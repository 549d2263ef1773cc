//! `join_project` / `leave_project`: the one-project-room rule (PROTOCOL §3).

use crate::socket::{Ack, Socket};
use serde::Serialize;
use serde_json::Value;

use super::ack::{respond, EventError};
use super::session::{admit, joiner};
use crate::broadcast::send_to_socket;
use crate::protocol::names;
use crate::protocol::outgoing::ProjectRoom;
use crate::protocol::payloads::{parse, ProjectRef};
use crate::room::RoomService;

#[derive(Serialize)]
struct Joined {
    project_id: i64,
}

pub async fn on_join(socket: &Socket, data: Value, ack: Ack, room: &RoomService) {
    let result = join(socket, room, data).await;
    respond(socket, ack, names::JOIN_PROJECT, result);
}

async fn join(socket: &Socket, room: &RoomService, data: Value) -> Result<Joined, EventError> {
    let session = admit(socket, names::JOIN_PROJECT)?;
    let ProjectRef { project_id } = parse(data)?;
    let project_id = project_id.0;
    let mut current = session.project.lock().await;
    room.check_join(&session.caller(), project_id).await?;
    let joiner = joiner(socket, &session);
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

pub async fn on_leave(socket: &Socket, data: Value, ack: Ack, room: &RoomService) {
    let result = leave(socket, room, data).await;
    respond(socket, ack, names::LEAVE_PROJECT, result);
}

async fn leave(socket: &Socket, room: &RoomService, data: Value) -> Result<Joined, EventError> {
    let session = admit(socket, names::LEAVE_PROJECT)?;
    let ProjectRef { project_id } = parse(data)?;
    let project_id = project_id.0;
    let mut current = session.project.lock().await;
    if *current == Some(project_id) {
        room.leave(socket, &joiner(socket, &session), project_id);
        *current = None;
    } else {
        // Not in it: leaving is idempotent, and still answered.
        send_to_socket(socket, names::PROJECT_LEFT, &ProjectRoom { project_id });
    }
    Ok(Joined { project_id })
}
