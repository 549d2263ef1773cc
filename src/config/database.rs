//! Settings of shared state: the database, and the Redis that makes several processes one server.

use std::time::Duration;

use clap::Args;

use super::parse;
use crate::cluster::{ClusterSettings, EmitterSettings};

#[derive(Clone, Args)]
pub struct DatabaseArgs {
    /// SQLite or PostgreSQL URL; migrations run at start.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://ragcast.db?mode=rwc",
          value_parser = parse::database_url)]
    pub database_url: String,

    /// Database connections in the pool (default: 4 for SQLite, 10 for PostgreSQL).
    #[arg(long, env = "RAGCAST_DB_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub db_max_connections: Option<u32>,
}

#[derive(Clone, Args)]
pub struct ClusterArgs {
    /// Redis URL: rooms span every node through Redis (Redis 7+, RESP3).
    #[arg(long, env = "REDIS_URL", value_parser = parse::redis_url)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis channel, so deployments can share one Redis.
    #[arg(long, env = "RAGCAST_REDIS_PREFIX", default_value = "ragcast",
          value_parser = parse::redis_prefix)]
    pub redis_prefix: String,

    /// This process's name in logs and the `process` label of `/metrics` (default: pid@host).
    #[arg(long, env = "RAGCAST_NODE_NAME")]
    pub node_name: Option<String>,

    /// Seconds without a heartbeat after which another node marks a node's streams `interrupted`.
    #[arg(long, env = "RAGCAST_NODE_LEASE_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub node_lease_secs: u64,

    /// The `key` of the `@socket.io/redis-emitter` back ends publish with (PROTOCOL §9.4).
    #[arg(long, env = "RAGCAST_EMITTER_KEY", default_value = "socket.io")]
    pub emitter_key: String,

    /// The channel of python-socketio's write-only `RedisManager` (PROTOCOL §9.4).
    #[arg(long, env = "RAGCAST_EMITTER_CHANNEL", default_value = "socketio")]
    pub emitter_channel: String,

    /// Do not deliver what the Socket.IO emitters publish to Redis.
    #[arg(long, env = "RAGCAST_NO_EMITTERS")]
    pub no_emitters: bool,
}

impl ClusterArgs {
    pub fn settings(self) -> ClusterSettings {
        ClusterSettings {
            redis_url: self.redis_url,
            prefix: self.redis_prefix,
            node_name: self.node_name.unwrap_or_else(default_node_name),
            lease: Duration::from_secs(self.node_lease_secs),
            emitters: (!self.no_emitters).then_some(EmitterSettings {
                key: self.emitter_key,
                channel: self.emitter_channel,
            }),
        }
    }
}

fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    format!("{}@{host}", std::process::id())
}
