//! How every stream ends for its receivers, whichever node ends it: the `error` when it failed,
//! the one `message_complete`, and the `ai_progress` completion (PROTOCOL §5).

use crate::broadcast::{Audience, Broadcaster};
use crate::error::ErrorCode;
use crate::protocol::names;
use crate::protocol::outgoing::{AiProgress, ErrorEvent, MessageComplete, ProgressKind};
use crate::rooms;

/// Where `ai_progress` goes: `task:{task_id}` and, when the stream has a user, that user's copy
/// of the task room and `user:{id}`; without a user, the task's room in its project.
pub(super) fn progress_audience(project_id: i64, task_id: &str, user_id: Option<&str>) -> Audience {
    let audience = Audience::room(rooms::task(task_id, None));
    match user_id {
        Some(user) => audience
            .and_room(rooms::task(task_id, Some(user)))
            .and_room(rooms::user(user)),
        None => audience.and_room(rooms::project_task(project_id, task_id)),
    }
}

/// The terminal events of one stream.
pub(super) struct Ending<'a> {
    /// The project room (and the sender, when there is one).
    pub audience: &'a Audience,
    pub progress_audience: &'a Audience,
    pub task_id: &'a str,
    pub complete: &'a MessageComplete,
    /// Set when the stream failed: sent as `error` just before `message_complete`.
    pub failure: Option<(ErrorCode, &'a str)>,
}

impl Ending<'_> {
    pub fn announce(&self, broadcaster: &Broadcaster) {
        let complete = self.complete;
        if let Some((code, message)) = self.failure {
            broadcaster.send(
                self.audience,
                names::ERROR,
                &ErrorEvent {
                    code,
                    message: message.to_owned(),
                    event: names::SEND_MESSAGE,
                    chat_id: Some(complete.chat_id),
                    message_id: Some(complete.message_id),
                    retry_after_ms: None,
                },
            );
        }
        broadcaster.send(self.audience, names::MESSAGE_COMPLETE, complete);
        broadcaster.send(
            self.progress_audience,
            names::AI_PROGRESS,
            &AiProgress {
                kind: ProgressKind::Completion,
                text: &complete.content,
                partial: false,
                task_id: self.task_id,
                chat_id: complete.chat_id,
                message_id: complete.message_id,
                finish_reason: Some(complete.metadata.finish_reason),
            },
        );
    }
}
