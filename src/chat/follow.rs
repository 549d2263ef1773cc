//! Following one stream from its start, for clients that are not sockets (the AI SDK's UI message
//! stream over HTTP): everything it emitted so far, then the rest as it comes, then its end.
//!
//! A stream of this node is followed in its live log, woken at each change. A stream of another
//! node (or one that stopped here without announcing its end) is followed in its row, whose
//! partial saves land every `--flush-interval-ms`: later, but the same pieces, from any node.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};

use super::replay::StoredStream;
use super::{ChatService, Ending, LiveStream};
use crate::auth::Caller;
use crate::error::AppError;
use crate::retrieval::Source;
use crate::store;

/// How often a stream followed in the database is read again.
const ROW_POLL: Duration = Duration::from_millis(250);
/// A live log is looked at again at least this often, in case its stream stopped without
/// announcing an end (taken over by another node, or a bug): then the row tells the end.
const LIVE_CHECK: Duration = Duration::from_secs(1);

/// A source with the media type of its document.
#[derive(Debug, Clone)]
pub struct SourceDocument {
    pub source: Source,
    /// `None` when the document is gone.
    pub media_type: Option<String>,
}

/// What a follower learns, in the stream's order.
#[derive(Debug, Clone)]
pub enum StreamUpdate {
    Sources(Vec<SourceDocument>),
    Reasoning(String),
    Token(String),
    /// A back end's step, tool call or tool result.
    Action(entities::Action),
    /// The last update: how it ended.
    Ended(Ending),
}

/// How far a follower got.
#[derive(Default)]
struct Cursor {
    sources_sent: bool,
    reasoning: usize,
    actions: usize,
    tokens: usize,
}

/// What the stream holds now, borrowed from a live log or a stored row.
struct Seen<'a> {
    sources: Option<&'a [Source]>,
    reasoning: &'a [String],
    actions: &'a [entities::Action],
    tokens: &'a [String],
    /// Set once it ended.
    ended: Option<Ending>,
}

impl Cursor {
    /// The updates of `seen` this follower has not had yet; sources resolved by the caller.
    fn advance(&mut self, seen: Seen<'_>) -> (Option<Vec<Source>>, Vec<StreamUpdate>) {
        let sources = match seen.sources {
            Some(sources) if !self.sources_sent => {
                self.sources_sent = true;
                Some(sources.to_vec())
            }
            _ => None,
        };
        let mut updates = Vec::new();
        for piece in seen.reasoning.iter().skip(self.reasoning) {
            updates.push(StreamUpdate::Reasoning(piece.clone()));
        }
        self.reasoning = self.reasoning.max(seen.reasoning.len());
        for action in seen.actions.iter().skip(self.actions) {
            updates.push(StreamUpdate::Action(action.clone()));
        }
        self.actions = self.actions.max(seen.actions.len());
        for token in seen.tokens.iter().skip(self.tokens) {
            updates.push(StreamUpdate::Token(token.clone()));
        }
        self.tokens = self.tokens.max(seen.tokens.len());
        if let Some(ending) = seen.ended {
            updates.push(StreamUpdate::Ended(ending));
        }
        (sources, updates)
    }
}

/// A follower between two batches of updates.
struct Follower {
    service: ChatService,
    message_id: i64,
    /// While the stream runs on this node.
    live: Option<Arc<LiveStream>>,
    cursor: Cursor,
    done: bool,
}

impl ChatService {
    /// The assistant row streaming in `chat_id` now, on any node, if the caller may see it.
    pub async fn streaming_in_chat(
        &self,
        chat_id: i64,
        caller: &Caller,
    ) -> Result<Option<i64>, AppError> {
        let chat = store::chats::find(self.db(), chat_id)
            .await?
            .ok_or_else(|| AppError::not_found("chat"))?;
        caller.require_visible(chat.project_id, "chat")?;
        let row = store::messages::streaming_in_chat(self.db(), chat_id).await?;
        Ok(row.map(|row| row.id))
    }

    /// Stream `message_id` from its start to its end (the caller checked the right to see it).
    pub fn follow(&self, message_id: i64) -> BoxStream<'static, StreamUpdate> {
        let follower = Follower {
            service: self.clone(),
            message_id,
            live: self.live_stream(message_id),
            cursor: Cursor::default(),
            done: false,
        };
        stream::unfold(follower, |mut follower| async move {
            if follower.done {
                return None;
            }
            let updates = follower.next_batch().await;
            Some((stream::iter(updates), follower))
        })
        .flatten()
        .boxed()
    }
}

impl Follower {
    /// Waits for something new, and returns it (never an empty batch).
    async fn next_batch(&mut self) -> Vec<StreamUpdate> {
        loop {
            let (sources, mut updates) = match self.live.clone() {
                Some(live) => self.read_live(&live).await,
                None => self.read_row().await,
            };
            if matches!(updates.last(), Some(StreamUpdate::Ended(_))) {
                self.done = true;
            }
            if let Some(sources) = sources {
                updates.insert(0, StreamUpdate::Sources(self.documents(sources).await));
            }
            if !updates.is_empty() {
                return updates;
            }
        }
    }

    /// What the live log holds beyond the cursor, waiting for its next change when nothing is
    /// new. Leaves the live log for the row when the stream stopped without an end.
    async fn read_live(&mut self, live: &LiveStream) -> (Option<Vec<Source>>, Vec<StreamUpdate>) {
        let changed = live.next_change();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let found = {
            let log = live.log();
            self.cursor.advance(Seen {
                sources: log.sources.as_deref(),
                reasoning: &log.reasoning,
                actions: &log.actions,
                tokens: &log.tokens,
                ended: log.ending.clone(),
            })
        };
        if found.0.is_some() || !found.1.is_empty() {
            return found;
        }
        if tokio::time::timeout(LIVE_CHECK, changed).await.is_err()
            && self.service.live_stream(self.message_id).is_none()
        {
            // Stopped without an end here: its row (ended by whoever took it over) says how.
            self.live = None;
        }
        (None, Vec::new())
    }

    /// What the stored row holds beyond the cursor; waits a poll interval when nothing is new.
    async fn read_row(&mut self) -> (Option<Vec<Source>>, Vec<StreamUpdate>) {
        let row = match store::messages::find(self.service.db(), self.message_id).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                return (None, vec![ended_with("the message was deleted")]);
            }
            Err(e) => {
                tracing::warn!(
                    message_id = self.message_id,
                    "cannot read the stream's row: {e}"
                );
                tokio::time::sleep(ROW_POLL).await;
                return (None, Vec::new());
            }
        };
        let stored = StoredStream::new(row);
        let ended = stored.ending();
        let found = self.cursor.advance(Seen {
            sources: stored.sources.as_deref(),
            reasoning: &stored.token_log.reasoning,
            actions: &stored.token_log.actions,
            tokens: &stored.token_log.tokens,
            ended,
        });
        if found.0.is_none() && found.1.is_empty() {
            tokio::time::sleep(ROW_POLL).await;
        }
        found
    }

    /// Each source with its document's media type.
    async fn documents(&self, sources: Vec<Source>) -> Vec<SourceDocument> {
        let ids: Vec<i64> = sources
            .iter()
            .filter_map(|s| s.metadata.document().map(|d| d.document_id))
            .collect();
        let types = store::documents::content_types(self.service.db(), &ids)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(
                    message_id = self.message_id,
                    "cannot read the sources' types: {e}"
                );
                HashMap::new()
            });
        sources
            .into_iter()
            .map(|source| SourceDocument {
                media_type: source
                    .metadata
                    .document()
                    .and_then(|d| types.get(&d.document_id).cloned()),
                source,
            })
            .collect()
    }
}

fn ended_with(failure: &str) -> StreamUpdate {
    StreamUpdate::Ended(Ending::Failed(failure.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(updates: &[StreamUpdate]) -> Vec<String> {
        updates
            .iter()
            .map(|u| match u {
                StreamUpdate::Sources(_) => "sources".to_owned(),
                StreamUpdate::Reasoning(r) => format!("r:{r}"),
                StreamUpdate::Token(t) => format!("t:{t}"),
                StreamUpdate::Action(_) => "action".to_owned(),
                StreamUpdate::Ended(ending) => format!("end:{}", ending.finish_reason().as_str()),
            })
            .collect()
    }

    #[test]
    fn a_cursor_gives_each_piece_once_and_the_end_last() {
        let mut cursor = Cursor::default();
        let tokens = vec!["a".to_owned(), "b".to_owned()];
        let reasoning = vec!["think".to_owned()];
        let (sources, first) = cursor.advance(Seen {
            sources: Some(&[]),
            reasoning: &reasoning,
            actions: &[],
            tokens: &tokens[..1],
            ended: None,
        });
        assert!(sources.is_some());
        assert_eq!(texts(&first), ["r:think", "t:a"]);
        let (sources, second) = cursor.advance(Seen {
            sources: Some(&[]),
            reasoning: &reasoning,
            actions: &[],
            tokens: &tokens,
            ended: Some(Ending::Finished(crate::store::FinishReason::Stop)),
        });
        assert!(sources.is_none(), "sources come once");
        assert_eq!(texts(&second), ["t:b", "end:stop"]);
    }
}
