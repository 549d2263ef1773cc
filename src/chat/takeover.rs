//! Streams whose runner stopped — a node that stopped beating, or a stream task that panicked:
//! they are stored `interrupted` and the room gets what the runner could not send: the `error`
//! and the one terminal `message_complete`.

use chrono::{DateTime, Utc};
use entities::message;
use sea_orm::DbErr;
use socketioxide::socket::Sid;

use super::ending::{self, Announcement, Ending};
use super::replay::StoredStream;
use super::{ChatService, FinishReason, LiveStream};
use crate::broadcast::Audience;
use crate::store::MessageStatus;
use crate::{rooms, store};

impl ChatService {
    /// Takes over the `streaming` replies of nodes silent since `alive_since`; returns how many
    /// this node announced (each is announced by exactly one node).
    pub async fn take_over_orphans(&self, alive_since: DateTime<Utc>) -> Result<usize, DbErr> {
        let orphans = store::nodes::orphaned_streams(self.db(), alive_since).await?;
        let mut announced = 0;
        for row in orphans {
            let (message_id, node) = (row.id, row.node_id.clone().unwrap_or_default());
            if self.end_as_interrupted(row, None).await? {
                tracing::warn!(
                    message_id,
                    node,
                    "the node running this reply stopped: stored as interrupted"
                );
                announced += 1;
            }
        }
        Ok(announced)
    }

    /// The stream task of `live` panicked (a bug): its row keeps what was streamed, is stored
    /// `interrupted`, and the room gets the `error` and the terminal `message_complete`, so no
    /// client waits for an end that would never come and the user's stream slot is free again.
    pub(super) async fn end_broken_stream(&self, live: &LiveStream) {
        tracing::error!(
            message_id = live.message_id,
            "the stream stopped on a bug (see the panic above): storing it as interrupted"
        );
        self.inner.live.remove(live.message_id);
        metrics::gauge!("ragcast_active_streams").decrement(1.0);
        let saved = store::messages::save_partial(self.db(), live.message_id, live.partial()).await;
        if let Err(e) = saved {
            // Ended all the same, with the last partial reply that was saved.
            tracing::error!(
                message_id = live.message_id,
                "cannot save what it streamed: {e}"
            );
        }
        let ended = async {
            match store::messages::find(self.db(), live.message_id).await? {
                Some(row) => self.end_as_interrupted(row, live.origin_sid).await,
                None => Ok(false),
            }
        };
        if let Err(e) = ended.await {
            tracing::error!(
                message_id = live.message_id,
                "cannot store the broken stream as interrupted: {e}"
            );
        }
    }

    /// Stores a `streaming` row `interrupted` and announces its end to the project room (and the
    /// sender, when known); `false` when it was no longer streaming (another node, or the stream
    /// itself, ended it first).
    async fn end_as_interrupted(
        &self,
        mut row: message::Model,
        sender: Option<Sid>,
    ) -> Result<bool, DbErr> {
        if !store::nodes::interrupt_orphan(self.db(), row.id).await? {
            return Ok(false);
        }
        let Some(chat) = store::chats::find(self.db(), row.chat_id).await? else {
            return Ok(false);
        };
        row.status = MessageStatus::Interrupted;
        row.finish_reason = Some(FinishReason::Error);
        self.announce_interrupted(StoredStream::new(row), chat.project_id, sender);
        Ok(true)
    }

    fn announce_interrupted(&self, stored: StoredStream, project_id: i64, sender: Option<Sid>) {
        let Some(complete) = stored.complete() else {
            return;
        };
        let row = &stored.row;
        let task_id = row.task_id.clone().unwrap_or_else(|| row.id.to_string());
        Announcement {
            audience: &Audience::room(rooms::project(project_id)).and_socket(sender),
            progress_audience: &ending::progress_audience(
                project_id,
                &task_id,
                row.user_id.as_deref(),
            ),
            task_id: &task_id,
            complete: &complete,
            ending: &Ending::Interrupted,
        }
        .announce(&self.inner.broadcaster);
    }
}

#[async_trait::async_trait]
impl crate::cluster::Orphans for ChatService {
    fn what(&self) -> &'static str {
        "streams"
    }

    async fn take_over(&self, alive_since: DateTime<Utc>) -> Result<usize, DbErr> {
        self.take_over_orphans(alive_since).await
    }
}
