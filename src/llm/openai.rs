//! OpenAI-compatible `/v1/chat/completions` with `stream: true`: Server-Sent Events whose data
//! are `chat.completion.chunk` objects, ending with `data: [DONE]`. SSE framing (lines split
//! across reads, CRLF, `:` comments, a UTF-8 character split across reads) is eventsource-stream's job.

use eventsource_stream::Eventsource;
use futures::stream::BoxStream;
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::json;

use super::upstream::{
    authorized, cause, frames_from, Frame, Frames, UpstreamSettings, WireFormat,
};
use super::{prompt, GenerationRequest, LlmError, LlmEvent, Usage};
use crate::store::FinishReason;

pub struct OpenAi;

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    content: Option<String>,
    /// DeepSeek, vLLM and others.
    reasoning_content: Option<String>,
    /// OpenRouter, LM Studio and others.
    reasoning: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorField,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Object(ErrorBody),
    Text(String),
}

pub fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "length" => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

fn decode(data: &str) -> Result<Vec<LlmEvent>, LlmError> {
    let chunk: Chunk =
        serde_json::from_str(data).map_err(|e| LlmError::Malformed(e.to_string()))?;
    if let Some(error) = chunk.error {
        return Err(LlmError::Upstream {
            status: 200,
            message: error.message.unwrap_or_else(|| "error in stream".into()),
        });
    }
    let mut events = Vec::new();
    if let Some(choice) = chunk.choices.into_iter().next() {
        let delta = choice.delta;
        // Servers name it one way or the other; some send both with the same text.
        if let Some(reasoning) = delta
            .reasoning_content
            .or(delta.reasoning)
            .filter(|r| !r.is_empty())
        {
            events.push(LlmEvent::Reasoning(reasoning));
        }
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            events.push(LlmEvent::Text(text));
        }
        if let Some(reason) = choice.finish_reason {
            events.push(LlmEvent::Finish(finish_reason(&reason)));
        }
    }
    if let Some(usage) = chunk.usage {
        events.push(LlmEvent::Usage(usage));
    }
    Ok(events)
}

impl WireFormat for OpenAi {
    fn request(
        &self,
        client: &reqwest::Client,
        settings: &UpstreamSettings,
        request: &GenerationRequest,
    ) -> reqwest::RequestBuilder {
        let url = format!(
            "{}/chat/completions",
            settings.base_url.trim_end_matches('/')
        );
        let mut body = json!({
            "model": request.model,
            "messages": prompt::messages(request, settings.history_budget_chars),
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        let builder = client
            .post(url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&body);
        authorized(builder, settings)
    }

    fn frames(&self, body: BoxStream<'static, reqwest::Result<bytes::Bytes>>) -> Frames {
        let events = body.eventsource().map_err(|e| match e {
            eventsource_stream::EventStreamError::Transport(e) => LlmError::Interrupted(cause(e)),
            other => LlmError::Malformed(other.to_string()),
        });
        frames_from(events, |event: eventsource_stream::Event| {
            Ok(match event.data.trim() {
                // `[DONE]` is the only clean end of an OpenAI stream.
                "[DONE]" => Frame::Done,
                "" => Frame::Skip,
                data => Frame::Events {
                    events: decode(data)?,
                    last: false,
                },
            })
        })
    }

    fn error_message(&self, body: &str) -> Option<String> {
        match serde_json::from_str::<ErrorEnvelope>(body).ok()?.error {
            ErrorField::Object(e) => e.message,
            ErrorField::Text(t) => Some(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_become_events() {
        let events = decode(
            r#"{"choices":[{"delta":{"content":"Hi","reasoning_content":"think"},"finish_reason":null}]}"#,
        )
        .unwrap();
        assert_eq!(
            events,
            vec![
                LlmEvent::Reasoning("think".into()),
                LlmEvent::Text("Hi".into())
            ]
        );
        let events = decode(
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}"#,
        )
        .unwrap();
        assert_eq!(
            events,
            vec![LlmEvent::Usage(Usage {
                prompt_tokens: 3,
                completion_tokens: 5
            })]
        );
        assert!(matches!(decode("{not json"), Err(LlmError::Malformed(_))));
    }
}
