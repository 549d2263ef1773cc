//! How every stream ends, whichever node ends it: the one mapping from how it ended to the row's
//! status, the `finish_reason` and the failure's text (`Ending`), and what its receivers get —
//! the `error` when it failed, the one `message_complete`, the `ai_progress` completion
//! (PROTOCOL §5).

use crate::broadcast::{Audience, Broadcaster};
use crate::error::ErrorCode;
use crate::protocol::names;
use crate::protocol::outgoing::{AiProgress, ErrorEvent, MessageComplete, ProgressKind};
use crate::rooms;
use crate::store::{FinishReason, MessageStatus};

/// How a stream ended. The live stream, replays, followers and the node that takes a stopped
/// node's streams over all read status, finish reason and failure text from here.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// `stop` or `length`.
    Finished(FinishReason),
    Cancelled,
    /// The model or the back end failed; the text says why.
    Failed(String),
    /// The server running it stopped before it was complete.
    Interrupted,
}

/// A stored failure's text (the live one is not stored).
const STORED_FAILURE: &str = "the generation failed";
const INTERRUPTED: &str = "the server stopped before the reply was complete";

impl Ending {
    pub fn status(&self) -> MessageStatus {
        match self {
            Ending::Finished(_) => MessageStatus::Complete,
            Ending::Cancelled => MessageStatus::Cancelled,
            Ending::Failed(_) => MessageStatus::Failed,
            Ending::Interrupted => MessageStatus::Interrupted,
        }
    }

    pub fn finish_reason(&self) -> FinishReason {
        match self {
            Ending::Finished(reason) => *reason,
            Ending::Cancelled => FinishReason::Cancelled,
            Ending::Failed(_) | Ending::Interrupted => FinishReason::Error,
        }
    }

    /// The text of the `error` (`generation_failed`) sent just before `message_complete`.
    pub fn failure(&self) -> Option<&str> {
        match self {
            Ending::Failed(why) => Some(why),
            Ending::Interrupted => Some(INTERRUPTED),
            Ending::Finished(_) | Ending::Cancelled => None,
        }
    }

    /// A stored row's ending; `None` while it streams.
    pub fn of_row(status: MessageStatus, finish_reason: Option<FinishReason>) -> Option<Self> {
        match status {
            MessageStatus::Streaming => None,
            MessageStatus::Complete => Some(Ending::Finished(
                finish_reason.unwrap_or(FinishReason::Stop),
            )),
            MessageStatus::Cancelled => Some(Ending::Cancelled),
            MessageStatus::Failed => Some(Ending::Failed(STORED_FAILURE.to_owned())),
            MessageStatus::Interrupted => Some(Ending::Interrupted),
        }
    }
}

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
pub(super) struct Announcement<'a> {
    /// The project room (and the sender, when there is one).
    pub audience: &'a Audience,
    pub progress_audience: &'a Audience,
    pub task_id: &'a str,
    pub complete: &'a MessageComplete,
    pub ending: &'a Ending,
}

impl Announcement<'_> {
    pub fn announce(&self, broadcaster: &Broadcaster) {
        let complete = self.complete;
        if let Some(message) = self.ending.failure() {
            broadcaster.send(
                self.audience,
                names::ERROR,
                &ErrorEvent {
                    code: ErrorCode::GenerationFailed,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_row_ends_as_the_live_stream_did() {
        for ending in [
            Ending::Finished(FinishReason::Stop),
            Ending::Finished(FinishReason::Length),
            Ending::Cancelled,
            Ending::Interrupted,
        ] {
            let stored = Ending::of_row(ending.status(), Some(ending.finish_reason()));
            assert_eq!(stored.as_ref(), Some(&ending));
        }
        // A failure's own text is not stored: a replay says it failed.
        let failed = Ending::Failed("the model server answered 500".into());
        let stored = Ending::of_row(failed.status(), Some(failed.finish_reason())).unwrap();
        assert_eq!(stored.status(), MessageStatus::Failed);
        assert_eq!(stored.failure(), Some(STORED_FAILURE));
        assert_eq!(Ending::of_row(MessageStatus::Streaming, None), None);
    }
}
