//! Streams running in this process: their cancel switch and everything they emitted so far, so a
//! resuming client gets exactly what it missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use socketioxide::socket::Sid;
use tokio_util::sync::CancellationToken;

use crate::protocol::outgoing::MessageComplete;
use crate::retrieval::Source;
use crate::store::messages::{self, TokenLog};

/// What a stream has emitted, in emission order. Held under a std mutex (never across `.await`)
/// while an event is both recorded and sent, so a replay never interleaves with a live send.
#[derive(Debug, Default)]
pub struct StreamLog {
    pub sources: Option<Vec<Source>>,
    pub reasoning: Vec<String>,
    pub tokens: Vec<String>,
    /// Steps, tool calls and their results, in their one index sequence.
    pub actions: Vec<entities::Action>,
    pub complete: Option<MessageComplete>,
    /// How it ended, set with `complete`.
    pub ending: Option<super::Ending>,
    /// Milliseconds from the start to the first token, once there is one.
    pub first_token_ms: Option<i64>,
}

impl StreamLog {
    /// What is stored of the stream so far: the content, the token boundaries, the sources.
    pub fn snapshot(&self) -> (String, TokenLog, serde_json::Value) {
        (
            self.tokens.concat(),
            TokenLog {
                tokens: self.tokens.clone(),
                reasoning: self.reasoning.clone(),
                actions: self.actions.clone(),
            },
            serde_json::to_value(self.sources.as_deref().unwrap_or_default()).unwrap_or_default(),
        )
    }
}

#[derive(Debug)]
pub struct LiveStream {
    pub message_id: i64,
    pub chat_id: i64,
    pub project_id: i64,
    pub user_id: Option<String>,
    /// The socket that started it, for the per-user cap when there is no user.
    pub origin_sid: Option<Sid>,
    pub task_id: String,
    pub cancel: CancellationToken,
    /// A back end's stream: its pieces' way in (`None` for ragcast's own model).
    pub producer: Option<super::Producer>,
    /// When it started, for the duration its partial saves record.
    pub started: std::time::Instant,
    log: Mutex<StreamLog>,
    /// Woken after each change of the log, for the HTTP streams that follow it (`follow`).
    changed: tokio::sync::Notify,
}

impl LiveStream {
    pub fn new(
        message_id: i64,
        chat_id: i64,
        project_id: i64,
        user_id: Option<String>,
        origin_sid: Option<Sid>,
        task_id: String,
    ) -> Self {
        Self {
            message_id,
            chat_id,
            project_id,
            user_id,
            origin_sid,
            task_id,
            cancel: CancellationToken::new(),
            producer: None,
            started: std::time::Instant::now(),
            log: Mutex::new(StreamLog::default()),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// What a partial save stores of it now.
    pub fn partial(&self) -> messages::Partial {
        let log = self.log();
        let (content, token_log, sources) = log.snapshot();
        messages::Partial {
            content,
            token_log,
            sources,
            first_token_ms: log.first_token_ms,
            duration_ms: self.started.elapsed().as_millis() as i64,
        }
    }

    /// Wakes whoever follows the log: call after changing it.
    pub fn logged(&self) {
        self.changed.notify_waiters();
    }

    /// Waits (at most a few seconds) until the stream has ended and announced its end.
    pub async fn ended(&self) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let changed = self.next_change();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.log().complete.is_some() {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }

    /// Resolves at the next `logged` after it is enabled (`Notified::enable`).
    pub fn next_change(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    pub fn log(&self) -> MutexGuard<'_, StreamLog> {
        // A panic while holding the log leaves it usable: the data is append-only.
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Clone, Default)]
pub struct LiveStreams {
    inner: Arc<Mutex<Streams>>,
}

#[derive(Default)]
struct Streams {
    live: HashMap<i64, Arc<LiveStream>>,
    /// Streams being started (stored, not yet live), per starter: they count against its cap.
    starting: HashMap<Starter, usize>,
}

/// Whose cap a stream counts against: its user, or (no user) the socket that sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Starter {
    User(String),
    Socket(Sid),
}

impl Starter {
    fn of(user_id: Option<&str>, sid: Option<Sid>) -> Option<Starter> {
        match (user_id, sid) {
            (Some(user), _) => Some(Starter::User(user.to_owned())),
            (None, Some(sid)) => Some(Starter::Socket(sid)),
            (None, None) => None,
        }
    }

    fn started(&self, stream: &LiveStream) -> bool {
        match self {
            Starter::User(user) => stream.user_id.as_deref() == Some(user.as_str()),
            Starter::Socket(sid) => stream.user_id.is_none() && stream.origin_sid == Some(*sid),
        }
    }
}

/// A stream slot taken before the stream is stored, given back when dropped: by then the stream
/// is live (and counts itself) or failed to start.
pub struct Slot {
    streams: LiveStreams,
    starter: Option<Starter>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(starter) = self.starter.take() else {
            return;
        };
        let mut streams = self.streams.lock();
        if let Some(count) = streams.starting.get_mut(&starter) {
            *count -= 1;
            if *count == 0 {
                streams.starting.remove(&starter);
            }
        }
    }
}

impl LiveStreams {
    fn lock(&self) -> MutexGuard<'_, Streams> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one of the starter's `cap` slots, counting its live streams and those being
    /// started, in one step so that concurrent sends cannot all pass; `Err(running)` past the
    /// cap. Streams with neither user nor socket (the API key over HTTP) are not capped.
    pub fn reserve(
        &self,
        user_id: Option<&str>,
        sid: Option<Sid>,
        cap: usize,
    ) -> Result<Slot, usize> {
        let Some(starter) = Starter::of(user_id, sid) else {
            return Ok(Slot {
                streams: self.clone(),
                starter: None,
            });
        };
        let mut streams = self.lock();
        let live = streams.live.values().filter(|s| starter.started(s)).count();
        let starting = streams.starting.get(&starter).copied().unwrap_or(0);
        if live + starting >= cap {
            return Err(live + starting);
        }
        *streams.starting.entry(starter.clone()).or_default() += 1;
        Ok(Slot {
            streams: self.clone(),
            starter: Some(starter),
        })
    }

    pub fn insert(&self, stream: Arc<LiveStream>) {
        self.lock().live.insert(stream.message_id, stream);
    }

    pub fn get(&self, message_id: i64) -> Option<Arc<LiveStream>> {
        self.lock().live.get(&message_id).cloned()
    }

    pub fn remove(&self, message_id: i64) {
        self.lock().live.remove(&message_id);
    }

    /// How many streams run here.
    pub fn count(&self) -> usize {
        self.lock().live.len()
    }

    /// Every live stream of this process.
    pub fn all(&self) -> Vec<Arc<LiveStream>> {
        self.lock().live.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(user: &str, message_id: i64) -> Arc<LiveStream> {
        Arc::new(LiveStream::new(
            message_id,
            1,
            1,
            Some(user.to_owned()),
            None,
            message_id.to_string(),
        ))
    }

    #[test]
    fn streams_being_started_and_live_ones_share_the_cap() {
        let streams = LiveStreams::default();
        let starting = streams.reserve(Some("u"), None, 2).unwrap();
        streams.insert(stream_of("u", 1));
        assert_eq!(streams.reserve(Some("u"), None, 2).err(), Some(2));
        assert!(streams.reserve(Some("other"), None, 2).is_ok());
        drop(starting);
        let again = streams.reserve(Some("u"), None, 2);
        assert!(again.is_ok(), "a start that ended gives its slot back");
        streams.remove(1);
        drop(again);
        assert!(streams.lock().starting.is_empty());
        assert!(
            streams.reserve(None, None, 0).is_ok(),
            "the API key over HTTP is not capped"
        );
    }
}
