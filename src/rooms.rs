//! Room names (PROTOCOL §3), in one place.

use socketioxide::socket::Sid;

pub fn project(project_id: i64) -> String {
    format!("project_{project_id}")
}

pub fn user(user_id: &str) -> String {
    format!("user:{user_id}")
}

pub fn task(task_id: &str) -> String {
    format!("task:{task_id}")
}

/// Every socket joins a room named by its own sid, so "the room and the sender" is one broadcast
/// in which socketioxide delivers to each socket once.
pub fn socket(sid: Sid) -> String {
    sid.to_string()
}
