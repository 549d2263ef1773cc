//! The answer to every client event: `{ ok: true, ...result }` or `{ ok: false, error }` to the
//! ack callback, and on failure an `error` event naming the event and, where known, the ids.

use super::session::log_name;
use crate::socket::{Ack, Socket};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::broadcast::{send_ack, send_to_socket};
use crate::error::{AppError, ErrorCode, ErrorDetail};
use crate::protocol::names;
use crate::protocol::outgoing::ErrorEvent;

/// An error of one event, with the ids a client needs to place it.
#[derive(Debug)]
pub struct EventError {
    pub error: AppError,
    pub chat_id: Option<i64>,
    pub message_id: Option<i64>,
    /// For `rate_limited`.
    pub retry_after_ms: Option<u64>,
}

impl EventError {
    pub fn chat(error: impl Into<AppError>, chat_id: i64) -> Self {
        Self {
            error: error.into(),
            chat_id: Some(chat_id),
            message_id: None,
            retry_after_ms: None,
        }
    }

    pub fn message(error: impl Into<AppError>, message_id: i64) -> Self {
        Self {
            error: error.into(),
            chat_id: None,
            message_id: Some(message_id),
            retry_after_ms: None,
        }
    }
}

impl<E: Into<AppError>> From<E> for EventError {
    fn from(error: E) -> Self {
        Self {
            error: error.into(),
            chat_id: None,
            message_id: None,
            retry_after_ms: None,
        }
    }
}

#[derive(Serialize)]
struct Failure<'a> {
    ok: bool,
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct RateLimitedDetail<'a> {
    code: ErrorCode,
    message: &'a str,
    retry_after_ms: u64,
}

/// Acks the result (when the client asked for an ack) and emits `error` on failure.
pub fn respond<T: Serialize>(
    socket: &Socket,
    ack: Ack,
    event: &'static str,
    result: Result<T, EventError>,
) {
    metrics::counter!("ragcast_events_in_total", "event" => event).increment(1);
    crate::traffic::packet_in();
    let sent = match result {
        Ok(value) => {
            let mut body = match serde_json::to_value(value) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            };
            body.insert("ok".into(), Value::Bool(true));
            send_ack(socket, ack, &body)
        }
        Err(EventError {
            error,
            chat_id,
            message_id,
            retry_after_ms,
        }) => {
            error.log(&format!(
                "{event} from socket {} answered",
                log_name(socket)
            ));
            send_to_socket(
                socket,
                names::ERROR,
                &ErrorEvent {
                    code: error.code.for_events(),
                    message: error.message.clone(),
                    event,
                    chat_id,
                    message_id,
                    retry_after_ms,
                },
            );
            match retry_after_ms {
                Some(retry_after_ms) => send_ack(
                    socket,
                    ack,
                    &serde_json::json!({
                    "ok": false,
                    "error": RateLimitedDetail {
                        code: error.code,
                        message: &error.message,
                        retry_after_ms,
                    },
                    }),
                ),
                None => send_ack(
                    socket,
                    ack,
                    &Failure {
                        ok: false,
                        error: ErrorDetail {
                            code: error.code.for_events(),
                            message: &error.message,
                        },
                    },
                ),
            }
        }
    };
    if !sent {
        tracing::debug!(socket = %log_name(socket), event, "ack not sent: the socket is closed");
    }
}
