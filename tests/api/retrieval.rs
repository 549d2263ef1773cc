//! Retrieval that understands the question: the built-in embedder finds paraphrases keyword
//! search misses; the OpenAI and Ollama embedding wire formats against a stub server; switching
//! embedder re-embeds without ever mixing dimensions; the same on PostgreSQL.

use crate::helpers;

use std::time::Duration;

use helpers::embed_stub::EmbedStub;
use helpers::TestApp;
use ragcast::config::Config;
use ragcast::embed::{EmbedderSettings, RemoteSettings, Wire};
use ragcast::retrieval::RetrievalMode;
use serde_json::{json, Value};

const POLICIES: [(&str, &str); 4] = [
    ("refunds.txt", "Customers may return purchased items within 30 days for a full reimbursement. Items must be unused and in their original packaging."),
    ("security.txt", "All staff accounts must use two-factor authentication. Passwords must be at least twelve characters long."),
    ("shipping.txt", "Orders ship within two business days. Express delivery is available for an extra fee."),
    ("water.txt", "Water boils at 100 degrees Celsius at sea level."),
];

/// A project holding `docs`, all indexed, and a chat: `(project_id, chat_id)`.
async fn project_with(app: &TestApp, docs: &[(&str, &str)]) -> (i64, i64) {
    let (_, project) = app.post("/api/projects", json!({ "name": "p" })).await;
    let project_id = project["id"].as_i64().unwrap();
    let (_, chat) = app
        .post(&format!("/api/projects/{project_id}/chats"), json!({}))
        .await;
    for (filename, content) in docs {
        let (status, body) = app
            .post(
                &format!("/api/projects/{project_id}/documents"),
                json!({ "filename": filename, "content": content }),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    wait_until(|| async {
        let (_, docs) = app
            .get(&format!("/api/projects/{project_id}/documents"))
            .await;
        docs.as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "completed")
    })
    .await;
    (project_id, chat["id"].as_i64().unwrap())
}

async fn wait_until<F: std::future::Future<Output = bool>>(check: impl Fn() -> F) {
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for a condition");
}

async fn ask(app: &TestApp, chat_id: i64, question: &str) -> Value {
    let (status, reply) = app
        .post(
            &format!("/api/chats/{chat_id}/messages"),
            json!({ "message": question }),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    reply
}

fn filenames(reply: &Value) -> Vec<String> {
    reply["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["filename"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_scores_are_sorted_in_unit_range(reply: &Value) {
    let scores: Vec<f64> = reply["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["score"].as_f64().unwrap())
        .collect();
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{scores:?}");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}

/// Whether the built-in model was fetched; `./scripts/test` fetches it and requires it.
fn model_present() -> bool {
    let dir = ragcast::config::default_model_dir();
    let present = ragcast::embed::BUILTIN_FILES
        .iter()
        .all(|f| dir.join(f).is_file());
    if !present {
        assert!(
            std::env::var_os("RAGCAST_TEST_REQUIRE_MODEL").is_none(),
            "the built-in model is not in {} (scripts/fetch-model fetches it)",
            dir.display()
        );
        eprintln!(
            "skipped: the built-in model is not in {} (run scripts/fetch-model)",
            dir.display()
        );
    }
    present
}

#[tokio::test]
async fn the_builtin_embedder_finds_paraphrases_that_keyword_search_misses() {
    if !model_present() {
        return;
    }
    let keyword = helpers::spawn_app()
        .configure(|c| c.retrieval.mode = RetrievalMode::Keyword)
        .await;
    let hybrid = helpers::spawn_app()
        .configure(|c| {
            c.embedder = EmbedderSettings::Builtin {
                dir: ragcast::config::default_model_dir(),
                threads: 1,
            }
        })
        .await;
    let (_, keyword_chat) = project_with(&keyword, &POLICIES).await;
    let (project_id, chat) = project_with(&hybrid, &POLICIES).await;

    for (question, expected, words) in [
        (
            "Can I get my money back if I send something back?",
            "refunds.txt",
            "reimbursement",
        ),
        (
            "Do I need 2FA?",
            "security.txt",
            "two-factor authentication",
        ),
    ] {
        let missed = ask(&keyword, keyword_chat, question).await;
        assert!(
            !filenames(&missed).contains(&expected.to_owned()),
            "keyword search found {expected}: {missed}"
        );
        let found = ask(&hybrid, chat, question).await;
        assert_eq!(
            filenames(&found).first().map(String::as_str),
            Some(expected),
            "{found}"
        );
        assert_eq!(found["sources"][0]["metadata"]["retrieval"], "vector");
        assert_scores_are_sorted_in_unit_range(&found);
        assert!(
            found["content"].as_str().unwrap().contains(words),
            "{}",
            found["content"]
        );
    }
    // Keyword questions still find their passage, by both rankings.
    let boil = ask(&hybrid, chat, "At what temperature does water boil?").await;
    assert_eq!(boil["sources"][0]["metadata"]["filename"], "water.txt");
    assert_eq!(boil["sources"][0]["metadata"]["retrieval"], "hybrid");
    assert!(
        (boil["sources"][0]["score"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "first for both ranks 1.0: {boil}"
    );
    // Unrelated questions find nothing, and say so.
    let nothing = ask(&hybrid, chat, "Who painted the Mona Lisa?").await;
    assert_eq!(nothing["sources"], json!([]), "{nothing}");

    // A deleted document leaves vector search at once.
    let (_, docs) = hybrid
        .get(&format!("/api/projects/{project_id}/documents"))
        .await;
    let security = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["filename"] == "security.txt")
        .unwrap();
    let res = hybrid
        .http
        .delete(format!(
            "{}/api/projects/{project_id}/documents/{}",
            hybrid.url, security["id"]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let after = ask(&hybrid, chat, "Do I need 2FA?").await;
    assert!(
        !filenames(&after).contains(&"security.txt".to_owned()),
        "{after}"
    );
}

fn remote(stub: &EmbedStub, wire: Wire, model: &str) -> EmbedderSettings {
    EmbedderSettings::Remote(RemoteSettings {
        wire,
        base_url: match wire {
            Wire::OpenAi => format!("{}/v1", stub.url()),
            Wire::Ollama => stub.url(),
        },
        model: model.into(),
        api_key: (wire == Wire::OpenAi).then(|| "sk-embed".to_owned()),
        dimension: None,
        timeout: Duration::from_secs(10),
    })
}

/// `(model, dimension)` of every stored vector.
async fn stored_vectors(app: &TestApp) -> Vec<(String, i32)> {
    use sea_orm::EntityTrait;
    entities::chunk_vector::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.model, v.dimension))
        .collect()
}

/// The OpenAI wire on the first database, Ollama's on the second.
async fn remote_wire_formats_on(databases: [&str; 2]) {
    let wires = [
        (Wire::OpenAi, 16, "text-embedding-stub"),
        (Wire::Ollama, 24, "nomic-stub"),
    ];
    for ((wire, dimension, model), database_url) in wires.into_iter().zip(databases) {
        let stub = EmbedStub::start(dimension).await;
        let app = helpers::spawn_app()
            .on(database_url)
            .configure(|c: &mut Config| c.embedder = remote(&stub, wire, model))
            .await;
        let (_, chat) = project_with(&app, &POLICIES).await;
        let requests = stub.requests();
        assert!(requests.len() >= 2, "a probe at start, then the chunks");
        for (auth, body) in &requests {
            assert_eq!(body["model"], model);
            assert!(body["input"].is_array(), "{body}");
            let expected = (wire == Wire::OpenAi).then(|| "Bearer sk-embed".to_owned());
            assert_eq!(auth, &expected);
        }
        let prefix = if wire == Wire::OpenAi {
            "openai"
        } else {
            "ollama"
        };
        let vectors = stored_vectors(&app).await;
        assert_eq!(vectors.len(), POLICIES.len());
        assert!(
            vectors
                .iter()
                .all(|(m, d)| m == &format!("{prefix}:{model}") && *d == dimension as i32),
            "{vectors:?}"
        );
        // The stub's vectors are bags of words: a question sharing words finds its passage by both.
        let reply = ask(&app, chat, "How many days to return purchased items?").await;
        assert_eq!(
            reply["sources"][0]["metadata"]["filename"], "refunds.txt",
            "{reply}"
        );
        assert_eq!(reply["sources"][0]["metadata"]["retrieval"], "hybrid");
        app.shutdown().await;
    }
}

#[tokio::test]
async fn openai_and_ollama_embedding_servers_are_spoken_to_in_their_wire_format() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    remote_wire_formats_on([&url("openai.db"), &url("ollama.db")]).await;
}

async fn switching_embedder_on(database_url: &str) {
    let first = EmbedStub::start(16).await;
    let app = helpers::spawn_app()
        .on(database_url)
        .configure(|c| c.embedder = remote(&first, Wire::OpenAi, "small"))
        .await;
    let (_, chat) = project_with(&app, &POLICIES).await;
    assert!(stored_vectors(&app)
        .await
        .iter()
        .all(|(m, d)| m == "openai:small" && *d == 16));
    app.shutdown().await;

    // Another embedder of another dimension on the same database.
    let second = EmbedStub::start(24).await;
    let app = helpers::spawn_app()
        .on(database_url)
        .configure(|c| c.embedder = remote(&second, Wire::Ollama, "large"))
        .await;
    // Searching while it re-embeds never compares vectors of two models.
    let during = ask(&app, chat, "How many days to return purchased items?").await;
    assert_eq!(
        during["sources"][0]["metadata"]["filename"], "refunds.txt",
        "{during}"
    );
    wait_until(|| async {
        let vectors = stored_vectors(&app).await;
        vectors.len() == POLICIES.len()
            && vectors.iter().all(|(m, d)| m == "ollama:large" && *d == 24)
    })
    .await;
    let after = ask(&app, chat, "How many days to return purchased items?").await;
    assert_eq!(
        after["sources"][0]["metadata"]["retrieval"], "hybrid",
        "{after}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn switching_embedder_re_embeds_and_never_mixes_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    switching_embedder_on(&helpers::sqlite_url(&dir)).await;
}

#[tokio::test]
#[cfg_attr(
    not(ragcast_test_postgres),
    ignore = "needs PostgreSQL: set RAGCAST_TEST_DATABASE_URL (CI does)"
)]
async fn remote_embedders_and_switching_run_on_postgresql() {
    let (base, url, name) = helpers::postgres::fresh_database().await;
    switching_embedder_on(&url).await;
    helpers::postgres::drop_database(&base, &name).await;
    let (_, openai, openai_name) = helpers::postgres::fresh_database().await;
    let (_, ollama, ollama_name) = helpers::postgres::fresh_database().await;
    remote_wire_formats_on([&openai, &ollama]).await;
    for name in [openai_name, ollama_name] {
        helpers::postgres::drop_database(&base, &name).await;
    }
}
