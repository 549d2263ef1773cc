//! The periodic save of a live stream's reply so far. It runs beside the stream, so a slow or
//! unreachable database never holds back the stream's tokens, its cancel or a shutdown.

use sea_orm::{DatabaseConnection, DbErr};
use tokio::task::JoinHandle;

use super::LiveStream;
use crate::store::messages;

/// What a finished save means for the stream.
pub(super) enum Saved {
    /// Written, or failed and tried again at the next tick: the stream goes on.
    GoOn,
    /// The row is no longer `streaming`: another node ended it while this one missed its
    /// heartbeats, and announced that end. The stream stops without a word.
    TakenOver,
}

#[derive(Default)]
pub(super) struct PartialSaves {
    /// The save in flight, and how many tokens it writes.
    in_flight: Option<(JoinHandle<Result<bool, DbErr>>, usize)>,
    /// Tokens in the last save that was written.
    saved: usize,
}

impl PartialSaves {
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Starts a save when the reply grew since the last one.
    pub fn start(&mut self, db: &DatabaseConnection, live: &LiveStream) {
        let (content, token_log, sources) = {
            let log = live.log();
            if log.tokens.len() == self.saved {
                return;
            }
            log.snapshot()
        };
        let tokens = token_log.tokens.len();
        let (db, id) = (db.clone(), live.message_id);
        let save = tokio::spawn(async move {
            messages::save_partial(&db, id, content, &token_log, sources).await
        });
        self.in_flight = Some((save, tokens));
    }

    /// The end of the save in flight; never ready while there is none (a `select!` branch).
    /// Cancel-safe: dropped before the save ends, the next call waits for the same save.
    pub async fn finished(&mut self, message_id: i64) -> Saved {
        let Some((save, tokens)) = self.in_flight.as_mut() else {
            return std::future::pending().await;
        };
        let result = save.await;
        let tokens = *tokens;
        self.in_flight = None;
        match result {
            Ok(Ok(true)) => {
                self.saved = tokens;
                Saved::GoOn
            }
            Ok(Ok(false)) => Saved::TakenOver,
            Ok(Err(e)) => {
                tracing::warn!(message_id, "cannot save the partial reply: {e}");
                Saved::GoOn
            }
            Err(e) => {
                tracing::error!(message_id, "the partial save stopped: {e}");
                Saved::GoOn
            }
        }
    }
}
