//! A socket.io request's parts, detached from hyper's connection buffer.

use axum::body::Body;
use axum::extract::OriginalUri;
use axum::http::{HeaderValue, Request, Uri};

/// hyper parses the URI and header values as slices of its connection read buffer (8–16 KiB), and
/// engineioxide keeps each socket's request parts for the socket's whole life: that would keep the
/// buffer alive per connection, half of an idle websocket's memory (BENCHMARKS.md). Owned copies
/// of the few bytes let it go once the connection is upgraded. Only a request that opens a session
/// (no `sid` yet) is kept, so the polls of a running session are left as they are.
pub async fn detach_from_read_buffer(mut req: Request<Body>) -> Request<Body> {
    if !req.uri().path().starts_with("/socket.io") || has_session(req.uri()) {
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

fn has_session(uri: &Uri) -> bool {
    uri.query().is_some_and(|query| {
        url::form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == "sid")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// Whether `part` points into `buffer`'s memory.
    fn inside(buffer: &Bytes, part: &[u8]) -> bool {
        let range = buffer.as_ptr_range();
        range.contains(&part.as_ptr())
    }

    #[tokio::test]
    async fn socket_io_requests_stop_sharing_the_connection_buffer() {
        // What hyper hands over: the URI and header values are slices of one read buffer.
        let buffer =
            Bytes::from(b"/socket.io/?EIO=4&transport=websocket dGhlIHNhbXBsZSBub25jZQ==".to_vec());
        let uri = Uri::from_maybe_shared(buffer.slice(..37)).unwrap();
        let key = HeaderValue::from_maybe_shared(buffer.slice(38..)).unwrap();
        assert!(
            inside(&buffer, key.as_bytes()),
            "the test starts from shared slices"
        );
        let mut req = Request::builder()
            .uri(uri.clone())
            .header("sec-websocket-key", key)
            .body(Body::empty())
            .unwrap();
        req.extensions_mut().insert(OriginalUri(uri));

        let req = detach_from_read_buffer(req).await;

        let header = req.headers().get("sec-websocket-key").unwrap();
        assert_eq!(header.as_bytes(), b"dGhlIHNhbXBsZSBub25jZQ==");
        assert!(!inside(&buffer, header.as_bytes()));
        assert_eq!(req.uri().query(), Some("EIO=4&transport=websocket"));
        let original = req.extensions().get::<OriginalUri>().unwrap();
        assert_eq!(original.0, *req.uri());
        // `Uri` does not expose its bytes; the buffer's count says whether anything still
        // shares it while the request lives on (as engineioxide keeps it).
        assert!(buffer.is_unique(), "the request still holds the buffer");
        drop(req);

        // The polls of a session that is open already are not copied.
        let poll = Request::builder()
            .uri("/socket.io/?EIO=4&transport=polling&sid=abc")
            .header(
                "sec-websocket-key",
                HeaderValue::from_maybe_shared(buffer.slice(38..)).unwrap(),
            )
            .body(Body::empty())
            .unwrap();
        let poll = detach_from_read_buffer(poll).await;
        let header = poll.headers().get("sec-websocket-key").unwrap();
        assert!(inside(&buffer, header.as_bytes()));
    }
}
