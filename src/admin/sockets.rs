//! A socket as the Admin UI shows it (its `SerializedSocket`): id, transport, namespace, rooms,
//! the handshake (secrets left out) and, for ragcast's clients, their user and project.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::header;
use serde::Serialize;
use serde_json::{json, Value};
use socketioxide::TransportType;

use crate::auth::Session;
use crate::net::Peer;
use crate::socket::Socket;
use crate::time;

/// Headers and query parameters that carry credentials: shown as `[redacted]`.
const SECRET_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];
const SECRET_QUERY: &[&str] = &["token"];
const REDACTED: &str = "[redacted]";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SerializedSocket {
    pub id: String,
    /// The UI groups sockets into clients by it; each ragcast client has one socket.
    pub client_id: String,
    pub transport: &'static str,
    pub nsp: String,
    pub data: Value,
    pub handshake: Handshake,
    pub rooms: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Handshake {
    pub address: String,
    pub headers: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    /// Unix ms.
    pub issued: i64,
    pub secure: bool,
    pub time: String,
    pub url: String,
    pub xdomain: bool,
}

/// When an admin socket connected (ragcast's clients keep it in their session).
#[derive(Clone, Copy)]
struct ConnectedAt(i64);

pub(super) fn mark_connected(socket: &Socket) {
    socket.extensions.insert(ConnectedAt(time::unix_ms()));
}

pub(super) fn transport(socket: &Socket) -> &'static str {
    match socket.transport_type() {
        TransportType::Polling => "polling",
        TransportType::Websocket => "websocket",
    }
}

pub(super) fn rooms(socket: &Socket) -> BTreeSet<String> {
    socket.rooms().into_iter().map(|r| r.into_owned()).collect()
}

/// The user and project of one of ragcast's clients (`{}` for an admin socket).
pub(super) fn data(socket: &Socket) -> Value {
    match socket.extensions.get::<Arc<Session>>() {
        Some(session) => {
            let project = session.project.try_lock().ok().and_then(|p| *p);
            json!({ "user_id": session.user_id(), "project_id": project })
        }
        None => json!({}),
    }
}

pub(super) fn serialize(socket: &Socket) -> SerializedSocket {
    let id = socket.id.to_string();
    SerializedSocket {
        client_id: id.chars().take(12).collect(),
        id,
        transport: transport(socket),
        nsp: socket.ns().to_owned(),
        data: data(socket),
        handshake: handshake(socket),
        rooms: rooms(socket),
    }
}

fn handshake(socket: &Socket) -> Handshake {
    let parts = socket.req_parts();
    let session = socket.extensions.get::<Arc<Session>>();
    let peer = parts
        .extensions
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(peer)| peer.addr.ip());
    let address = session
        .as_ref()
        .and_then(|s| s.client_ip)
        .or(peer)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let issued = session
        .as_ref()
        .map(|s| s.connected_at_ms)
        .or_else(|| socket.extensions.get::<ConnectedAt>().map(|c| c.0))
        .unwrap_or_else(time::unix_ms);
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let shown = if SECRET_HEADERS.contains(&name.as_str()) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect();
    let query: BTreeMap<String, String> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(key, value)| {
                    let shown = if SECRET_QUERY.contains(&key.as_ref()) {
                        REDACTED.to_owned()
                    } else {
                        value.into_owned()
                    };
                    (key.into_owned(), shown)
                })
                .collect()
        })
        .unwrap_or_default();
    let url = match parts.uri.query() {
        Some(_) => {
            let shown = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query.iter())
                .finish();
            format!("{}?{shown}", parts.uri.path())
        }
        None => parts.uri.path().to_owned(),
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|h| h.to_str().ok());
    let xdomain = match (origin, host) {
        (Some(origin), Some(host)) => !origin.ends_with(&format!("://{host}")),
        _ => false,
    };
    let secure = parts
        .headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes() == b"https");
    Handshake {
        address,
        headers,
        query,
        issued,
        secure,
        time: time::iso_ms(issued),
        url,
        xdomain,
    }
}
