//! The chat pipeline: store the question → retrieve → generate → store the reply, emitting the
//! stream's events (PROTOCOL §5). Plain async code that the socket handlers and the HTTP routes
//! both call. It addresses rooms (and a sender by its socket id), never a socket itself.

mod ending;
mod follow;
mod live;
mod lookup;
mod partial;
mod producer;
mod replay;
mod stats;
mod stream;
mod takeover;

pub use ending::Ending;
pub use follow::{SourceDocument, StreamUpdate};
pub use live::{LiveStream, LiveStreams};
pub use producer::{Offered, ProducedStart, Producer, Refused};
pub use stats::{GenerationStats, StreamStats};

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use sea_orm::DatabaseConnection;
use socketioxide::socket::Sid;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Caller;
use crate::broadcast::{Audience, Broadcaster};
use crate::cluster::{Cluster, ControlMessage};
use crate::error::{AppError, ErrorCode};
use crate::llm::LlmProvider;
use crate::protocol::names;
use crate::protocol::outgoing::{MessageCreated, MessageReceived};
use crate::protocol::payloads::SendMessage;
use crate::retrieval::Retriever;
use crate::store::messages::{self, Exchange, InsertExchangeError, NewExchange, NewPost};
use crate::views::MessageView;
use crate::{rooms, store, time};
use entities::{AssistantMode, Role, Sender};

pub const DEFAULT_TOP_K: usize = 5;

pub use crate::store::FinishReason;

/// Who started a stream: the socket (which gets every event even outside the room) and caller.
#[derive(Debug, Clone)]
pub struct Origin {
    pub sid: Option<Sid>,
    pub caller: Caller,
}

/// Bounds on what streams may hold and how often their partial reply is saved.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Live streams one user (or, unauthenticated, one socket) may run at once.
    pub max_per_user: usize,
    /// Pieces (tokens and reasoning) one reply may hold; past it the stream ends with
    /// `finish_reason: "length"`.
    /// This also bounds the in-memory buffer that resumes are served from.
    pub max_reply_tokens: usize,
    /// How often the partial reply of a live stream is written to the database.
    pub flush_interval: Duration,
    /// How long a back end's stream may be silent before it fails.
    pub producer_idle: Duration,
}

/// A validated `send_message`.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub chat_id: i64,
    pub message: String,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub include_history: bool,
    pub top_k: usize,
    pub client_message_id: Option<String>,
    pub task_id: Option<String>,
    /// `false`: store and announce the message, generate nothing.
    pub reply: bool,
    pub role: Role,
    /// Who wrote it, when a back end says so; else the caller.
    pub sender: Option<Sender>,
}

impl From<SendMessage> for SendRequest {
    fn from(p: SendMessage) -> Self {
        Self {
            chat_id: p.chat_id.0,
            message: p.message.trim().to_owned(),
            model: p.model,
            temperature: p.temperature,
            include_history: p.include_history.unwrap_or(true),
            top_k: p.top_k.map_or(DEFAULT_TOP_K, |k| k as usize),
            client_message_id: p.client_message_id,
            task_id: p.task_id,
            reply: p.reply.unwrap_or(true),
            role: p.role.unwrap_or(Role::User),
            sender: p.sender,
        }
    }
}

pub enum Started {
    /// A new stream; `done` resolves once the reply is stored and `message_complete` sent.
    New {
        received: MessageReceived,
        done: JoinHandle<()>,
    },
    /// Stored and announced, no reply (`reply: false`, the assistant off, or a back end's
    /// `assistant` / `system` post); `duplicate` when its `client_message_id` was used before.
    Posted {
        message: Box<MessageView>,
        duplicate: bool,
    },
    /// The `client_message_id` was used before: nothing was stored or generated.
    Duplicate { received: MessageReceived },
}

impl Started {
    /// The reply's `message_received`; `None` for a post, which no reply follows.
    pub fn received(&self) -> Option<&MessageReceived> {
        match self {
            Started::New { received, .. } | Started::Duplicate { received } => Some(received),
            Started::Posted { .. } => None,
        }
    }
}

#[derive(Clone)]
pub struct ChatService {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    retriever: Arc<dyn Retriever>,
    llm: Arc<dyn LlmProvider>,
    broadcaster: Broadcaster,
    cluster: Cluster,
    limits: StreamLimits,
    live: LiveStreams,
    /// Every running stream, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Cancelled when the shutdown grace period is over: streams still running store what they
    /// have as `interrupted`.
    interrupt: CancellationToken,
    /// Set at shutdown: new messages are refused with `busy`.
    draining: CancellationToken,
}

impl ChatService {
    pub fn new(
        db: DatabaseConnection,
        retriever: Arc<dyn Retriever>,
        llm: Arc<dyn LlmProvider>,
        broadcaster: Broadcaster,
        cluster: Cluster,
        limits: StreamLimits,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                retriever,
                llm,
                broadcaster,
                cluster,
                limits,
                live: LiveStreams::default(),
                tasks: TaskTracker::new(),
                interrupt: CancellationToken::new(),
                draining: CancellationToken::new(),
            }),
        }
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// Database reachable? (`/ready`)
    pub async fn database_up(&self) -> Result<(), AppError> {
        Ok(self.inner.db.ping().await?)
    }

    /// Waits (at most `timeout`) until what was broadcast has been handed to the sockets.
    pub async fn flush_broadcasts(&self, timeout: Duration) {
        self.inner.broadcaster.flush(timeout).await;
    }

    pub fn node_id(&self) -> &str {
        self.inner.cluster.node_id()
    }

    /// What a stream's job uses, handed over once.
    fn stream_deps(&self) -> stream::StreamDeps {
        let inner = &self.inner;
        stream::StreamDeps {
            db: inner.db.clone(),
            retriever: inner.retriever.clone(),
            llm: inner.llm.clone(),
            broadcaster: inner.broadcaster.clone(),
            limits: inner.limits,
            live: inner.live.clone(),
            interrupt: inner.interrupt.clone(),
        }
    }

    /// Whether shutdown has begun (new messages are refused; running streams finish).
    pub fn is_draining(&self) -> bool {
        self.inner.draining.is_cancelled()
    }

    /// Steps 1–2 of the stream: validate, store, `message_received`; then the rest runs in its
    /// own task, whatever happens to the caller. Steps 1–2 run in a task of their own too: an
    /// HTTP client that goes away drops its request's future, which must not leave a stored
    /// question without the stream that answers it.
    pub async fn send(&self, request: SendRequest, origin: Origin) -> Result<Started, AppError> {
        let service = self.clone();
        tokio::spawn(async move { service.start(request, origin).await })
            .await
            .map_err(AppError::internal)?
    }

    #[tracing::instrument(skip_all, fields(chat_id = request.chat_id))]
    async fn start(&self, request: SendRequest, origin: Origin) -> Result<Started, AppError> {
        if self.inner.draining.is_cancelled() {
            return Err(AppError::new(
                ErrorCode::Busy,
                "the server is shutting down; send the message again in a moment",
            ));
        }
        let db = &self.inner.db;
        let chat = store::chats::find(db, request.chat_id)
            .await?
            .ok_or_else(|| AppError::not_found("chat"))?;
        origin.caller.require_visible(chat.project_id, "chat")?;

        if let Some(client_id) = &request.client_message_id {
            if let Some(first) =
                messages::find_exchange_by_client_id(db, chat.id, client_id).await?
            {
                return Ok(Started::Duplicate {
                    received: received_of(&first, true),
                });
            }
            if let Some(first) =
                messages::find_by_client_id(db, chat.id, request.role, client_id).await?
            {
                return Ok(Started::Posted {
                    message: Box::new(first.into()),
                    duplicate: true,
                });
            }
        }
        let sender = request
            .sender
            .clone()
            .unwrap_or_else(|| sender_of(&origin.caller));
        // A person answering, a note, a back end's post, or a chat a person has taken over.
        let generates =
            request.reply && request.role == Role::User && chat.assistant == AssistantMode::On;
        if !generates {
            return self.post(&chat, &request, &sender, &origin).await;
        }

        // Held until the stream is live: it then counts itself.
        let slot = self
            .inner
            .live
            .reserve(
                origin.caller.user_id(),
                origin.sid,
                self.inner.limits.max_per_user,
            )
            .map_err(|running| {
                AppError::new(
                    ErrorCode::Busy,
                    format!(
                        "{running} replies of yours are still streaming; wait for one to finish"
                    ),
                )
            })?;

        let model = request
            .model
            .clone()
            .unwrap_or_else(|| self.inner.llm.default_model().to_owned());
        let inserted = messages::insert_exchange(
            db,
            NewExchange {
                chat_id: chat.id,
                content: &request.message,
                model: &model,
                client_message_id: request.client_message_id.as_deref(),
                task_id: request.task_id.as_deref(),
                user_id: sender.user_id.as_deref(),
                sender_name: sender.name.as_deref(),
                node_id: self.node_id(),
            },
        )
        .await;
        let exchange = match inserted {
            Ok(exchange) => exchange,
            // Another request with the same id won the race (maybe on another process).
            Err(InsertExchangeError::Duplicate) => {
                let client_id = request.client_message_id.as_deref().unwrap_or_default();
                let first = messages::find_exchange_by_client_id(db, chat.id, client_id)
                    .await?
                    .ok_or_else(|| AppError::internal("duplicate without a first exchange"))?;
                return Ok(Started::Duplicate {
                    received: received_of(&first, true),
                });
            }
            Err(InsertExchangeError::Db(e)) => return Err(e.into()),
        };

        let message_id = exchange.assistant.id;
        let task_id = request
            .task_id
            .clone()
            .unwrap_or_else(|| message_id.to_string());
        let live = Arc::new(LiveStream::new(
            message_id,
            chat.id,
            chat.project_id,
            origin.caller.user_id().map(str::to_owned),
            origin.sid,
            task_id,
        ));
        self.inner.live.insert(live.clone());
        drop(slot);

        let audience = Audience::room(rooms::project(chat.project_id)).and_socket(origin.sid);
        // The question and who asked it, before anything refers to it (PROTOCOL §9.1).
        self.inner.broadcaster.send(
            &audience,
            names::MESSAGE_CREATED,
            &MessageCreated {
                chat_id: chat.id,
                message: &MessageView::from(exchange.user.clone()),
            },
        );
        let received = received_of(&exchange, false);
        self.inner
            .broadcaster
            .send(&audience, names::MESSAGE_RECEIVED, &received);

        let job = stream::StreamJob {
            deps: self.stream_deps(),
            live: live.clone(),
            audience,
            model,
        };
        let source = stream::PieceSource::Generated {
            request,
            user_message_id: exchange.user.id,
        };
        let service = self.clone();
        let done = self.inner.tasks.spawn(async move {
            if AssertUnwindSafe(job.run(source))
                .catch_unwind()
                .await
                .is_err()
            {
                service.end_broken_stream(&live).await;
            }
        });
        Ok(Started::New { received, done })
    }

    /// Stores a message no reply follows and announces it as `message_created` to the chat's
    /// project room and its sender.
    async fn post(
        &self,
        chat: &entities::chat::Model,
        request: &SendRequest,
        sender: &Sender,
        origin: &Origin,
    ) -> Result<Started, AppError> {
        let inserted = messages::insert_post(
            &self.inner.db,
            NewPost {
                chat_id: chat.id,
                role: request.role,
                content: &request.message,
                client_message_id: request.client_message_id.as_deref(),
                user_id: sender.user_id.as_deref(),
                sender_name: sender.name.as_deref(),
            },
        )
        .await;
        let stored = match inserted {
            Ok(stored) => stored,
            // The same id at the same moment, maybe on another process.
            Err(InsertExchangeError::Duplicate) => {
                let client_id = request.client_message_id.as_deref().unwrap_or_default();
                let first =
                    messages::find_by_client_id(&self.inner.db, chat.id, request.role, client_id)
                        .await?
                        .ok_or_else(|| AppError::internal("duplicate without a first message"))?;
                return Ok(Started::Posted {
                    message: Box::new(first.into()),
                    duplicate: true,
                });
            }
            Err(InsertExchangeError::Db(e)) => return Err(e.into()),
        };
        let message = MessageView::from(stored);
        let audience = Audience::room(rooms::project(chat.project_id)).and_socket(origin.sid);
        self.inner.broadcaster.send(
            &audience,
            names::MESSAGE_CREATED,
            &MessageCreated {
                chat_id: chat.id,
                message: &message,
            },
        );
        Ok(Started::Posted {
            message: Box::new(message),
            duplicate: false,
        })
    }

    /// Ends a live stream with `finish_reason: "cancelled"`, on whichever node runs it.
    pub async fn cancel(&self, message_id: i64, caller: &Caller) -> Result<(), AppError> {
        if let Some(live) = self.inner.live.get(message_id) {
            caller.require_visible(live.project_id, "live stream")?;
            live.cancel.cancel();
            return Ok(());
        }
        let (stored, project_id) =
            self.stored_stream(message_id)
                .await
                .map_err(|e| match e.code {
                    ErrorCode::NotFound => AppError::not_found("live stream"),
                    // A database outage stays one: it is not a missing stream.
                    _ => e,
                })?;
        caller.require_visible(project_id, "live stream")?;
        let node_id = self
            .running_elsewhere(&stored.row)
            .ok_or_else(|| AppError::not_found("live stream"))?;
        self.publish(ControlMessage::Cancel {
            node_id,
            message_id,
        })
        .await
    }

    /// Deletes a project with its chats, messages and documents. Its running streams end first,
    /// `cancelled` (here and on other nodes), so the room gets their `message_complete` and
    /// their final rows are written before the rows go. Back ends only. `false`: no such project.
    pub async fn delete_project(&self, caller: &Caller, project_id: i64) -> Result<bool, AppError> {
        caller.require_backend()?;
        if store::projects::find(&self.inner.db, project_id)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        let streaming = store::messages::streaming_in_project(&self.inner.db, project_id).await?;
        for row in &streaming {
            if self.cancel_here(row.id) {
                continue;
            }
            if let Some(node_id) = self.running_elsewhere(row) {
                self.publish(ControlMessage::Cancel {
                    node_id,
                    message_id: row.id,
                })
                .await?;
            }
        }
        let deadline = tokio::time::Instant::now() + STREAMS_END_LIMIT;
        for row in &streaming {
            while !self.stream_ended(row.id).await? && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(store::projects::delete(&self.inner.db, project_id).await?)
    }

    /// Whether the stream `message_id` is neither live here nor still `streaming` in its row.
    async fn stream_ended(&self, message_id: i64) -> Result<bool, AppError> {
        if self.inner.live.get(message_id).is_some() {
            return Ok(false);
        }
        let row = store::messages::find(&self.inner.db, message_id).await?;
        Ok(row.is_none_or(|r| r.status != crate::store::MessageStatus::Streaming))
    }

    /// A cancel relayed by another node; `false` when the stream is not live here.
    pub fn cancel_here(&self, message_id: i64) -> bool {
        match self.inner.live.get(message_id) {
            Some(live) => {
                live.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// The node running a `streaming` row when it is another node of the cluster.
    fn running_elsewhere(&self, row: &entities::message::Model) -> Option<String> {
        let streaming = row.status == crate::store::MessageStatus::Streaming;
        let node_id = row.node_id.as_deref()?;
        (streaming && self.inner.cluster.is_multi_node() && node_id != self.node_id())
            .then(|| node_id.to_owned())
    }

    async fn publish(&self, message: ControlMessage) -> Result<(), AppError> {
        self.inner.cluster.publish(&message).await.map_err(|e| {
            AppError::new(
                ErrorCode::Unavailable,
                "the node running this stream cannot be reached; try again in a moment",
            )
            .caused_by(e)
        })
    }

    pub fn live_stream(&self, message_id: i64) -> Option<Arc<LiveStream>> {
        self.inner.live.get(message_id)
    }

    /// Shutdown: refuse new messages, let running streams finish for `grace`, then store what
    /// the rest have as `interrupted`.
    pub async fn drain(&self, grace: Duration) {
        self.inner.draining.cancel();
        self.inner.tasks.close();
        let running = self.inner.live.count();
        if running > 0 {
            tracing::info!(running, "waiting for running streams to finish");
        }
        if tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                running = self.inner.live.count(),
                "grace period over: storing running streams as interrupted"
            );
            self.inner.interrupt.cancel();
            self.inner.tasks.wait().await;
        }
    }
}

/// How long deleting a project waits for its streams to end (a cancel takes milliseconds).
const STREAMS_END_LIMIT: Duration = Duration::from_secs(5);

/// Who wrote a message the caller sends: a user's `sub` and `name`, else nobody in particular.
fn sender_of(caller: &Caller) -> Sender {
    Sender {
        user_id: caller.user_id().map(str::to_owned),
        name: caller.user_name().map(str::to_owned),
    }
}

fn received_of(exchange: &Exchange, duplicate: bool) -> MessageReceived {
    MessageReceived {
        chat_id: exchange.user.chat_id,
        message_id: exchange.assistant.id,
        user_message_id: Some(exchange.user.id),
        client_message_id: exchange.user.client_message_id.clone(),
        created_at: time::iso(&exchange.user.created_at),
        duplicate,
    }
}
