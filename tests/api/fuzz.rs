//! Hostile input, property-tested for a bounded number of cases: every event payload decoder
//! returns what its rules (written out here once more) say for arbitrary JSON, and every JSON
//! body is answered 4xx, never 5xx.

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

/// Whether a string or a key anywhere in `value` holds U+0000 (refused before any field).
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// The fields of a payload the decoders may accept: an object with no NUL anywhere.
fn acceptable(value: &Value) -> Option<&Map<String, Value>> {
    value.as_object().filter(|_| !has_nul(value))
}

/// What an id field decodes to: a positive integer, or a string of 1–18 digits naming one.
fn expected_id(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().filter(|id| *id > 0),
        Value::String(s)
            if !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<i64>().ok().filter(|id| *id > 0)
        }
        _ => None,
    }
}

fn expected_ref(value: &Value, field: &str) -> Option<i64> {
    expected_id(acceptable(value)?.get(field))
}

/// `task_id`: a string of 1 to 128 characters.
fn expected_task(value: &Value) -> Option<String> {
    let task = acceptable(value)?.get("task_id")?.as_str()?;
    (1..=128)
        .contains(&task.chars().count())
        .then(|| task.to_owned())
}

/// `resume_message`: an id, `after_index` absent, null or a non-negative integer, `compact`
/// absent or a boolean.
fn expected_resume(value: &Value) -> Option<(i64, Option<u64>, bool)> {
    let fields = acceptable(value)?;
    let id = expected_id(fields.get("message_id"))?;
    let after = match fields.get("after_index") {
        None | Some(Value::Null) => None,
        Some(n) => Some(n.as_u64()?),
    };
    let compact = match fields.get("compact") {
        None => false,
        Some(b) => b.as_bool()?,
    };
    Some((id, after, compact))
}

/// `ping`: `timestamp` absent, null or a number.
fn expected_ping(value: &Value) -> Option<Option<serde_json::Number>> {
    match acceptable(value)?.get("timestamp") {
        None | Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => Some(Some(n.clone())),
        Some(_) => None,
    }
}

/// A refusal says what is wrong, for a person.
fn refused<T>(result: &Result<T, ragcast::error::AppError>) -> bool {
    result.as_ref().err().is_some_and(|e| !e.message.is_empty())
}

proptest! {
    #![proptest_config(Config { cases: 2000, ..Config::default() })]

    #[test]
    fn event_decoders_return_what_their_rules_say(value in json_value()) {
        for (field, decoded) in [
            ("project_id", parse::<ProjectRef>(value.clone()).map(|r| r.project_id.0)),
            ("chat_id", parse::<ChatRef>(value.clone()).map(|r| r.chat_id.0)),
            ("message_id", parse::<MessageRef>(value.clone()).map(|r| r.message_id.0)),
        ] {
            let expected = expected_ref(&value, field);
            prop_assert!(expected.is_some() || refused(&decoded), "{field}: {value}");
            prop_assert_eq!(decoded.ok(), expected, "{}: {}", field, value);
        }
        let task = parse::<TaskRef>(value.clone());
        prop_assert!(expected_task(&value).is_some() || refused(&task));
        prop_assert_eq!(task.ok().map(|t| t.task_id), expected_task(&value));
        let resume = parse::<ResumeMessage>(value.clone());
        prop_assert!(expected_resume(&value).is_some() || refused(&resume));
        prop_assert_eq!(
            resume.ok().map(|r| (r.message_id.0, r.after_index, r.compact)),
            expected_resume(&value)
        );
        let ping = parse::<Ping>(value.clone());
        prop_assert!(expected_ping(&value).is_some() || refused(&ping));
        prop_assert_eq!(ping.ok().map(|p| p.timestamp), expected_ping(&value));
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

/// The rules above hold for inputs chosen by hand, too: the generator alone rarely builds them.
#[test]
fn decoders_on_chosen_inputs() {
    let cases = [
        (json!({ "project_id": 7 }), Some(7)),
        (json!({ "project_id": "7" }), Some(7)),
        (json!({ "project_id": "007" }), Some(7)),
        (json!({ "project_id": 0 }), None),
        (json!({ "project_id": -3 }), None),
        (json!({ "project_id": 7.5 }), None),
        (json!({ "project_id": "7a" }), None),
        (json!({ "project_id": "1234567890123456789" }), None),
        (json!({ "project_id": u64::MAX }), None),
        (json!({ "project_id": 7, "extra": true }), Some(7)),
        (json!({ "project_id": 7, "note": "a\u{0}b" }), None),
        (json!([7]), None),
        (json!({}), None),
    ];
    for (value, expected) in cases {
        assert_eq!(expected_ref(&value, "project_id"), expected, "{value}");
        let decoded = parse::<ProjectRef>(value.clone()).map(|r| r.project_id.0);
        assert_eq!(decoded.ok(), expected, "{value}");
    }
    let resume =
        parse::<ResumeMessage>(json!({ "message_id": 3, "after_index": 4, "compact": true }))
            .unwrap();
    assert_eq!(
        (resume.message_id.0, resume.after_index, resume.compact),
        (3, Some(4), true)
    );
    assert!(parse::<ResumeMessage>(json!({ "message_id": 3, "after_index": -1 })).is_err());
    assert!(parse::<ResumeMessage>(json!({ "message_id": 3, "compact": null })).is_err());
    assert!(parse::<Ping>(json!({ "timestamp": "soon" })).is_err());
    assert_eq!(
        parse::<TaskRef>(json!({ "task_id": "t".repeat(129) }))
            .ok()
            .map(|t| t.task_id),
        None
    );
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
