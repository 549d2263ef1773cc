//! Settings: every one is a flag and an environment variable (PROTOCOL §7).
//! `Settings::validate` turns the raw flags into a `Config` or names the first bad setting.
//! Groups of settings live in their own files (`ingest`), flattened into `Settings`.

mod embed;
mod ingest;

pub use embed::{default_model_dir, EmbedArgs, EmbedderKind, RetrievalKind};
pub use ingest::PdfArgs;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::auth::RateSettings;
use crate::chat::StreamLimits;
use crate::embed::EmbedderSettings;
use crate::ingest::pdf::PdfLimits;
use crate::llm::{ApiKey, UpstreamSettings};
use crate::net::TrustedProxies;
use crate::retrieval::RetrievalSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LlmKind {
    Builtin,
    Openai,
    Ollama,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    None,
    Jwt,
}

#[derive(Clone, Parser)]
#[command(
    name = "ragcast",
    version,
    about = "Socket.IO event server for AI chat products"
)]
pub struct Settings {
    /// Listen address.
    #[arg(long, env = "RAGCAST_BIND", default_value = "127.0.0.1:8000")]
    pub bind: String,

    /// SQLite or PostgreSQL URL; migrations run at start.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://ragcast.db?mode=rwc"
    )]
    pub database_url: String,

    /// Database connections in the pool (default: 4 for SQLite, 10 for PostgreSQL).
    #[arg(long, env = "RAGCAST_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,

    /// Redis URL: rooms span every node through Redis (Redis 7+, RESP3).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis channel, so deployments can share one Redis.
    #[arg(long, env = "RAGCAST_REDIS_PREFIX", default_value = "ragcast")]
    pub redis_prefix: String,

    /// This process's name in logs and the `process` label of `/metrics` (default: pid@host).
    #[arg(long, env = "RAGCAST_NODE_NAME")]
    pub node_name: Option<String>,

    /// Seconds without a heartbeat after which another node marks a node's streams `interrupted`.
    #[arg(long, env = "RAGCAST_NODE_LEASE_SECS", default_value_t = 10)]
    pub node_lease_secs: u64,

    /// Model provider.
    #[arg(long, env = "RAGCAST_LLM", value_enum, default_value = "builtin")]
    pub llm: LlmKind,

    #[arg(long, env = "RAGCAST_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,

    #[arg(long, env = "RAGCAST_LLM_MODEL")]
    pub llm_model: Option<String>,

    #[arg(long, env = "RAGCAST_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,

    #[arg(long, env = "RAGCAST_AUTH", value_enum, default_value = "none")]
    pub auth: AuthMode,

    #[arg(long, env = "RAGCAST_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// PEM public key (RSA → RS256, EC P-256 → ES256) for `jwt` mode, instead of a secret.
    #[arg(long, env = "RAGCAST_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<std::path::PathBuf>,

    /// Seconds of clock skew tolerated on a token's `exp` and `nbf`; a connected socket's session
    /// ends at `exp` plus this.
    #[arg(long, env = "RAGCAST_JWT_LEEWAY_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub jwt_leeway_secs: u64,

    #[arg(long, env = "RAGCAST_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Events per second a socket may send (sustained), and its burst.
    #[arg(long, env = "RAGCAST_RATE_EVENTS_PER_SEC", default_value_t = 20.0)]
    pub rate_events_per_sec: f64,
    #[arg(long, env = "RAGCAST_RATE_EVENTS_BURST", default_value_t = 60.0)]
    pub rate_events_burst: f64,

    /// `send_message` per minute a socket may send (sustained), and its burst.
    #[arg(long, env = "RAGCAST_RATE_MESSAGES_PER_MIN", default_value_t = 30.0)]
    pub rate_messages_per_min: f64,
    #[arg(long, env = "RAGCAST_RATE_MESSAGES_BURST", default_value_t = 10.0)]
    pub rate_messages_burst: f64,

    /// Replies one user (or one unauthenticated socket) may have streaming at once.
    #[arg(long, env = "RAGCAST_MAX_STREAMS_PER_USER", default_value_t = 4)]
    pub max_streams_per_user: usize,

    /// Comma-separated addresses and CIDR ranges of reverse proxies whose `Forwarded` /
    /// `X-Forwarded-For` headers name the client (default: none, the headers are ignored).
    #[arg(long, env = "RAGCAST_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,

    /// Socket.IO connections one client address may hold.
    #[arg(long, env = "RAGCAST_MAX_CONNECTIONS_PER_IP", default_value_t = 1000)]
    pub max_connections_per_ip: usize,

    /// Pieces (tokens and reasoning together) one reply may hold; past it the stream ends with `length`.
    #[arg(long, env = "RAGCAST_MAX_REPLY_TOKENS", default_value_t = 16_384)]
    pub max_reply_tokens: usize,

    /// Milliseconds between two writes of a live stream's partial reply to the database.
    #[arg(long, env = "RAGCAST_FLUSH_INTERVAL_MS", default_value_t = 500)]
    pub flush_interval_ms: u64,

    /// Comma-separated origins, or `*` for any. Default: any in auth mode `none`, none (same
    /// origin only) with `--auth jwt`.
    #[arg(long, env = "RAGCAST_CORS_ORIGINS")]
    pub cors_origins: Option<String>,

    /// Seconds to establish the connection to the model server.
    #[arg(long, env = "RAGCAST_LLM_CONNECT_TIMEOUT_SECS", default_value_t = 10)]
    pub llm_connect_timeout_secs: u64,

    /// Seconds from the request to the first token before the generation fails.
    #[arg(
        long,
        env = "RAGCAST_LLM_FIRST_TOKEN_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub llm_first_token_timeout_secs: u64,

    /// Seconds of silence between two tokens before the generation fails.
    #[arg(long, env = "RAGCAST_LLM_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub llm_idle_timeout_secs: u64,

    /// Generations talking to the model server at once; past it a message gets `busy`.
    #[arg(long, env = "RAGCAST_LLM_MAX_CONCURRENT", default_value_t = 16)]
    pub llm_max_concurrent: usize,

    /// Characters of earlier messages sent as history (`include_history`), newest kept first.
    #[arg(long, env = "RAGCAST_LLM_HISTORY_CHARS", default_value_t = 12_000)]
    pub llm_history_chars: usize,

    /// Delay between two tokens of the built-in generator, in milliseconds (0 = as fast as possible).
    #[arg(long, env = "RAGCAST_BUILTIN_TOKEN_DELAY_MS", default_value_t = 0)]
    pub builtin_token_delay_ms: u64,

    /// Longest answer of the built-in generator, in tokens.
    #[arg(long, env = "RAGCAST_BUILTIN_MAX_TOKENS", default_value_t = 1024)]
    pub builtin_max_tokens: usize,

    /// Packets a socket may have queued before it counts as too slow and is disconnected
    /// (it then reconnects and resumes). Token streams need far more than socketioxide's 128.
    #[arg(long, env = "RAGCAST_SOCKET_BUFFER", default_value_t = 8192)]
    pub socket_buffer: usize,

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
    #[arg(long, env = "RAGCAST_MAX_PAYLOAD", default_value_t = 1_048_576)]
    pub max_payload: u64,

    /// Largest HTTP request body, in bytes (uploads included).
    #[arg(long, env = "RAGCAST_MAX_BODY", default_value_t = 20 * 1_048_576)]
    pub max_body: usize,

    /// Size of a document chunk, in characters.
    #[arg(long, env = "RAGCAST_CHUNK_SIZE", default_value_t = 1000)]
    pub chunk_size: usize,

    /// Overlap between neighbouring chunks, in characters.
    #[arg(long, env = "RAGCAST_CHUNK_OVERLAP", default_value_t = 150)]
    pub chunk_overlap: usize,

    /// Folder of the browser client to serve at `/` (default: `examples/web/dist` when it exists).
    #[arg(long, env = "RAGCAST_WEB_DIR")]
    pub web_dir: Option<std::path::PathBuf>,

    /// Seconds running streams get to finish at shutdown before they are stored as `interrupted`.
    #[arg(long, env = "RAGCAST_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    #[command(flatten)]
    pub pdf: PdfArgs,

    #[command(flatten)]
    pub embed: EmbedArgs,
}

/// A setting that stops the start; its `Display` is the one line the operator reads.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {flag} ({env}): {reason}")]
pub struct SettingError {
    pub flag: &'static str,
    pub env: &'static str,
    pub reason: String,
}

impl SettingError {
    pub(crate) fn new(flag: &'static str, env: &'static str, reason: impl Into<String>) -> Self {
        Self {
            flag,
            env,
            reason: reason.into(),
        }
    }

    pub fn database(reason: impl Into<String>) -> Self {
        Self::new("--database-url", "DATABASE_URL", reason)
    }

    pub fn redis(reason: impl Into<String>) -> Self {
        Self::new("--redis-url", "REDIS_URL", reason)
    }
}

#[derive(Debug, Clone)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct BuiltinSettings {
    pub token_delay: Duration,
    pub max_tokens: usize,
}

/// Validated configuration. No `Debug`: it holds secrets that must never reach a log line.
#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub db_max_connections: Option<u32>,
    pub cluster: ClusterSettings,
    pub llm: LlmKind,
    pub builtin: BuiltinSettings,
    /// Settings of `--llm openai|ollama`; `None` for the built-in generator.
    pub upstream: Option<UpstreamSettings>,
    pub auth: AuthMode,
    pub jwt: JwtKey,
    pub jwt_leeway: Duration,
    pub api_key: Option<String>,
    pub rates: RateSettings,
    pub streams: StreamLimits,
    pub max_connections_per_ip: usize,
    pub trusted_proxies: TrustedProxies,
    pub cors_origins: CorsOrigins,
    pub socket_buffer: usize,
    pub timings: EngineTimings,
    pub polling_max_packets: usize,
    pub max_payload: u64,
    pub max_body: usize,
    pub chunk_size: usize,
    pub chunk_overlap: usize,
    pub pdf: PdfLimits,
    pub embedder: EmbedderSettings,
    pub retrieval: RetrievalSettings,
    /// The binary started as the PDF extraction child: this one (tests point it at the built
    /// `ragcast`, since theirs is the test harness).
    pub pdf_extractor: std::path::PathBuf,
    pub shutdown_grace: Duration,
    /// The built browser client, served at `/`.
    pub web_dir: Option<std::path::PathBuf>,
}

impl Settings {
    pub fn validate(self) -> Result<Config, SettingError> {
        let bind = self.bind.parse::<SocketAddr>().map_err(|e| {
            SettingError::new("--bind", "RAGCAST_BIND", format!("`{}`: {e}", self.bind))
        })?;

        let db_scheme = self
            .database_url
            .split_once("://")
            .map(|(scheme, _)| scheme)
            .unwrap_or_default();
        if !matches!(db_scheme, "sqlite" | "postgres" | "postgresql") {
            return Err(SettingError::database(
                "expected a sqlite:// or postgres:// URL",
            ));
        }

        let redis_url = self.redis_url.as_deref().map(redis_url).transpose()?;
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(['#', ' ']) {
            return Err(SettingError::new(
                "--redis-prefix",
                "RAGCAST_REDIS_PREFIX",
                "must be non-empty, without spaces or `#`",
            ));
        }
        if self.node_lease_secs < 2 {
            return Err(SettingError::new(
                "--node-lease-secs",
                "RAGCAST_NODE_LEASE_SECS",
                "must be at least 2",
            ));
        }
        let upstream = self.upstream()?;
        let jwt = match self.auth {
            AuthMode::None => JwtKey::None,
            AuthMode::Jwt => self.jwt_key()?,
        };
        for (flag, env, value) in [
            (
                "--rate-events-per-sec",
                "RAGCAST_RATE_EVENTS_PER_SEC",
                self.rate_events_per_sec,
            ),
            (
                "--rate-events-burst",
                "RAGCAST_RATE_EVENTS_BURST",
                self.rate_events_burst,
            ),
            (
                "--rate-messages-per-min",
                "RAGCAST_RATE_MESSAGES_PER_MIN",
                self.rate_messages_per_min,
            ),
            (
                "--rate-messages-burst",
                "RAGCAST_RATE_MESSAGES_BURST",
                self.rate_messages_burst,
            ),
        ] {
            if !(value.is_finite() && value >= 1.0) {
                return Err(SettingError::new(flag, env, "must be a number ≥ 1"));
            }
        }
        if self.max_streams_per_user == 0
            || self.max_connections_per_ip == 0
            || self.max_reply_tokens == 0
        {
            return Err(SettingError::new(
                "--max-streams-per-user / --max-connections-per-ip / --max-reply-tokens",
                "RAGCAST_MAX_*",
                "must be at least 1",
            ));
        }

        let cors_origins = match (&self.cors_origins, self.auth) {
            (Some(raw), _) => parse_origins(raw)?,
            (None, AuthMode::None) => CorsOrigins::Any,
            (None, _) => CorsOrigins::List(Vec::new()),
        };
        let web_dir = self.web_dir()?;

        if self.builtin_max_tokens == 0 {
            return Err(SettingError::new(
                "--builtin-max-tokens",
                "RAGCAST_BUILTIN_MAX_TOKENS",
                "must be at least 1",
            ));
        }
        if self.socket_buffer < 16 {
            return Err(SettingError::new(
                "--socket-buffer",
                "RAGCAST_SOCKET_BUFFER",
                "must be at least 16 packets",
            ));
        }
        if self.chunk_size < 100 {
            return Err(SettingError::new(
                "--chunk-size",
                "RAGCAST_CHUNK_SIZE",
                "must be at least 100 characters",
            ));
        }
        if self.chunk_overlap >= self.chunk_size / 2 {
            return Err(SettingError::new(
                "--chunk-overlap",
                "RAGCAST_CHUNK_OVERLAP",
                "must be less than half of --chunk-size",
            ));
        }

        Ok(Config {
            bind,
            database_url: self.database_url,
            db_max_connections: self.db_max_connections.filter(|n| *n > 0),
            cluster: ClusterSettings {
                redis_url,
                prefix: self.redis_prefix,
                node_name: self.node_name.unwrap_or_else(default_node_name),
                lease: Duration::from_secs(self.node_lease_secs),
            },
            llm: self.llm,
            upstream,
            builtin: BuiltinSettings {
                token_delay: Duration::from_millis(self.builtin_token_delay_ms),
                max_tokens: self.builtin_max_tokens,
            },
            auth: self.auth,
            jwt,
            jwt_leeway: Duration::from_secs(self.jwt_leeway_secs),
            api_key: self.api_key.filter(|k| !k.is_empty()),
            rates: RateSettings {
                events_per_sec: self.rate_events_per_sec,
                events_burst: self.rate_events_burst,
                messages_per_min: self.rate_messages_per_min,
                messages_burst: self.rate_messages_burst,
            },
            streams: StreamLimits {
                max_per_user: self.max_streams_per_user,
                max_reply_tokens: self.max_reply_tokens,
                flush_interval: Duration::from_millis(self.flush_interval_ms.max(10)),
            },
            max_connections_per_ip: self.max_connections_per_ip,
            trusted_proxies: TrustedProxies::parse(self.trusted_proxies.as_deref().unwrap_or(""))
                .map_err(|e| {
                SettingError::new("--trusted-proxies", "RAGCAST_TRUSTED_PROXIES", e)
            })?,
            cors_origins,
            socket_buffer: self.socket_buffer,
            timings: EngineTimings {
                ping_interval: Duration::from_millis(self.ping_interval_ms),
                ping_timeout: Duration::from_millis(self.ping_timeout_ms),
                connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            },
            polling_max_packets: self.polling_max_packets as usize,
            max_payload: self.max_payload,
            max_body: self.max_body,
            chunk_size: self.chunk_size,
            chunk_overlap: self.chunk_overlap,
            pdf: self.pdf.limits(),
            embedder: self.embed.embedder()?,
            retrieval: self.embed.retrieval()?,
            pdf_extractor: std::env::current_exe()
                .unwrap_or_else(|_| std::path::PathBuf::from("ragcast")),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            web_dir,
        })
    }
}

/// The Engine.IO / Socket.IO timings a proxy in front must be tuned to.
#[derive(Debug, Clone, Copy)]
pub struct EngineTimings {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub connect_timeout: Duration,
}

/// How processes find each other; `redis_url: None` is a single process.
#[derive(Clone)]
pub struct ClusterSettings {
    /// A `redis://` URL with RESP3 selected.
    pub redis_url: Option<String>,
    pub prefix: String,
    pub node_name: String,
    pub lease: Duration,
}

/// Checks a Redis URL and selects RESP3 (socketioxide-redis needs it) when the URL does not.
fn redis_url(raw: &str) -> Result<String, SettingError> {
    let invalid = |reason: String| SettingError::new("--redis-url", "REDIS_URL", reason);
    let mut url = url::Url::parse(raw).map_err(|e| invalid(format!("`{raw}`: {e}")))?;
    match url.scheme() {
        "redis" => {}
        "rediss" => {
            return Err(invalid(
                "TLS (rediss://) is not built in; use redis://".into(),
            ))
        }
        other => return Err(invalid(format!("expected a redis:// URL, not {other}://"))),
    }
    let mut others = Vec::new();
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.to_ascii_lowercase().as_str()) {
            ("protocol", "resp3" | "3") => {}
            ("protocol", other) => {
                return Err(invalid(format!(
                    "protocol={other}: the Redis adapter needs RESP3 (Redis 7+); drop the parameter"
                )))
            }
            _ => others.push((key.into_owned(), value.into_owned())),
        }
    }
    // redis-rs reads only the lower-case spelling.
    url.query_pairs_mut()
        .clear()
        .extend_pairs(others)
        .append_pair("protocol", "resp3");
    Ok(url.into())
}

fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    format!("{}@{host}", std::process::id())
}

/// How `jwt` mode checks signatures.
#[derive(Clone)]
pub enum JwtKey {
    None,
    /// HS256.
    Secret(String),
    /// RS256 / ES256 public key, PEM.
    PublicKeyPem(Vec<u8>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtKey::None => f.write_str("None"),
            JwtKey::Secret(_) => f.write_str("Secret(***)"),
            JwtKey::PublicKeyPem(_) => f.write_str("PublicKeyPem"),
        }
    }
}

/// Where `npm run build` in examples/web writes the client.
const DEFAULT_WEB_DIR: &str = "examples/web/dist";

impl Settings {
    fn web_dir(&self) -> Result<Option<std::path::PathBuf>, SettingError> {
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
                let default = std::path::PathBuf::from(DEFAULT_WEB_DIR);
                Ok(default.join("index.html").is_file().then_some(default))
            }
        }
    }

    fn jwt_key(&self) -> Result<JwtKey, SettingError> {
        if let Some(path) = &self.jwt_public_key_file {
            let pem = std::fs::read(path).map_err(|e| {
                SettingError::new(
                    "--jwt-public-key-file",
                    "RAGCAST_JWT_PUBLIC_KEY_FILE",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            crate::auth::Authenticator::from_public_key_pem(&pem, None).map_err(|e| {
                SettingError::new("--jwt-public-key-file", "RAGCAST_JWT_PUBLIC_KEY_FILE", e)
            })?;
            return Ok(JwtKey::PublicKeyPem(pem));
        }
        match self.jwt_secret.as_deref() {
            Some(secret) if !secret.is_empty() => Ok(JwtKey::Secret(secret.to_owned())),
            _ => Err(SettingError::new(
                "--jwt-secret",
                "RAGCAST_JWT_SECRET",
                "`--auth jwt` needs a secret (or --jwt-public-key-file)",
            )),
        }
    }

    fn upstream(&self) -> Result<Option<UpstreamSettings>, SettingError> {
        let (default_url, default_model) = match self.llm {
            LlmKind::Builtin => return Ok(None),
            LlmKind::Openai => ("https://api.openai.com/v1", "gpt-4o-mini"),
            LlmKind::Ollama => ("http://127.0.0.1:11434", "llama3.2"),
        };
        let base_url = self
            .llm_base_url
            .clone()
            .unwrap_or_else(|| default_url.into());
        match url::Url::parse(&base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(SettingError::new(
                    "--llm-base-url",
                    "RAGCAST_LLM_BASE_URL",
                    format!("`{base_url}` is not an http(s) URL"),
                ))
            }
        }
        if self.llm_max_concurrent == 0 {
            return Err(SettingError::new(
                "--llm-max-concurrent",
                "RAGCAST_LLM_MAX_CONCURRENT",
                "must be at least 1",
            ));
        }
        Ok(Some(UpstreamSettings {
            base_url,
            model: self
                .llm_model
                .clone()
                .unwrap_or_else(|| default_model.into()),
            api_key: self
                .llm_api_key
                .clone()
                .filter(|k| !k.is_empty())
                .map(ApiKey),
            connect_timeout: Duration::from_secs(self.llm_connect_timeout_secs),
            first_token_timeout: Duration::from_secs(self.llm_first_token_timeout_secs),
            idle_timeout: Duration::from_secs(self.llm_idle_timeout_secs),
            max_concurrent: self.llm_max_concurrent,
            history_budget_chars: self.llm_history_chars,
            retry_backoff: Duration::from_millis(300),
        }))
    }
}

fn parse_origins(raw: &str) -> Result<CorsOrigins, SettingError> {
    let raw = raw.trim();
    if raw == "*" {
        return Ok(CorsOrigins::Any);
    }
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let parsed = url::Url::parse(origin).map_err(|e| {
            SettingError::new(
                "--cors-origins",
                "RAGCAST_CORS_ORIGINS",
                format!("`{origin}`: {e}"),
            )
        })?;
        origins.push(parsed.origin().ascii_serialization());
    }
    Ok(CorsOrigins::List(origins))
}

impl Config {
    /// The defaults, with a given database: what tests and examples start from.
    pub fn for_database(database_url: &str) -> Config {
        Settings::parse_from(["ragcast", "--database-url", database_url])
            .validate()
            .expect("default settings are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, SettingError> {
        let mut all = vec!["ragcast"];
        all.extend_from_slice(args);
        Settings::try_parse_from(all).unwrap().validate()
    }

    #[test]
    fn defaults_are_valid() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
        assert!(matches!(config.cors_origins, CorsOrigins::Any));
    }

    #[test]
    fn a_bad_database_url_names_the_setting() {
        let err = parse(&["--database-url", "mysql://x"]).err().unwrap();
        assert_eq!(err.flag, "--database-url");
        assert!(err.to_string().contains("DATABASE_URL"));
    }

    #[test]
    fn redis_urls_get_resp3_and_wrong_ones_are_named() {
        for (given, expected) in [
            (
                "redis://127.0.0.1:6379",
                "redis://127.0.0.1:6379?protocol=resp3",
            ),
            (
                "redis://h:1/2?protocol=RESP3&x=1",
                "redis://h:1/2?x=1&protocol=resp3",
            ),
        ] {
            let config = parse(&["--redis-url", given]).unwrap();
            assert_eq!(config.cluster.redis_url.as_deref(), Some(expected));
        }
        for wrong in [
            "http://h",
            "rediss://h",
            "redis://h?protocol=resp2",
            "not a url",
        ] {
            let err = parse(&["--redis-url", wrong]).err().unwrap();
            assert_eq!(err.flag, "--redis-url", "{wrong}");
        }
        let err = parse(&["--redis-prefix", "a#b"]).err().unwrap();
        assert_eq!(err.flag, "--redis-prefix");
    }

    #[test]
    fn jwt_without_secret_is_refused() {
        let err = parse(&["--auth", "jwt"]).err().unwrap();
        assert_eq!(err.flag, "--jwt-secret");
    }

    #[test]
    fn providers_get_their_defaults_and_a_bad_base_url_is_named() {
        let config = parse(&["--llm", "ollama"]).unwrap();
        let upstream = config.upstream.unwrap();
        assert_eq!(upstream.base_url, "http://127.0.0.1:11434");
        assert_eq!(upstream.model, "llama3.2");
        let config = parse(&["--llm", "openai", "--llm-api-key", "sk-x"]).unwrap();
        let upstream = config.upstream.unwrap();
        assert_eq!(upstream.base_url, "https://api.openai.com/v1");
        assert!(
            !format!("{upstream:?}").contains("sk-x"),
            "the key never shows in Debug"
        );
        let err = parse(&["--llm", "openai", "--llm-base-url", "ftp://x"])
            .err()
            .unwrap();
        assert_eq!(err.flag, "--llm-base-url");
    }

    #[test]
    fn cors_origins_default_to_any_only_without_auth() {
        assert!(matches!(parse(&[]).unwrap().cors_origins, CorsOrigins::Any));
        let jwt = parse(&[
            "--auth",
            "jwt",
            "--jwt-secret",
            "a-secret-of-enough-length-for-hs256",
        ]);
        match jwt.unwrap().cors_origins {
            CorsOrigins::List(list) => assert!(list.is_empty()),
            CorsOrigins::Any => panic!("jwt mode allows any origin by default"),
        }
    }

    #[test]
    fn cors_origins_are_normalised() {
        let config = parse(&["--cors-origins", "http://a.test:3000/, https://b.test"]).unwrap();
        match config.cors_origins {
            CorsOrigins::List(list) => {
                assert_eq!(list, vec!["http://a.test:3000", "https://b.test"])
            }
            CorsOrigins::Any => panic!("expected a list"),
        }
    }
}
