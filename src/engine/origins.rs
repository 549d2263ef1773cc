//! Which pages may open a websocket. Browsers apply no CORS to websocket upgrades, so without
//! this check any site a user visits could open a socket to ragcast with the user's cookies
//! and network position. With `--cors-origins` naming origins (and in `jwt` mode unless `*` is
//! given) an upgrade whose `Origin` is neither one of them nor the server's own is refused with
//! 403, as Centrifugo's `allowed_origins` does. A client that sends no `Origin` (a back end,
//! python-socketio, a CLI) is not a browser page and is let through.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub enum WebsocketOrigins {
    /// `--cors-origins *`.
    Any,
    /// These origins and the server's own.
    Only(Arc<Vec<HeaderValue>>),
}

impl WebsocketOrigins {
    fn allows(&self, origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
        match self {
            WebsocketOrigins::Any => true,
            WebsocketOrigins::Only(list) => list.contains(origin) || same_origin(origin, host),
        }
    }
}

/// A page served by this server: its origin's host and port are the request's `Host`.
fn same_origin(origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
    let (Ok(origin), Some(Ok(host))) = (origin.to_str(), host.map(HeaderValue::to_str)) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

fn is_websocket_upgrade(req: &Request) -> bool {
    req.uri().path().starts_with("/socket.io")
        && req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The middleware: refuses a websocket upgrade from a page of another origin.
pub async fn check_websocket_origin(
    State(origins): State<WebsocketOrigins>,
    req: Request,
    next: Next,
) -> Response {
    if is_websocket_upgrade(&req) {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            if !origins.allows(origin, req.headers().get(header::HOST)) {
                metrics::counter!("ragcast_websocket_origin_refused_total").increment(1);
                tracing::warn!(origin = ?origin, "websocket upgrade from a page of another origin refused");
                return (
                    StatusCode::FORBIDDEN,
                    "this origin may not open a websocket here",
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn listed_and_own_origins_pass_others_do_not() {
        let only = WebsocketOrigins::Only(Arc::new(vec![value("https://app.example")]));
        let host = value("127.0.0.1:8000");
        assert!(only.allows(&value("https://app.example"), Some(&host)));
        assert!(only.allows(&value("http://127.0.0.1:8000"), Some(&host)));
        assert!(!only.allows(&value("https://evil.example"), Some(&host)));
        assert!(!only.allows(&value("http://127.0.0.1:9000"), Some(&host)));
        assert!(WebsocketOrigins::Any.allows(&value("https://evil.example"), Some(&host)));
    }
}
