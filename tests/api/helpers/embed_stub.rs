//! An embedding server stub speaking the OpenAI (`POST /embeddings`) and Ollama
//! (`POST /api/embed`) wire formats. Its vectors are hashed bags of words of a chosen dimension,
//! so texts sharing words are close, and every request is recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The authorization header and JSON body of one request.
pub type Request = (Option<String>, Value);

#[derive(Clone)]
struct Shared {
    dimension: usize,
    requests: Arc<Mutex<Vec<Request>>>,
}

pub struct EmbedStub {
    pub addr: SocketAddr,
    shared: Shared,
}

impl EmbedStub {
    pub async fn start(dimension: usize) -> EmbedStub {
        let shared = Shared {
            dimension,
            requests: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/embeddings", post(openai))
            .route("/api/embed", post(ollama))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        EmbedStub { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }
}

/// A hashed bag of lower-cased words (not normalised: ragcast normalises what it gets).
pub fn bag_of_words(text: &str, dimension: usize) -> Vec<f32> {
    let mut v = vec![0.0; dimension];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let hash = word
            .to_lowercase()
            .bytes()
            .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
        v[hash as usize % dimension] += 1.0;
    }
    v
}

fn inputs(shared: &Shared, headers: &HeaderMap, body: &Value) -> Vec<Vec<f32>> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    shared.requests.lock().unwrap().push((auth, body.clone()));
    body["input"]
        .as_array()
        .map(|texts| {
            texts
                .iter()
                .map(|t| bag_of_words(t.as_str().unwrap_or_default(), shared.dimension))
                .collect()
        })
        .unwrap_or_default()
}

async fn openai(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let vectors = inputs(&shared, &headers, &body);
    // Listed in reverse: the client must order them by `index`.
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .rev()
        .map(|(i, v)| json!({ "object": "embedding", "index": i, "embedding": v }))
        .collect();
    Json(
        json!({ "object": "list", "data": data, "model": body["model"], "usage": { "prompt_tokens": 1, "total_tokens": 1 } }),
    )
}

async fn ollama(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let vectors = inputs(&shared, &headers, &body);
    Json(json!({ "model": body["model"], "embeddings": vectors }))
}
