//! Steps 3–5 of a stream, in its own task: sources, tokens, the one terminal event, the stored reply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sea_orm::DatabaseConnection;

use super::ending::{self, Ending};
use super::partial::{PartialSaves, Saved};
use super::{ChatService, FinishReason, LiveStream, SendRequest};
use crate::broadcast::Audience;
use crate::error::ErrorCode;
use crate::llm::{GenerationRequest, HistoryTurn, LlmEvent, Usage};
use crate::protocol::names;
use crate::protocol::outgoing::{
    AiProgress, CompleteMetadata, MessageComplete, MessageSources, MessageToken, ProgressKind,
};
use crate::store::messages::{self, FinalReply, MessageStatus};

pub(super) struct StreamJob {
    pub service: ChatService,
    pub live: Arc<LiveStream>,
    /// The project room and the sender.
    pub audience: Audience,
    pub request: SendRequest,
    pub model: String,
    pub user_message_id: i64,
}

/// Tries of the final write before giving up (≈ 30 s with the backoff).
const FINAL_WRITE_ATTEMPTS: u32 = 9;

/// The final write after the retries of `store_final`: every `LATE_WRITE_INTERVAL`, for at most
/// `LATE_WRITE_ATTEMPTS`. Past that (or if the process stops) the row keeps its last partial
/// reply and becomes `interrupted` at the next start, or is taken over by another node.
async fn store_final_later(db: DatabaseConnection, message_id: i64, reply: FinalReply) {
    for attempt in 1..=LATE_WRITE_ATTEMPTS {
        tokio::time::sleep(LATE_WRITE_INTERVAL).await;
        match messages::finish(&db, message_id, reply.clone()).await {
            Ok(true) => {
                tracing::info!(message_id, attempt, "reply stored after all");
                return;
            }
            Ok(false) => {
                tracing::warn!(
                    message_id,
                    "another node ended this reply first; its end stands"
                );
                return;
            }
            Err(e) if attempt == LATE_WRITE_ATTEMPTS => {
                tracing::error!(message_id, "giving up storing the reply: {e}");
            }
            Err(e) if attempt % 12 == 0 => {
                tracing::error!(message_id, attempt, "still cannot store the reply: {e}");
            }
            Err(_) => {}
        }
    }
}

const LATE_WRITE_INTERVAL: Duration = Duration::from_secs(5);
/// Ten minutes of late tries.
const LATE_WRITE_ATTEMPTS: u32 = 120;

/// How generation ended, before it is turned into a status and a finish reason.
enum Outcome {
    Finished(FinishReason),
    Cancelled,
    Failed(ErrorCode, String),
    /// The server stopped before the stream ended.
    Interrupted,
    /// Another node ended the stream's row (this node missed its heartbeats).
    TakenOver,
}

impl StreamJob {
    pub async fn run(self) {
        let started = Instant::now();
        metrics::gauge!("ragcast_active_streams").increment(1.0);
        let inner = &self.service.inner;
        let progress_audience = self.progress_audience();

        // Both reads at once: the first token waits for both.
        let (sources, history) = tokio::join!(
            inner.retriever.search(
                self.live.project_id,
                &self.request.message,
                self.request.top_k,
            ),
            self.history(),
        );
        let sources = match sources {
            Ok(sources) => sources,
            Err(e) => {
                tracing::error!(message_id = self.live.message_id, "retrieval failed: {e}");
                Vec::new()
            }
        };
        {
            let mut log = self.live.log();
            inner.broadcaster.send(
                &self.audience,
                names::MESSAGE_SOURCES,
                &MessageSources {
                    chat_id: self.live.chat_id,
                    message_id: self.live.message_id,
                    sources: &sources,
                },
            );
            log.sources = Some(sources.clone());
        }
        self.live.logged();

        let mut generation = inner.llm.generate(GenerationRequest {
            model: self.model.clone(),
            temperature: self.request.temperature,
            question: self.request.message.clone(),
            sources: sources.clone(),
            history,
        });
        let mut first_token_ms: Option<i64> = None;
        let mut usage: Option<Usage> = None;
        let mut finish = FinishReason::Stop;
        let limits = inner.limits;
        let mut flush = tokio::time::interval_at(
            tokio::time::Instant::now() + limits.flush_interval,
            limits.flush_interval,
        );
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut partial = PartialSaves::default();
        let outcome = loop {
            tokio::select! {
                biased;
                _ = self.live.cancel.cancelled() => break Outcome::Cancelled,
                _ = inner.interrupt.cancelled() => break Outcome::Interrupted,
                _ = flush.tick(), if !partial.in_flight() => partial.start(&inner.db, &self.live),
                saved = partial.finished(self.live.message_id) => if let Saved::TakenOver = saved {
                    break Outcome::TakenOver;
                },
                next = generation.next() => match next {
                    Some(Ok(LlmEvent::Text(text))) if !text.is_empty() => {
                        let ms = *first_token_ms.get_or_insert_with(|| started.elapsed().as_millis() as i64);
                        self.live.log().first_token_ms.get_or_insert(ms);
                        let pieces = self.emit_piece(&progress_audience, ProgressKind::Text, text);
                        if pieces >= limits.max_reply_tokens {
                            break Outcome::Finished(FinishReason::Length);
                        }
                    }
                    Some(Ok(LlmEvent::Reasoning(text))) if !text.is_empty() => {
                        let pieces = self.emit_piece(&progress_audience, ProgressKind::Reasoning, text);
                        if pieces >= limits.max_reply_tokens {
                            break Outcome::Finished(FinishReason::Length);
                        }
                    }
                    Some(Ok(LlmEvent::Usage(u))) => usage = Some(u),
                    Some(Ok(LlmEvent::Finish(reason))) => finish = reason,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break Outcome::Failed(e.code(), e.to_string()),
                    None => break Outcome::Finished(finish),
                }
            }
        };
        // Dropping the generation aborts an upstream request at once.
        drop(generation);

        let (status, finish_reason, failure) = match outcome {
            Outcome::TakenOver => {
                self.taken_over();
                metrics::gauge!("ragcast_active_streams").decrement(1.0);
                return;
            }
            Outcome::Finished(reason) => (MessageStatus::Complete, reason, None),
            Outcome::Cancelled => (MessageStatus::Cancelled, FinishReason::Cancelled, None),
            Outcome::Failed(code, message) => (
                MessageStatus::Failed,
                FinishReason::Error,
                Some((code, message)),
            ),
            Outcome::Interrupted => (
                MessageStatus::Interrupted,
                FinishReason::Error,
                Some((
                    ErrorCode::GenerationFailed,
                    "the server stopped before the reply was complete".to_owned(),
                )),
            ),
        };
        self.finish(
            &progress_audience,
            sources.len(),
            status,
            finish_reason,
            failure,
            first_token_ms,
            usage,
            started,
        )
        .await;
        metrics::gauge!("ragcast_active_streams").decrement(1.0);
    }

    /// The chat's earlier turns, when the message asks for them.
    async fn history(&self) -> Vec<HistoryTurn> {
        if !self.request.include_history || !self.service.inner.llm.uses_history() {
            return Vec::new();
        }
        let db = &self.service.inner.db;
        match messages::history(db, self.live.chat_id, self.user_message_id).await {
            Ok(rows) => rows
                .into_iter()
                .map(|m| HistoryTurn {
                    role: m.role,
                    content: m.content,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(
                    message_id = self.live.message_id,
                    "history unavailable: {e}"
                );
                Vec::new()
            }
        }
    }

    /// `user:{id}` (when known) and `task:{task_id}`.
    fn progress_audience(&self) -> Audience {
        ending::progress_audience(
            self.live.project_id,
            &self.live.task_id,
            self.live.user_id.as_deref(),
        )
    }

    /// Stores the final reply, retrying through a database outage (about half a minute) so a
    /// reply that was streamed in full is not lost to a short blip; past that the reply is
    /// announced and the write goes on in the background until the database is back. `false`
    /// when another node had already ended the row (this node missed its heartbeats): it
    /// announced the end.
    async fn store_final(&self, reply: FinalReply) -> bool {
        let db = &self.service.inner.db;
        let mut wait = Duration::from_millis(250);
        for attempt in 1..=FINAL_WRITE_ATTEMPTS {
            match messages::finish(db, self.live.message_id, reply.clone()).await {
                Ok(ours) => return ours,
                Err(e) if attempt < FINAL_WRITE_ATTEMPTS => {
                    tracing::warn!(
                        message_id = self.live.message_id,
                        attempt,
                        "cannot store the reply yet, retrying: {e}"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(
                        message_id = self.live.message_id,
                        "cannot store the reply; announcing it and storing it once the database is back: {e}"
                    );
                    tokio::spawn(store_final_later(db.clone(), self.live.message_id, reply));
                    return true;
                }
            }
        }
        true
    }

    /// Records a token (or reasoning piece) and sends it, under the log lock so a resume never
    /// interleaves with it, then wakes the log's followers. Returns how many pieces (tokens and reasoning) the stream now holds.
    fn emit_piece(&self, progress_audience: &Audience, kind: ProgressKind, text: String) -> usize {
        let broadcaster = &self.service.inner.broadcaster;
        let mut log = self.live.log();
        let (event, pieces) = match kind {
            ProgressKind::Reasoning => (names::MESSAGE_REASONING, &mut log.reasoning),
            _ => (names::MESSAGE_TOKEN, &mut log.tokens),
        };
        let index = pieces.len();
        broadcaster.send_piece(
            &self.audience,
            event,
            &MessageToken {
                chat_id: self.live.chat_id,
                message_id: self.live.message_id,
                token: &text,
                index,
            },
        );
        broadcaster.send(
            progress_audience,
            names::AI_PROGRESS,
            &AiProgress {
                kind,
                text: &text,
                partial: true,
                task_id: &self.live.task_id,
                chat_id: self.live.chat_id,
                message_id: self.live.message_id,
                finish_reason: None,
            },
        );
        pieces.push(text);
        let held = log.tokens.len() + log.reasoning.len();
        drop(log);
        self.live.logged();
        held
    }

    /// Another node ended this stream's row and announced its end: this node says nothing more.
    fn taken_over(&self) {
        tracing::warn!(
            message_id = self.live.message_id,
            "another node ended this reply while this one could not reach the database; its end stands"
        );
        self.service.inner.live.remove(self.live.message_id);
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        progress_audience: &Audience,
        sources_count: usize,
        status: MessageStatus,
        finish_reason: FinishReason,
        failure: Option<(ErrorCode, String)>,
        first_token_ms: Option<i64>,
        usage: Option<Usage>,
        started: Instant,
    ) {
        let inner = &self.service.inner;
        let (content, token_log, sources) = {
            let log = self.live.log();
            log.snapshot()
        };
        let tokens = token_log.tokens.len();
        let duration_ms = started.elapsed().as_millis() as i64;
        let reply = FinalReply {
            status,
            content: content.clone(),
            sources,
            token_log,
            finish_reason,
            first_token_ms,
            duration_ms,
            usage: usage.and_then(|u| serde_json::to_value(u).ok()),
            completed_at: crate::time::now(),
        };
        if !self.store_final(reply).await {
            self.taken_over();
            return;
        }

        let complete = MessageComplete {
            chat_id: self.live.chat_id,
            message_id: self.live.message_id,
            content,
            metadata: CompleteMetadata {
                model: self.model.clone(),
                sources_count,
                tokens,
                finish_reason,
                first_token_ms,
                duration_ms,
                usage,
            },
        };
        {
            let mut log = self.live.log();
            Ending {
                audience: &self.audience,
                progress_audience,
                task_id: &self.live.task_id,
                complete: &complete,
                failure: failure
                    .as_ref()
                    .map(|(code, message)| (*code, message.as_str())),
            }
            .announce(&inner.broadcaster);
            log.complete = Some(complete);
            log.failure = failure.as_ref().map(|(_, message)| message.clone());
        }
        self.live.logged();
        inner.live.remove(self.live.message_id);

        if let Some(ms) = first_token_ms {
            metrics::histogram!("ragcast_first_token_seconds").record(ms as f64 / 1000.0);
        }
        metrics::histogram!("ragcast_stream_duration_seconds").record(duration_ms as f64 / 1000.0);
        tracing::info!(
            chat_id = self.live.chat_id,
            message_id = self.live.message_id,
            sources = sources_count,
            tokens,
            first_token_ms,
            duration_ms,
            finish_reason = finish_reason.as_str(),
            error = failure.as_ref().map(|(_, m)| m.as_str()),
            "stream finished"
        );
    }
}
