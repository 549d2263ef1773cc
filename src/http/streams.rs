//! Streams a back end produces (PROTOCOL §9.3): `POST /api/chats/{id}/streams` starts one,
//! `POST /api/messages/{id}/pieces` feeds it — NDJSON applied line by line as it arrives, or a
//! JSON array.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::extract::{Ids, JsonValue};
use crate::auth::ApiCaller;
use crate::chat::{ChatService, LiveStream, ProducedStart, Refused};
use crate::error::{AppError, ErrorCode};
use crate::protocol::payloads::parse;
use crate::protocol::producer::{NewStream, PieceLine, PiecesOutcome};
use crate::store::MessageStatus;

/// The largest `pieces` body read as a JSON array (NDJSON is read line by line).
const MAX_ARRAY_BODY: usize = 20 * 1024 * 1024;
/// The longest NDJSON line.
const MAX_LINE: usize = 4 * 1024 * 1024;

#[utoipa::path(post, path = "/api/chats/{id}/streams", tag = "streams", params(("id" = i64, Path)), request_body = NewStream,
    responses((status = 201, description = "`{ message_id, user_message_id }`"), (status = 200, description = "the stream an earlier request with this `stream_key` started")))]
pub async fn start(
    State(chat): State<ChatService>,
    ApiCaller(caller): ApiCaller,
    Ids([chat_id]): Ids<1>,
    JsonValue(body): JsonValue,
) -> Result<(StatusCode, Json<ProducedStart>), AppError> {
    let new: NewStream = parse(body)?;
    let started = chat.start_produced(&caller, chat_id, new).await?;
    let status = if started.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(started)))
}

/// What a `pieces` request answers once its body is read.
#[derive(Debug, Serialize)]
struct PiecesAnswer {
    ok: bool,
    status: MessageStatus,
    last_index: Option<usize>,
    cancelled: bool,
}

#[utoipa::path(post, path = "/api/messages/{id}/pieces", tag = "streams", params(("id" = i64, Path)),
    request_body(content = String, description = "pieces as NDJSON (`application/x-ndjson`, applied as each line arrives) or a JSON array", content_type = "application/x-ndjson"),
    responses((status = 200, description = "`{ ok, status, last_index, cancelled }`"), (status = 409, description = "a `seq` gap (naming the expected one), or pieces after the end"), (status = 422, description = "a piece that is not valid: the stream ended `failed`")))]
pub async fn pieces(
    State(chat): State<ChatService>,
    ApiCaller(caller): ApiCaller,
    Ids([message_id]): Ids<1>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    caller.require_backend()?;
    let Some(live) = chat.produced_here(message_id) else {
        // Behind a load balancer a back end's requests reach any node: the one running the
        // stream applies them, in order.
        if let Some(node_id) = chat.producer_node(message_id).await? {
            return forward(&chat, node_id, message_id, is_array(&headers), body).await;
        }
        return ended(&chat, message_id).await;
    };
    let refused = if is_array(&headers) {
        feed_array(&live, body).await?
    } else {
        feed_lines(&live, body).await?
    };
    let Some(producer) = live.producer.as_ref() else {
        return ended(&chat, message_id).await;
    };
    producer.flush().await;
    if producer.is_ended() {
        // Its `end` was taken: answer once the reply is stored and announced.
        live.ended().await;
    }
    if let Some(refused) = refused {
        return Err(AppError::new(refused.code(), refused.to_string()));
    }
    let cancelled = producer.is_cancelled();
    let status = match chat.live_stream(message_id) {
        Some(_) => MessageStatus::Streaming,
        None => chat.message(message_id).await?.status,
    };
    Ok(Json(PiecesAnswer {
        ok: true,
        status,
        last_index: last_index(&live),
        cancelled,
    })
    .into_response())
}

/// A JSON array of pieces, rather than NDJSON.
fn is_array(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Lines forwarded to the stream's node at most at once.
const FORWARD_BATCH: usize = 256;

/// Sends the request's pieces to the node running the stream, batch after batch (each waits
/// for the previous one's answer, so they apply in order), and answers what it made of them.
async fn forward(
    chat: &ChatService,
    node_id: String,
    message_id: i64,
    as_array: bool,
    body: Body,
) -> Result<Response, AppError> {
    let (lines, body) = if as_array {
        let items = read_array(body).await?;
        (items.iter().map(Value::to_string).collect(), None)
    } else {
        (Vec::new(), Some(body))
    };
    let mut batches = Batches::new(lines, body);
    let mut first_line = 1;
    let mut last = None;
    while let Some(batch) = batches.next().await? {
        let count = batch.len();
        let outcome = chat
            .forward_pieces(node_id.clone(), message_id, first_line, batch)
            .await?;
        first_line += count;
        if let PiecesOutcome::Refused {
            unprocessable,
            message,
        } = outcome
        {
            let code = if unprocessable {
                ErrorCode::Unprocessable
            } else {
                ErrorCode::Conflict
            };
            return Err(AppError::new(code, message));
        }
        last = Some(outcome);
    }
    let outcome = match last {
        Some(outcome) => outcome,
        None => {
            chat.forward_pieces(node_id, message_id, first_line, Vec::new())
                .await?
        }
    };
    match outcome {
        PiecesOutcome::Applied {
            status,
            last_index,
            cancelled,
        } => Ok(Json(PiecesAnswer {
            ok: true,
            status,
            last_index,
            cancelled,
        })
        .into_response()),
        PiecesOutcome::Refused { message, .. } => Err(AppError::new(ErrorCode::Conflict, message)),
    }
}

/// A request's lines in batches: an array's all at once (in `FORWARD_BATCH`es), NDJSON's as
/// they arrive.
struct Batches {
    ready: std::collections::VecDeque<String>,
    chunks: Option<axum::body::BodyDataStream>,
    pending: Vec<u8>,
}

impl Batches {
    /// `body`: NDJSON still to read (`None` for an array read already).
    fn new(lines: Vec<String>, body: Option<Body>) -> Self {
        Self {
            ready: lines.into(),
            chunks: body.map(Body::into_data_stream),
            pending: Vec::new(),
        }
    }

    async fn next(&mut self) -> Result<Option<Vec<String>>, AppError> {
        while self.ready.is_empty() {
            let Some(chunks) = self.chunks.as_mut() else {
                return Ok(None);
            };
            match chunks.next().await {
                Some(Ok(chunk)) => {
                    self.pending.extend_from_slice(&chunk);
                    while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = self.pending.drain(..=end).collect();
                        self.ready.push_back(
                            String::from_utf8_lossy(&line[..line.len() - 1]).into_owned(),
                        );
                    }
                    if self.pending.len() > MAX_LINE {
                        return Err(AppError::new(
                            ErrorCode::PayloadTooLarge,
                            format!("a line is longer than {MAX_LINE} bytes"),
                        ));
                    }
                }
                Some(Err(e)) => {
                    return Err(AppError::invalid(format!(
                        "the body could not be read: {e}"
                    )))
                }
                None => {
                    self.chunks = None;
                    if !self.pending.is_empty() {
                        let rest = std::mem::take(&mut self.pending);
                        self.ready
                            .push_back(String::from_utf8_lossy(&rest).into_owned());
                    }
                }
            }
        }
        let n = self.ready.len().min(FORWARD_BATCH);
        Ok(Some(self.ready.drain(..n).collect()))
    }
}

fn last_index(live: &LiveStream) -> Option<usize> {
    live.log().tokens.len().checked_sub(1)
}

/// The answer for a stream that does not run here: cancelled (the back end learns it), ended
/// (409), or unknown (404).
async fn ended(chat: &ChatService, message_id: i64) -> Result<Response, AppError> {
    let row = chat.message(message_id).await?;
    match row.status {
        MessageStatus::Cancelled => Ok(Json(PiecesAnswer {
            ok: false,
            status: row.status,
            last_index: (row.token_count as usize).checked_sub(1),
            cancelled: true,
        })
        .into_response()),
        MessageStatus::Streaming => Err(AppError::new(
            ErrorCode::Conflict,
            "this stream runs on another node; send its pieces there",
        )),
        _ => Err(AppError::new(
            ErrorCode::Conflict,
            Refused::Ended.to_string(),
        )),
    }
}

/// Applies NDJSON lines as they arrive; the first refusal stops the request.
async fn feed_lines(live: &LiveStream, body: Body) -> Result<Option<Refused>, AppError> {
    let Some(producer) = live.producer.as_ref() else {
        return Ok(Some(Refused::Ended));
    };
    let mut chunks = body.into_data_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut line_no = 0;
    loop {
        let chunk = match chunks.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                return Err(AppError::invalid(format!(
                    "the body could not be read: {e}"
                )))
            }
            None => break,
        };
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            line_no += 1;
            if let Some(refused) = offer(producer, line_no, &line[..line.len() - 1]).await {
                return Ok(Some(refused));
            }
        }
        if pending.len() > MAX_LINE {
            return Err(AppError::new(
                ErrorCode::PayloadTooLarge,
                format!("line {} is longer than {MAX_LINE} bytes", line_no + 1),
            ));
        }
    }
    if !pending.is_empty() {
        line_no += 1;
        if let Some(refused) = offer(producer, line_no, &pending).await {
            return Ok(Some(refused));
        }
    }
    Ok(None)
}

async fn offer(producer: &crate::chat::Producer, line_no: usize, line: &[u8]) -> Option<Refused> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    producer.offer(line_no, PieceLine::parse(text)).await.err()
}

/// Applies a JSON array's items in order; the first refusal stops it.
async fn feed_array(live: &LiveStream, body: Body) -> Result<Option<Refused>, AppError> {
    let Some(producer) = live.producer.as_ref() else {
        return Ok(Some(Refused::Ended));
    };
    let items = read_array(body).await?;
    for (i, item) in items.into_iter().enumerate() {
        let parsed = PieceLine::parse(&item.to_string());
        if let Err(refused) = producer.offer(i + 1, parsed).await {
            return Ok(Some(refused));
        }
    }
    Ok(None)
}

/// A JSON array body of pieces, each still JSON (checked one by one as lines are).
async fn read_array(body: Body) -> Result<Vec<Value>, AppError> {
    let bytes = axum::body::to_bytes(body, MAX_ARRAY_BODY)
        .await
        .map_err(|e| {
            AppError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body could not be read: {e}"),
            )
        })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| AppError::invalid(format!("the body is not a JSON array of pieces: {e}")))
}
