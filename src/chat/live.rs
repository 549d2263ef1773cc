//! Streams running in this process: their cancel switch and everything they emitted so far, so a
//! resuming client gets exactly what it missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use socketioxide::socket::Sid;
use tokio_util::sync::CancellationToken;

use crate::events::outgoing::MessageComplete;
use crate::retrieval::Source;
use crate::store::messages::TokenLog;

/// What a stream has emitted, in emission order. Held under a std mutex (never across `.await`)
/// while an event is both recorded and sent, so a replay never interleaves with a live send.
#[derive(Debug, Default)]
pub struct StreamLog {
    pub sources: Option<Vec<Source>>,
    pub reasoning: Vec<String>,
    pub tokens: Vec<String>,
    pub complete: Option<MessageComplete>,
}

impl StreamLog {
    /// What is stored of the stream so far: the content, the token boundaries, the sources.
    pub fn snapshot(&self) -> (String, TokenLog, serde_json::Value) {
        (
            self.tokens.concat(),
            TokenLog {
                tokens: self.tokens.clone(),
                reasoning: self.reasoning.clone(),
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
    log: Mutex<StreamLog>,
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
            log: Mutex::new(StreamLog::default()),
        }
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
    inner: Arc<Mutex<HashMap<i64, Arc<LiveStream>>>>,
}

impl LiveStreams {
    fn map(&self) -> MutexGuard<'_, HashMap<i64, Arc<LiveStream>>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn insert(&self, stream: Arc<LiveStream>) {
        self.map().insert(stream.message_id, stream);
    }

    pub fn get(&self, message_id: i64) -> Option<Arc<LiveStream>> {
        self.map().get(&message_id).cloned()
    }

    pub fn remove(&self, message_id: i64) {
        self.map().remove(&message_id);
    }

    /// Live streams of this user, or (no user) started by this socket.
    pub fn count_by(&self, user_id: Option<&str>, sid: Option<Sid>) -> usize {
        self.map()
            .values()
            .filter(|s| match user_id {
                Some(user) => s.user_id.as_deref() == Some(user),
                None => sid.is_some() && s.origin_sid == sid,
            })
            .count()
    }

    pub fn find_task(&self, task_id: &str) -> Option<Arc<LiveStream>> {
        self.map().values().find(|s| s.task_id == task_id).cloned()
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
