//! The Socket.IO Admin UI (`@socket.io/admin-ui` 0.5): its `/admin` namespace, behind `--admin`.
//!
//! - `access`: the handshake check (a bcrypt password or the API key; open only in `--auth none`
//!   without either).
//! - `sockets`: a socket as the UI shows it (`SerializedSocket`).
//! - `watch`: once a second, this node's sockets compared with the second before, sent to this
//!   node's admin sockets as `socket_connected` / `socket_updated` / `socket_disconnected` /
//!   `room_joined` / `room_left`; every two seconds `server_stats` to every node's admin sockets
//!   (each node with its own `serverId`), with the live generations added.
//! - `actions`: what the UI asks: `join`, `leave`, `_disconnect`, `emit`.
//!
//! In a cluster the Sockets and Rooms pages show the node the UI is connected to; the
//! Dashboard and Servers pages show every node.

mod access;
mod actions;
mod sessions;
mod sockets;
mod throttle;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use socketioxide::extract::TryData;
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;

use crate::broadcast::Broadcaster;
use crate::chat::ChatService;
use crate::cluster::Cluster;
use crate::net::TrustedProxies;
use crate::socket::{Io, Socket};

pub use access::InvalidCredentials;

/// The namespace the Admin UI connects to.
pub const NAMESPACE: &str = "/admin";
/// The namespace of ragcast's clients.
const MAIN: &str = "/";

/// What the UI may do, in the names of its `config.supportedFeatures` (`ALL_EVENTS` turns on
/// its Sockets and Rooms pages).
const FEATURES: &[&str] = &[
    "EMIT",
    "JOIN",
    "LEAVE",
    "DISCONNECT",
    "MJOIN",
    "MLEAVE",
    "MDISCONNECT",
    "AGGREGATED_EVENTS",
    "ALL_EVENTS",
];

/// Who may open the Admin UI.
#[derive(Clone)]
pub enum AdminAccess {
    /// Anyone (`--auth none` without a password or API key).
    Open,
    /// `username` with the password whose bcrypt hash is `password_hash`, or the API key as the
    /// password.
    Credentials {
        username: String,
        password_hash: Option<String>,
        api_key: Option<String>,
    },
}

#[derive(Clone)]
pub struct AdminSettings {
    pub access: AdminAccess,
    /// The UI's built page, served at `/admin-ui/`.
    pub ui_dir: Option<PathBuf>,
}

/// What the namespace's handlers share.
struct Admin {
    io: Io,
    broadcaster: Broadcaster,
    chat: ChatService,
    server_id: String,
    hostname: String,
    started: Instant,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminConfig {
    supported_features: &'static [&'static str],
}

/// Opens `/admin` on `io` and starts watching this node's sockets.
pub async fn start(
    io: &Io,
    settings: &AdminSettings,
    server_id: &str,
    chat: ChatService,
    broadcaster: Broadcaster,
    cluster: Cluster,
    proxies: TrustedProxies,
) -> Result<(), String> {
    if matches!(settings.access, AdminAccess::Open) {
        tracing::warn!("the Admin UI's namespace /admin is open to anyone who reaches the port");
    }
    let admin = Arc::new(Admin {
        io: io.clone(),
        broadcaster,
        chat,
        server_id: server_id.to_owned(),
        hostname: rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        started: Instant::now(),
    });
    let password_hash = match &settings.access {
        AdminAccess::Credentials { password_hash, .. } => password_hash.as_deref(),
        AdminAccess::Open => None,
    };
    let gate = Arc::new(access::Gate {
        access: settings.access.clone(),
        throttle: throttle::LoginThrottle::default(),
        sessions: sessions::AdminSessions::new(cluster, password_hash),
        proxies,
    });
    let check = move |socket: Socket, TryData(auth): TryData<Value>| {
        let gate = gate.clone();
        async move { access::check(&gate, &socket, auth.ok()).await }
    };
    // The actions' handlers are registered before the connect ack (a middleware), so the UI's
    // first event finds them; the greeting goes after it, when the UI listens.
    let register = {
        let admin = admin.clone();
        move |socket: Socket| {
            let admin = admin.clone();
            async move {
                actions::register(&socket, admin);
                socket.on_disconnect(|socket: Socket, reason: DisconnectReason| async move {
                    crate::activity::disconnected(&socket, reason);
                });
                Ok::<(), std::convert::Infallible>(())
            }
        }
    };
    let on_connect = {
        let admin = admin.clone();
        move |socket: Socket| {
            let admin = admin.clone();
            async move { admin.greet(socket) }
        }
    };
    // Middlewares run last-added first: the credentials, then the actions.
    io.ns(NAMESPACE, on_connect.with(register).with(check))
        .await
        .map_err(|e| format!("cannot open {NAMESPACE}: {e}"))?;
    // One Admin UI namespace per process; a second `App` in one process (tests) has none.
    let happenings =
        crate::activity::subscribe().unwrap_or_else(|| tokio::sync::mpsc::channel(1).1);
    tokio::spawn(watch::run(admin, happenings));
    Ok(())
}

impl Admin {
    /// A new admin socket: what the UI shows first, and its actions.
    fn greet(self: Arc<Self>, socket: Socket) {
        tracing::info!("Admin UI connected");
        sockets::mark_connected(&socket);
        crate::activity::connected(&socket);
        // Events in and out are reported from now on (the next comparison turns it off again
        // once no admin socket is left).
        crate::activity::set_watched(true);
        if let Some(access::IssuedSession(id)) = socket.extensions.get::<access::IssuedSession>() {
            if let Err(e) = socket.emit("session", &id) {
                tracing::warn!("cannot send the Admin UI its session: {e}");
            }
        }
        let sent = socket
            .emit(
                "config",
                &AdminConfig {
                    supported_features: FEATURES,
                },
            )
            .and_then(|()| socket.emit("all_sockets", &self.all_sockets()))
            .and_then(|()| socket.emit("server_stats", &self.server_stats(&[])));
        if let Err(e) = sent {
            tracing::warn!("cannot greet the Admin UI: {e}");
        }
    }

    /// This node's sockets of both namespaces, the main one first.
    fn all_sockets(&self) -> Vec<sockets::SerializedSocket> {
        [MAIN, NAMESPACE]
            .into_iter()
            .flat_map(|ns| self.local_sockets(ns))
            .map(|socket| sockets::serialize(&socket))
            .collect()
    }

    fn local_sockets(&self, ns: &str) -> Vec<Socket> {
        self.io
            .of(ns)
            .map(|ops| ops.local().sockets())
            .unwrap_or_default()
    }
}
