//! Settings of the listener and the Socket.IO engine: address, origins, sizes, timings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{parse, SettingError};
use crate::net::TrustedProxies;

#[derive(Debug, Clone)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

/// The Engine.IO / Socket.IO timings a proxy in front must be tuned to.
#[derive(Debug, Clone, Copy)]
pub struct EngineTimings {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub connect_timeout: Duration,
}

#[derive(Clone, Args)]
pub struct ServerArgs {
    /// Listen address.
    #[arg(long, env = "RAGCAST_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// Comma-separated origins, or `*` for any. Default: any in auth mode `none`, none (same
    /// origin only) with `--auth jwt`.
    #[arg(long, env = "RAGCAST_CORS_ORIGINS", value_parser = parse::origins)]
    pub cors_origins: Option<CorsOrigins>,

    /// Comma-separated addresses and CIDR ranges of reverse proxies whose `Forwarded` /
    /// `X-Forwarded-For` headers name the client (default: none, the headers are ignored).
    #[arg(long, env = "RAGCAST_TRUSTED_PROXIES", default_value = "",
          value_parser = parse::trusted_proxies)]
    pub trusted_proxies: TrustedProxies,

    /// Socket.IO connections one client address may hold.
    #[arg(long, env = "RAGCAST_MAX_CONNECTIONS_PER_IP", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_ip: u64,

    /// Packets a socket may have queued before it counts as too slow and is disconnected
    /// (it then reconnects and resumes). Token streams need far more than socketioxide's 128.
    #[arg(long, env = "RAGCAST_SOCKET_BUFFER", default_value_t = 8192,
          value_parser = clap::value_parser!(u64).range(16..=10_000_000))]
    pub socket_buffer: u64,

    /// Milliseconds between two Engine.IO pings (socket.io's default).
    #[arg(long, env = "RAGCAST_PING_INTERVAL_MS", default_value_t = 25_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub ping_interval_ms: u64,

    /// Milliseconds a client has to answer a ping, and a connection's writes may make no
    /// progress (its client reads nothing), before it is closed.
    #[arg(long, env = "RAGCAST_PING_TIMEOUT_MS", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub ping_timeout_ms: u64,

    /// Milliseconds a transport may stay open without sending its Socket.IO CONNECT.
    #[arg(long, env = "RAGCAST_CONNECT_TIMEOUT_MS", default_value_t = 45_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub connect_timeout_ms: u64,

    /// Engine.IO packets in one long-polling response at most (python-socketio's client takes 16).
    #[arg(long, env = "RAGCAST_POLLING_MAX_PACKETS", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub polling_max_packets: u64,

    /// Largest Socket.IO packet accepted from a client, in bytes (polling and websocket).
    #[arg(long, env = "RAGCAST_MAX_PAYLOAD", default_value_t = 1_048_576,
          value_parser = clap::value_parser!(u64).range(1024..=1 << 32))]
    pub max_payload: u64,

    /// Largest HTTP request body, in bytes (uploads included).
    #[arg(long, env = "RAGCAST_MAX_BODY", default_value_t = 20 * 1_048_576,
          value_parser = clap::value_parser!(u64).range(1024..=1 << 40))]
    pub max_body: u64,

    /// Folder of the browser client to serve at `/` (default: `examples/web/dist` when it exists).
    #[arg(long, env = "RAGCAST_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Seconds running streams get to finish at shutdown before they are stored as `interrupted`.
    #[arg(long, env = "RAGCAST_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
}

/// Where `npm run build` in examples/web writes the client.
const DEFAULT_WEB_DIR: &str = "examples/web/dist";

impl ServerArgs {
    pub fn timings(&self) -> EngineTimings {
        EngineTimings {
            ping_interval: Duration::from_millis(self.ping_interval_ms),
            ping_timeout: Duration::from_millis(self.ping_timeout_ms),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
        }
    }

    /// The built browser client: the folder named, which must hold it, or the default when built.
    pub fn web_dir(&self) -> Result<Option<PathBuf>, SettingError> {
        match &self.web_dir {
            Some(dir) if dir.join("index.html").is_file() => Ok(Some(dir.clone())),
            Some(dir) => Err(SettingError::new(
                "--web-dir",
                "RAGCAST_WEB_DIR",
                format!(
                    "{} holds no index.html (build it: cd examples/web && npm ci && npm run build)",
                    dir.display()
                ),
            )),
            None => {
                let default = PathBuf::from(DEFAULT_WEB_DIR);
                Ok(default.join("index.html").is_file().then_some(default))
            }
        }
    }
}
