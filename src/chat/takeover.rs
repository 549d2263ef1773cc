//! Streams whose node stopped beating: another node stores them `interrupted` and sends what the
//! stopped node could not: the `error` and the one terminal `message_complete`.

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use super::ending::{self, Ending};
use super::replay::StoredStream;
use super::{ChatService, FinishReason};
use crate::broadcast::Audience;
use crate::error::ErrorCode;
use crate::store::messages::MessageStatus;
use crate::{rooms, store};

impl ChatService {
    /// Takes over the `streaming` replies of nodes silent since `alive_since`; returns how many
    /// this node announced (each is announced by exactly one node).
    pub async fn take_over_orphans(&self, alive_since: DateTime<Utc>) -> Result<usize, DbErr> {
        let orphans = store::nodes::orphaned_streams(self.db(), alive_since).await?;
        let mut announced = 0;
        for mut row in orphans {
            if !store::nodes::interrupt_orphan(self.db(), row.id).await? {
                continue;
            }
            let Some(chat) = store::chats::find(self.db(), row.chat_id).await? else {
                continue;
            };
            tracing::warn!(
                message_id = row.id,
                node = row.node_id.as_deref().unwrap_or("-"),
                "the node running this reply stopped: stored as interrupted"
            );
            row.status = MessageStatus::Interrupted.as_str().to_owned();
            row.finish_reason = Some(FinishReason::Error.as_str().to_owned());
            self.announce_interrupted(StoredStream::new(row), chat.project_id);
            announced += 1;
        }
        Ok(announced)
    }

    fn announce_interrupted(&self, stored: StoredStream, project_id: i64) {
        let Some(complete) = stored.complete() else {
            return;
        };
        let row = &stored.row;
        let task_id = row.task_id.clone().unwrap_or_else(|| row.id.to_string());
        Ending {
            audience: &Audience::room(rooms::project(project_id)),
            progress_audience: &ending::progress_audience(&task_id, row.user_id.as_deref()),
            task_id: &task_id,
            complete: &complete,
            failure: Some((
                ErrorCode::GenerationFailed,
                "the server running this reply stopped before it was complete",
            )),
        }
        .announce(self.broadcaster());
    }
}
