//! Ollama `/api/chat` with `stream: true`: newline-delimited JSON objects, the last with
//! `"done": true`, `done_reason` and the token counts.

use futures::stream::BoxStream;
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use super::openai::finish_reason;
use super::upstream::{authorized, frames_from, Frame, Frames, UpstreamSettings, WireFormat};
use super::{prompt, GenerationRequest, LlmError, LlmEvent, Usage};

/// Longest NDJSON line accepted: a runaway line must not grow memory without bound.
const MAX_LINE: usize = 1 << 20;

pub struct Ollama;

#[derive(Deserialize)]
struct Line {
    message: Option<Message>,
    #[serde(default)]
    done: bool,
    done_reason: Option<String>,
    eval_count: Option<u64>,
    prompt_eval_count: Option<u64>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    thinking: Option<String>,
}

/// The events of one line, and whether it was the last.
fn decode(line: &str) -> Result<(Vec<LlmEvent>, bool), LlmError> {
    let line: Line = serde_json::from_str(line).map_err(|e| LlmError::Malformed(e.to_string()))?;
    if let Some(message) = line.error {
        return Err(LlmError::Upstream {
            status: 200,
            message,
        });
    }
    let mut events = Vec::new();
    if let Some(message) = line.message {
        if let Some(thinking) = message.thinking.filter(|t| !t.is_empty()) {
            events.push(LlmEvent::Reasoning(thinking));
        }
        if let Some(text) = message.content.filter(|t| !t.is_empty()) {
            events.push(LlmEvent::Text(text));
        }
    }
    if line.done {
        if let Some(completion_tokens) = line.eval_count {
            events.push(LlmEvent::Usage(Usage {
                prompt_tokens: line.prompt_eval_count.unwrap_or_default(),
                completion_tokens,
            }));
        }
        events.push(LlmEvent::Finish(finish_reason(
            line.done_reason.as_deref().unwrap_or("stop"),
        )));
    }
    Ok((events, line.done))
}

impl WireFormat for Ollama {
    fn request(
        &self,
        client: &reqwest::Client,
        settings: &UpstreamSettings,
        request: &GenerationRequest,
    ) -> reqwest::RequestBuilder {
        let url = format!("{}/api/chat", settings.base_url.trim_end_matches('/'));
        let mut body = json!({
            "model": request.model,
            "messages": prompt::messages(request, settings.history_budget_chars),
            "stream": true,
        });
        if let Some(t) = request.temperature {
            body["options"] = json!({ "temperature": t });
        }
        let builder = client.post(url).json(&body);
        authorized(builder, settings)
    }

    fn frames(&self, body: BoxStream<'static, reqwest::Result<bytes::Bytes>>) -> Frames {
        let reader = StreamReader::new(body.map_err(std::io::Error::other));
        let lines = FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE)).map_err(
            |e| match e {
                LinesCodecError::Io(e) => LlmError::Interrupted(std::sync::Arc::new(e)),
                LinesCodecError::MaxLineLengthExceeded => {
                    LlmError::Malformed("a line longer than 1 MiB".into())
                }
            },
        );
        frames_from(lines, |line: String| {
            if line.trim().is_empty() {
                return Ok(Frame::Skip);
            }
            let (events, last) = decode(&line)?;
            Ok(Frame::Events { events, last })
        })
    }

    fn error_message(&self, body: &str) -> Option<String> {
        #[derive(Deserialize)]
        struct ErrorBody {
            error: String,
        }
        serde_json::from_str::<ErrorBody>(body)
            .ok()
            .map(|e| e.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FinishReason;

    #[test]
    fn lines_become_events() {
        let (events, done) = decode(
            r#"{"message":{"role":"assistant","content":"Hi","thinking":"hm"},"done":false}"#,
        )
        .unwrap();
        assert!(!done);
        assert_eq!(
            events,
            vec![
                LlmEvent::Reasoning("hm".into()),
                LlmEvent::Text("Hi".into())
            ]
        );
        let (events, done) = decode(
            r#"{"message":{"role":"assistant","content":""},"done":true,"done_reason":"length","eval_count":7,"prompt_eval_count":2}"#,
        )
        .unwrap();
        assert!(done);
        assert_eq!(
            events,
            vec![
                LlmEvent::Usage(Usage {
                    prompt_tokens: 2,
                    completion_tokens: 7
                }),
                LlmEvent::Finish(FinishReason::Length)
            ]
        );
    }
}
