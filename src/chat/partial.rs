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
    /// The save in flight, and how much of the stream it writes.
    in_flight: Option<(JoinHandle<Result<bool, DbErr>>, Extent)>,
    /// How much of the stream the last written save held.
    saved: Extent,
}

/// How much of a stream a save holds: a save is due when any of it grew.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Extent {
    tokens: usize,
    reasoning: usize,
    sources: bool,
}

impl PartialSaves {
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Starts a save when the reply grew since the last one.
    pub fn start(&mut self, db: &DatabaseConnection, live: &LiveStream) {
        let extent = {
            let log = live.log();
            Extent {
                tokens: log.tokens.len(),
                reasoning: log.reasoning.len(),
                sources: log.sources.is_some(),
            }
        };
        if extent == self.saved {
            return;
        }
        let partial = live.partial();
        let (db, id) = (db.clone(), live.message_id);
        let save = tokio::spawn(async move { messages::save_partial(&db, id, partial).await });
        self.in_flight = Some((save, extent));
    }

    /// The end of the save in flight; never ready while there is none (a `select!` branch).
    /// Cancel-safe: dropped before the save ends, the next call waits for the same save.
    pub async fn finished(&mut self, message_id: i64) -> Saved {
        let Some((save, extent)) = self.in_flight.as_mut() else {
            return std::future::pending().await;
        };
        let result = save.await;
        let extent = *extent;
        self.in_flight = None;
        match result {
            Ok(Ok(true)) => {
                self.saved = extent;
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
