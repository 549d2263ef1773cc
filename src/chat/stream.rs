//! Steps 3–5 of a stream, in its own task: sources, tokens, the one terminal event, the stored reply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ConstantBuilder, ExponentialBuilder, Retryable};
use futures::stream::BoxStream;
use futures::StreamExt;
use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::ending::{self, Announcement, Ending};
use super::partial::{PartialSaves, Saved};
use super::producer::Feed;
use super::{FinishReason, LiveStream, LiveStreams, SendRequest, StreamLimits};
use crate::broadcast::{Audience, Broadcaster};
use crate::llm::{GenerationRequest, HistoryTurn, LlmEvent, LlmProvider, Usage};
use crate::protocol::names;
use crate::protocol::outgoing::{
    AiProgress, CompleteMetadata, MessageComplete, MessageSources, MessageToken, ProgressKind,
};
use crate::protocol::producer::{action_event, ActionEvent};
use crate::retrieval::Retriever;
use crate::retrieval::Source;
use crate::store::messages::{self, FinalReply};
use entities::Action;

pub(super) struct StreamJob {
    pub deps: StreamDeps,
    pub live: Arc<LiveStream>,
    /// The project room and the sender.
    pub audience: Audience,
    pub model: String,
}

/// What a stream's job uses of the chat service, handed to it once (cheap clones of shared
/// handles), so the job never reaches into the service's state.
#[derive(Clone)]
pub(super) struct StreamDeps {
    pub db: DatabaseConnection,
    pub retriever: Arc<dyn Retriever>,
    pub llm: Arc<dyn LlmProvider>,
    pub broadcaster: Broadcaster,
    pub limits: StreamLimits,
    /// The registry the job leaves when it ends.
    pub live: LiveStreams,
    /// Cancelled when the shutdown grace period is over.
    pub interrupt: CancellationToken,
}

/// Where a stream's pieces come from: the one seam between ragcast's own model and a back end
/// that produces the answer itself. Everything after it (events, log, saves, the stored reply)
/// is the same code.
pub(super) enum PieceSource {
    /// Retrieval over the project's documents, then the model provider.
    Generated {
        request: SendRequest,
        user_message_id: i64,
    },
    /// What a back end posts (`POST /api/messages/{id}/pieces`), failing after `idle` of silence.
    Produced {
        feed: mpsc::Receiver<Feed>,
        idle: Duration,
    },
}

/// One event of a stream, from either side of its seam.
pub(super) enum Produced {
    Sources(Vec<Source>),
    Text(String),
    Reasoning(String),
    Action(Action),
    Usage(Usage),
    /// The model's own finish reason (its stream then ends).
    Finish(FinishReason),
    /// A back end's `end`.
    End {
        reason: FinishReason,
        error: Option<String>,
        usage: Option<Usage>,
    },
    /// The model or the back end failed (`generation_failed`, PROTOCOL §5); the text says why.
    Fail(String),
    /// Answered once what came before it is applied.
    Flush(oneshot::Sender<()>),
}

/// The final write's retries through a database outage: 250 ms doubling to 5 s, eight more
/// tries (about 30 s).
fn final_write_retries() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(8)
}

/// The final write after the retries of `store_final`: every 5 s for ten minutes. Past that (or
/// if the process stops) the row keeps its last partial reply and becomes `interrupted` at the
/// next start, or is taken over by another node.
fn late_write_retries() -> ConstantBuilder {
    ConstantBuilder::default()
        .with_delay(Duration::from_secs(5))
        .with_max_times(120)
}

async fn store_final_later(db: DatabaseConnection, message_id: i64, reply: FinalReply) {
    let mut tries = 0u32;
    let stored = (|| messages::finish(&db, message_id, reply.clone()))
        .retry(late_write_retries())
        .sleep(tokio::time::sleep)
        .notify(|e, _| {
            tries += 1;
            if tries.is_multiple_of(12) {
                tracing::error!(message_id, tries, "still cannot store the reply: {e}");
            }
        })
        .await;
    match stored {
        Ok(true) => tracing::info!(message_id, "reply stored after all"),
        Ok(false) => tracing::warn!(
            message_id,
            "another node ended this reply first; its end stands"
        ),
        Err(e) => tracing::error!(message_id, "giving up storing the reply: {e}"),
    }
}

/// How the stream's loop stopped.
enum Outcome {
    Ended(Ending),
    /// Another node ended the stream's row (this node missed its heartbeats).
    TakenOver,
}

impl StreamJob {
    pub async fn run(self, source: PieceSource) {
        let started = Instant::now();
        metrics::gauge!("ragcast_active_streams").increment(1.0);
        let inner = &self.deps;
        let progress_audience = self.progress_audience();
        let mut events = match source {
            PieceSource::Generated {
                request,
                user_message_id,
            } => self.generated(request, user_message_id),
            PieceSource::Produced { feed, idle } => super::producer::produced(feed, idle),
        };
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
                _ = self.live.cancel.cancelled() => break Outcome::Ended(Ending::Cancelled),
                _ = inner.interrupt.cancelled() => break Outcome::Ended(Ending::Interrupted),
                _ = flush.tick(), if !partial.in_flight() => partial.start(&inner.db, &self.live),
                saved = partial.finished(self.live.message_id) => if let Saved::TakenOver = saved {
                    break Outcome::TakenOver;
                },
                next = events.next() => match next {
                    Some(Produced::Sources(sources)) => self.emit_sources(sources),
                    Some(Produced::Text(text)) if !text.is_empty() => {
                        let ms = *first_token_ms.get_or_insert_with(|| started.elapsed().as_millis() as i64);
                        self.live.log().first_token_ms.get_or_insert(ms);
                        let pieces = self.emit_piece(&progress_audience, ProgressKind::Text, text);
                        if pieces >= limits.max_reply_tokens {
                            break Outcome::Ended(Ending::Finished(FinishReason::Length));
                        }
                    }
                    Some(Produced::Reasoning(text)) if !text.is_empty() => {
                        let pieces = self.emit_piece(&progress_audience, ProgressKind::Reasoning, text);
                        if pieces >= limits.max_reply_tokens {
                            break Outcome::Ended(Ending::Finished(FinishReason::Length));
                        }
                    }
                    Some(Produced::Action(action)) => self.emit_action(&progress_audience, action),
                    Some(Produced::Usage(u)) => usage = Some(u),
                    Some(Produced::Finish(reason)) => finish = reason,
                    Some(Produced::End { reason, error, usage: given }) => {
                        usage = given.or(usage);
                        break Outcome::Ended(match (reason, error) {
                            (FinishReason::Error, error) => Ending::Failed(
                                error.unwrap_or_else(|| "the back end reported an error".into()),
                            ),
                            (reason, _) => Ending::Finished(reason),
                        });
                    }
                    Some(Produced::Fail(why)) => break Outcome::Ended(Ending::Failed(why)),
                    Some(Produced::Flush(done)) => {
                        let _ = done.send(());
                    }
                    Some(Produced::Text(_) | Produced::Reasoning(_)) => {}
                    None => break Outcome::Ended(Ending::Finished(finish)),
                }
            }
        };
        // Dropping the events aborts an upstream request at once, and closes a back end's feed.
        drop(events);
        if let Some(producer) = &self.live.producer {
            let cancelled = matches!(outcome, Outcome::Ended(Ending::Cancelled));
            producer.ended(cancelled);
            if let (true, Some(url)) = (cancelled, &producer.cancel_url) {
                super::producer::notify_cancel(
                    url.clone(),
                    self.live.message_id,
                    self.live.chat_id,
                );
            }
        }

        let ending = match outcome {
            Outcome::TakenOver => {
                self.taken_over();
                metrics::gauge!("ragcast_active_streams").decrement(1.0);
                return;
            }
            Outcome::Ended(ending) => ending,
        };
        let sources_count = self.live.log().sources.as_ref().map_or(0, Vec::len);
        self.finish(
            &progress_audience,
            sources_count,
            ending,
            first_token_ms,
            usage,
            started,
        )
        .await;
        metrics::gauge!("ragcast_active_streams").decrement(1.0);
    }

    /// Ragcast's side of the seam: the sources retrieved (and the chat's history read) at once,
    /// then the model's events.
    fn generated(
        &self,
        request: SendRequest,
        user_message_id: i64,
    ) -> BoxStream<'static, Produced> {
        let inner = self.deps.clone();
        let (project_id, chat_id, message_id) = (
            self.live.project_id,
            self.live.chat_id,
            self.live.message_id,
        );
        let model = self.model.clone();
        Box::pin(
            futures::stream::once(async move {
                let (sources, history) = tokio::join!(
                    inner
                        .retriever
                        .search(project_id, &request.message, request.top_k),
                    history(&inner, &request, chat_id, user_message_id),
                );
                let sources = sources.unwrap_or_else(|e| {
                    tracing::error!(message_id, "retrieval failed: {e}");
                    Vec::new()
                });
                let generation = inner.llm.generate(GenerationRequest {
                    model,
                    temperature: request.temperature,
                    question: request.message.clone(),
                    sources: sources.clone(),
                    history,
                });
                futures::stream::iter([Produced::Sources(sources)]).chain(generation.map(|event| {
                    match event {
                        Ok(LlmEvent::Text(text)) => Produced::Text(text),
                        Ok(LlmEvent::Reasoning(text)) => Produced::Reasoning(text),
                        Ok(LlmEvent::Usage(usage)) => Produced::Usage(usage),
                        Ok(LlmEvent::Finish(reason)) => Produced::Finish(reason),
                        // Every failure of a started stream is `generation_failed` (PROTOCOL §5),
                        // a busy model server included: the message says which.
                        Err(e) => Produced::Fail(e.to_string()),
                    }
                }))
            })
            .flatten(),
        )
    }

    /// `message_sources`, once, recorded in the log.
    fn emit_sources(&self, sources: Vec<Source>) {
        let inner = &self.deps;
        {
            let mut log = self.live.log();
            if log.sources.is_some() {
                return;
            }
            inner.broadcaster.send(
                &self.audience,
                names::MESSAGE_SOURCES,
                &MessageSources {
                    chat_id: self.live.chat_id,
                    message_id: self.live.message_id,
                    sources: &sources,
                },
            );
            log.sources = Some(sources);
        }
        self.live.logged();
    }

    /// A step, tool call or tool result: its event with the next index of their sequence, and
    /// `ai_progress` to the task's followers.
    fn emit_action(&self, progress_audience: &Audience, action: Action) {
        let broadcaster = &self.deps.broadcaster;
        {
            let mut log = self.live.log();
            let index = log.actions.len();
            broadcaster.send(
                &self.audience,
                action_event(&action),
                &ActionEvent {
                    chat_id: self.live.chat_id,
                    message_id: self.live.message_id,
                    index,
                    action: (&action).into(),
                },
            );
            broadcaster.send(
                progress_audience,
                names::AI_PROGRESS,
                &ActionProgress {
                    task_id: &self.live.task_id,
                    chat_id: self.live.chat_id,
                    message_id: self.live.message_id,
                    index,
                    partial: true,
                    action: &action,
                },
            );
            log.actions.push(action);
        }
        self.live.logged();
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
    /// announced and the write goes on in the background for ten more minutes. `false`
    /// when another node had already ended the row (this node missed its heartbeats): it
    /// announced the end.
    async fn store_final(&self, reply: FinalReply) -> bool {
        let db = &self.deps.db;
        let message_id = self.live.message_id;
        let stored = (|| messages::finish(db, message_id, reply.clone()))
            .retry(final_write_retries())
            .sleep(tokio::time::sleep)
            .notify(|e, wait| {
                tracing::warn!(
                    message_id,
                    ?wait,
                    "cannot store the reply yet, retrying: {e}"
                );
            })
            .await;
        match stored {
            Ok(ours) => ours,
            Err(e) => {
                tracing::error!(
                    message_id,
                    "cannot store the reply; announcing it and trying again every 5 s for ten minutes: {e}"
                );
                tokio::spawn(store_final_later(db.clone(), message_id, reply));
                true
            }
        }
    }

    /// Records a token (or reasoning piece) and sends it, under the log lock so a resume never
    /// interleaves with it, then wakes the log's followers. Returns how many pieces (tokens and reasoning) the stream now holds.
    fn emit_piece(&self, progress_audience: &Audience, kind: ProgressKind, text: String) -> usize {
        let broadcaster = &self.deps.broadcaster;
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
        self.deps.live.remove(self.live.message_id);
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        progress_audience: &Audience,
        sources_count: usize,
        ending: Ending,
        first_token_ms: Option<i64>,
        usage: Option<Usage>,
        started: Instant,
    ) {
        let inner = &self.deps;
        let (content, token_log, sources) = {
            let log = self.live.log();
            log.snapshot()
        };
        let tokens = token_log.tokens.len();
        let duration_ms = started.elapsed().as_millis() as i64;
        let finish_reason = ending.finish_reason();
        let reply = FinalReply {
            status: ending.status(),
            content: content.clone(),
            sources,
            token_log,
            finish_reason,
            first_token_ms,
            duration_ms,
            usage,
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
            Announcement {
                audience: &self.audience,
                progress_audience,
                task_id: &self.live.task_id,
                complete: &complete,
                ending: &ending,
            }
            .announce(&inner.broadcaster);
            log.complete = Some(complete);
            log.ending = Some(ending.clone());
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
            error = ending.failure(),
            "stream finished"
        );
    }
}

/// The chat's earlier turns, when the message asks for them.
async fn history(
    inner: &StreamDeps,
    request: &SendRequest,
    chat_id: i64,
    user_message_id: i64,
) -> Vec<HistoryTurn> {
    if !request.include_history || !inner.llm.uses_history() {
        return Vec::new();
    }
    match messages::history(&inner.db, chat_id, user_message_id).await {
        Ok(rows) => rows
            .into_iter()
            .map(|m| HistoryTurn {
                role: m.role,
                content: m.content,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(chat_id, "history unavailable: {e}");
            Vec::new()
        }
    }
}

/// `ai_progress` for a step, tool call or tool result (PROTOCOL §9.3): `type` is the action's.
#[derive(serde::Serialize)]
struct ActionProgress<'a> {
    task_id: &'a str,
    chat_id: i64,
    message_id: i64,
    index: usize,
    partial: bool,
    #[serde(flatten)]
    action: &'a Action,
}
