//! Settings: every one is a flag and an environment variable (PROTOCOL §7), grouped by concern
//! in this folder's files and flattened into `Settings`. clap checks each value on its own
//! (ranges, URLs, addresses; it exits 2 naming the flag); `Settings::validate` keeps only the
//! checks that span settings or touch the file system, and builds the `Config` the app runs on.

mod admin;
mod auth;
mod database;
mod embed;
mod ingest;
mod limits;
mod llm;
mod parse;
mod server;

pub use admin::AdminArgs;
pub use auth::{AuthArgs, AuthKind, AuthMode, AuthSettings, JwtKey};
pub use database::{ClusterArgs, DatabaseArgs};
pub use embed::{default_model_dir, EmbedArgs, EmbedderKind, RetrievalKind};
pub use ingest::{ChunkArgs, PdfArgs};
pub use limits::LimitArgs;
pub use llm::{LlmArgs, LlmKind, LlmSettings};
pub use server::{CorsOrigins, EngineTimings, ServerArgs};

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use crate::auth::RateSettings;
use crate::broadcast::OutboxSettings;
use crate::chat::StreamLimits;
use crate::cluster::ClusterSettings;
use crate::embed::EmbedderSettings;
use crate::ingest::chunker::ChunkSettings;
use crate::ingest::pdf::PdfLimits;
use crate::net::TrustedProxies;
use crate::retrieval::RetrievalSettings;

#[derive(Clone, Parser)]
#[command(
    name = "ragcast",
    version,
    about = "Socket.IO event server for AI chat products"
)]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub chunks: ChunkArgs,
    #[command(flatten)]
    pub pdf: PdfArgs,
    #[command(flatten)]
    pub embed: EmbedArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// A setting that stops the start; its `Display` is the one line the operator reads.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {flag} ({env}): {reason}")]
pub struct SettingError {
    pub flag: Cow<'static, str>,
    pub env: Cow<'static, str>,
    pub reason: String,
}

impl SettingError {
    pub(crate) fn new(
        flag: impl Into<Cow<'static, str>>,
        env: impl Into<Cow<'static, str>>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            flag: flag.into(),
            env: env.into(),
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

/// Validated configuration. No `Debug`: it holds secrets that must never reach a log line.
#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub db_max_connections: Option<u32>,
    pub cluster: ClusterSettings,
    pub llm: LlmSettings,
    pub auth: AuthSettings,
    pub rates: RateSettings,
    pub streams: StreamLimits,
    pub max_connections_per_ip: usize,
    pub trusted_proxies: TrustedProxies,
    pub cors_origins: CorsOrigins,
    /// Packets socketioxide queues per socket (`--socket-high-water`).
    pub socket_high_water: usize,
    /// What may wait behind it, and for how long.
    pub outbox: OutboxSettings,
    pub timings: EngineTimings,
    pub polling_max_packets: usize,
    pub max_payload: u64,
    pub max_body: usize,
    pub chunking: ChunkSettings,
    pub pdf: PdfLimits,
    pub embedder: EmbedderSettings,
    pub retrieval: RetrievalSettings,
    /// The binary started as the PDF extraction child: this one (tests point it at the built
    /// `ragcast`, since theirs is the test harness).
    pub pdf_extractor: PathBuf,
    pub shutdown_grace: Duration,
    /// The built browser client, served at `/`.
    pub web_dir: Option<PathBuf>,
    /// The Socket.IO Admin UI's namespace, when `--admin`.
    pub admin: Option<crate::admin::AdminSettings>,
}

impl Settings {
    /// The command line and environment. A value clap refuses exits 2 with one line, as any
    /// other wrong setting: the flag, the environment variable it may have come from (clap names
    /// only the flag), the value and why. Other clap errors (an unknown flag, `--help`) are
    /// clap's own.
    pub fn from_args_and_env() -> Settings {
        Settings::try_parse().unwrap_or_else(|e| match refused_value(&e) {
            Some(refused) => {
                eprintln!("error: {refused}");
                std::process::exit(2)
            }
            None => e.exit(),
        })
    }

    pub fn validate(self) -> Result<Config, SettingError> {
        let server = self.server;
        let web_dir = server.web_dir()?;
        let auth = self.auth.settings()?;
        let admin = self.admin.settings(&auth)?;
        let (socket_high_water, outbox) = server.socket_queues()?;
        let cors_origins = match (server.cors_origins.clone(), &auth.mode) {
            (Some(origins), _) => origins,
            (None, AuthMode::None) => CorsOrigins::Any,
            (None, AuthMode::Jwt { .. }) => CorsOrigins::List(Vec::new()),
        };
        Ok(Config {
            bind: server.bind,
            database_url: self.database.database_url,
            db_max_connections: self.database.db_max_connections,
            cluster: self.cluster.settings(),
            llm: self.llm.settings(),
            auth,
            rates: self.limits.rates(),
            streams: self.limits.streams(),
            max_connections_per_ip: server.max_connections_per_ip as usize,
            trusted_proxies: server.trusted_proxies.clone(),
            cors_origins,
            socket_high_water,
            outbox,
            timings: server.timings(),
            polling_max_packets: server.polling_max_packets as usize,
            max_payload: server.max_payload,
            max_body: server.max_body as usize,
            chunking: self.chunks.settings()?,
            pdf: self.pdf.limits(),
            embedder: self.embed.embedder(),
            retrieval: self.embed.retrieval(),
            pdf_extractor: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ragcast")),
            shutdown_grace: Duration::from_secs(server.shutdown_grace_secs),
            web_dir,
            admin,
        })
    }
}

/// A value clap refused, as the `SettingError` that names its flag and environment variable.
fn refused_value(e: &clap::Error) -> Option<SettingError> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    // `--bind <BIND>`: the long name is the first word without its dashes.
    let long = arg.split_whitespace().next()?.trim_start_matches("--");
    let command = Settings::command();
    let setting = command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))?;
    let flag = format!("--{long}");
    let env = setting.get_env()?.to_string_lossy().into_owned();
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => value.as_str(),
        _ => "",
    };
    let reason = match std::error::Error::source(e) {
        Some(why) => format!("`{value}`: {why}"),
        None => {
            let valid = match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) => format!(" (one of {})", valid.join(", ")),
                _ => String::new(),
            };
            format!("`{value}` is not a valid value{valid}")
        }
    };
    Some(SettingError::new(flag, env, reason))
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

    fn settings(args: &[&str]) -> Result<Settings, clap::Error> {
        let mut all = vec!["ragcast"];
        all.extend_from_slice(args);
        Settings::try_parse_from(all)
    }

    fn parse(args: &[&str]) -> Result<Config, SettingError> {
        settings(args).unwrap().validate()
    }

    /// clap's message for a refused value names the flag.
    fn refused(args: &[&str]) -> String {
        match settings(args) {
            Ok(_) => panic!("{args:?} accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
        assert!(matches!(config.cors_origins, CorsOrigins::Any));
        assert!(matches!(config.llm, LlmSettings::Builtin(_)));
        assert!(matches!(config.auth.mode, AuthMode::None));
    }

    #[test]
    fn values_out_of_range_are_refused_naming_the_flag() {
        for (args, flag) in [
            (&["--database-url", "mysql://x"][..], "--database-url"),
            (&["--redis-url", "http://h"], "--redis-url"),
            (&["--redis-prefix", "a#b"], "--redis-prefix"),
            (&["--node-lease-secs", "1"], "--node-lease-secs"),
            (&["--rate-events-per-sec", "0"], "--rate-events-per-sec"),
            (&["--rate-messages-burst", "0"], "--rate-messages-burst"),
            (&["--max-streams-per-user", "0"], "--max-streams-per-user"),
            (
                &["--max-connections-per-ip", "0"],
                "--max-connections-per-ip",
            ),
            (&["--max-reply-tokens", "0"], "--max-reply-tokens"),
            (&["--socket-buffer", "8"], "--socket-buffer"),
            (&["--chunk-size", "99"], "--chunk-size"),
            (&["--llm-max-concurrent", "0"], "--llm-max-concurrent"),
            (&["--llm-base-url", "ftp://x"], "--llm-base-url"),
            (&["--builtin-max-tokens", "0"], "--builtin-max-tokens"),
            (&["--bind", "nowhere"], "--bind"),
        ] {
            let message = refused(args);
            assert!(message.contains(flag), "{args:?}: {message}");
        }
    }

    #[test]
    fn a_refused_value_is_one_line_naming_flag_environment_and_reason() {
        let e = settings(&["--socket-buffer", "8"]).err().unwrap();
        let refused = refused_value(&e).unwrap().to_string();
        assert!(
            refused.starts_with("invalid setting --socket-buffer (RAGCAST_SOCKET_BUFFER): `8`: "),
            "{refused}"
        );
        let e = settings(&["--llm", "gpt-magic"]).err().unwrap();
        let refused = refused_value(&e).unwrap().to_string();
        assert!(refused.contains("(RAGCAST_LLM)"), "{refused}");
        assert!(refused.contains("builtin, openai, ollama"), "{refused}");
        let e = settings(&["--no-such-flag"]).err().unwrap();
        assert!(refused_value(&e).is_none());
    }

    #[test]
    fn redis_urls_get_resp3() {
        let config = parse(&["--redis-url", "redis://127.0.0.1:6379"]).unwrap();
        assert_eq!(
            config.cluster.redis_url.as_deref(),
            Some("redis://127.0.0.1:6379?protocol=resp3")
        );
    }

    #[test]
    fn jwt_without_a_key_is_refused_and_two_keys_conflict() {
        let err = parse(&["--auth", "jwt"]).err().unwrap();
        assert_eq!(err.flag, "--jwt-secret");
        let message = refused(&["--jwt-secret", "s", "--jwt-public-key-file", "/dev/null"]);
        assert!(message.contains("--jwt-public-key-file"), "{message}");
    }

    #[test]
    fn providers_get_their_defaults() {
        let LlmSettings::Ollama(upstream) = parse(&["--llm", "ollama"]).unwrap().llm else {
            panic!("expected ollama");
        };
        assert_eq!(upstream.base_url, "http://127.0.0.1:11434");
        assert_eq!(upstream.model, "llama3.2");
        let LlmSettings::OpenAi(upstream) = parse(&["--llm", "openai", "--llm-api-key", "sk-x"])
            .unwrap()
            .llm
        else {
            panic!("expected openai");
        };
        assert_eq!(upstream.base_url, "https://api.openai.com/v1");
        assert!(
            !format!("{upstream:?}").contains("sk-x"),
            "the key never shows in Debug"
        );
    }

    #[test]
    fn cors_origins_default_to_any_only_without_auth() {
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
        let config = parse(&["--cors-origins", "http://a.test:3000/"]).unwrap();
        assert!(matches!(config.cors_origins, CorsOrigins::List(l) if l == ["http://a.test:3000"]));
    }

    #[test]
    fn the_high_water_mark_defaults_to_an_eighth_of_the_socket_buffer() {
        let config = parse(&["--socket-buffer", "800"]).unwrap();
        assert_eq!(config.socket_high_water, 100);
        assert_eq!(config.outbox.max_waiting, 700);
        let err = parse(&["--socket-buffer", "64", "--socket-high-water", "64"])
            .err()
            .unwrap();
        assert_eq!(err.flag, "--socket-high-water");
    }

    #[test]
    fn chunk_overlap_must_stay_under_half_the_size() {
        let err = parse(&["--chunk-size", "200", "--chunk-overlap", "100"])
            .err()
            .unwrap();
        assert_eq!(err.flag, "--chunk-overlap");
        assert!(parse(&["--chunk-size", "200", "--chunk-overlap", "99"]).is_ok());
    }
}
