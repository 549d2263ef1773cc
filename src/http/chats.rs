//! `/api/projects/{id}/chats` and `/api/chats/{id}/messages`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Ids, JsonValue, QueryParams};
use super::projects::require;
use crate::auth::{ApiCaller, Caller};
use crate::chat::{ChatService, Origin, Started};
use crate::error::{AppError, ErrorCode};
use crate::protocol::payloads::{parse, Payload, SendMessage};
use crate::room::RoomService;
use crate::store;
use crate::views::{ChatView, MessageView};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct NewChat {
    pub title: Option<String>,
}

impl Payload for NewChat {
    fn validate(&self) -> Result<(), String> {
        match &self.title {
            Some(t) if t.chars().count() > 200 => {
                Err("`title` must be at most 200 characters".into())
            }
            _ => Ok(()),
        }
    }
}

#[utoipa::path(post, path = "/api/projects/{id}/chats", tag = "chats", params(("id" = i64, Path)), request_body(content = Option<NewChat>), responses((status = 201, body = ChatView)))]
pub async fn create(
    State(room): State<RoomService>,
    ApiCaller(caller): ApiCaller,
    Ids([project_id]): Ids<1>,
    body: Bytes,
) -> Result<(StatusCode, Json<ChatView>), AppError> {
    // The body is optional: no body means a chat with the default title.
    let new: NewChat = if body.iter().all(u8::is_ascii_whitespace) {
        NewChat::default()
    } else {
        let value = serde_json::from_slice(&body)
            .map_err(|e| AppError::invalid(format!("the body is not valid JSON: {e}")))?;
        parse(value)?
    };
    let view = room
        .create_chat(&caller, project_id, new.title.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/api/projects/{id}/chats", tag = "chats", params(("id" = i64, Path)), responses((status = 200, body = [ChatView])))]
pub async fn list(
    State(db): State<DatabaseConnection>,
    ApiCaller(caller): ApiCaller,
    Ids([project_id]): Ids<1>,
) -> Result<Json<Vec<ChatView>>, AppError> {
    caller.require_project(project_id)?;
    require(&db, project_id).await?;
    let chats = store::chats::list(&db, project_id).await?;
    Ok(Json(chats.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize)]
pub struct Page {
    after_id: Option<i64>,
    limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/chats/{id}/messages", tag = "chats", params(("id" = i64, Path), ("after_id" = Option<i64>, Query), ("limit" = Option<u64>, Query)), responses((status = 200, body = [MessageView])))]
pub async fn messages(
    State(db): State<DatabaseConnection>,
    ApiCaller(caller): ApiCaller,
    Ids([chat_id]): Ids<1>,
    QueryParams(page): QueryParams<Page>,
) -> Result<Json<Vec<MessageView>>, AppError> {
    let limit = page.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::invalid("`limit` must be between 1 and 1000"));
    }
    let chat = store::chats::find(&db, chat_id)
        .await?
        .ok_or_else(|| AppError::not_found("chat"))?;
    caller.require_visible(chat.project_id, "chat")?;
    let rows = store::messages::list(&db, chat_id, page.after_id, limit).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize)]
pub struct SendOptions {
    wait: Option<bool>,
}

/// The same pipeline as `send_message`, with no sender socket: events go to the project room.
#[utoipa::path(post, path = "/api/chats/{id}/messages", tag = "chats", params(("id" = i64, Path), ("wait" = Option<bool>, Query)), request_body = SendMessage, responses((status = 200, body = MessageView), (status = 202, description = "`{ message_id }` with ?wait=false")))]
pub async fn send(
    State(chat): State<ChatService>,
    ApiCaller(caller): ApiCaller,
    Ids([chat_id]): Ids<1>,
    QueryParams(options): QueryParams<SendOptions>,
    JsonValue(mut body): JsonValue,
) -> Result<Response, AppError> {
    if let Value::Object(map) = &mut body {
        map.insert("chat_id".into(), json!(chat_id));
    }
    let payload: SendMessage = parse(body)?;
    if let Some(field) = payload.backend_only_field() {
        if caller != Caller::Backend {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                format!("`{field}` may only be given with the API key"),
            ));
        }
    }
    let origin = Origin { sid: None, caller };
    let started = chat.send(payload.into(), origin).await?;
    let message_id = match &started {
        Started::Posted { message, duplicate } => {
            let status = if *duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            return Ok((status, Json(message)).into_response());
        }
        Started::New { received, .. } | Started::Duplicate { received } => received.message_id,
    };
    match started {
        Started::New { done, .. } if options.wait.unwrap_or(true) => {
            if let Err(e) = done.await {
                return Err(AppError::internal(e));
            }
        }
        Started::New { .. } => {
            return Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "message_id": message_id })),
            )
                .into_response())
        }
        Started::Duplicate { .. } | Started::Posted { .. } => {}
    }
    let stored = chat.message(message_id).await?;
    Ok((StatusCode::OK, Json(MessageView::from(stored))).into_response())
}
