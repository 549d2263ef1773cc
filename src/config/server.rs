//! Settings of the listener and the Socket.IO engine: address, origins, sizes, timings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{parse, SettingError};
use crate::broadcast::OutboxSettings;
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

    /// Events a socket may have waiting, in all, before it counts as too slow and is
    /// disconnected (it then reconnects and resumes).
    #[arg(long, env = "RAGCAST_SOCKET_BUFFER", default_value_t = 8192,
          value_parser = clap::value_parser!(u64).range(16..=10_000_000))]
    pub socket_buffer: u64,

    /// Packets queued for a socket in socketioxide; past it the socket is behind and its events
    /// wait in its outbox, where a stream's tokens merge (default: an eighth of --socket-buffer).
    #[arg(long, env = "RAGCAST_SOCKET_HIGH_WATER",
          value_parser = clap::value_parser!(u64).range(2..=10_000_000))]
    pub socket_high_water: Option<u64>,

    /// Bytes a socket may have waiting, in all (its outbox and socketioxide's queue), before it
    /// counts as too slow and is disconnected; an eighth of it may wait in socketioxide's queue,
    /// the rest waits in the outbox (tokens merged).
    #[arg(long, env = "RAGCAST_SOCKET_BUFFER_BYTES", default_value_t = 4 * 1_048_576,
          value_parser = clap::value_parser!(u64).range(16_384..=1 << 36))]
    pub socket_buffer_bytes: u64,

    /// Milliseconds a socket that is behind may take nothing at all before it is disconnected.
    #[arg(long, env = "RAGCAST_SLOW_SOCKET_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub slow_socket_timeout_ms: u64,

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
    /// socketioxide's queue per socket, and the outbox behind it: `--socket-buffer` in all.
    pub fn socket_queues(&self) -> Result<(usize, OutboxSettings), SettingError> {
        let total = self.socket_buffer as usize;
        let high_water = self.socket_high_water.map_or(total / 8, |h| h as usize);
        if high_water >= total {
            return Err(SettingError::new(
                "--socket-high-water",
                "RAGCAST_SOCKET_HIGH_WATER",
                "must be less than --socket-buffer",
            ));
        }
        Ok((
            high_water,
            OutboxSettings {
                max_waiting: total - high_water,
                max_bytes: self.socket_buffer_bytes,
                high_water_bytes: self.socket_buffer_bytes / 8,
                stall_limit: Duration::from_millis(self.slow_socket_timeout_ms),
            },
        ))
    }

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
