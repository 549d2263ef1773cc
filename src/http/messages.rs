//! `/api/messages/{id}`: one message as it stands (an HTTP client can poll a live stream), and
//! its cancel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::extract::Ids;
use crate::auth::ApiCaller;
use crate::chat::ChatService;
use crate::error::AppError;
use crate::views::MessageView;

/// A message and the index of its last token so far (`null` before the first).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageNow {
    #[serde(flatten)]
    pub message: MessageView,
    pub last_index: Option<usize>,
}

#[utoipa::path(get, path = "/api/messages/{id}", tag = "chats", params(("id" = i64, Path)), responses((status = 200, body = MessageNow), (status = 404, description = "no such message")))]
pub async fn show(
    State(chat): State<ChatService>,
    ApiCaller(caller): ApiCaller,
    Ids([message_id]): Ids<1>,
) -> Result<Json<MessageNow>, AppError> {
    let (row, last_index) = chat.message_now(message_id, &caller).await?;
    Ok(Json(MessageNow {
        message: row.into(),
        last_index,
    }))
}

/// Cancels a live stream like `cancel_message`, on whichever node runs it.
#[utoipa::path(post, path = "/api/messages/{id}/cancel", tag = "chats", params(("id" = i64, Path)), responses((status = 202, description = "`{ message_id }`: the stream ends with `cancelled`"), (status = 404, description = "no live stream")))]
pub async fn cancel(
    State(chat): State<ChatService>,
    ApiCaller(caller): ApiCaller,
    Ids([message_id]): Ids<1>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    chat.cancel(message_id, &caller).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "message_id": message_id })),
    ))
}
