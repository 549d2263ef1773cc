//! `GET /api/openapi.json` lists every route, every route it lists is served, and what each
//! answers a valid request is one of the statuses it documents.

use crate::helpers;

use serde_json::Value;

/// Every route of the router, as (method, path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
    ("post", "/api/projects"),
    ("get", "/api/projects"),
    ("get", "/api/projects/{id}"),
    ("delete", "/api/projects/{id}"),
    ("post", "/api/projects/{id}/chats"),
    ("get", "/api/projects/{id}/chats"),
    ("post", "/api/projects/{id}/documents"),
    ("get", "/api/projects/{id}/documents"),
    ("delete", "/api/projects/{id}/documents/{doc_id}"),
    ("post", "/api/projects/{id}/events"),
    ("post", "/api/projects/{id}/document-status"),
    ("post", "/api/projects/{id}/updates"),
    ("get", "/api/projects/{id}/presence"),
    ("patch", "/api/chats/{id}"),
    ("get", "/api/chats/{id}/messages"),
    ("post", "/api/chats/{id}/messages"),
    ("get", "/api/chats/{id}/ui-stream"),
    ("post", "/api/chats/{id}/ui-stream"),
    ("post", "/api/chats/{id}/streams"),
    ("post", "/api/messages/{id}/pieces"),
    ("get", "/api/messages/{id}"),
    ("post", "/api/messages/{id}/cancel"),
];

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_each_is_served() {
    let app = helpers::spawn_app().await;
    let (status, doc) = app.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);
    assert!(doc["components"]["schemas"]["MessageView"].is_object());

    // Each documented route is served: an unknown id answers the API's own 404, not the
    // router's empty 404/405.
    for (method, path) in &expected {
        let url = format!(
            "{}{}",
            app.url,
            path.replace("{id}", "987654").replace("{doc_id}", "1")
        );
        let res = app
            .http
            .request(method.to_uppercase().parse().unwrap(), url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert_ne!(status, 405, "{method} {path}");
        if status == 404 {
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "not_found", "{method} {path}");
        }
    }
    app.shutdown().await;
}

/// A valid request to each documented route, on a seeded project: (method, path, content type,
/// body). The ids in the paths are filled in by the test.
fn valid_requests() -> Vec<(&'static str, &'static str, &'static str, String)> {
    let json = "application/json";
    let ui_message = r#"{"id":"c1","trigger":"submit-message","messages":[{"id":"u1","role":"user","parts":[{"type":"text","text":"water"}]}]}"#;
    vec![
        ("get", "/health", json, String::new()),
        ("get", "/ready", json, String::new()),
        ("get", "/metrics", json, String::new()),
        ("get", "/api/openapi.json", json, String::new()),
        ("post", "/api/projects", json, r#"{"name":"p"}"#.into()),
        ("get", "/api/projects", json, String::new()),
        ("get", "/api/projects/{id}", json, String::new()),
        ("post", "/api/projects/{id}/chats", json, "{}".into()),
        ("get", "/api/projects/{id}/chats", json, String::new()),
        (
            "post",
            "/api/projects/{id}/documents",
            json,
            r#"{"filename":"a.txt","content":"Lakes are still."}"#.into(),
        ),
        ("get", "/api/projects/{id}/documents", json, String::new()),
        (
            "post",
            "/api/projects/{id}/events",
            json,
            r#"{"event":"build_done","data":{}}"#.into(),
        ),
        (
            "post",
            "/api/projects/{id}/document-status",
            json,
            r#"{"document_id":{doc},"filename":"a.txt","status":"processing","progress":50}"#
                .into(),
        ),
        (
            "post",
            "/api/projects/{id}/updates",
            json,
            r#"{"type":"settings","data":{}}"#.into(),
        ),
        ("get", "/api/projects/{id}/presence", json, String::new()),
        (
            "patch",
            "/api/chats/{chat}",
            json,
            r#"{"title":"t"}"#.into(),
        ),
        ("get", "/api/chats/{chat}/messages", json, String::new()),
        (
            "post",
            "/api/chats/{chat}/messages",
            json,
            r#"{"message":"water"}"#.into(),
        ),
        ("get", "/api/chats/{chat}/ui-stream", json, String::new()),
        (
            "post",
            "/api/chats/{chat}/ui-stream",
            json,
            ui_message.into(),
        ),
        ("post", "/api/chats/{chat}/streams", json, "{}".into()),
        ("post", "/api/messages/{stream}/cancel", json, String::new()),
        (
            "post",
            "/api/chats/{chat}/streams",
            json,
            r#"{"stream_key":"second"}"#.into(),
        ),
        (
            "post",
            "/api/messages/{stream}/pieces",
            "application/x-ndjson",
            "{\"type\":\"token\",\"text\":\"hi\"}\n{\"type\":\"end\",\"finish_reason\":\"stop\"}\n"
                .into(),
        ),
        ("get", "/api/messages/{stream}", json, String::new()),
        (
            "delete",
            "/api/projects/{id}/documents/{doc}",
            json,
            String::new(),
        ),
        ("delete", "/api/projects/{id}", json, String::new()),
    ]
}

#[tokio::test]
async fn each_route_answers_a_valid_request_with_a_status_it_documents() {
    let app = helpers::spawn_app().await;
    let (_, doc) = app.get("/api/openapi.json").await;
    let (project_id, chat_id) = app.seed("Water boils at 100 degrees.").await;
    let (_, documents) = app
        .get(&format!("/api/projects/{project_id}/documents"))
        .await;
    let document_id = documents[0]["id"].as_i64().expect("the seeded document");
    let mut stream_id = 0;
    let mut exercised = std::collections::BTreeSet::new();
    for (method, template, content_type, body) in valid_requests() {
        let path = template
            .replace("{id}", &project_id.to_string())
            .replace("{chat}", &chat_id.to_string())
            .replace("{doc}", &document_id.to_string())
            .replace("{stream}", &stream_id.to_string());
        let mut request = app.http.request(
            method.to_uppercase().parse().unwrap(),
            format!("{}{path}", app.url),
        );
        if !body.is_empty() {
            let body = body.replace("{doc}", &document_id.to_string());
            request = request.header("content-type", content_type).body(body);
        }
        let res = request.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        if template.ends_with("/streams") {
            let started: Value = serde_json::from_str(&text).unwrap();
            stream_id = started["message_id"].as_i64().expect("a stream's id");
        }
        let documented_path = template
            .replace("{chat}", "{id}")
            .replace("{stream}", "{id}")
            .replace("{doc}", "{doc_id}");
        let responses = &doc["paths"][&documented_path][method]["responses"];
        let documented: Vec<&String> = responses.as_object().expect("responses").keys().collect();
        assert!(
            (200..300).contains(&status),
            "{method} {path} → {status} {text}"
        );
        assert!(
            documented.iter().any(|code| **code == status.to_string()),
            "{method} {documented_path} answered {status}, documents {documented:?}"
        );
        exercised.insert((method.to_owned(), documented_path));
    }
    let every: std::collections::BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(exercised, every, "every documented route is tried");
    app.shutdown().await;
}
