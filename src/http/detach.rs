//! A socket.io request's parts, detached from hyper's connection buffer.

use axum::body::Body;
use axum::extract::OriginalUri;
use axum::http::{HeaderValue, Request, Uri};

/// hyper parses the URI and header values as slices of its connection read buffer (8–16 KiB), and
/// engineioxide keeps each socket's request parts for the socket's whole life: that would keep the
/// buffer alive per connection, half of an idle websocket's memory (BENCHMARKS.md). Owned copies
/// of the few bytes let it go once the connection is upgraded.
pub async fn detach_from_read_buffer(mut req: Request<Body>) -> Request<Body> {
    if !req.uri().path().starts_with("/socket.io") {
        return req;
    }
    if let Ok(uri) = Uri::try_from(req.uri().to_string()) {
        *req.uri_mut() = uri;
    }
    // axum's `OriginalUri` is a clone of the request URI, so it shares the buffer too.
    if let Some(original) = req.extensions_mut().remove::<OriginalUri>() {
        if let Ok(owned) = Uri::try_from(original.0.to_string()) {
            req.extensions_mut().insert(OriginalUri(owned));
        }
    }
    let shared = std::mem::take(req.headers_mut());
    let headers = req.headers_mut();
    headers.reserve(shared.len());
    for (name, value) in &shared {
        // A valid header value's bytes are valid again; the fallback keeps the shared one.
        let mut owned = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        owned.set_sensitive(value.is_sensitive());
        headers.append(name.clone(), owned);
    }
    req
}
