//! The OpenAI-compatible and Ollama providers against local stubs that speak each wire format
//! byte for byte (tests/common/stub.rs): stream parsing, failures, retry, cancel, the prompt.

use crate::helpers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use helpers::socket::{ask, joined, next, send_message, start_message, until_complete, Events};
use helpers::stub::{split_at, Finish, Reply, Stub};
use helpers::TestApp;
use ragcast::llm::{ApiKey, HttpProvider, Ollama, OpenAi, UpstreamSettings};
use rust_socketio::asynchronous::Client;
use serde_json::{json, Value};

const DOC: &str =
    "Water boils at 100 degrees Celsius at sea level.\n\nPenguins live in Antarctica.";

fn settings(base_url: String) -> UpstreamSettings {
    UpstreamSettings {
        base_url,
        model: "stub-default".into(),
        api_key: Some(ApiKey("sk-test-secret".into())),
        connect_timeout: Duration::from_secs(2),
        first_token_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(2),
        max_concurrent: 4,
        history_budget_chars: 10_000,
        retry_backoff: Duration::from_millis(50),
    }
}

async fn openai_app(stub: &Stub, tweak: impl FnOnce(&mut UpstreamSettings)) -> TestApp {
    let mut s = settings(format!("{}/v1", stub.url()));
    tweak(&mut s);
    helpers::spawn_app()
        .llm(Arc::new(HttpProvider::new(OpenAi, s).unwrap()))
        .await
}

async fn ollama_app(stub: &Stub) -> TestApp {
    let s = settings(stub.url());
    helpers::spawn_app()
        .llm(Arc::new(HttpProvider::new(Ollama, s).unwrap()))
        .await
}

/// An SSE body: each chunk as `data:` with CRLF line ends, keep-alive comments between, `[DONE]`.
fn sse(chunks: &[Value]) -> Vec<u8> {
    let mut body = String::from(": keep-alive\r\n\r\n");
    for chunk in chunks {
        body.push_str(&format!("data: {chunk}\r\n\r\n: keep-alive\r\n\r\n"));
    }
    body.push_str("data: [DONE]\r\n\r\n");
    body.into_bytes()
}

fn content(text: &str) -> Value {
    json!({ "id": "c1", "object": "chat.completion.chunk", "choices": [{ "index": 0, "delta": { "content": text }, "finish_reason": null }] })
}

fn finish(reason: &str) -> Value {
    json!({ "id": "c1", "object": "chat.completion.chunk", "choices": [{ "index": 0, "delta": {}, "finish_reason": reason }] })
}

/// An SSE stream that sends `first`, then `next` every `pause`, and never ends by itself.
fn never_ending(first: &str, next: &str, pause: Duration) -> Reply {
    let body = sse(&[content(first)]);
    let cut = String::from_utf8_lossy(&body).find("data: [DONE]").unwrap();
    Reply::Stream {
        content_type: "text/event-stream",
        pieces: vec![body[..cut].to_vec()],
        pause,
        finish: Finish::Forever(format!("data: {}\r\n\r\n", content(next)).into_bytes()),
    }
}

/// An NDJSON body sent in `pieces`, 5 ms apart.
fn ndjson_stream(pieces: Vec<Vec<u8>>, finish: Finish) -> Reply {
    Reply::Stream {
        content_type: "application/x-ndjson",
        pieces,
        pause: Duration::from_millis(5),
        finish,
    }
}

fn stream(pieces: Vec<Vec<u8>>, finish: Finish) -> Reply {
    Reply::Stream {
        content_type: "text/event-stream",
        pieces,
        pause: Duration::from_millis(5),
        finish,
    }
}

/// The app seeded with `DOC`, and a client joined to its project: `(chat_id, socket, events)`.
async fn seeded(app: &TestApp) -> (i64, Client, Events) {
    let (project_id, chat_id) = app.seed(DOC).await;
    let (socket, rx) = joined(&app.url, project_id).await;
    (chat_id, socket, rx)
}

fn tokens(events: &[(String, Value)], name: &str) -> Vec<String> {
    events
        .iter()
        .filter(|(e, _)| e == name)
        .map(|(_, d)| d["token"].as_str().unwrap().to_owned())
        .collect()
}

async fn stored(app: &TestApp, chat_id: i64, id: &Value) -> Value {
    let (_, messages) = app.get(&format!("/api/chats/{chat_id}/messages")).await;
    messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| &m["id"] == id)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn openai_stream_is_parsed_whatever_the_read_boundaries() {
    let body = sse(&[
        json!({ "choices": [{ "delta": { "role": "assistant" }, "finish_reason": null }] }),
        json!({ "choices": [{ "delta": { "reasoning_content": "Let me look at [1]." }, "finish_reason": null }] }),
        json!({ "choices": [{ "delta": { "reasoning": " It says 100." }, "finish_reason": null }] }),
        content("Water boils at 100 °C "),
        content("at sea level [1]. 日本語 ✓"),
        finish("stop"),
        json!({ "choices": [], "usage": { "prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49 } }),
    ]);
    // Cut inside a JSON line, inside a CRLF, and inside a multi-byte character.
    let text = String::from_utf8(body.clone()).unwrap();
    let in_char = text.find('日').unwrap() + 1;
    let in_degree = text.find('°').unwrap() + 1;
    let in_json = text.find("reasoning_content").unwrap() + 5;
    let in_crlf = text.find("\r\n").unwrap() + 1;
    let mut cuts = vec![in_crlf, in_json, in_degree, in_char];
    cuts.extend((0..body.len()).step_by(37));
    cuts.sort();
    let stub = Stub::start(vec![stream(split_at(&body, &cuts), Finish::Complete)]).await;
    let app = openai_app(&stub, |_| {}).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;

    let (id, events) = send_message(&socket,
        &mut rx,
        json!({ "chat_id": chat_id, "message": "When does water boil?", "model": "my-model", "temperature": 0.3 }),
    )
    .await;
    let text = tokens(&events, "message_token").concat();
    assert_eq!(text, "Water boils at 100 °C at sea level [1]. 日本語 ✓");
    assert_eq!(
        tokens(&events, "message_reasoning").concat(),
        "Let me look at [1]. It says 100."
    );
    let (_, complete) = events.last().unwrap();
    assert_eq!(
        complete["content"], text,
        "reasoning stays out of the content"
    );
    assert_eq!(complete["metadata"]["finish_reason"], "stop");
    assert_eq!(complete["metadata"]["model"], "my-model");
    assert_eq!(
        complete["metadata"]["usage"],
        json!({ "prompt_tokens": 42, "completion_tokens": 7 })
    );
    let row = stored(&app, chat_id, &id).await;
    assert_eq!(
        (row["status"].as_str(), row["content"].as_str()),
        (Some("complete"), Some(text.as_str()))
    );
    assert_eq!(row["usage"]["completion_tokens"], 7);

    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let (auth, request) = &requests[0];
    assert_eq!(auth.as_deref(), Some("Bearer sk-test-secret"));
    assert_eq!(request["model"], "my-model");
    assert_eq!(request["temperature"], 0.3);
    assert_eq!(request["stream"], true);
    assert_eq!(request["stream_options"]["include_usage"], true);
    let messages = request["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(
        system.contains("[1] (doc.txt)") && system.contains("Water boils at 100 degrees"),
        "{system}"
    );
    assert!(system.contains("cite"), "{system}");
    assert_eq!(
        messages.last().unwrap(),
        &json!({ "role": "user", "content": "When does water boil?" })
    );
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn history_goes_into_the_prompt_trimmed_oldest_first() {
    let reply = |text: &str| {
        stream(
            vec![sse(&[content(text), finish("stop")])],
            Finish::Complete,
        )
    };
    let stub = Stub::start(vec![
        reply("first answer"),
        reply("second answer"),
        reply("third answer"),
        reply("fourth"),
    ])
    .await;
    // Room for the last two turns only.
    let app = openai_app(&stub, |s| s.history_budget_chars = 30).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    send_message(
        &socket,
        &mut rx,
        json!({ "chat_id": chat_id, "message": "question one" }),
    )
    .await;
    send_message(
        &socket,
        &mut rx,
        json!({ "chat_id": chat_id, "message": "question two" }),
    )
    .await;
    send_message(
        &socket,
        &mut rx,
        json!({ "chat_id": chat_id, "message": "question three" }),
    )
    .await;
    send_message(
        &socket,
        &mut rx,
        json!({ "chat_id": chat_id, "message": "no history", "include_history": false }),
    )
    .await;

    let requests = stub.requests();
    let roles_and_text = |i: usize| -> Vec<(String, String)> {
        requests[i].1["messages"]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .map(|m| {
                (
                    m["role"].as_str().unwrap().to_owned(),
                    m["content"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        roles_and_text(0),
        [("user".to_owned(), "question one".to_owned())]
    );
    assert_eq!(
        roles_and_text(2),
        [
            ("user".to_owned(), "question two".to_owned()),
            ("assistant".to_owned(), "second answer".to_owned()),
            ("user".to_owned(), "question three".to_owned()),
        ],
        "the oldest turns are dropped first"
    );
    assert_eq!(
        roles_and_text(3),
        [("user".to_owned(), "no history".to_owned())]
    );
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_500_before_the_first_token_is_retried_once_then_fails() {
    let error = r#"{"error":{"message":"model overloaded","type":"server_error"}}"#;
    let stub = Stub::start(vec![Reply::Status(500, error.into())]).await;
    let app = openai_app(&stub, |_| {}).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let (id, events) = ask(&socket, &mut rx, chat_id).await;
    assert_eq!(stub.requests().len(), 2, "one retry");
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["message_sources", "error", "message_complete"]);
    let error_event = &events[1].1;
    assert_eq!(error_event["code"], "generation_failed");
    let message = error_event["message"].as_str().unwrap();
    assert!(
        message.contains("500") && message.contains("model overloaded"),
        "{message}"
    );
    assert!(!message.contains("sk-test-secret"));
    assert_eq!(events[2].1["metadata"]["finish_reason"], "error");
    assert_eq!(stored(&app, chat_id, &id).await["status"], "failed");
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_failure_then_success_is_invisible_to_the_client() {
    let ok = stream(
        vec![sse(&[content("Recovered."), finish("stop")])],
        Finish::Complete,
    );
    let stub = Stub::start(vec![Reply::Status(503, "{}".into()), ok]).await;
    let app = openai_app(&stub, |_| {}).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let (_, events) = ask(&socket, &mut rx, chat_id).await;
    assert_eq!(stub.requests().len(), 2);
    assert!(!events.iter().any(|(e, _)| e == "error"));
    assert_eq!(events.last().unwrap().1["content"], "Recovered.");
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_drop_mid_stream_ends_in_error_with_the_partial_reply_stored() {
    let body = sse(&[content("Partial "), content("answer")]);
    // Cut the body before `[DONE]` and drop the connection without the final chunk.
    let cut = String::from_utf8_lossy(&body).find("data: [DONE]").unwrap();
    let stub = Stub::start(vec![stream(vec![body[..cut].to_vec()], Finish::Drop)]).await;
    let app = openai_app(&stub, |_| {}).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let (id, events) = ask(&socket, &mut rx, chat_id).await;
    assert_eq!(
        stub.requests().len(),
        1,
        "no retry once tokens were emitted"
    );
    let (_, error) = events.iter().find(|(e, _)| e == "error").unwrap();
    assert_eq!(error["code"], "generation_failed");
    let (_, complete) = events.last().unwrap();
    assert_eq!(complete["metadata"]["finish_reason"], "error");
    assert_eq!(complete["content"], "Partial answer");
    let row = stored(&app, chat_id, &id).await;
    assert_eq!(
        (row["status"].as_str(), row["content"].as_str()),
        (Some("failed"), Some("Partial answer"))
    );
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_malformed_chunk_ends_in_error_with_the_partial_reply_stored() {
    let mut body = sse(&[content("Good start")]);
    let cut = String::from_utf8_lossy(&body).find("data: [DONE]").unwrap();
    body.truncate(cut);
    body.extend_from_slice(b"data: {\"choices\": [ this is not json\r\n\r\n");
    let stub = Stub::start(vec![stream(vec![body], Finish::Complete)]).await;
    let app = openai_app(&stub, |_| {}).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let (id, events) = ask(&socket, &mut rx, chat_id).await;
    let (_, error) = events.iter().find(|(e, _)| e == "error").unwrap();
    assert!(
        error["message"].as_str().unwrap().contains("malformed"),
        "{error}"
    );
    assert_eq!(events.last().unwrap().1["content"], "Good start");
    assert_eq!(stored(&app, chat_id, &id).await["status"], "failed");
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn length_is_passed_through() {
    let stub = Stub::start(vec![stream(
        vec![sse(&[content("cut"), finish("length")])],
        Finish::Complete,
    )])
    .await;
    let app = openai_app(&stub, |_| {}).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let (_, events) = ask(&socket, &mut rx, chat_id).await;
    assert_eq!(
        events.last().unwrap().1["metadata"]["finish_reason"],
        "length"
    );
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn cancel_closes_the_upstream_connection_at_once() {
    let slow = never_ending("Slow ", "and ", Duration::from_millis(50));
    let stub = Stub::start(vec![slow]).await;
    let app = openai_app(&stub, |_| {}).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let id = start_message(
        &socket,
        &mut rx,
        json!({ "chat_id": chat_id, "message": "water" }),
    )
    .await;
    loop {
        let token = next(&mut rx, "message_token").await;
        if token["index"].as_u64().unwrap() >= 2 {
            break;
        }
    }
    let cancelled_at = Instant::now();
    socket
        .emit("cancel_message", json!({ "message_id": id }))
        .await
        .unwrap();
    let events = until_complete(&mut rx, &id).await;
    assert_eq!(
        events.last().unwrap().1["metadata"]["finish_reason"],
        "cancelled"
    );
    let deadline = cancelled_at + Duration::from_millis(200);
    while stub.closed_at().is_none() && Instant::now() < deadline + Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let closed = stub.closed_at().expect("the stub saw the connection close");
    assert!(
        closed.saturating_duration_since(cancelled_at) < Duration::from_millis(200),
        "upstream closed {:?} after the cancel",
        closed.saturating_duration_since(cancelled_at)
    );
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn past_the_concurrency_bound_a_message_fails_saying_the_server_is_busy() {
    let slow = Reply::Stream {
        content_type: "text/event-stream",
        pieces: vec![],
        pause: Duration::from_millis(50),
        finish: Finish::Forever(format!("data: {}\r\n\r\n", content("x ")).into_bytes()),
    };
    let stub = Stub::start(vec![slow]).await;
    let app = openai_app(&stub, |s| s.max_concurrent = 1).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let first = start_message(
        &socket,
        &mut rx,
        json!({ "chat_id": chat_id, "message": "water" }),
    )
    .await;
    next(&mut rx, "message_token").await;
    let (_, events) = send_message(
        &socket,
        &mut rx,
        json!({ "chat_id": chat_id, "message": "again" }),
    )
    .await;
    // The stream had started (message_received): PROTOCOL §5 names that failure
    // `generation_failed`, and the message says the model server is busy.
    let (_, error) = events.iter().find(|(e, _)| e == "error").unwrap();
    assert_eq!(error["code"], "generation_failed");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("too many generations"),
        "{error}"
    );
    assert_eq!(
        events.last().unwrap().1["metadata"]["finish_reason"],
        "error"
    );
    socket
        .emit("cancel_message", json!({ "message_id": first }))
        .await
        .unwrap();
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

fn ndjson(lines: &[Value]) -> Vec<u8> {
    lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

#[tokio::test]
async fn ollama_ndjson_is_parsed_whatever_the_read_boundaries() {
    let body = ndjson(&[
        json!({ "model": "llama3.2", "message": { "role": "assistant", "content": "", "thinking": "Checking [1]." }, "done": false }),
        json!({ "model": "llama3.2", "message": { "role": "assistant", "content": "Wasser kocht bei " }, "done": false }),
        json!({ "model": "llama3.2", "message": { "role": "assistant", "content": "100 °C [1]." }, "done": false }),
        json!({ "model": "llama3.2", "message": { "role": "assistant", "content": "" }, "done": true, "done_reason": "stop", "eval_count": 9, "prompt_eval_count": 30 }),
    ]);
    let text = String::from_utf8(body.clone()).unwrap();
    let cuts = vec![
        10,
        text.find('°').unwrap() + 1,
        text.find("done\":true").unwrap() + 3,
    ];
    let stub = Stub::start(vec![ndjson_stream(
        split_at(&body, &cuts),
        Finish::Complete,
    )])
    .await;
    let app = ollama_app(&stub).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let (id, events) = send_message(
        &socket,
        &mut rx,
        json!({ "chat_id": chat_id, "message": "water", "model": "llama3.2", "temperature": 0.5 }),
    )
    .await;
    assert_eq!(
        tokens(&events, "message_token").concat(),
        "Wasser kocht bei 100 °C [1]."
    );
    assert_eq!(
        tokens(&events, "message_reasoning").concat(),
        "Checking [1]."
    );
    let (_, complete) = events.last().unwrap();
    assert_eq!(complete["metadata"]["finish_reason"], "stop");
    assert_eq!(
        complete["metadata"]["usage"],
        json!({ "prompt_tokens": 30, "completion_tokens": 9 })
    );
    assert_eq!(stored(&app, chat_id, &id).await["status"], "complete");

    let (_, request) = &stub.requests()[0];
    assert_eq!(request["model"], "llama3.2");
    assert_eq!(request["options"]["temperature"], 0.5);
    assert_eq!(request["stream"], true);
    assert!(request["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("[1] (doc.txt)"));
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn ollama_drop_mid_stream_and_error_lines_fail_the_stream() {
    let partial =
        ndjson(&[json!({ "message": { "role": "assistant", "content": "Half" }, "done": false })]);
    let error_line = ndjson(&[
        json!({ "message": { "role": "assistant", "content": "Some" }, "done": false }),
        json!({ "error": "model 'nope' not found" }),
    ]);
    let stub = Stub::start(vec![
        ndjson_stream(vec![partial], Finish::Drop),
        ndjson_stream(vec![error_line], Finish::Complete),
    ])
    .await;
    let app = ollama_app(&stub).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let (id, events) = ask(&socket, &mut rx, chat_id).await;
    assert_eq!(events.last().unwrap().1["content"], "Half");
    assert_eq!(
        events.last().unwrap().1["metadata"]["finish_reason"],
        "error"
    );
    assert_eq!(stored(&app, chat_id, &id).await["content"], "Half");
    let (_, events) = ask(&socket, &mut rx, chat_id).await;
    let (_, error) = events.iter().find(|(e, _)| e == "error").unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("model 'nope' not found"),
        "{error}"
    );
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn silence_between_tokens_past_the_idle_timeout_fails_the_stream() {
    let stalling = never_ending("Started ", "late ", Duration::from_secs(3));
    let stub = Stub::start(vec![stalling]).await;
    let app = openai_app(&stub, |s| s.idle_timeout = Duration::from_millis(300)).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let started = Instant::now();
    let (id, events) = ask(&socket, &mut rx, chat_id).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let (_, error) = events.iter().find(|(e, _)| e == "error").unwrap();
    assert!(
        error["message"].as_str().unwrap().contains("too long"),
        "{error}"
    );
    assert_eq!(stored(&app, chat_id, &id).await["content"], "Started ");
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_finished_openai_stream_that_closes_without_done_is_complete() {
    let body = sse(&[
        json!({ "choices": [{ "delta": { "reasoning_content": "Same thought.", "reasoning": "Same thought." }, "finish_reason": null }] }),
        content("Water boils."),
        finish("stop"),
        // Counts left out or null: no reason to fail a good reply.
        json!({ "choices": [], "usage": { "prompt_tokens": 12, "completion_tokens": null } }),
    ]);
    let cut = String::from_utf8_lossy(&body).find("data: [DONE]").unwrap();
    // The body ends cleanly, but without `[DONE]`.
    let stub = Stub::start(vec![stream(vec![body[..cut].to_vec()], Finish::Complete)]).await;
    let app = openai_app(&stub, |_| {}).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let (id, events) = ask(&socket, &mut rx, chat_id).await;
    assert!(!events.iter().any(|(e, _)| e == "error"), "{events:?}");
    assert_eq!(tokens(&events, "message_reasoning"), ["Same thought."]);
    let (_, complete) = events.last().unwrap();
    assert_eq!(complete["metadata"]["finish_reason"], "stop");
    assert_eq!(
        complete["metadata"]["usage"],
        json!({ "prompt_tokens": 12, "completion_tokens": 0 })
    );
    assert_eq!(stored(&app, chat_id, &id).await["status"], "complete");
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn thinking_inline_in_the_text_goes_to_message_reasoning() {
    // A reasoning model served without a reasoning parser: `<think>…</think>` in `content`,
    // the tags themselves split across lines.
    let line = |content: &str, done: bool| json!({ "model": "r1", "message": { "role": "assistant", "content": content }, "done": done });
    let body = ndjson(&[
        line("<thi", false),
        line("nk>Boiling point", false),
        line(" at sea level.</th", false),
        line("ink>\n\n", false),
        line("100 °C.", false),
        json!({ "model": "r1", "message": { "role": "assistant", "content": "" }, "done": true, "done_reason": "stop" }),
    ]);
    let stub = Stub::start(vec![ndjson_stream(vec![body], Finish::Complete)]).await;
    let app = ollama_app(&stub).await;
    let (chat_id, socket, mut rx) = seeded(&app).await;
    let (id, events) = ask(&socket, &mut rx, chat_id).await;
    assert_eq!(tokens(&events, "message_token").concat(), "100 °C.");
    assert_eq!(
        tokens(&events, "message_reasoning").concat(),
        "Boiling point at sea level."
    );
    let (_, complete) = events.last().unwrap();
    assert_eq!(complete["content"], "100 °C.");
    assert_eq!(stored(&app, chat_id, &id).await["content"], "100 °C.");
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}
