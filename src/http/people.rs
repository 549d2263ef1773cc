//! `GET /api/projects/{id}/presence` and `PATCH /api/chats/{id}` (PROTOCOL §9.1–9.2).

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::extract::{Ids, JsonValue};
use super::projects::require;
use crate::auth::ApiCaller;
use crate::error::AppError;
use crate::protocol::payloads::parse;
use crate::room::{ChatPatch, Member, RoomService};
use crate::views::ChatView;

#[derive(Serialize, utoipa::ToSchema)]
pub struct PresenceView {
    project_id: i64,
    #[schema(value_type = Vec<Object>)]
    members: Vec<Member>,
}

#[utoipa::path(get, path = "/api/projects/{id}/presence", tag = "projects", params(("id" = i64, Path)), responses((status = 200, body = PresenceView), (status = 403, description = "a user token without the project")))]
pub async fn presence(
    State(room): State<RoomService>,
    State(db): State<sea_orm::DatabaseConnection>,
    ApiCaller(caller): ApiCaller,
    Ids([project_id]): Ids<1>,
) -> Result<Json<PresenceView>, AppError> {
    caller.require_project(project_id)?;
    require(&db, project_id).await?;
    Ok(Json(PresenceView {
        project_id,
        members: room.presence().members(project_id),
    }))
}

#[utoipa::path(patch, path = "/api/chats/{id}", tag = "chats", params(("id" = i64, Path)), request_body = ChatPatch, responses((status = 200, body = ChatView), (status = 403, description = "neither the API key nor an operator of the project")))]
pub async fn update_chat(
    State(room): State<RoomService>,
    ApiCaller(caller): ApiCaller,
    Ids([chat_id]): Ids<1>,
    JsonValue(body): JsonValue,
) -> Result<Json<ChatView>, AppError> {
    let patch: ChatPatch = parse(body)?;
    Ok(Json(room.update_chat(&caller, chat_id, patch).await?))
}
