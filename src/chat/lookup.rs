//! A stored message as it stands, for the HTTP API.

use entities::message;

use super::ChatService;
use crate::auth::Caller;
use crate::error::AppError;
use crate::store;

impl ChatService {
    /// A stored message, or `not_found`.
    pub async fn message(&self, message_id: i64) -> Result<message::Model, AppError> {
        store::messages::find(&self.inner.db, message_id)
            .await?
            .ok_or_else(|| AppError::not_found("message"))
    }

    /// One message as it stands, for `caller`: a stream live on this node with everything it
    /// streamed so far (its stored row lags by the flush interval), any other as stored. With
    /// the last token's index (`None` before the first).
    pub async fn message_now(
        &self,
        message_id: i64,
        caller: &Caller,
    ) -> Result<(message::Model, Option<usize>), AppError> {
        let mut row = self.message(message_id).await?;
        let chat = store::chats::find(&self.inner.db, row.chat_id)
            .await?
            .ok_or_else(|| AppError::not_found("message"))?;
        caller.require_visible(chat.project_id, "message")?;
        if let Some(live) = self.live_stream(message_id) {
            let log = live.log();
            if log.complete.is_none() {
                row.content = log.tokens.concat();
                row.token_count = log.tokens.len() as i32;
                return Ok((row, log.tokens.len().checked_sub(1)));
            }
        }
        // Every save writes the token count from the same log as the tokens.
        let last_index = usize::try_from(row.token_count)
            .ok()
            .and_then(|n| n.checked_sub(1));
        Ok((row, last_index))
    }
}
