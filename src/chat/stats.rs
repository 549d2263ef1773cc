//! The live generations of this process as operators watch them (`/metrics`, the Admin UI's
//! `server_stats`): how many run, how fast they produce tokens, and how far the slowest receiver
//! of each is behind.

use serde::Serialize;

use super::ChatService;
use crate::rooms;

/// All live generations of this process.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerationStats {
    pub active_streams: usize,
    /// The sum of the streams' rates.
    pub tokens_per_second: f64,
    /// The largest `slowest_receiver_lag` of any stream.
    pub slowest_receiver_lag: usize,
    pub streams: Vec<StreamStats>,
}

/// One live generation.
#[derive(Debug, Clone, Serialize)]
pub struct StreamStats {
    pub message_id: i64,
    pub chat_id: i64,
    pub project_id: i64,
    pub tokens: usize,
    /// Tokens per second since its first token.
    pub tokens_per_second: f64,
    /// Tokens streamed that the slowest receiver on this node still waits for in its outbox
    /// (0 when every receiver keeps up).
    pub slowest_receiver_lag: usize,
}

impl ChatService {
    pub fn generation_stats(&self) -> GenerationStats {
        let mut streams: Vec<StreamStats> = self
            .inner
            .live
            .all()
            .iter()
            .map(|live| {
                let (tokens, first_token_ms) = {
                    let log = live.log();
                    (log.tokens.len(), log.first_token_ms)
                };
                let elapsed_ms = live.started.elapsed().as_millis() as i64;
                let producing_ms = first_token_ms.map_or(0, |first| elapsed_ms - first);
                let tokens_per_second = if producing_ms > 0 {
                    tokens as f64 * 1000.0 / producing_ms as f64
                } else {
                    0.0
                };
                let slowest = self
                    .inner
                    .broadcaster
                    .slowest_token(&rooms::project(live.project_id), live.message_id);
                StreamStats {
                    message_id: live.message_id,
                    chat_id: live.chat_id,
                    project_id: live.project_id,
                    tokens,
                    tokens_per_second,
                    slowest_receiver_lag: slowest.map_or(0, |first| tokens.saturating_sub(first)),
                }
            })
            .collect();
        streams.sort_by_key(|s| s.message_id);
        GenerationStats {
            active_streams: streams.len(),
            tokens_per_second: streams.iter().map(|s| s.tokens_per_second).sum(),
            slowest_receiver_lag: streams
                .iter()
                .map(|s| s.slowest_receiver_lag)
                .max()
                .unwrap_or(0),
            streams,
        }
    }
}
