//! `spawn_app`: a real server on port 0 with a fresh SQLite database, logs only with `TEST_LOG`.

pub mod embed_stub;
pub mod postgres;
pub mod scripted;
pub mod socket;
pub mod stub;

use std::sync::Arc;

use ragcast::app::App;
use ragcast::config::Config;
use ragcast::llm::LlmProvider;
use sea_orm::DatabaseConnection;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub database_url: String,
    /// The server's own database handle.
    pub db: DatabaseConnection,
    /// The server's own ingestion service.
    pub ingestor: ragcast::ingest::Ingestor,
    pub url: String,
    pub stop: CancellationToken,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    pub http: reqwest::Client,
    _dir: TempDir,
}

pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        ragcast::telemetry::init("info");
    }
}

pub fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display())
}

/// A test server: `spawn_app().await` for the defaults (fresh SQLite, built-in generator), or
/// `spawn_app().llm(…).on(url).configure(|c| …).await` for anything else.
pub fn spawn_app<'a>() -> AppBuilder<'a> {
    AppBuilder::default()
}

/// Settings a test changes before its server starts.
type Configure<'a> = Box<dyn FnOnce(&mut Config) + 'a>;

#[derive(Default)]
pub struct AppBuilder<'a> {
    llm: Option<Arc<dyn LlmProvider>>,
    database_url: Option<String>,
    configure: Option<Configure<'a>>,
}

impl<'a> AppBuilder<'a> {
    /// The model provider (the built-in generator when not given).
    pub fn llm(mut self, llm: Arc<dyn LlmProvider>) -> Self {
        self.llm = Some(llm);
        self
    }

    /// Another database than a fresh SQLite file (a test's temporary folder is made all the same).
    pub fn on(mut self, database_url: &str) -> Self {
        self.database_url = Some(database_url.to_owned());
        self
    }

    /// Settings changed before the server starts.
    pub fn configure(mut self, configure: impl FnOnce(&mut Config) + 'a) -> Self {
        self.configure = Some(Box::new(configure));
        self
    }
}

impl<'a> std::future::IntoFuture for AppBuilder<'a> {
    type Output = TestApp;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = TestApp> + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            init_logs();
            let dir = tempfile::tempdir().unwrap();
            let database_url = self.database_url.unwrap_or_else(|| sqlite_url(&dir));
            let mut config = Config::for_database(&database_url);
            if let Some(configure) = self.configure {
                configure(&mut config);
            }
            start(config, self.llm, dir).await
        })
    }
}

async fn start(mut config: Config, llm: Option<Arc<dyn LlmProvider>>, dir: TempDir) -> TestApp {
    config.bind = "127.0.0.1:0".parse().unwrap();
    // This process is the test harness: PDFs are read by the built server binary.
    config.pdf_extractor = env!("CARGO_BIN_EXE_ragcast").into();
    let database_url = config.database_url.clone();
    let app = match llm {
        Some(llm) => App::build_with_llm(config, llm).await,
        None => App::build(config).await,
    }
    .expect("app starts");
    let addr = app.local_addr();
    let db = app.db().clone();
    let ingestor = app.ingestor().clone();
    let stop = CancellationToken::new();
    let signal = stop.clone();
    let server = tokio::spawn(app.run(async move { signal.cancelled().await }));
    TestApp {
        database_url,
        db,
        ingestor,
        url: format!("http://{addr}"),
        stop,
        server,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A project with one indexed text document and a chat: `(project_id, chat_id)`.
    pub async fn seed(&self, content: &str) -> (i64, i64) {
        let (_, project) = self.post("/api/projects", json!({ "name": "p" })).await;
        let project_id = project["id"].as_i64().unwrap();
        let (_, chat) = self
            .post(&format!("/api/projects/{project_id}/chats"), json!({}))
            .await;
        let (status, doc) = self
            .post(
                &format!("/api/projects/{project_id}/documents"),
                json!({ "filename": "doc.txt", "content": content }),
            )
            .await;
        assert_eq!(status, 202, "{doc}");
        for _ in 0..200 {
            let (_, docs) = self
                .get(&format!("/api/projects/{project_id}/documents"))
                .await;
            if docs[0]["status"] == "completed" {
                return (project_id, chat["id"].as_i64().unwrap());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("document not indexed");
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        self.server.await.unwrap().unwrap();
    }
}
