//! A running Engine.IO session answers only the client that opened it.
//!
//! socketioxide uses the Engine.IO session id as the socket's id, so whoever learns it could
//! poll the session, post packets into it or upgrade it to their own websocket, and a stray poll
//! ends it. Every request naming a session (`sid=`) of a connected socket must therefore come
//! from the same client address as the request that opened it (behind `--trusted-proxies`, the
//! forwarded one) and, where both carry them, with the same `Origin` and `User-Agent` (a browser
//! cannot forge those). Otherwise it is answered as an unknown session would be (400) and the
//! session is left untouched; refusals are counted in `/metrics`.
//!
//! For a connected socket the comparison uses the opening request socketioxide keeps anyway, so
//! it costs nothing per connection. A long-polling session not yet connected to a namespace is
//! known from its handshake's answer (the open packet names it): its opener is kept here until
//! it connects or `connect_timeout` passes. A websocket opened without polling takes no later
//! request before it connects.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use socketioxide::socket::Sid;

use crate::broadcast::Outbox;
use crate::net::{Peer, TrustedProxies};
use crate::socket::{Io, Socket};

#[derive(Clone)]
pub struct SessionGuard {
    io: Io,
    /// The namespaces whose sockets are looked up (`/`, and `/admin` when it is on).
    namespaces: Vec<String>,
    proxies: TrustedProxies,
    /// Long-polling sessions opened but not yet connected to a namespace, with their opener.
    opening: Arc<Mutex<HashMap<Sid, (Opener, Instant)>>>,
    /// How long a session may take to connect to a namespace (socketioxide's connect timeout).
    connect_timeout: Duration,
}

/// Who sent a request, as far as telling clients apart goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Opener {
    ip: Option<IpAddr>,
    origin: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
}

/// The largest handshake answer read back (an open packet is about a hundred bytes).
const MAX_OPEN_PACKET: usize = 4096;

/// What differs between a request and the one that opened its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    Address,
    Origin,
    UserAgent,
}

impl Mismatch {
    fn label(self) -> &'static str {
        match self {
            Mismatch::Address => "address",
            Mismatch::Origin => "origin",
            Mismatch::UserAgent => "user_agent",
        }
    }
}

impl SessionGuard {
    pub fn new(
        io: Io,
        namespaces: Vec<String>,
        proxies: TrustedProxies,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            io,
            namespaces,
            proxies,
            opening: Arc::default(),
            connect_timeout,
        }
    }

    fn opener(&self, parts: &axum::http::request::Parts) -> Opener {
        Opener::of(parts, &self.proxies)
    }

    /// Who opened session `sid` (its socket's opening request, else its polling handshake),
    /// with the socket once it is connected; `None` for a session this node does not know
    /// (engineioxide answers it).
    fn opener_of(&self, sid: Sid) -> Option<(Opener, Option<Socket>)> {
        if let Some(socket) = self.socket(sid) {
            self.lock().remove(&sid);
            return Some((self.opener(socket.req_parts()), Some(socket)));
        }
        self.lock()
            .get(&sid)
            .map(|(opener, _)| (opener.clone(), None))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Sid, (Opener, Instant)>> {
        self.opening.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps the opener of a polling session until it connects (or could have).
    fn remember(&self, sid: Sid, opener: Opener) {
        let mut opening = self.lock();
        let limit = self.connect_timeout;
        opening.retain(|_, (_, at)| at.elapsed() < limit);
        opening.insert(sid, (opener, Instant::now()));
    }

    /// The connected socket whose session `sid` names, in any of the namespaces.
    fn socket(&self, sid: Sid) -> Option<Socket> {
        self.namespaces
            .iter()
            .filter_map(|ns| self.io.of(ns))
            .find_map(|ns| ns.get_socket(sid))
    }
}

impl Opener {
    fn of(parts: &axum::http::request::Parts, proxies: &TrustedProxies) -> Opener {
        Opener {
            ip: proxies.client_of(parts).map(|client| client.ip),
            origin: parts.headers.get(header::ORIGIN).cloned(),
            user_agent: parts.headers.get(header::USER_AGENT).cloned(),
        }
    }

    /// Whether `request` may act on the session this opener opened.
    fn check(&self, request: &Opener) -> Result<(), Mismatch> {
        if !same_where_both(&self.ip, &request.ip) {
            return Err(Mismatch::Address);
        }
        if !same_where_both(&self.origin, &request.origin) {
            return Err(Mismatch::Origin);
        }
        if !same_where_both(&self.user_agent, &request.user_agent) {
            return Err(Mismatch::UserAgent);
        }
        Ok(())
    }
}

/// `false` only when both are known and differ.
fn same_where_both<T: PartialEq>(opening: &Option<T>, request: &Option<T>) -> bool {
    match (opening, request) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// Whether a request opens a long-polling session (no `sid`, `transport=polling`).
fn opens_polling_session(req: &Request) -> bool {
    req.uri().path().starts_with("/socket.io")
        && req.uri().query().is_some_and(|query| {
            let mut pairs = query.split('&');
            pairs.clone().any(|pair| pair == "transport=polling")
                && !pairs.any(|pair| pair.starts_with("sid="))
        })
}

/// The session id an open packet names (`0{"sid":"…",…}`, framed `96:0{…}` by Engine.IO 3).
fn sid_in_open_packet(body: &[u8]) -> Option<Sid> {
    let text = std::str::from_utf8(body).ok()?;
    let json = &text[text.find('{')?..];
    let end = json.find('}')?;
    #[derive(serde::Deserialize)]
    struct Open<'a> {
        sid: &'a str,
    }
    let open: Open = serde_json::from_str(&json[..=end]).ok()?;
    Sid::from_str(open.sid).ok()
}

/// The session a Socket.IO request names, if any.
pub(super) fn session_of(req: &Request) -> Option<&str> {
    if !req.uri().path().starts_with("/socket.io") {
        return None;
    }
    req.uri().query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == "sid").then_some(value)
    })
}

/// The middleware: refuses a request for a session from anyone but the session's client, and
/// notes who opens each long-polling session.
pub async fn guard_sessions(
    State(guard): State<SessionGuard>,
    req: Request,
    next: Next,
) -> Response {
    if opens_polling_session(&req) {
        let (parts, body) = req.into_parts();
        let opener = guard.opener(&parts);
        let response = next.run(Request::from_parts(parts, body)).await;
        return note_opener(&guard, opener, response).await;
    }
    let sid = session_of(&req).and_then(|sid| Sid::from_str(sid).ok());
    let Some((opener, socket)) = sid.and_then(|sid| guard.opener_of(sid)) else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let request = guard.opener(&parts);
    if let Err(mismatch) = opener.check(&request) {
        metrics::counter!("ragcast_session_requests_refused_total", "reason" => mismatch.label())
            .increment(1);
        tracing::warn!(
            client = ?request.ip,
            reason = mismatch.label(),
            "a request for another client's session refused"
        );
        return unknown_session();
    }
    if let (Some(socket), Some("websocket")) = (&socket, transport_of(&parts)) {
        crate::activity::upgraded(socket);
    }
    let outbox = socket.and_then(|socket| socket.extensions.get::<Outbox>());
    let Some(outbox) = outbox else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    // What the transport takes of the socket's queue (the outbox's byte bound).
    match transport_of(&parts) {
        Some("websocket") => {
            if let Some(peer) = parts.extensions.get::<ConnectInfo<Peer>>() {
                outbox.websocket_opened(peer.0.written.clone());
            }
            next.run(Request::from_parts(parts, body)).await
        }
        Some("polling") if parts.method == Method::GET => {
            let response = next.run(Request::from_parts(parts, body)).await;
            count_polled(&outbox, response).await
        }
        _ => next.run(Request::from_parts(parts, body)).await,
    }
}

fn transport_of(parts: &axum::http::request::Parts) -> Option<&str> {
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("transport="))
}

/// The largest polling answer read back (engineioxide's own bound is `--max-payload`).
const MAX_POLL_ANSWER: usize = 64 * 1024 * 1024;

/// Tells the socket's outbox how many bytes a poll's answer takes out of its queue.
async fn count_polled(outbox: &Outbox, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, MAX_POLL_ANSWER).await {
        Ok(bytes) => {
            outbox.polled(bytes.len());
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(e) => {
            tracing::debug!("cannot read a polling answer: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "").into_response()
        }
    }
}

/// Reads the session id out of a polling handshake's answer and remembers who opened it.
async fn note_opener(guard: &SessionGuard, opener: Opener, response: Response) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_OPEN_PACKET).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::debug!("cannot read a handshake's answer: {e}");
            return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
        }
    };
    match sid_in_open_packet(&bytes) {
        Some(sid) => guard.remember(sid, opener),
        None => tracing::debug!("a polling handshake answered without a session id"),
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// What Engine.IO answers for a session it does not know: the refused client learns nothing more.
fn unknown_session() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"code":1,"message":"Session ID unknown"}"#,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request as HttpRequest;

    fn parts(peer: &str, headers: &[(&str, &str)]) -> axum::http::request::Parts {
        let mut builder = HttpRequest::builder().uri("/socket.io/?EIO=4&transport=polling");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (mut parts, ()) = builder.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(Peer::at(peer.parse().unwrap())));
        parts
    }

    /// Trusts `proxies`' forwarding headers.
    struct Guard(TrustedProxies);

    fn guard(proxies: &str) -> Guard {
        Guard(TrustedProxies::parse(proxies).unwrap())
    }

    fn check(
        guard: &Guard,
        opening: &axum::http::request::Parts,
        request: &axum::http::request::Parts,
    ) -> Result<(), Mismatch> {
        Opener::of(opening, &guard.0).check(&Opener::of(request, &guard.0))
    }

    async fn session_guard() -> SessionGuard {
        let cluster = crate::cluster::Cluster::connect(&crate::cluster::ClusterSettings {
            redis_url: None,
            prefix: "test".into(),
            node_name: "test".into(),
            lease: Duration::from_secs(10),
            emitters: None,
        })
        .await
        .unwrap();
        let (_, io) = socketioxide::SocketIo::builder()
            .with_adapter::<crate::socket::Adapter>(cluster.adapter_state())
            .build_layer();
        SessionGuard::new(
            io,
            vec!["/".into()],
            TrustedProxies::default(),
            Duration::from_secs(45),
        )
    }

    #[test]
    fn the_opening_client_passes_and_another_address_does_not() {
        let guard = guard("");
        let ua = [("user-agent", "Mozilla/5.0")];
        let opening = parts("10.0.0.1:5000", &ua);
        assert_eq!(
            check(&guard, &opening, &parts("10.0.0.1:6000", &ua)),
            Ok(())
        );
        assert_eq!(
            check(&guard, &opening, &parts("10.0.0.2:5000", &ua)),
            Err(Mismatch::Address)
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_forwarded_address_counts() {
        let guard = guard("10.0.0.9");
        let opening = parts("10.0.0.9:1", &[("x-forwarded-for", "203.0.113.7")]);
        let same = parts("10.0.0.9:2", &[("x-forwarded-for", "203.0.113.7")]);
        let other = parts("10.0.0.9:3", &[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(check(&guard, &opening, &same), Ok(()));
        assert_eq!(check(&guard, &opening, &other), Err(Mismatch::Address));
    }

    #[test]
    fn origin_and_user_agent_must_match_where_both_are_sent() {
        let guard = guard("");
        let opening = parts(
            "10.0.0.1:1",
            &[("origin", "https://a.example"), ("user-agent", "Browser A")],
        );
        let other_origin = parts(
            "10.0.0.1:2",
            &[
                ("origin", "https://evil.example"),
                ("user-agent", "Browser A"),
            ],
        );
        let other_agent = parts(
            "10.0.0.1:3",
            &[("origin", "https://a.example"), ("user-agent", "curl")],
        );
        // A websocket from node sends neither: the address alone decides.
        let bare = parts("10.0.0.1:4", &[]);
        assert_eq!(
            check(&guard, &opening, &other_origin),
            Err(Mismatch::Origin)
        );
        assert_eq!(
            check(&guard, &opening, &other_agent),
            Err(Mismatch::UserAgent)
        );
        assert_eq!(check(&guard, &opening, &bare), Ok(()));
    }

    #[test]
    fn the_session_is_read_from_socket_io_requests_only() {
        let req = |uri: &str| {
            HttpRequest::builder()
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert_eq!(
            session_of(&req("/socket.io/?EIO=4&transport=websocket&sid=abc")),
            Some("abc")
        );
        assert_eq!(
            session_of(&req("/socket.io/?EIO=4&transport=polling")),
            None
        );
        assert_eq!(session_of(&req("/api/chats?sid=abc")), None);
        assert!(opens_polling_session(&req(
            "/socket.io/?EIO=4&transport=polling&t=x"
        )));
        assert!(!opens_polling_session(&req(
            "/socket.io/?EIO=4&transport=polling&sid=abc"
        )));
        assert!(!opens_polling_session(&req(
            "/socket.io/?EIO=4&transport=websocket"
        )));
    }

    #[test]
    fn an_open_packet_names_its_session_in_both_engine_io_versions() {
        let sid = "AAAAAAAAAAAAAAAA";
        let v4 = format!(r#"0{{"sid":"{sid}","upgrades":["websocket"],"pingInterval":25000}}"#);
        let v3 =
            format!(r#"97:0{{"sid":"{sid}","upgrades":["websocket"],"pingInterval":25000}}2:40"#);
        assert_eq!(sid_in_open_packet(v4.as_bytes()), Sid::from_str(sid).ok());
        assert_eq!(sid_in_open_packet(v3.as_bytes()), Sid::from_str(sid).ok());
        assert_eq!(sid_in_open_packet(b"4hello"), None);
    }

    #[tokio::test]
    async fn a_session_still_connecting_is_checked_against_its_handshake() {
        let guard = session_guard().await;
        let sid = Sid::new();
        guard.remember(sid, guard.opener(&parts("10.0.0.1:1", &[])));
        let (opener, socket) = guard.opener_of(sid).expect("remembered");
        assert!(socket.is_none());
        assert_eq!(
            opener.check(&guard.opener(&parts("10.0.0.2:1", &[]))),
            Err(Mismatch::Address)
        );
        assert!(guard.opener_of(Sid::new()).is_none());
    }
}
