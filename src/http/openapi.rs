//! `GET /api/openapi.json`: the API description, generated from the route annotations and types.

use axum::Json;
use utoipa::OpenApi;

use super::{
    chats, documents, messages, notifications, operations, people, projects, streams, ui_stream,
};
use crate::auth::ApiCaller;
use crate::protocol::payloads::SendMessage;

#[derive(OpenApi)]
#[openapi(
    info(title = "ragcast", description = "HTTP API of ragcast (PROTOCOL §6)"),
    paths(
        operations::health,
        operations::ready,
        operations::metrics,
        projects::create,
        projects::list,
        projects::show,
        projects::remove,
        chats::create,
        chats::list,
        chats::messages,
        chats::send,
        ui_stream::send,
        ui_stream::resume,
        messages::show,
        messages::cancel,
        documents::upload,
        documents::list,
        documents::remove,
        notifications::custom_event,
        notifications::document_status,
        notifications::update,
        people::presence,
        people::update_chat,
        streams::start,
        streams::pieces,
        openapi_json,
    ),
    components(schemas(SendMessage))
)]
pub struct ApiDoc;

#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "this document")))]
pub async fn openapi_json(_: ApiCaller) -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
