//! Retrieval benchmark: quality on a corpus the project wrote itself, and speed at scale.
//!
//! ```text
//! cargo run --release --example retrieval_bench -- quality [--rrf-k 60] [--min-similarity 0.2]
//!     34 documents, 75 questions (a third paraphrases): recall@5 and MRR@10 for keyword-only
//!     (`--embedder none`), built-in vector-only and hybrid, per question kind
//! cargo run --release --example retrieval_bench -- scale [--chunks 100000]
//!     one project of N chunks with vectors: hybrid search p50/p99 (question embedding
//!     included), RSS of the cached vectors
//! cargo run --release --example retrieval_bench -- embed [--chunks 200]
//!     built-in embedding of 1 000-character chunks on the document threads: chunks/s, tokens/s
//! ```
//! `scripts/bench-retrieval` runs all three plus first token and ping RTT against a release
//! server, alone and during a large ingestion.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ragcast::app::App;
use ragcast::config::{default_model_dir, Config};
use ragcast::embed::{self, Embedder, EmbedderSettings, Purpose};
use ragcast::retrieval::{HybridRetriever, RetrievalMode, RetrievalSettings, Retriever};
use ragcast::store;
use serde::Deserialize;
use serde_json::{json, Value};

/// Words of the synthetic corpus of `scale`.
const VOCABULARY: usize = 50_000;

#[derive(Deserialize)]
struct Corpus {
    documents: Vec<Document>,
    questions: Vec<Question>,
}

#[derive(Deserialize)]
struct Document {
    filename: String,
    content: String,
}

#[derive(Deserialize)]
struct Question {
    question: String,
    relevant: Vec<String>,
    kind: String,
}

#[derive(clap::Parser)]
#[command(
    name = "retrieval_bench",
    about = "Retrieval quality and speed (see the file's doc comment)"
)]
enum Bench {
    /// Recall@5 and MRR@10 on the project's own corpus, keyword / vector / hybrid.
    Quality(Fusion),
    /// Hybrid search latency and vector cache RSS on one project of N chunks.
    Scale {
        #[arg(long, default_value_t = 100_000)]
        chunks: usize,
    },
    /// Built-in embedding speed of 1 000-character chunks.
    Embed {
        #[arg(long, default_value_t = 200)]
        chunks: usize,
    },
}

/// How `quality` fuses the rankings, and what it prints.
#[derive(clap::Args, Clone, Copy)]
struct Fusion {
    #[arg(long, default_value_t = 60.0)]
    rrf_k: f64,
    #[arg(long, default_value_t = 0.2)]
    min_similarity: f32,
    /// Print each question whose relevant document is not in the first five.
    #[arg(long)]
    misses: bool,
}

#[tokio::main]
async fn main() {
    match <Bench as clap::Parser>::parse() {
        Bench::Quality(fusion) => quality(fusion).await,
        Bench::Scale { chunks } => scale(chunks).await,
        Bench::Embed { chunks } => embed_speed(chunks).await,
    }
}

fn builtin() -> EmbedderSettings {
    EmbedderSettings::Builtin {
        dir: default_model_dir(),
        threads: 0,
    }
}

/// A server on a fresh SQLite database in `dir`, with `embedder` and `mode`.
async fn server(
    dir: &tempfile::TempDir,
    name: &str,
    embedder: EmbedderSettings,
    mode: RetrievalMode,
    fusion: Fusion,
) -> (String, reqwest::Client) {
    let mut config = Config::for_database(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join(name).display()
    ));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.embedder = embedder;
    config.retrieval.mode = mode;
    config.retrieval.rrf_k = fusion.rrf_k;
    config.retrieval.min_similarity = fusion.min_similarity;
    let app = App::build(config).await.expect("server starts");
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run(std::future::pending()));
    (url, reqwest::Client::new())
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Value {
    http.post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn quality(fusion: Fusion) {
    let corpus: Corpus = serde_json::from_str(include_str!("corpus.json")).expect("corpus.json");
    let dir = tempfile::tempdir().unwrap();
    println!(
        "corpus: {} documents, {} questions ({} paraphrases); rrf k {}, min similarity {}",
        corpus.documents.len(),
        corpus.questions.len(),
        corpus
            .questions
            .iter()
            .filter(|q| q.kind == "paraphrase")
            .count(),
        fusion.rrf_k,
        fusion.min_similarity
    );
    println!(
        "| retrieval | kind | questions | recall@5 | MRR@10 |\n| --- | --- | --- | --- | --- |"
    );
    for (label, embedder, mode) in [
        (
            "keyword only (`--embedder none`)",
            EmbedderSettings::None,
            RetrievalMode::Keyword,
        ),
        ("built-in, vector only", builtin(), RetrievalMode::Vector),
        ("built-in, hybrid", builtin(), RetrievalMode::Hybrid),
    ] {
        let (url, http) =
            server(&dir, &format!("{}.db", label.len()), embedder, mode, fusion).await;
        let project = post(
            &http,
            &format!("{url}/api/projects"),
            json!({ "name": "bench" }),
        )
        .await;
        let project_id = project["id"].as_i64().unwrap();
        let chat = post(
            &http,
            &format!("{url}/api/projects/{project_id}/chats"),
            json!({}),
        )
        .await;
        let chat_id = chat["id"].as_i64().unwrap();
        for doc in &corpus.documents {
            // Past 32 waiting uploads the server answers 503 `busy`: send it again shortly.
            while http
                .post(format!("{url}/api/projects/{project_id}/documents"))
                .json(&json!({ "filename": doc.filename, "content": doc.content }))
                .send()
                .await
                .unwrap()
                .status()
                == 503
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        loop {
            let docs: Value = http
                .get(format!("{url}/api/projects/{project_id}/documents"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if docs
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["status"] == "completed")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut by_kind: HashMap<&str, (usize, f64, f64)> = HashMap::new();
        for q in &corpus.questions {
            let reply = post(
                &http,
                &format!("{url}/api/chats/{chat_id}/messages"),
                json!({ "message": q.question, "top_k": 10 }),
            )
            .await;
            let found: Vec<String> = reply["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["metadata"]["filename"].as_str().unwrap().to_owned())
                .collect();
            let rank = found.iter().position(|f| q.relevant.contains(f));
            let recall5 = found
                .iter()
                .take(5)
                .filter(|f| q.relevant.contains(f))
                .count() as f64
                / q.relevant.len() as f64;
            let rr = rank.map_or(0.0, |r| 1.0 / (r + 1) as f64);
            if fusion.misses && rank.is_none_or(|r| r >= 5) {
                let how: Vec<String> = reply["sources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .take(5)
                    .map(|s| {
                        format!(
                            "{}({})",
                            s["metadata"]["filename"].as_str().unwrap(),
                            s["metadata"]["retrieval"].as_str().unwrap_or("-")
                        )
                    })
                    .collect();
                eprintln!(
                    "miss [{label}] {:?} → {:?}: {}",
                    q.question,
                    q.relevant,
                    how.join(" ")
                );
            }
            for kind in [q.kind.as_str(), "all"] {
                let entry = by_kind.entry(kind).or_default();
                entry.0 += 1;
                entry.1 += recall5;
                entry.2 += rr;
            }
        }
        for kind in ["keyword", "paraphrase", "all"] {
            let (n, recall, rr) = by_kind[kind];
            println!(
                "| {label} | {kind} | {n} | {:.3} | {:.3} |",
                recall / n as f64,
                rr / n as f64
            );
        }
    }
}

/// Memory of this process, in MiB (Linux /proc).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Deterministic pseudo-random numbers (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() % 2_000_001) as f32 / 1_000_000.0 - 1.0
    }
}

async fn scale(chunks: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("scale.db").display()
    ))
    .await
    .unwrap();
    store::migrate(&db).await.unwrap();
    let embedder: Arc<dyn Embedder> = embed::start(&builtin())
        .await
        .expect("built-in model")
        .expect("an embedder");
    let project = store::projects::create(&db, "scale").await.unwrap();
    let doc = store::documents::create(
        &db,
        store::documents::NewDocument {
            project_id: project.id,
            filename: "big.txt",
            content_type: "text/plain",
            size_bytes: 0,
        },
        Vec::new(),
        "bench",
    )
    .await
    .unwrap();
    // Text as natural text is: a vocabulary of 50 000 words drawn with Zipf's law (the word of
    // rank r with weight 1/r), so a few words are everywhere and most are rare.
    let words: Vec<String> = (1..=VOCABULARY).map(|r| format!("w{r}")).collect();
    let cumulative: Vec<f64> = (1..=VOCABULARY)
        .scan(0.0, |sum, r| {
            *sum += 1.0 / r as f64;
            Some(*sum)
        })
        .collect();
    let total = *cumulative.last().unwrap();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let zipf = move |rng: &mut Rng| {
        let x = (rng.next() % 1_000_000_007) as f64 / 1_000_000_007.0 * total;
        cumulative.partition_point(|c| *c < x).min(VOCABULARY - 1)
    };
    let started = Instant::now();
    let dimension = embedder.dimension();
    for batch in 0..chunks.div_ceil(500) {
        let rows: Vec<store::documents::NewChunk> = (0..500.min(chunks - batch * 500))
            .map(|i| store::documents::NewChunk {
                chunk_index: (batch * 500 + i) as i32,
                page: None,
                content: (0..150)
                    .map(|_| words[zipf(&mut rng)].as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            })
            .collect();
        store::documents::insert_chunks(&db, &doc, &rows)
            .await
            .unwrap();
    }
    store::documents::set_status(&db, doc.id, store::DocumentStatus::Completed, 100, None)
        .await
        .unwrap();
    let ids = store::vectors::chunk_texts(&db, doc.id).await.unwrap();
    for batch in ids.chunks(1000) {
        let vectors: Vec<store::vectors::NewVector> = batch
            .iter()
            .map(|(id, _)| {
                let mut v: Vec<f32> = (0..dimension).map(|_| rng.unit()).collect();
                embed::normalise(&mut v);
                store::vectors::NewVector {
                    chunk_id: *id,
                    vector: v,
                }
            })
            .collect();
        store::vectors::upsert(&db, project.id, embedder.model(), &vectors)
            .await
            .unwrap();
    }
    println!(
        "scale: {chunks} chunks with {dimension}-dimension vectors stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let retriever = HybridRetriever::new(
        db.clone(),
        Some(embedder.clone()),
        RetrievalSettings::default(),
    );
    let before = rss_mib();
    let first = Instant::now();
    retriever
        .search(project.id, "water policy for a refund", 5)
        .await
        .unwrap();
    println!(
        "first search (loads the project's vectors): {:.0} ms; RSS +{:.1} MiB for {chunks} vectors ({:.1} MiB of f32 data)",
        first.elapsed().as_secs_f64() * 1000.0,
        rss_mib() - before,
        (chunks * dimension * 4) as f64 / 1048576.0
    );
    // Questions of content words: three of middle frequency (ranks 200 to 5 000, found in
    // 0.1–3 % of the chunks) and one common one (rank 20 to 100, in ~10–40 %).
    let questions: Vec<String> = (0..20u64)
        .map(|i| {
            let mid = |k: u64| format!("w{}", 200 + (i * 7919 + k * 104729) % 4800);
            format!(
                "what about {} {} and {} with w{}?",
                mid(1),
                mid(2),
                mid(3),
                20 + (i * 13) % 80
            )
        })
        .collect();
    for (label, mode) in [
        ("hybrid", RetrievalMode::Hybrid),
        ("keyword only", RetrievalMode::Keyword),
        ("vector only", RetrievalMode::Vector),
    ] {
        let retriever = HybridRetriever::new(
            db.clone(),
            Some(embedder.clone()),
            RetrievalSettings {
                mode,
                ..RetrievalSettings::default()
            },
        );
        let mut times = Vec::new();
        for i in 0..100 {
            let t = Instant::now();
            retriever
                .search(project.id, &questions[i % questions.len()], 5)
                .await
                .unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!("{label} search over {chunks} chunks (question embedding included): p50 {:.1} ms, p99 {:.1} ms", times[49], times[98]);
    }
    let mut embed_times = Vec::new();
    for i in 0..50 {
        let t = Instant::now();
        embedder
            .embed(vec![questions[i % questions.len()].clone()], Purpose::Query)
            .await
            .unwrap();
        embed_times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    embed_times.sort_by(f64::total_cmp);
    println!(
        "of which embedding the question: p50 {:.1} ms",
        embed_times[24]
    );
}

async fn embed_speed(chunks: usize) {
    let embedder: Arc<dyn Embedder> = embed::start(&builtin())
        .await
        .expect("built-in model")
        .expect("an embedder");
    let tokenizer =
        tokenizers::Tokenizer::from_file(default_model_dir().join("tokenizer.json")).unwrap();
    let vocabulary = "the customer may return items within thirty days for a full reimbursement while staff accounts use two-factor authentication and orders ship in two business days water boils at one hundred degrees".split(' ').collect::<Vec<_>>();
    let mut rng = Rng(7);
    let texts: Vec<String> = (0..chunks)
        .map(|_| {
            let mut text = String::new();
            while text.len() < 1000 {
                text.push_str(vocabulary[(rng.next() % vocabulary.len() as u64) as usize]);
                text.push(' ');
            }
            text.truncate(1000);
            text
        })
        .collect();
    let tokens: usize = texts
        .iter()
        .map(|t| tokenizer.encode(t.as_str(), true).unwrap().len().min(256))
        .sum();
    let started = Instant::now();
    embedder.embed(texts, Purpose::Document).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    let gflops = tokens as f64 * 22e6 / secs / 1e9;
    println!(
        "embed: {chunks} chunks of 1000 characters ({tokens} tokens) in {secs:.1} s: {:.1} chunks/s, {:.0} tokens/s, ~{gflops:.0} GFLOP/s at 22 MFLOP per token",
        chunks as f64 / secs,
        tokens as f64 / secs
    );
}
