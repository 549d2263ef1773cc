//! `join_project` / `leave_project`: the one-project-room rule (PROTOCOL §3).

use crate::socket::{Ack, Socket};
use serde::Serialize;
use serde_json::Value;

use super::ack::{respond, EventError};
use super::session::admit;
use crate::broadcast::send_to_socket;
use crate::chat::ChatService;
use crate::protocol::names;
use crate::protocol::outgoing::ProjectRoom;
use crate::protocol::payloads::{parse, ProjectRef};
use crate::rooms;

#[derive(Serialize)]
struct Joined {
    project_id: i64,
}

pub async fn on_join(socket: &Socket, data: Value, ack: Ack, chat: &ChatService) {
    let result = join(socket, chat, data).await;
    respond(socket, ack, names::JOIN_PROJECT, result);
}

async fn join(socket: &Socket, chat: &ChatService, data: Value) -> Result<Joined, EventError> {
    let session = admit(socket, names::JOIN_PROJECT)?;
    let ProjectRef { project_id } = parse(data)?;
    let project_id = project_id.0;
    let mut current = session.project.lock().await;
    chat.check_join(&session.caller(), project_id).await?;
    if let Some(previous) = *current {
        if previous != project_id {
            socket.leave(rooms::project(previous));
            send_to_socket(
                socket,
                names::PROJECT_LEFT,
                &ProjectRoom {
                    project_id: previous,
                },
            );
        }
    }
    socket.join(rooms::project(project_id));
    *current = Some(project_id);
    send_to_socket(socket, names::PROJECT_JOINED, &ProjectRoom { project_id });
    Ok(Joined { project_id })
}

pub async fn on_leave(socket: &Socket, data: Value, ack: Ack) {
    let result = leave(socket, data).await;
    respond(socket, ack, names::LEAVE_PROJECT, result);
}

async fn leave(socket: &Socket, data: Value) -> Result<Joined, EventError> {
    let session = admit(socket, names::LEAVE_PROJECT)?;
    let ProjectRef { project_id } = parse(data)?;
    let project_id = project_id.0;
    let mut current = session.project.lock().await;
    if *current == Some(project_id) {
        socket.leave(rooms::project(project_id));
        *current = None;
    }
    send_to_socket(socket, names::PROJECT_LEFT, &ProjectRoom { project_id });
    Ok(Joined { project_id })
}
