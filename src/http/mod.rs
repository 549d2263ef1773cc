//! The HTTP API (PROTOCOL §6): one file per resource, handlers that parse, call the store or the
//! chat pipeline, and answer. Errors are `{ "error": { code, message } }`.

mod chats;
mod documents;
mod extract;
mod messages;
mod notifications;
mod openapi;
mod operations;
mod people;
mod projects;
mod streams;
mod ui_stream;

pub use operations::{welcome, NodeHealth};

use axum::extract::FromRef;
use axum::routing::{delete, get, patch, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::Authenticator;

use crate::chat::ChatService;
use crate::ingest::Ingestor;
use crate::room::RoomService;

/// What the routes need, each piece extractable on its own (`State<ChatService>` …).
#[derive(Clone)]
pub struct ApiState {
    /// For the read-only listings, which are one store call each.
    pub db: DatabaseConnection,
    pub chat: ChatService,
    pub room: RoomService,
    pub ingest: Ingestor,
    pub metrics: PrometheusHandle,
    pub io: crate::socket::Io,
    /// This node as `/ready` reports it (the cluster, seen through a trait: transports never
    /// import each other).
    pub node: Arc<dyn NodeHealth>,
    pub auth: Arc<Authenticator>,
}

impl FromRef<ApiState> for Arc<Authenticator> {
    fn from_ref(state: &ApiState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<ApiState> for ChatService {
    fn from_ref(state: &ApiState) -> Self {
        state.chat.clone()
    }
}

impl FromRef<ApiState> for RoomService {
    fn from_ref(state: &ApiState) -> Self {
        state.room.clone()
    }
}

impl FromRef<ApiState> for Ingestor {
    fn from_ref(state: &ApiState) -> Self {
        state.ingest.clone()
    }
}

impl FromRef<ApiState> for DatabaseConnection {
    fn from_ref(state: &ApiState) -> Self {
        state.db.clone()
    }
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(operations::health))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/ready", get(operations::ready))
        .route("/metrics", get(operations::metrics))
        .route("/api/projects", post(projects::create).get(projects::list))
        .route(
            "/api/projects/{id}",
            get(projects::show).delete(projects::remove),
        )
        .route(
            "/api/projects/{id}/chats",
            post(chats::create).get(chats::list),
        )
        .route(
            "/api/projects/{id}/documents",
            post(documents::upload).get(documents::list),
        )
        .route(
            "/api/projects/{id}/documents/{doc_id}",
            delete(documents::remove),
        )
        .route(
            "/api/projects/{id}/events",
            post(notifications::custom_event),
        )
        .route(
            "/api/projects/{id}/document-status",
            post(notifications::document_status),
        )
        .route("/api/projects/{id}/updates", post(notifications::update))
        .route("/api/projects/{id}/presence", get(people::presence))
        .route("/api/chats/{id}", patch(people::update_chat))
        .route(
            "/api/chats/{id}/messages",
            get(chats::messages).post(chats::send),
        )
        .route(
            "/api/chats/{id}/ui-stream",
            get(ui_stream::resume).post(ui_stream::send),
        )
        .route("/api/chats/{id}/streams", post(streams::start))
        .route("/api/messages/{id}/pieces", post(streams::pieces))
        .route("/api/messages/{id}", get(messages::show))
        .route("/api/messages/{id}/cancel", post(messages::cancel))
        .with_state(state)
}
