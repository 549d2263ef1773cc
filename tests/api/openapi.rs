//! `GET /api/openapi.json` lists every route, and every route it lists is served.

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
