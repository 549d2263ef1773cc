//! Room names (PROTOCOL §3), in one place.

use socketioxide::socket::Sid;

pub fn project(project_id: i64) -> String {
    format!("project_{project_id}")
}

pub fn user(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// The room `task_subscribe` joins. PROTOCOL names it `task:{task_id}`; for a signed-in user it
/// is that user's own copy (`task@…`, a prefix no other room has; the length keeps user and task
/// apart), so subscribing to a guessed task id (message ids count up) before another user's
/// generation starts yields nothing of theirs. Sockets without a user (the API key, auth mode
/// `none`) follow `task:{task_id}` itself.
pub fn task(task_id: &str, user_id: Option<&str>) -> String {
    match user_id {
        Some(user) => format!("task@{}:{user}:{task_id}", user.len()),
        None => format!("task:{task_id}"),
    }
}

/// Whether `room` is a task room (either kind).
pub fn is_task(room: &str) -> bool {
    room.starts_with("task:") || room.starts_with("task@")
}

/// Every socket joins a room named by its own sid, so "the room and the sender" is one broadcast
/// in which socketioxide delivers to each socket once.
pub fn socket(sid: Sid) -> String {
    sid.to_string()
}
