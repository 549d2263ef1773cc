//! What the HTTP model providers share: timeouts, one retry before the first token, a bound on
//! concurrent upstream requests, upstream errors turned into messages without secrets, and
//! dropping the stream aborting the request at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ConstantBuilder, Retryable};
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::task::AbortOnDropHandle;

use super::{GenerationRequest, LlmError, LlmEvent, LlmProvider, LlmStream};

/// Settings of an HTTP provider (PROTOCOL §7 and the `--llm-*` flags).
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub base_url: String,
    pub model: String,
    /// Sent as a bearer token; never logged (the `Debug` of this struct hides it).
    pub api_key: Option<ApiKey>,
    pub connect_timeout: Duration,
    pub first_token_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_concurrent: usize,
    pub history_budget_chars: usize,
    pub retry_backoff: Duration,
}

#[derive(Clone)]
pub struct ApiKey(pub String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Frames decoded from a response body: events, until the format's own end marker.
pub type Frames = BoxStream<'static, Result<Vec<LlmEvent>, LlmError>>;

/// A provider's wire format.
pub trait WireFormat: Send + Sync + 'static {
    fn request(
        &self,
        client: &reqwest::Client,
        settings: &UpstreamSettings,
        request: &GenerationRequest,
    ) -> reqwest::RequestBuilder;

    /// Decodes the body. The stream ends cleanly only after the format's end marker
    /// (`data: [DONE]`, `"done": true`); a body that stops before it yields an error.
    fn frames(&self, body: BoxStream<'static, reqwest::Result<bytes::Bytes>>) -> Frames;

    /// The message of an error body, e.g. `{"error":{"message":…}}`.
    fn error_message(&self, body: &str) -> Option<String>;
}

pub struct HttpProvider<W> {
    inner: Arc<Shared<W>>,
}

struct Shared<W> {
    format: W,
    settings: UpstreamSettings,
    client: reqwest::Client,
    slots: Arc<Semaphore>,
}

impl<W: WireFormat> HttpProvider<W> {
    pub fn new(format: W, settings: UpstreamSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .build()?;
        Ok(Self {
            inner: Arc::new(Shared {
                slots: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
                format,
                settings,
                client,
            }),
        })
    }
}

impl<W: WireFormat> LlmProvider for HttpProvider<W> {
    fn default_model(&self) -> &str {
        &self.inner.settings.model
    }

    fn generate(&self, request: GenerationRequest) -> LlmStream {
        let (tx, rx) = mpsc::channel(64);
        let Ok(slot) = self.inner.slots.clone().try_acquire_owned() else {
            return futures::stream::once(async { Err(LlmError::Busy) }).boxed();
        };
        let shared = self.inner.clone();
        let task = tokio::spawn(async move {
            let _slot = slot;
            shared.run(request, tx).await;
        });
        // Dropping the stream aborts the task, which drops the response: the upstream sees the
        // connection close at once.
        let guard = AbortOnDropHandle::new(task);
        let events = ReceiverStream::new(rx)
            .map(move |item| {
                let _keep_alive = &guard;
                item
            })
            .boxed();
        super::think::split_thinking(events)
    }
}

type Sender = mpsc::Sender<Result<LlmEvent, LlmError>>;

/// Why an attempt ended, and whether any token had reached the client.
struct Failure {
    error: LlmError,
    emitted: bool,
}

impl<W: WireFormat> Shared<W> {
    /// One attempt, and one more after `retry_backoff` when the first failed before any token
    /// reached the client in a way a retry can help.
    async fn run(&self, request: GenerationRequest, tx: Sender) {
        let once_more = ConstantBuilder::default()
            .with_delay(self.settings.retry_backoff)
            .with_max_times(1);
        let outcome = (|| self.attempt(&request, &tx))
            .retry(once_more)
            .sleep(tokio::time::sleep)
            .when(|failure: &Failure| !failure.emitted && failure.error.retryable())
            .notify(|failure, _| {
                tracing::warn!(
                    "model server failed before the first token, retrying once: {}",
                    failure.error
                );
            })
            .await;
        if let Err(Failure { error, .. }) = outcome {
            let _ = tx.send(Err(error)).await;
        }
    }

    async fn attempt(&self, request: &GenerationRequest, tx: &Sender) -> Result<(), Failure> {
        let fail = |error, emitted| Failure { error, emitted };
        let deadline = Instant::now() + self.settings.first_token_timeout;
        let send = self
            .format
            .request(&self.client, &self.settings, request)
            .send();
        let response = match tokio::time::timeout_at(deadline.into(), send).await {
            Err(_) => return Err(fail(LlmError::Timeout, false)),
            Ok(Err(e)) => return Err(fail(LlmError::Connect(cause(e)), false)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            let body = tokio::time::timeout(self.settings.idle_timeout, response.text())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let message = self
                .format
                .error_message(&body)
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
            return Err(fail(
                LlmError::Upstream {
                    status: status.as_u16(),
                    message,
                },
                false,
            ));
        }

        let mut frames = self.format.frames(response.bytes_stream().boxed());
        let mut emitted = false;
        loop {
            let wait = if emitted {
                tokio::time::timeout(self.settings.idle_timeout, frames.next()).await
            } else {
                tokio::time::timeout_at(deadline.into(), frames.next()).await
            };
            let batch = match wait {
                Err(_) => return Err(fail(LlmError::Timeout, emitted)),
                Ok(None) => return Ok(()),
                Ok(Some(Err(e))) => return Err(fail(e, emitted)),
                Ok(Some(Ok(batch))) => batch,
            };
            for event in batch {
                emitted |=
                    matches!(&event, LlmEvent::Text(t) | LlmEvent::Reasoning(t) if !t.is_empty());
                if tx.send(Ok(event)).await.is_err() {
                    // The stream was dropped (cancelled): stop reading.
                    return Ok(());
                }
            }
        }
    }
}

/// Adds the API key as a bearer token, when there is one.
pub fn authorized(
    builder: reqwest::RequestBuilder,
    settings: &UpstreamSettings,
) -> reqwest::RequestBuilder {
    match &settings.api_key {
        Some(key) => builder.bearer_auth(&key.0),
        None => builder,
    }
}

/// What one raw frame of a body (an NDJSON line, an SSE event) means.
pub enum Frame {
    /// Nothing to report (a blank line, a keep-alive).
    Skip,
    /// The format's own end marker: a clean end.
    Done,
    /// Events; `last` when the frame also ends the stream.
    Events { events: Vec<LlmEvent>, last: bool },
}

/// Reads raw frames until the format's end or the first error; a body that stops before its
/// end marker is `cut_short`, unless the model had already said it finished (a finish reason):
/// then nothing was lost. Shared by every wire format.
pub fn frames_from<T, S>(raw: S, read: fn(T) -> Result<Frame, LlmError>) -> Frames
where
    T: Send + 'static,
    S: futures::Stream<Item = Result<T, LlmError>> + Send + Unpin + 'static,
{
    let start = (raw, Reading::Open { finished: false });
    futures::stream::unfold(start, move |(mut raw, reading)| async move {
        let Reading::Open { mut finished } = reading else {
            return None;
        };
        loop {
            let frame = match raw.next().await {
                None if finished => return None,
                None => return Some((Err(cut_short()), (raw, Reading::Ended))),
                Some(Err(e)) => return Some((Err(e), (raw, Reading::Ended))),
                Some(Ok(item)) => read(item),
            };
            return match frame {
                Ok(Frame::Skip) => continue,
                Ok(Frame::Done) => None,
                Ok(Frame::Events { events, last }) => {
                    finished |= events.iter().any(|e| matches!(e, LlmEvent::Finish(_)));
                    let next = if last {
                        Reading::Ended
                    } else {
                        Reading::Open { finished }
                    };
                    Some((Ok(events), (raw, next)))
                }
                Err(e) => Some((Err(e), (raw, Reading::Ended))),
            };
        }
    })
    .boxed()
}

/// Where `frames_from` is in a body.
enum Reading {
    Open { finished: bool },
    Ended,
}

pub fn cut_short() -> LlmError {
    LlmError::CutShort
}

/// reqwest errors name the URL; keep the cause chain, not the URL.
/// A request's error as a cause, without its URL (which may hold a key, and is the operator's).
pub fn cause(e: reqwest::Error) -> super::Cause {
    std::sync::Arc::new(e.without_url())
}
