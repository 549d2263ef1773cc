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

/// The task room of a generation started without a user (with the API key), per project:
/// signed-in users who may see that project join it when they subscribe to such a task.
pub fn project_task(project_id: i64, task_id: &str) -> String {
    format!("task#{project_id}:{task_id}")
}

/// Whether `room` is a task room (any kind).
pub fn is_task(room: &str) -> bool {
    ["task:", "task@", "task#"]
        .iter()
        .any(|prefix| room.starts_with(prefix))
}

/// Whether `room` is a `project_task` room of `task_id`.
pub fn is_project_task_of(room: &str, task_id: &str) -> bool {
    room.strip_prefix("task#")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(project, task)| task == task_id && project.parse::<i64>().is_ok())
}

/// Every socket joins a room named by its own sid, so "the room and the sender" is one broadcast
/// in which socketioxide delivers to each socket once.
pub fn socket(sid: Sid) -> String {
    sid.to_string()
}
