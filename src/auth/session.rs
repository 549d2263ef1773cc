//! A connection's session: who it is, its rights, its project room, its rate limits, and
//! whether it is connecting, connected or closed. Stored by `authenticate` in the socket's
//! extensions; the event handlers read it.

use std::sync::RwLock;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::{Caller, ConnectionSlot, RateLimiter};
use crate::protocol::PublicId;
use crate::time;

/// Per-socket state, kept in the socket's extensions (stored by `authenticate`).
#[derive(Debug)]
pub struct Session {
    /// What other sockets may know of this one.
    pub public_id: PublicId,
    /// The user, fixed for the connection: a token refresh must keep it.
    user_id: Option<String>,
    /// Who is connected: decides which projects and tasks this socket may touch. Replaced by
    /// `auth_refresh`.
    caller: RwLock<Caller>,
    /// The client's address (behind a trusted proxy, the one it forwarded).
    pub client_ip: Option<std::net::IpAddr>,
    /// This connection's place in the per-address cap, given back when the session is dropped.
    pub connection: Option<ConnectionSlot>,
    /// The one project room the socket is in. A tokio mutex: it is held across the database
    /// check of a join, so two quick joins cannot interleave their leave/join events.
    pub project: Mutex<Option<i64>>,
    pub limiter: RateLimiter,
    /// Cancelled when the socket disconnects: ends its expiry timer.
    pub closed: CancellationToken,
    /// When the handshake was accepted, in Unix ms.
    pub connected_at_ms: i64,
    lifecycle: Lifecycle,
}

/// Whether the connect handler or the disconnect handler ran first. A client that sends an
/// invalid packet right after its CONNECT has its transport closed while the connect
/// middlewares still run, and socketioxide may then call the disconnect handler before the
/// connect one: such a socket is logged once, as closed during its handshake, and never counted.
/// A mutex, not an atomic: each side logs while holding it, so the log's order is the real one.
#[derive(Debug, Default)]
struct Lifecycle(std::sync::Mutex<Stage>);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    Connecting,
    Connected,
    Closed,
}

impl Lifecycle {
    /// Runs `announce` and marks the socket connected, unless it is closed already.
    fn connect(&self, announce: impl FnOnce()) -> bool {
        let mut stage = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if *stage != Stage::Connecting {
            return false;
        }
        *stage = Stage::Connected;
        announce();
        true
    }

    /// Marks the socket closed and runs `announce` with whether it had been connected.
    fn close(&self, announce: impl FnOnce(bool)) {
        let mut stage = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let was_connected = *stage == Stage::Connected;
        *stage = Stage::Closed;
        announce(was_connected);
    }
}

impl Session {
    pub fn new(
        caller: Caller,
        client_ip: Option<std::net::IpAddr>,
        connection: Option<ConnectionSlot>,
        limiter: RateLimiter,
    ) -> Self {
        Self {
            public_id: PublicId::random(),
            user_id: caller.user_id().map(str::to_owned),
            caller: RwLock::new(caller),
            client_ip,
            connection,
            project: Mutex::new(None),
            limiter,
            closed: CancellationToken::new(),
            connected_at_ms: time::unix_ms(),
            lifecycle: Lifecycle::default(),
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The caller as of now (a refresh may replace it).
    pub fn caller(&self) -> Caller {
        match self.caller.read() {
            Ok(caller) => caller.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace_caller(&self, caller: Caller) {
        match self.caller.write() {
            Ok(mut current) => *current = caller,
            Err(poisoned) => *poisoned.into_inner() = caller,
        }
    }

    /// When the session is over (after the token's `exp` plus the leeway), in Unix ms.
    pub fn over_at_ms(&self) -> Option<i64> {
        match self.caller() {
            Caller::User(identity) => identity.over_at_ms(),
            Caller::Open | Caller::Backend => None,
        }
    }

    /// Runs `announce` and marks the socket connected, unless it is closed already.
    pub fn mark_connected(&self, announce: impl FnOnce()) -> bool {
        self.lifecycle.connect(announce)
    }

    /// Marks the socket closed and runs `announce` with whether it had been connected.
    pub fn mark_closed(&self, announce: impl FnOnce(bool)) {
        self.lifecycle.close(announce)
    }

    pub fn expired(&self) -> bool {
        match self.caller() {
            Caller::User(identity) => identity.expired(time::unix_ms()),
            Caller::Open | Caller::Backend => false,
        }
    }
}
