//! `task_subscribe` / `task_unsubscribe`: follow a generation's `ai_progress` by task id.

use crate::socket::Socket;
use serde::Serialize;

use super::ack::EventError;
use crate::auth::Session;
use crate::error::{AppError, ErrorCode};
use crate::protocol::payloads::TaskRef;
use crate::room::RoomService;
use crate::rooms;

#[derive(Serialize)]
pub struct Subscription {
    task_id: String,
}

pub async fn subscribe(
    socket: &Socket,
    session: &Session,
    room: &RoomService,
    TaskRef { task_id }: TaskRef,
) -> Result<Subscription, EventError> {
    let rooms_to_join = room.task_rooms(&session.caller(), &task_id).await?;
    let rooms = socket.rooms();
    let followed = rooms.iter().filter(|r| rooms::is_task(r)).count();
    let new = rooms_to_join
        .iter()
        .filter(|room| !rooms.iter().any(|r| r == *room))
        .count();
    if new > 0 && followed + new > MAX_TASK_ROOMS_PER_SOCKET {
        return Err(AppError::new(
            ErrorCode::Busy,
            format!("this socket follows {followed} tasks already; unsubscribe from one first"),
        )
        .into());
    }
    socket.join(rooms_to_join);
    Ok(Subscription { task_id })
}

/// Task rooms one socket may be in at once: each is held until the socket leaves.
const MAX_TASK_ROOMS_PER_SOCKET: usize = 64;

pub fn unsubscribe(
    socket: &Socket,
    session: &Session,
    TaskRef { task_id }: TaskRef,
) -> Result<Subscription, EventError> {
    let mut rooms_to_leave = vec![rooms::task(&task_id, session.user_id())];
    rooms_to_leave.extend(
        socket
            .rooms()
            .into_iter()
            .filter(|room| rooms::is_project_task_of(room, &task_id))
            .map(|room| room.into_owned()),
    );
    socket.leave(rooms_to_leave);
    Ok(Subscription { task_id })
}
