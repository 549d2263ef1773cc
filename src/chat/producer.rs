//! The back-end side of a stream's seam (PROTOCOL §9.3): the pieces a back end posts are checked
//! here (their `seq`, their order, their fields) and fed to the same stream job that runs
//! ragcast's own model, which turns them into the very events, log and stored reply a generated
//! answer gets.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

use super::stream::Produced;
use super::{ChatService, LiveStream};
use crate::auth::Caller;
use crate::broadcast::Audience;
use crate::error::{AppError, ErrorCode};
use crate::protocol::names;
use crate::protocol::outgoing::{MessageCreated, MessageReceived};
use crate::protocol::producer::{BackendSource, NewStream, Piece, PieceLine, PiecesOutcome};
use crate::retrieval::{Metadata, Source};
use crate::store::messages::{self, InsertExchangeError, NewPost, NewProduced};
use crate::store::MessageStatus;
use crate::views::MessageView;
use crate::{rooms, store, time};
use entities::Role;

/// Pieces that may wait for the stream job before a `pieces` request waits (its back end then
/// sends no faster than the room takes them).
const FEED_CAPACITY: usize = 256;

/// What reaches the stream job from the back end.
pub(super) enum Feed {
    Piece(Piece),
    /// A piece that is not valid: the stream fails with this sentence.
    Invalid(String),
    /// Answered once everything before it has been applied.
    Flush(oneshot::Sender<()>),
}

/// A back end's stream: what has been applied of it, and the way in to its job.
#[derive(Debug)]
pub struct Producer {
    state: Mutex<State>,
    feed: mpsc::Sender<Feed>,
    /// Told when the stream is cancelled.
    pub cancel_url: Option<String>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feed")
    }
}

#[derive(Debug, Default)]
struct State {
    /// The next `seq` expected.
    next_seq: u64,
    sources_given: bool,
    tokens_started: bool,
    /// `end` was sent, a piece was invalid, or the stream ended otherwise.
    ended: bool,
    cancelled: bool,
}

/// What became of one piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    Applied,
    /// Its `seq` was applied before: a retried request.
    Repeated,
    /// The stream was cancelled: the piece is dropped.
    Dropped,
}

/// Why a piece was refused (the request stops there).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("`seq` {got} is ahead: the next expected is {expected}")]
    Gap { got: u64, expected: u64 },
    #[error("the stream has ended: no more pieces are taken")]
    Ended,
    /// The stream failed because of it.
    #[error("{0}")]
    Invalid(String),
}

impl Refused {
    pub fn code(&self) -> ErrorCode {
        match self {
            Refused::Gap { .. } | Refused::Ended => ErrorCode::Conflict,
            Refused::Invalid(_) => ErrorCode::Unprocessable,
        }
    }
}

impl Producer {
    /// A producer and the job's end of its feed.
    pub(super) fn new(cancel_url: Option<String>) -> (Self, mpsc::Receiver<Feed>) {
        let (feed, rx) = mpsc::channel(FEED_CAPACITY);
        (
            Self {
                state: Mutex::default(),
                feed,
                cancel_url,
            },
            rx,
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks one line of a request (`line` from 1) and feeds it to the stream.
    pub async fn offer(
        &self,
        line: usize,
        parsed: Result<PieceLine, String>,
    ) -> Result<Offered, Refused> {
        let checked = {
            let mut state = self.lock();
            if state.cancelled {
                return Ok(Offered::Dropped);
            }
            if state.ended {
                return Err(Refused::Ended);
            }
            match parsed {
                Err(why) => Err(format!("line {line}: {why}")),
                Ok(PieceLine { seq, piece }) => {
                    if let Some(seq) = seq {
                        if seq < state.next_seq {
                            return Ok(Offered::Repeated);
                        }
                        if seq > state.next_seq {
                            return Err(Refused::Gap {
                                got: seq,
                                expected: state.next_seq,
                            });
                        }
                    }
                    match state.admit(&piece) {
                        Ok(()) => {
                            if seq.is_some() {
                                state.next_seq += 1;
                            }
                            Ok(piece)
                        }
                        Err(why) => Err(format!("line {line}: {why}")),
                    }
                }
            }
        };
        match checked {
            Ok(piece) => {
                // The job is gone when the stream just ended (a cancel, the idle limit).
                if self.feed.send(Feed::Piece(piece)).await.is_err() {
                    return if self.is_cancelled() {
                        Ok(Offered::Dropped)
                    } else {
                        Err(Refused::Ended)
                    };
                }
                Ok(Offered::Applied)
            }
            Err(why) => {
                self.lock().ended = true;
                let _ = self.feed.send(Feed::Invalid(why.clone())).await;
                Err(Refused::Invalid(why))
            }
        }
    }

    /// Waits until everything fed so far has been applied (or the stream ended).
    pub async fn flush(&self) {
        let (done, applied) = oneshot::channel();
        if self.feed.send(Feed::Flush(done)).await.is_ok() {
            let _ = applied.await;
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.lock().cancelled
    }

    /// `end` was taken (or the stream ended otherwise).
    pub fn is_ended(&self) -> bool {
        self.lock().ended
    }

    /// The stream ended; `cancelled` when by a cancel.
    pub(super) fn ended(&self, cancelled: bool) {
        let mut state = self.lock();
        state.ended = true;
        state.cancelled |= cancelled;
    }
}

impl State {
    /// The order rules: sources at most once and before any token; nothing after `end`.
    fn admit(&mut self, piece: &Piece) -> Result<(), String> {
        piece.check()?;
        match piece {
            Piece::Sources { .. } if self.sources_given => {
                Err("`sources` may come only once".into())
            }
            Piece::Sources { .. } if self.tokens_started => {
                Err("`sources` must come before the first token".into())
            }
            Piece::Sources { .. } => {
                self.sources_given = true;
                Ok(())
            }
            Piece::Token { .. } => {
                self.tokens_started = true;
                Ok(())
            }
            Piece::End { .. } => {
                self.ended = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The back end's sources as `message_sources` carries them: numbered from 1, their metadata as
/// given, sorted by score (a missing score counts as 1; ties keep the back end's order).
fn sources_of(given: Vec<BackendSource>) -> Vec<Source> {
    let mut sources: Vec<Source> = given
        .into_iter()
        .enumerate()
        .map(|(i, s)| Source {
            id: i as i64 + 1,
            content: s.content,
            metadata: Metadata::Backend(s.metadata.unwrap_or_default()),
            score: s.score.unwrap_or(1.0),
        })
        .collect();
    sources.sort_by(|a, b| b.score.total_cmp(&a.score));
    sources
}

/// The job's side of the seam: the feed as the stream's events, failing the stream when the back
/// end is silent for `idle`.
pub(super) fn produced(rx: mpsc::Receiver<Feed>, idle: Duration) -> BoxStream<'static, Produced> {
    Box::pin(futures::stream::unfold(Some(rx), move |rx| async move {
        let mut rx = rx?;
        match tokio::time::timeout(idle, rx.recv()).await {
            Err(_) => Some((Produced::Fail("the back end stopped sending".into()), None)),
            Ok(None) => None,
            Ok(Some(feed)) => {
                let event = match feed {
                    Feed::Flush(done) => Produced::Flush(done),
                    Feed::Invalid(why) => Produced::Fail(why),
                    Feed::Piece(piece) => match piece {
                        Piece::Sources { sources } => Produced::Sources(sources_of(sources)),
                        Piece::Token { text } => Produced::Text(text),
                        Piece::Reasoning { text } => Produced::Reasoning(text),
                        Piece::Step { step } => Produced::Action(entities::Action::Step { step }),
                        Piece::ToolCall { call } => {
                            Produced::Action(entities::Action::ToolCall { call })
                        }
                        Piece::ToolResult {
                            call_id,
                            result,
                            error,
                        } => Produced::Action(entities::Action::ToolResult {
                            call_id,
                            result,
                            error,
                        }),
                        Piece::End {
                            finish_reason,
                            error,
                            usage,
                        } => Produced::End {
                            reason: finish_reason.into(),
                            error,
                            usage,
                        },
                    },
                };
                Some((event, Some(rx)))
            }
        }
    }))
}

/// What `POST /api/chats/{id}/streams` answers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProducedStart {
    /// `false`: the stream of an earlier request with the same `stream_key`.
    #[serde(skip)]
    pub created: bool,
    pub message_id: i64,
    pub user_message_id: Option<i64>,
}

/// The model named in `message_complete` when a back end names none.
const BACKEND_MODEL: &str = "backend";

impl ChatService {
    /// Starts a stream a back end produces (PROTOCOL §9.3): its question (when given) is stored
    /// and announced, its reply row stored `streaming`, `message_received` sent, and its pieces
    /// awaited. The same `stream_key` in the same chat answers the first stream's ids.
    pub async fn start_produced(
        &self,
        caller: &Caller,
        chat_id: i64,
        new: NewStream,
    ) -> Result<ProducedStart, AppError> {
        caller.require_backend()?;
        if self.is_draining() {
            return Err(AppError::new(
                ErrorCode::Busy,
                "the server is shutting down; start the stream again in a moment",
            ));
        }
        let db = &self.inner.db;
        let chat = store::chats::find(db, chat_id)
            .await?
            .ok_or_else(|| AppError::not_found("chat"))?;
        caller.require_visible(chat.project_id, "chat")?;
        if let Some(first) = self.earlier_stream(chat.id, &new).await? {
            return Ok(first);
        }
        let sender = new
            .user_message
            .as_ref()
            .and_then(|q| q.sender.clone())
            .unwrap_or_default();
        let question = new.user_message.as_ref().map(|q| NewPost {
            chat_id: chat.id,
            role: Role::User,
            content: q.content.trim(),
            client_message_id: q.client_message_id.as_deref(),
            user_id: sender.user_id.as_deref(),
            sender_name: sender.name.as_deref(),
        });
        let model = new
            .model
            .clone()
            .unwrap_or_else(|| BACKEND_MODEL.to_owned());
        let inserted = messages::insert_produced(
            db,
            NewProduced {
                question,
                chat_id: chat.id,
                model: &model,
                stream_key: new.stream_key.as_deref(),
                task_id: new.task_id.as_deref(),
                node_id: self.node_id(),
            },
        )
        .await;
        let (question, reply) = match inserted {
            Ok(rows) => rows,
            // The same key at the same moment, maybe on another process.
            Err(InsertExchangeError::Duplicate) => {
                return self.earlier_stream(chat.id, &new).await?.ok_or_else(|| {
                    AppError::new(
                        ErrorCode::Conflict,
                        "`user_message.client_message_id` was used before in this chat",
                    )
                })
            }
            Err(InsertExchangeError::Db(e)) => return Err(e.into()),
        };

        let task_id = new.task_id.clone().unwrap_or_else(|| reply.id.to_string());
        let (producer, feed) = Producer::new(new.cancel_url.clone());
        let mut live = LiveStream::new(
            reply.id,
            chat.id,
            chat.project_id,
            reply.user_id.clone(),
            None,
            task_id,
        );
        live.producer = Some(producer);
        let live = Arc::new(live);
        self.inner.live.insert(live.clone());

        let audience = Audience::room(rooms::project(chat.project_id));
        if let Some(question) = &question {
            self.inner.broadcaster.send(
                &audience,
                names::MESSAGE_CREATED,
                &MessageCreated {
                    chat_id: chat.id,
                    message: &MessageView::from(question.clone()),
                },
            );
        }
        self.inner.broadcaster.send(
            &audience,
            names::MESSAGE_RECEIVED,
            &MessageReceived {
                chat_id: chat.id,
                message_id: reply.id,
                user_message_id: question.as_ref().map(|q| q.id),
                client_message_id: question.as_ref().and_then(|q| q.client_message_id.clone()),
                created_at: time::iso(&reply.created_at),
                duplicate: false,
            },
        );
        tracing::info!(
            chat_id = chat.id,
            message_id = reply.id,
            "a back end's stream started"
        );

        let job = super::stream::StreamJob {
            deps: self.stream_deps(),
            live: live.clone(),
            audience,
            model,
        };
        let source = super::stream::PieceSource::Produced {
            feed,
            idle: self.inner.limits.producer_idle,
        };
        let service = self.clone();
        self.inner.tasks.spawn(async move {
            if AssertUnwindSafe(job.run(source))
                .catch_unwind()
                .await
                .is_err()
            {
                service.end_broken_stream(&live).await;
            }
        });
        Ok(ProducedStart {
            created: true,
            message_id: reply.id,
            user_message_id: question.map(|q| q.id),
        })
    }

    /// The stream an earlier request with the same `stream_key` started, if any.
    async fn earlier_stream(
        &self,
        chat_id: i64,
        new: &NewStream,
    ) -> Result<Option<ProducedStart>, AppError> {
        let Some(key) = &new.stream_key else {
            return Ok(None);
        };
        let db = &self.inner.db;
        let Some(reply) = messages::find_by_client_id(db, chat_id, Role::Assistant, key).await?
        else {
            return Ok(None);
        };
        let question = match new
            .user_message
            .as_ref()
            .and_then(|q| q.client_message_id.as_deref())
        {
            Some(id) => messages::find_by_client_id(db, chat_id, Role::User, id).await?,
            None => None,
        };
        Ok(Some(ProducedStart {
            created: false,
            message_id: reply.id,
            user_message_id: question.map(|q| q.id),
        }))
    }

    /// A back end's stream `message_id` when it runs on this node.
    pub fn produced_here(&self, message_id: i64) -> Option<Arc<LiveStream>> {
        self.inner
            .live
            .get(message_id)
            .filter(|live| live.producer.is_some())
    }
}

/// Tells a back end its stream was cancelled (`cancel_url`): a few tries, off the room's path.
pub(super) fn notify_cancel(url: String, message_id: i64, chat_id: i64) {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default()
        })
        .clone();
    tokio::spawn(async move {
        let body = serde_json::json!({ "message_id": message_id, "chat_id": chat_id, "reason": "cancelled" });
        let mut wait = Duration::from_millis(250);
        for attempt in 1..=CANCEL_TRIES {
            match client.post(&url).json(&body).send().await {
                Ok(res) if res.status().is_success() => return,
                Ok(res) => {
                    tracing::warn!(message_id, attempt, status = %res.status(), "the back end's cancel_url refused the cancel")
                }
                Err(e) => tracing::warn!(
                    message_id,
                    attempt,
                    "cannot reach the back end's cancel_url: {e}"
                ),
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    });
}

/// Tries of a `cancel_url` POST.
const CANCEL_TRIES: u32 = 4;

impl ChatService {
    /// Applies lines of pieces to a back end's stream running here (forwarded by the node
    /// that received them), numbered from `first_line`.
    pub async fn apply_pieces(
        &self,
        message_id: i64,
        first_line: usize,
        lines: Vec<String>,
    ) -> PiecesOutcome {
        let Some(live) = self.produced_here(message_id) else {
            return self.outcome_of_ended(message_id).await;
        };
        let Some(producer) = live.producer.as_ref() else {
            return self.outcome_of_ended(message_id).await;
        };
        for (i, line) in lines.iter().enumerate() {
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            if let Err(refused) = producer.offer(first_line + i, PieceLine::parse(text)).await {
                producer.flush().await;
                return PiecesOutcome::Refused {
                    unprocessable: refused.code() == ErrorCode::Unprocessable,
                    message: refused.to_string(),
                };
            }
        }
        producer.flush().await;
        if producer.is_ended() {
            live.ended().await;
        }
        let status = match self.live_stream(message_id) {
            Some(_) => MessageStatus::Streaming,
            None => match self.message(message_id).await {
                Ok(row) => row.status,
                Err(_) => MessageStatus::Streaming,
            },
        };
        let last_index = live.log().tokens.len().checked_sub(1);
        PiecesOutcome::Applied {
            status,
            last_index,
            cancelled: producer.is_cancelled(),
        }
    }

    /// What a `pieces` request gets for a stream that no longer runs: `cancelled: true` after
    /// a cancel, a refusal after any other end.
    async fn outcome_of_ended(&self, message_id: i64) -> PiecesOutcome {
        match self.message(message_id).await {
            Ok(row) if row.status == MessageStatus::Cancelled => PiecesOutcome::Applied {
                status: row.status,
                last_index: (row.token_count as usize).checked_sub(1),
                cancelled: true,
            },
            _ => PiecesOutcome::Refused {
                unprocessable: false,
                message: Refused::Ended.to_string(),
            },
        }
    }

    /// The node running back-end stream `message_id`, when it is another one.
    pub async fn producer_node(&self, message_id: i64) -> Result<Option<String>, AppError> {
        let row = self.message(message_id).await?;
        Ok(self.running_elsewhere(&row))
    }

    /// Hands pieces to the node running their stream and answers what it made of them.
    pub async fn forward_pieces(
        &self,
        node_id: String,
        message_id: i64,
        first_line: usize,
        lines: Vec<String>,
    ) -> Result<PiecesOutcome, AppError> {
        self.inner
            .cluster
            .forward_pieces(node_id, message_id, first_line, lines)
            .await
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::Unavailable,
                    "the node running this stream does not answer; send the pieces again",
                )
            })
    }
}
