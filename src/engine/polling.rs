//! At most `max_packets` Engine.IO packets per long-polling response. engineioxide puts every
//! queued packet into one response (up to `--max-payload` bytes); python-socketio's client
//! refuses a response of more than 16 (`Payload.max_decode_packets`), so a stream's first poll
//! (often 20–30 packets) broke it. The surplus of a response is kept here, per session, and
//! answers that session's next poll before engineioxide is asked again, so nothing is lost or
//! reordered. Polls of one session come one at a time (Engine.IO closes a session that polls
//! twice at once), which is what makes this safe.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Engine.IO v4's separator of the packets of one polling payload.
const SEPARATOR: u8 = 0x1e;
/// A surplus no poll came back for (the session ended) is forgotten after this.
const FORGET_AFTER: Duration = Duration::from_secs(120);
/// The largest polling response read back here (engineioxide's own bound is `--max-payload`).
const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct PollingCap {
    max_packets: usize,
    surplus: Arc<Mutex<HashMap<String, Surplus>>>,
}

struct Surplus {
    packets: VecDeque<Bytes>,
    since: Instant,
}

impl PollingCap {
    pub fn new(max_packets: usize) -> Self {
        Self {
            max_packets: max_packets.max(1),
            surplus: Arc::default(),
        }
    }

    /// Up to `max_packets` of what is kept for `sid`, or `None` when nothing is.
    fn take(&self, sid: &str) -> Option<Vec<Bytes>> {
        let mut surplus = self.surplus.lock().ok()?;
        surplus.retain(|_, s| s.since.elapsed() < FORGET_AFTER);
        let kept = surplus.get_mut(sid)?;
        let n = kept.packets.len().min(self.max_packets);
        let packets: Vec<Bytes> = kept.packets.drain(..n).collect();
        if kept.packets.is_empty() {
            surplus.remove(sid);
        }
        Some(packets)
    }

    /// Splits a payload: the first `max_packets` are answered, the rest kept for `sid`.
    fn split(&self, sid: &str, body: Bytes) -> Vec<Bytes> {
        let mut packets = packets_of(&body);
        if packets.len() <= self.max_packets {
            return packets;
        }
        let rest = packets.split_off(self.max_packets);
        if let Ok(mut surplus) = self.surplus.lock() {
            surplus.insert(
                sid.to_owned(),
                Surplus {
                    packets: rest.into(),
                    since: Instant::now(),
                },
            );
        }
        packets
    }
}

/// The packets of a v4 payload.
fn packets_of(body: &Bytes) -> Vec<Bytes> {
    let mut packets = Vec::new();
    let mut start = 0;
    for (i, byte) in body.iter().enumerate() {
        if *byte == SEPARATOR {
            packets.push(body.slice(start..i));
            start = i + 1;
        }
    }
    packets.push(body.slice(start..));
    packets
}

fn join(packets: &[Bytes]) -> Bytes {
    let mut out = Vec::with_capacity(packets.iter().map(|p| p.len() + 1).sum());
    for (i, packet) in packets.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        out.extend_from_slice(packet);
    }
    Bytes::from(out)
}

/// The session of an Engine.IO v4 long-polling GET, when the request is one.
fn polling_session(req: &Request) -> Option<String> {
    if req.method() != Method::GET || !req.uri().path().starts_with("/socket.io") {
        return None;
    }
    let query = req.uri().query()?;
    let mut sid = None;
    let (mut polling, mut v4) = (false, false);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "sid" => sid = Some(value.into_owned()),
            "transport" => polling = value == "polling",
            "EIO" => v4 = value == "4",
            _ => {}
        }
    }
    (polling && v4).then_some(sid).flatten()
}

fn text_response(payload: Bytes) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        payload,
    )
        .into_response()
}

pub async fn cap_polling_packets(
    State(cap): State<PollingCap>,
    req: Request,
    next: Next,
) -> Response {
    let Some(sid) = polling_session(&req) else {
        return next.run(req).await;
    };
    if let Some(kept) = cap.take(&sid) {
        return text_response(join(&kept));
    }
    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(sid, "cannot read a polling response: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let packets = cap.split(&sid, body);
    // The body changed: hyper sets the length of the new one.
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(join(&packets)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_payload_is_answered_in_order_over_several_polls() {
        let cap = PollingCap::new(2);
        let body = Bytes::from_static(b"4a\x1e4b\x1e4c\x1e4d\x1e4e");
        assert_eq!(join(&cap.split("s", body)), Bytes::from_static(b"4a\x1e4b"));
        assert_eq!(
            join(&cap.take("s").unwrap()),
            Bytes::from_static(b"4c\x1e4d")
        );
        assert_eq!(join(&cap.take("s").unwrap()), Bytes::from_static(b"4e"));
        assert!(
            cap.take("s").is_none(),
            "nothing left: engineioxide is asked again"
        );
    }

    #[test]
    fn a_small_payload_passes_unchanged() {
        let cap = PollingCap::new(16);
        let body = Bytes::from_static(b"2\x1e40{}");
        assert_eq!(join(&cap.split("s", body.clone())), body);
        assert!(cap.take("s").is_none());
    }
}
