//! Settings of what one socket or user may do: event rates, live streams, reply length.

use std::time::Duration;

use clap::Args;

use super::parse;
use crate::auth::RateSettings;
use crate::chat::StreamLimits;

#[derive(Clone, Args)]
pub struct LimitArgs {
    /// Events per second a socket may send (sustained), and its burst.
    #[arg(long, env = "RAGCAST_RATE_EVENTS_PER_SEC", default_value_t = 20.0,
          value_parser = parse::rate)]
    pub rate_events_per_sec: f64,
    #[arg(long, env = "RAGCAST_RATE_EVENTS_BURST", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_events_burst: u32,

    /// `send_message` per minute a socket may send (sustained), and its burst.
    #[arg(long, env = "RAGCAST_RATE_MESSAGES_PER_MIN", default_value_t = 30.0,
          value_parser = parse::rate)]
    pub rate_messages_per_min: f64,
    #[arg(long, env = "RAGCAST_RATE_MESSAGES_BURST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_messages_burst: u32,

    /// Replies one user (or one unauthenticated socket) may have streaming at once.
    #[arg(long, env = "RAGCAST_MAX_STREAMS_PER_USER", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_streams_per_user: u64,

    /// Pieces (tokens and reasoning together) one reply may hold; past it the stream ends with `length`.
    #[arg(long, env = "RAGCAST_MAX_REPLY_TOKENS", default_value_t = 16_384,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_reply_tokens: u64,

    /// Milliseconds between two writes of a live stream's partial reply to the database.
    #[arg(long, env = "RAGCAST_FLUSH_INTERVAL_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub flush_interval_ms: u64,

    /// Seconds a back end streaming an answer (PROTOCOL §9.3) may send nothing before its
    /// stream ends `failed` ("the back end stopped sending").
    #[arg(long, env = "RAGCAST_PRODUCER_IDLE_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub producer_idle_secs: u64,
}

impl LimitArgs {
    pub fn rates(&self) -> RateSettings {
        RateSettings {
            events_per_sec: self.rate_events_per_sec,
            events_burst: self.rate_events_burst,
            messages_per_min: self.rate_messages_per_min,
            messages_burst: self.rate_messages_burst,
        }
    }

    pub fn streams(&self) -> StreamLimits {
        StreamLimits {
            max_per_user: self.max_streams_per_user as usize,
            max_reply_tokens: self.max_reply_tokens as usize,
            flush_interval: Duration::from_millis(self.flush_interval_ms),
            producer_idle: Duration::from_secs(self.producer_idle_secs),
        }
    }
}
