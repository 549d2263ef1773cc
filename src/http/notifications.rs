//! Back-end notifications into a project room: `POST /api/projects/{id}/events` (any event
//! name but the contract's own), `/document-status` and `/updates` (checked against the
//! payloads PROTOCOL gives those events).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::extract::{Body, Ids};
use crate::auth::{ApiCaller, Caller};
use crate::error::AppError;
use crate::protocol::names;
use crate::protocol::outgoing::{DocumentStatusEvent, ProjectUpdate, UpdateKind};
use crate::protocol::payloads::{Id, Payload};
use crate::room::RoomService;
use crate::store::DocumentStatus;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Delivered {
    pub event: String,
    /// Sockets of this process that received it.
    pub delivered: usize,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CustomEvent {
    pub event: String,
    #[serde(default)]
    pub data: Value,
}

impl Payload for CustomEvent {
    fn validate(&self) -> Result<(), String> {
        let len = self.event.chars().count();
        if len == 0 || len > 64 {
            return Err("`event` must be 1 to 64 characters".into());
        }
        if names::SERVER_EVENTS.contains(&self.event.as_str()) {
            return Err(format!(
                "`event` \"{}\" is one of the server's own events; pick another name",
                self.event
            ));
        }
        Ok(())
    }
}

#[utoipa::path(post, path = "/api/projects/{id}/events", tag = "notifications", params(("id" = i64, Path)), request_body = CustomEvent, responses((status = 200, body = Delivered)))]
pub async fn custom_event(
    State(room): State<RoomService>,
    ApiCaller(caller): ApiCaller,
    Ids([project_id]): Ids<1>,
    Body(body): Body<CustomEvent>,
) -> Result<Json<Delivered>, AppError> {
    deliver(&room, &caller, project_id, None, &body.event, &body.data).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DocumentStatusBody {
    #[schema(value_type = Option<i64>)]
    pub project_id: Option<Id>,
    #[schema(value_type = i64)]
    pub document_id: Id,
    pub filename: String,
    pub status: DocumentStatus,
    pub progress: i32,
    pub error: Option<String>,
}

impl Payload for DocumentStatusBody {
    fn validate(&self) -> Result<(), String> {
        if !(0..=100).contains(&self.progress) {
            return Err("`progress` must be between 0 and 100".into());
        }
        if self.status == DocumentStatus::Completed && self.progress != 100 {
            return Err("`progress` must be 100 when `status` is completed".into());
        }
        crate::ingest::check_filename(&self.filename)
    }
}

#[utoipa::path(post, path = "/api/projects/{id}/document-status", tag = "notifications", params(("id" = i64, Path)), request_body = DocumentStatusBody, responses((status = 200, body = Delivered)))]
pub async fn document_status(
    State(room): State<RoomService>,
    ApiCaller(caller): ApiCaller,
    Ids([project_id]): Ids<1>,
    Body(body): Body<DocumentStatusBody>,
) -> Result<Json<Delivered>, AppError> {
    let event = DocumentStatusEvent {
        project_id,
        document_id: body.document_id.0,
        filename: body.filename,
        status: body.status,
        progress: body.progress,
        error: body.error,
    };
    let claimed = body.project_id.map(|id| id.0);
    deliver(
        &room,
        &caller,
        project_id,
        claimed,
        names::DOCUMENT_STATUS,
        &event,
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpdateBody {
    #[schema(value_type = Option<i64>)]
    pub project_id: Option<Id>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub data: Value,
}

impl Payload for UpdateBody {
    fn validate(&self) -> Result<(), String> {
        let len = self.kind.chars().count();
        if len == 0 || len > 64 {
            return Err("`type` must be 1 to 64 characters".into());
        }
        Ok(())
    }
}

#[utoipa::path(post, path = "/api/projects/{id}/updates", tag = "notifications", params(("id" = i64, Path)), request_body = UpdateBody, responses((status = 200, body = Delivered)))]
pub async fn update(
    State(room): State<RoomService>,
    ApiCaller(caller): ApiCaller,
    Ids([project_id]): Ids<1>,
    Body(body): Body<UpdateBody>,
) -> Result<Json<Delivered>, AppError> {
    let claimed = body.project_id.map(|id| id.0);
    let event = ProjectUpdate {
        project_id,
        kind: UpdateKind::Custom(body.kind),
        data: body.data,
    };
    deliver(
        &room,
        &caller,
        project_id,
        claimed,
        names::PROJECT_UPDATE,
        &event,
    )
    .await
}

/// The checks every notification shares, then the broadcast into the project room.
async fn deliver<T: Serialize + ?Sized>(
    room: &RoomService,
    caller: &Caller,
    project_id: i64,
    claimed_project_id: Option<i64>,
    event: &str,
    payload: &T,
) -> Result<Json<Delivered>, AppError> {
    caller.require_backend()?; // before the body's checks: a non-back end learns nothing
    check_project_matches(claimed_project_id, project_id)?;
    let delivered = room.notify(caller, project_id, event, payload).await?;
    Ok(Json(Delivered {
        event: event.to_owned(),
        delivered,
    }))
}

fn check_project_matches(in_body: Option<i64>, in_path: i64) -> Result<(), AppError> {
    match in_body {
        Some(id) if id != in_path => Err(AppError::invalid(
            "`project_id` in the body must match the path",
        )),
        _ => Ok(()),
    }
}
