//! Hostile input, property-tested for a bounded number of cases: every event payload decoder and
//! every JSON body takes arbitrary JSON without panicking, and the server answers 4xx, never 5xx.

use crate::helpers;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use ragcast::protocol::payloads::{
    parse, ChatRef, MessageRef, Ping, ProjectRef, ResumeMessage, SendMessage, TaskRef,
};
use serde_json::{json, Map, Value};

const FIELDS: &[&str] = &[
    "project_id",
    "chat_id",
    "message_id",
    "message",
    "model",
    "temperature",
    "include_history",
    "top_k",
    "client_message_id",
    "task_id",
    "after_index",
    "timestamp",
    "name",
    "title",
    "filename",
    "content",
    "event",
    "data",
    "document_id",
    "status",
    "progress",
    "error",
    "type",
];

/// Any JSON, biased towards objects with the field names the decoders look for.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[0-9]{0,20}".prop_map(Value::String),
        ".{0,40}".prop_map(Value::String),
        Just(json!("x".repeat(40_000))),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner.clone()), 0..8).prop_map(
                |pairs| {
                    Value::Object(
                        pairs
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect::<Map<_, _>>(),
                    )
                }
            ),
        ]
    })
}

proptest! {
    #![proptest_config(Config { cases: 2000, ..Config::default() })]

    #[test]
    fn event_decoders_never_panic_and_keep_their_ranges(value in json_value()) {
        let _ = parse::<ProjectRef>(value.clone());
        let _ = parse::<ChatRef>(value.clone());
        let _ = parse::<MessageRef>(value.clone());
        let _ = parse::<TaskRef>(value.clone());
        let _ = parse::<ResumeMessage>(value.clone());
        let _ = parse::<Ping>(value.clone());
        match parse::<SendMessage>(value) {
            Ok(send) => {
                let len = send.message.trim().chars().count();
                prop_assert!((1..=32_768).contains(&len));
                prop_assert!(send.chat_id.0 > 0);
                prop_assert!(send.top_k.is_none_or(|k| (1..=50).contains(&k)));
                prop_assert!(send.temperature.is_none_or(|t| (0.0..=2.0).contains(&t)));
            }
            Err(e) => prop_assert!(!e.message.is_empty()),
        }
    }
}

#[tokio::test]
async fn every_json_body_answers_4xx_not_5xx() {
    let app = helpers::spawn_app().await;
    let (project_id, chat_id) = app.seed("Water boils at 100 degrees.").await;
    let routes = [
        "/api/projects".to_owned(),
        format!("/api/projects/{project_id}/chats"),
        format!("/api/projects/{project_id}/documents"),
        format!("/api/projects/{project_id}/events"),
        format!("/api/projects/{project_id}/document-status"),
        format!("/api/projects/{project_id}/updates"),
        format!("/api/chats/{chat_id}/messages?wait=false"),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 150,
        ..Config::default()
    });
    let strategy = json_value();
    for _ in 0..150 {
        let body = strategy.new_tree(&mut runner).unwrap().current();
        for route in &routes {
            let (status, answer) = app.post(route, body.clone()).await;
            assert!(status < 500, "POST {route} {body} → {status} {answer}");
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn deep_nesting_and_invalid_utf8_are_refused_cleanly() {
    let app = helpers::spawn_app().await;
    let (project_id, _) = app.seed("Some text.").await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{{\"name\":{deep}}}");
    let invalid_utf8: &[u8] = b"{\"name\":\"\xff\xfe\"}";
    for body in [
        deep.into_bytes(),
        deep_object.into_bytes(),
        invalid_utf8.to_vec(),
    ] {
        for route in [
            "/api/projects".to_owned(),
            format!("/api/projects/{project_id}/events"),
        ] {
            let res = app
                .http
                .post(format!("{}{route}", app.url))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 400, "{route}");
        }
    }
    // A deeply nested Socket.IO event over raw polling: the server stays up.
    let base = format!("{}/socket.io/?EIO=4&transport=polling", app.url);
    let open = app
        .http
        .get(&base)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sid: Value = serde_json::from_str(&open[1..]).unwrap();
    let poll = format!("{base}&sid={}", sid["sid"].as_str().unwrap());
    app.http.post(&poll).body("40").send().await.unwrap();
    let nested = format!("42[\"ping\",{}{}]", "[".repeat(50_000), "]".repeat(50_000));
    let _ = app.http.post(&poll).body(nested).send().await;
    let (status, _) = app.get("/health").await;
    assert_eq!(status, 200);
    let (status, _) = app.get("/api/projects").await;
    assert_eq!(status, 200);
    app.shutdown().await;
}
