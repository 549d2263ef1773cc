//! `/api/projects`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use super::extract::{Body, Ids};
use crate::auth::ApiCaller;
use crate::chat::ChatService;
use crate::error::AppError;
use crate::protocol::payloads::Payload;
use crate::store;
use crate::views::ProjectView;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewProject {
    pub name: String,
}

impl Payload for NewProject {
    fn validate(&self) -> Result<(), String> {
        let len = self.name.trim().chars().count();
        if len == 0 || len > 200 {
            return Err("`name` must be 1 to 200 characters".into());
        }
        Ok(())
    }
}

#[utoipa::path(post, path = "/api/projects", tag = "projects", request_body = NewProject, responses((status = 201, body = ProjectView), (status = 400, description = "invalid body")))]
pub async fn create(
    State(db): State<DatabaseConnection>,
    ApiCaller(caller): ApiCaller,
    Body(new): Body<NewProject>,
) -> Result<(StatusCode, Json<ProjectView>), AppError> {
    caller.require_backend()?;
    let project = store::projects::create(&db, new.name.trim()).await?;
    Ok((StatusCode::CREATED, Json(project.into())))
}

#[utoipa::path(get, path = "/api/projects", tag = "projects", responses((status = 200, body = [ProjectView])))]
pub async fn list(
    State(db): State<DatabaseConnection>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<ProjectView>>, AppError> {
    let projects = store::projects::list(&db).await?;
    Ok(Json(
        projects
            .into_iter()
            .filter(|p| caller.may_use(p.id))
            .map(Into::into)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/projects/{id}", tag = "projects", params(("id" = i64, Path)), responses((status = 200, body = ProjectView), (status = 404, description = "no such project")))]
pub async fn show(
    State(db): State<DatabaseConnection>,
    ApiCaller(caller): ApiCaller,
    Ids([id]): Ids<1>,
) -> Result<Json<ProjectView>, AppError> {
    caller.require_project(id)?;
    let project = store::projects::find(&db, id)
        .await?
        .ok_or_else(|| AppError::not_found("project"))?;
    Ok(Json(project.into()))
}

#[utoipa::path(delete, path = "/api/projects/{id}", tag = "projects", params(("id" = i64, Path)), responses((status = 204, description = "deleted with its chats, messages, documents and chunks"), (status = 404, description = "no such project")))]
pub async fn remove(
    State(chat): State<ChatService>,
    ApiCaller(caller): ApiCaller,
    Ids([id]): Ids<1>,
) -> Result<StatusCode, AppError> {
    if chat.delete_project(&caller, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("project"))
    }
}

/// The project, or 404: shared by the nested routes.
pub async fn require(
    db: &DatabaseConnection,
    id: i64,
) -> Result<entities::project::Model, AppError> {
    store::projects::find(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("project"))
}
