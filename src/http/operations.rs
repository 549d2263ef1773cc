//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::ApiState;

/// What `/ready` reports of this node; the cluster implements it (wired in `app.rs`).
pub trait NodeHealth: Send + Sync {
    fn node_name(&self) -> &str;
    /// Whether Redis answered the last check; `None` for a single process.
    fn redis_up(&self) -> Option<bool>;
}

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/ready", tag = "operations", responses((status = 200, description = "database (and Redis, when configured) reachable"), (status = 503, description = "database or Redis unreachable, or shutting down")))]
pub async fn ready(State(state): State<ApiState>) -> impl IntoResponse {
    // From the first moment of shutdown, so a balancer stops sending new connections here.
    if state.chat.is_draining() {
        let body = json!({ "status": "draining", "node": state.node.node_name() });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    let database = match state.chat.database_up().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("not ready: database unreachable: {e}");
            false
        }
    };
    let mut body = json!({
        "status": "ready",
        "database": if database { "ok" } else { "unreachable" },
        "node": state.node.node_name(),
    });
    // Redis is watched every second by the cluster; its last answer is the one reported.
    let redis = state.node.redis_up();
    if let Some(up) = redis {
        body["redis"] = json!(if up { "ok" } else { "unreachable" });
    }
    let redis = redis.unwrap_or(true);
    if database && redis {
        (StatusCode::OK, Json(body))
    } else {
        body["status"] = json!("not_ready");
        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    // Gauges read at scrape time rather than tracked on every join.
    let rooms = state
        .io
        .local()
        .rooms()
        .await
        .map(|rooms| rooms.iter().filter(|r| r.starts_with("project_")).count())
        .unwrap_or_default();
    metrics::gauge!("ragcast_project_rooms").set(rooms as f64);
    let generations = state.chat.generation_stats();
    metrics::gauge!("ragcast_live_streams").set(generations.active_streams as f64);
    metrics::gauge!("ragcast_generation_tokens_per_second").set(generations.tokens_per_second);
    metrics::gauge!("ragcast_slowest_receiver_lag_tokens")
        .set(generations.slowest_receiver_lag as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// The page at `/` while the browser client is not built: what this server is, how to build the
/// client, and where the API, health and metrics are. In the binary: no build step.
pub fn welcome() -> axum::Router {
    axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { axum::response::Html(include_str!("welcome.html")) }),
        )
        .route(
            "/README.md",
            axum::routing::get(|| async {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/markdown; charset=utf-8",
                    )],
                    include_str!("../../README.md"),
                )
            }),
        )
}
