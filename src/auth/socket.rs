//! Socket.IO connect middleware: authenticate before the namespace is joined.

use std::net::IpAddr;
use std::sync::Arc;

use crate::socket::Socket;

use crate::net::TrustedProxies;
use serde_json::Value;
use socketioxide::extract::{State, TryData};

use super::{Authenticator, ConnectionsPerIp, RateLimiter, RateSettings, Session};

#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The exact message PROTOCOL §2 promises in `connect_error`.
    #[error("unauthorized")]
    Unauthorized,
    #[error("too many connections from this address")]
    TooManyConnections,
}

/// Token from the handshake `auth.token`, else the query string `?token=`.
fn token(socket: &Socket, auth: Option<&Value>) -> Option<String> {
    if let Some(token) = auth.and_then(|a| a.get("token")).and_then(Value::as_str) {
        return Some(token.to_owned());
    }
    let query = socket.req_parts().uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
}

/// The client's address: the peer's, or behind a trusted proxy the one it forwarded.
fn client_ip(socket: &Socket, proxies: &TrustedProxies) -> Option<IpAddr> {
    proxies
        .client_of(socket.req_parts())
        .map(|client| client.ip)
}

/// Checks the token and the per-address cap, then stores the socket's `Session`.
pub async fn authenticate(
    socket: Socket,
    TryData(auth): TryData<Value>,
    State(authenticator): State<Arc<Authenticator>>,
    State(connections): State<ConnectionsPerIp>,
    State(rates): State<RateSettings>,
    State(proxies): State<TrustedProxies>,
) -> Result<(), Refused> {
    let auth = auth.ok();
    let ip = client_ip(&socket, &proxies);
    let caller = authenticator
        .caller(token(&socket, auth.as_ref()).as_deref())
        .map_err(|e| {
            tracing::info!(ip = ?ip, "connection refused: {e}");
            Refused::Unauthorized
        })?;
    let connection = match ip {
        Some(ip) => match connections.acquire(ip) {
            Some(slot) => Some(slot),
            None => {
                tracing::warn!(%ip, "connection refused: too many from this address");
                return Err(Refused::TooManyConnections);
            }
        },
        None => None,
    };
    socket.extensions.insert(Arc::new(Session::new(
        caller,
        ip,
        connection,
        RateLimiter::new(&rates),
    )));
    Ok(())
}
