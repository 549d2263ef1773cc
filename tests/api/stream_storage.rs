//! How a live stream and the database get along: a slow database does not hold back tokens, and
//! a stream whose row another node ended stops without a word.

use crate::helpers;

use ragcast::store::MessageStatus;
use std::time::Duration;

use helpers::scripted::{Scripted, Step};
use helpers::socket::{self, Events};
use ragcast::config::LlmSettings;
use ragcast::llm::{BuiltinSettings, LlmEvent};
use ragcast::store;
use rust_socketio::asynchronous::Client;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{json, Value};

/// Long enough for the built-in generator to stream hundreds of tokens.
fn long_doc() -> String {
    (0..120)
        .map(|i| format!("Sentence {i} is about rivers and water."))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A server streaming one token every 10 ms, saving the partial reply every 100 ms.
async fn slow_stream_app(max_tokens: usize) -> helpers::TestApp {
    helpers::spawn_app()
        .configure(|config| {
            config.llm = LlmSettings::Builtin(BuiltinSettings {
                token_delay: Duration::from_millis(10),
                max_tokens,
            });
            config.streams.flush_interval = Duration::from_millis(100);
        })
        .await
}

/// A client in a project with a long document, and the id of the reply it asked for.
async fn start_long_stream(app: &helpers::TestApp) -> (Client, Events, Value) {
    let (project_id, chat_id) = app.seed(&long_doc()).await;
    let (client, mut rx) = socket::joined(&app.url, project_id).await;
    let message = json!({ "chat_id": chat_id, "message": "rivers water", "top_k": 50 });
    let id = socket::start_message(&client, &mut rx, message).await;
    (client, rx, id)
}

/// The `message_token`s of `message_id` received within `window`, and whether the stream ended.
async fn tokens_within(rx: &mut Events, message_id: &Value, window: Duration) -> (usize, bool) {
    let deadline = tokio::time::Instant::now() + window;
    let (mut tokens, mut complete) = (0, false);
    while let Ok(Some((event, data))) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if &data["message_id"] != message_id {
            continue;
        }
        match event.as_str() {
            "message_token" => tokens += 1,
            "message_complete" => complete = true,
            _ => {}
        }
    }
    (tokens, complete)
}

#[tokio::test]
async fn a_locked_database_does_not_hold_back_the_tokens() {
    let app = slow_stream_app(300).await;
    let (_client, mut rx, id) = start_long_stream(&app).await;
    socket::next(&mut rx, "message_token").await;

    // Another connection holds SQLite's write lock for 1.5 s: every partial save waits for it.
    let other = store::connect(&app.database_url).await.unwrap();
    let lock = other.begin().await.unwrap();
    lock.execute_unprepared("UPDATE projects SET name = name")
        .await
        .unwrap();
    let (tokens, _) = tokens_within(&mut rx, &id, Duration::from_millis(1500)).await;
    lock.rollback().await.unwrap();
    // About 150 at one every 10 ms; a save awaited in the stream's loop let through ≤ 10.
    assert!(
        tokens >= 50,
        "only {tokens} tokens while the database was locked"
    );

    let events = socket::until_complete(&mut rx, &id).await;
    let complete = &events.last().unwrap().1;
    let row = store::messages::find(&app.db, id.as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, MessageStatus::Complete);
    assert_eq!(row.content, complete["content"].as_str().unwrap());
    app.shutdown().await;
}

#[tokio::test]
async fn a_stream_whose_row_another_node_ended_stops_without_a_word() {
    let app = slow_stream_app(400).await;
    let (_client, mut rx, id) = start_long_stream(&app).await;
    let (before, _) = tokens_within(&mut rx, &id, Duration::from_millis(300)).await;
    assert!(before > 0);

    // What another node writes when it takes this stream over (this node missed its heartbeats).
    let message_id = id.as_i64().unwrap();
    assert!(store::nodes::interrupt_orphan(&app.db, message_id)
        .await
        .unwrap());
    let taken = store::messages::find(&app.db, message_id)
        .await
        .unwrap()
        .unwrap();

    // At the next partial save the stream finds the row ended and stops.
    let (settling, complete) = tokens_within(&mut rx, &id, Duration::from_millis(1000)).await;
    assert!(
        !complete,
        "the node that took over announced the end, not this one"
    );
    let (after, complete) = tokens_within(&mut rx, &id, Duration::from_millis(1000)).await;
    assert_eq!(after, 0, "tokens kept coming after the takeover");
    assert!(!complete);
    assert!(before + settling < 400, "the stream ran to its end");

    let row = store::messages::find(&app.db, message_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, MessageStatus::Interrupted);
    assert_eq!(
        row.content, taken.content,
        "a partial save overwrote the ended row"
    );
    app.shutdown().await;
}

/// Thinks for a while (50 pieces), then answers.
fn thinks_then_answers() -> Vec<Step> {
    (0..50)
        .map(|i| Step::Say(LlmEvent::Reasoning(format!("step {i} "))))
        .chain([Step::Say(LlmEvent::Text("done".into()))])
        .collect()
}

#[tokio::test]
async fn reasoning_and_sources_are_saved_before_the_first_token() {
    let thinker = Scripted::new("thinker", thinks_then_answers).paced(Duration::from_millis(20));
    let app = helpers::spawn_app()
        .llm(thinker.provider())
        .configure(|config| {
            config.streams.flush_interval = Duration::from_millis(100);
        })
        .await;
    let (project_id, chat_id) = app.seed(&long_doc()).await;
    let (client, mut rx) = socket::joined(&app.url, project_id).await;
    let message = json!({ "chat_id": chat_id, "message": "rivers water" });
    let id = socket::start_message(&client, &mut rx, message).await;
    // The first partial save while it thinks (a second of it): what a crash now would leave.
    let saved_reasoning = |row: &entities::message::Model| {
        row.token_log
            .as_ref()
            .is_some_and(|log| !log.reasoning.is_empty())
    };
    let row = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let row = store::messages::find(&app.db, id.as_i64().unwrap())
                .await
                .unwrap()
                .unwrap();
            if saved_reasoning(&row) {
                break row;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the reasoning is saved within the flush interval");
    assert_eq!(row.status, MessageStatus::Streaming);
    assert_eq!(row.content, "", "saved before the first token");
    assert!(row
        .sources
        .as_ref()
        .and_then(|s| s.as_array())
        .is_some_and(|s| !s.is_empty()));
    socket::until_complete(&mut rx, &id).await;
    app.shutdown().await;
}
