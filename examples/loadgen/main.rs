//! ragcast's load generator: one process, one thread, raw Engine.IO 4 / Socket.IO 5 over
//! websocket, so it can hold tens of thousands of sockets. Works against ragcast and against the
//! node peer in `bench/peers/node` (same events, same HTTP trigger).
//!
//! ```text
//! cargo run --release --example loadgen -- <scenario> --url http://127.0.0.1:8000 --pid <server pid> [options]
//!   fanout   N receivers in one project room; E `events` broadcasts (burst, or --rate per second):
//!            delivered/expected, in-order check, events/s, p50/p99 latency, server CPU µs per delivery
//!   tokens   N receivers in one project room; one built-in answer of E tokens (the server run
//!            with --builtin-max-tokens E): token deliveries per server CPU-second
//!   producer the same room; a back end posts an E-token answer as one NDJSON request
//!            (PROTOCOL §9.3), --rate lines a second (default: at once): deliveries per server
//!            CPU-second, piece-to-receiver latency
//!   idle     N connections joined to rooms: server RSS per connection
//!   joins    N connections (--connections) join R project rooms (--rooms) one after the other:
//!            server CPU per join (presence included: each join lists the room's members to the
//!            joiner and tells the room)
//!   connect  N handshakes (connect + Socket.IO connect): handshakes/s; `--transport polling` does
//!            the browser's way: long-polling first, then the upgrade to websocket
//!   first_token  E messages (ragcast only): send → message_received / first token / complete, p50/p99
//!   ping     E `ping` round trips: RTT p50/p99
//!   churn    N connect/disconnect cycles: server RSS before, peak and after
//! ```
//! `--busy N` keeps N other sockets busy during `first_token` and `ping`: joined to another
//! project that receives `--busy-rate` broadcasts a second.
//! Server CPU and RSS come from /proc/PID; a run where this process itself used more than 90 % of
//! a core is refused (it would measure the generator, not the server). `--smoke` (CI) checks
//! completeness only: no refusal for CPU, and a lost or reordered event fails the run (exit 1).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    Fanout,
    Tokens,
    Producer,
    Idle,
    Joins,
    Connect,
    #[value(name = "first_token")]
    FirstToken,
    Ping,
    Churn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Transport {
    Websocket,
    Polling,
}

#[derive(clap::Parser)]
#[command(
    name = "loadgen",
    about = "ragcast's load generator (see the file's doc comment)"
)]
struct Args {
    #[arg(value_enum)]
    scenario: Scenario,
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// The server's process id, for its CPU and RSS figures.
    #[arg(long)]
    pid: Option<u32>,
    #[arg(long, default_value_t = 1000)]
    receivers: usize,
    #[arg(long, default_value_t = 300)]
    events: usize,
    /// Broadcasts per second (default: a burst).
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// `joins`: project rooms the connections are spread over.
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// How `connect` handshakes: straight websocket, or long-polling first and then the upgrade.
    #[arg(long, value_enum, default_value = "websocket")]
    transport: Transport,
    /// Other sockets kept busy during `first_token` and `ping`.
    #[arg(long, default_value_t = 0)]
    busy: usize,
    /// Broadcasts a second to the busy sockets' project.
    #[arg(long, default_value_t = 50.0)]
    busy_rate: f64,
    /// `fanout`: receivers more that join and then never read (a receive buffer as small as the
    /// kernel allows): what the other receivers pay for a slow one.
    #[arg(long, default_value_t = 0)]
    paused: usize,
    /// `fanout`: padding bytes in each event, so a paused receiver's queue fills.
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// CI: check completeness only; a lost or reordered event fails the run.
    #[arg(long)]
    smoke: bool,
}

/// CPU seconds (user + system) of a process, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is field 3; utime and stime are 14 and 15.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id())
}

/// Opens the Engine.IO websocket: a new session, or the upgrade of session `sid`.
async fn open_websocket(url: &str, sid: Option<&str>) -> Ws {
    let mut ws_url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        url.replacen("http", "ws", 1)
    );
    if let Some(sid) = sid {
        ws_url.push_str(&format!("&sid={sid}"));
    }
    let (ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("websocket opens");
    ws
}

/// A websocket whose receive buffer is as small as the kernel allows: once its reader stops,
/// the server's queue for it fills after a few events, not megabytes.
async fn open_small_websocket(url: &str) -> Ws {
    let authority = url.trim_start_matches("http://");
    let addr = tokio::net::lookup_host(authority)
        .await
        .expect("server address")
        .next()
        .expect("server address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("receive buffer");
    let stream = socket.connect(addr).await.expect("connects");
    let ws_url = format!("ws://{authority}/socket.io/?EIO=4&transport=websocket");
    let (ws, _) = tokio_tungstenite::client_async(ws_url, MaybeTlsStream::Plain(stream))
        .await
        .expect("websocket opens");
    ws
}

/// Opens a websocket, does the Socket.IO connect, and returns it once `connection_status` came.
async fn open_socket(url: &str) -> Ws {
    socket_io_connect(open_websocket(url, None).await).await
}

/// The Socket.IO connect on an open websocket.
async fn socket_io_connect(mut ws: Ws) -> Ws {
    // Engine.IO open packet.
    read_text(&mut ws).await;
    ws.send(Message::text("40")).await.expect("connect sent");
    // The Socket.IO connect ack `40{"sid":…}`; ragcast's `connection_status` follows and is
    // skipped by whoever reads next. The server may ping at once: unanswered, it would drop us.
    read_until(&mut ws, |t| t.starts_with("40")).await;
    ws
}

async fn read_text(ws: &mut Ws) -> String {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("socket closed: {other:?}"),
        }
    }
}

async fn join(ws: &mut Ws, project_id: i64) {
    ws.send(Message::text(format!(
        "420[\"join_project\",{{\"project_id\":{project_id}}}]"
    )))
    .await
    .expect("join sent");
    loop {
        let text = read_text(ws).await;
        if text.starts_with("430") {
            return;
        }
        if text == "2" {
            ws.send(Message::text("3")).await.ok();
        }
    }
}

/// The payload of the socket's next `event`, answering the engine's pings on the way; `None`
/// once the socket closes.
async fn next_event(ws: &mut Ws, event: &str) -> Option<Value> {
    let prefix = format!("42[\"{event}\",");
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        if text.as_str() == "2" {
            let _ = ws.send(Message::text("3")).await;
            continue;
        }
        if let Some(body) = text.strip_prefix(prefix.as_str()) {
            return Some(serde_json::from_str(body.trim_end_matches(']')).unwrap_or_default());
        }
    }
    None
}

async fn create_project(http: &reqwest::Client, url: &str) -> i64 {
    let res: Value = http
        .post(format!("{url}/api/projects"))
        .json(&json!({ "name": "bench" }))
        .send()
        .await
        .expect("project created")
        .json()
        .await
        .expect("project JSON");
    res["id"].as_i64().expect("project id")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = <Args as clap::Parser>::parse();
    let http = reqwest::Client::new();
    let started_cpu = own_cpu_seconds();
    let started = Instant::now();
    match args.scenario {
        Scenario::Fanout => fanout(&args, &http).await,
        Scenario::Tokens => stream_fanout(&args, &http, Answer::Generated).await,
        Scenario::Producer => stream_fanout(&args, &http, Answer::Produced).await,
        Scenario::Idle => idle(&args, &http).await,
        Scenario::Joins => joins(&args, &http).await,
        Scenario::Connect => connect(&args).await,
        Scenario::FirstToken => first_token(&args, &http).await,
        Scenario::Ping => ping(&args, &http).await,
        Scenario::Churn => churn(&args).await,
    }
    let own = (own_cpu_seconds() - started_cpu) / started.elapsed().as_secs_f64();
    println!("loadgen CPU: {:.0} % of a core", own * 100.0);
    if own > 0.9 && !args.smoke {
        eprintln!(
            "refused: the load generator was CPU-bound; the figures measure it, not the server"
        );
        std::process::exit(3);
    }
}

async fn fanout(args: &Args, http: &reqwest::Client) {
    let project_id = create_project(http, &args.url).await;
    let mut sockets = Vec::with_capacity(args.receivers);
    for _ in 0..args.receivers {
        let mut ws = open_socket(&args.url).await;
        join(&mut ws, project_id).await;
        sockets.push(ws);
    }
    // Held, never read, until the run ends.
    let mut paused = Vec::with_capacity(args.paused);
    for _ in 0..args.paused {
        let mut ws = socket_io_connect(open_small_websocket(&args.url).await).await;
        join(&mut ws, project_id).await;
        paused.push(ws);
    }
    let pad = "x".repeat(args.payload_bytes);
    let origin = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, u64, u64)>();
    for (receiver, mut ws) in sockets.into_iter().enumerate() {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(data) = next_event(&mut ws, "bench").await {
                let seq = data["seq"].as_u64().unwrap_or(u64::MAX);
                let sent = data["t"].as_u64().unwrap_or(0);
                let now = origin.elapsed().as_micros() as u64;
                let _ = tx.send((receiver, seq, now.saturating_sub(sent)));
            }
        });
    }
    drop(tx);
    let pid = args.pid.expect("--pid is needed for CPU figures");
    let cpu_before = cpu_seconds(pid);
    let send_started = Instant::now();
    let trigger = format!("{}/api/projects/{project_id}/events", args.url);
    for seq in 0..args.events {
        let t = origin.elapsed().as_micros() as u64;
        http.post(&trigger)
            .json(&json!({ "event": "bench", "data": { "seq": seq, "t": t, "pad": pad } }))
            .send()
            .await
            .expect("event sent");
        if let Some(rate) = args.rate {
            tokio::time::sleep(Duration::from_secs_f64(1.0 / rate)).await;
        }
    }
    let expected = args.events * args.receivers;
    let mut latency = Histogram::<u64>::new(3).expect("histogram");
    let mut last_seq: HashMap<usize, u64> = HashMap::new();
    let mut delivered = 0;
    let mut out_of_order = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered < expected {
        let Ok(Some((receiver, seq, micros))) =
            tokio::time::timeout_at(deadline.into(), rx.recv()).await
        else {
            break;
        };
        if let Some(previous) = last_seq.insert(receiver, seq) {
            if seq != previous + 1 {
                out_of_order += 1;
            }
        } else if seq != 0 {
            out_of_order += 1;
        }
        latency.record(micros.max(1)).ok();
        delivered += 1;
    }
    let seconds = send_started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    println!(
        "fanout: {delivered}/{expected} delivered ({} lost), {out_of_order} out of order, {:.0} events/s, latency p50 {:.1} ms p99 {:.1} ms, server CPU {:.2} µs per delivered event ({} paused receivers besides)",
        expected - delivered,
        delivered as f64 / seconds,
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        cpu * 1e6 / delivered.max(1) as f64,
        paused.len(),
    );
    if delivered < expected || out_of_order > 0 {
        eprintln!("fanout failed: events were lost or reordered");
        std::process::exit(1);
    }
}

/// Who writes the answer `tokens` and `producer` stream to the room.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// The built-in generator, from a long document.
    Generated,
    /// A back end, as one NDJSON `pieces` request written line by line.
    Produced,
}

/// A stream's tokens to `--receivers` sockets of one room: deliveries per server CPU-second and,
/// for a back end's answer, the time from a piece's line leaving the back end to its read.
async fn stream_fanout(args: &Args, http: &reqwest::Client, answer: Answer) {
    let pid = args.pid.expect("--pid is needed for CPU figures");
    let project_id = create_project(http, &args.url).await;
    let chat: Value = http
        .post(format!("{}/api/projects/{project_id}/chats", args.url))
        .json(&json!({}))
        .send()
        .await
        .expect("chat created")
        .json()
        .await
        .expect("chat JSON");
    let chat_id = chat["id"].as_i64().expect("chat id");
    if answer == Answer::Generated {
        let doc: String = (0..args.events)
            .map(|i| format!("Sentence {i} is about rivers and water. "))
            .collect();
        http.post(format!("{}/api/projects/{project_id}/documents", args.url))
            .json(&json!({ "filename": "rivers.txt", "content": doc }))
            .send()
            .await
            .expect("document sent");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let origin = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<u64>>();
    for _ in 0..args.receivers {
        let mut ws = open_socket(&args.url).await;
        join(&mut ws, project_id).await;
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(data) = next_event(&mut ws, "message_token").await {
                // A back end's token carries when its line left (µs from the origin).
                let sent = data["token"]
                    .as_str()
                    .and_then(|t| t.trim().strip_prefix('t'))
                    .and_then(|t| t.parse::<u64>().ok());
                let now = origin.elapsed().as_micros() as u64;
                let _ = tx.send(sent.map(|sent| now.saturating_sub(sent)));
            }
        });
    }
    drop(tx);
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    match answer {
        Answer::Generated => {
            let mut asker = open_socket(&args.url).await;
            let payload = json!({ "chat_id": chat_id, "message": "rivers water", "top_k": 50 });
            asker
                .send(Message::text(format!("42[\"send_message\",{payload}]")))
                .await
                .expect("message sent");
            tokio::spawn(async move { while asker.next().await.is_some() {} });
        }
        Answer::Produced => {
            let stream: Value = http
                .post(format!("{}/api/chats/{chat_id}/streams", args.url))
                .json(&json!({}))
                .send()
                .await
                .expect("stream started")
                .json()
                .await
                .expect("stream JSON");
            let message_id = stream["message_id"].as_i64().expect("message id");
            let events = args.events;
            // `--rate`: lines a second, as a model's tokens arrive; else all at once.
            let pace = args.rate.map(|rate| Duration::from_secs_f64(1.0 / rate));
            let ticks = pace.map(tokio::time::interval);
            let paced = futures::stream::unfold((0, ticks), move |(i, mut ticks)| async move {
                if i > events {
                    return None;
                }
                if let Some(ticks) = ticks.as_mut() {
                    ticks.tick().await;
                }
                Some((i, (i + 1, ticks)))
            });
            let lines = paced.map(move |i| {
                let line = if i == events {
                    json!({ "seq": i, "type": "end", "finish_reason": "stop" })
                } else {
                    let t = origin.elapsed().as_micros();
                    json!({ "seq": i, "type": "token", "text": format!("t{t} ") })
                };
                Ok::<_, std::io::Error>(format!("{line}\n"))
            });
            http.post(format!("{}/api/messages/{message_id}/pieces", args.url))
                .header("content-type", "application/x-ndjson")
                .body(reqwest::Body::wrap_stream(lines))
                .send()
                .await
                .expect("pieces sent");
        }
    }
    let expected = args.events * args.receivers;
    let mut latency = Histogram::<u64>::new(3).expect("histogram");
    let mut delivered = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered < expected {
        let Ok(Some(sent)) = tokio::time::timeout_at(deadline.into(), rx.recv()).await else {
            break;
        };
        if let Some(micros) = sent {
            latency.record(micros.max(1)).ok();
        }
        delivered += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    let name = match answer {
        Answer::Generated => "tokens",
        Answer::Produced => "producer",
    };
    let timing = if latency.is_empty() {
        String::new()
    } else {
        format!(
            ", piece to receiver p50 {:.1} ms p99 {:.1} ms",
            latency.value_at_quantile(0.5) as f64 / 1000.0,
            latency.value_at_quantile(0.99) as f64 / 1000.0
        )
    };
    println!(
        "{name}: {delivered}/{expected} token deliveries in {seconds:.2} s, {:.0} deliveries per server CPU-second{timing}",
        delivered as f64 / cpu.max(1e-6),
    );
}

async fn joins(args: &Args, http: &reqwest::Client) {
    let pid = args.pid.expect("--pid is needed for CPU figures");
    let mut projects = Vec::with_capacity(args.rooms);
    for _ in 0..args.rooms.max(1) {
        projects.push(create_project(http, &args.url).await);
    }
    let mut sockets = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        sockets.push(open_socket(&args.url).await);
    }
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut drains = Vec::with_capacity(sockets.len());
    for (i, mut ws) in sockets.into_iter().enumerate() {
        join(&mut ws, projects[i % projects.len()]).await;
        // A joined socket keeps reading what the later joins tell its room, as a client would.
        drains.push(tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                if matches!(&message, Message::Text(t) if t.as_str() == "2") {
                    ws.send(Message::text("3")).await.ok();
                }
            }
        }));
    }
    let elapsed = started.elapsed();
    // What the joins sent the others (presence_changed) has been written by now or is queued;
    // let the server finish handing it on before reading its CPU.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu = cpu_seconds(pid) - cpu_before;
    println!(
        "joins: {} sockets joined {} rooms in {:.2} s, server CPU {:.0} µs per join ({} members per room at the end)",
        args.connections,
        projects.len(),
        elapsed.as_secs_f64(),
        cpu * 1e6 / args.connections as f64,
        args.connections / projects.len(),
    );
    for drain in drains {
        drain.abort();
    }
}

async fn idle(args: &Args, http: &reqwest::Client) {
    let pid = args.pid.expect("--pid is needed for RSS figures");
    let project_id = create_project(http, &args.url).await;
    let before = rss_kib(pid);
    let mut sockets = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let mut ws = open_socket(&args.url).await;
        join(&mut ws, project_id).await;
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    println!(
        "idle: {} connections joined, server RSS {before} → {after} KiB, {:.1} KB per connection",
        args.connections,
        (after.saturating_sub(before)) as f64 * 1.024 / args.connections as f64
    );
    drop(sockets);
}

/// Handshakes in flight at once: one at a time would measure round trips, not the server.
const CONNECT_CONCURRENCY: usize = 32;

async fn connect(args: &Args) {
    let http = reqwest::Client::new();
    let cpu_before = args.pid.map(cpu_seconds);
    let started = Instant::now();
    let polling = args.transport == Transport::Polling;
    let sockets: Vec<Ws> = futures::stream::iter(0..args.connections)
        .map(|_| {
            let (http, url) = (http.clone(), args.url.clone());
            async move {
                if polling {
                    open_polling_then_upgrade(&http, &url).await
                } else {
                    open_socket(&url).await
                }
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = args
        .pid
        .zip(cpu_before)
        .map(|(pid, before)| cpu_seconds(pid) - before);
    println!(
        "connect: {} {} handshakes in {seconds:.2} s ({CONNECT_CONCURRENCY} at a time), {:.0}/s, server CPU {}",
        sockets.len(),
        if polling {
            "polling-then-upgrade"
        } else {
            "websocket"
        },
        sockets.len() as f64 / seconds,
        cpu.map_or("unknown".to_owned(), |cpu| format!(
            "{:.0} µs per handshake",
            cpu * 1e6 / sockets.len() as f64
        )),
    );
}

/// socket.io-client's default: Engine.IO open and the Socket.IO connect over HTTP long-polling,
/// then the websocket probe and upgrade.
async fn open_polling_then_upgrade(http: &reqwest::Client, url: &str) -> Ws {
    let base = format!("{url}/socket.io/?EIO=4&transport=polling");
    let open = http.get(&base).send().await.expect("open");
    let open = open.text().await.expect("open body");
    let handshake: Value =
        serde_json::from_str(open.trim_start_matches('0')).expect("open packet JSON");
    let sid = handshake["sid"].as_str().expect("sid").to_owned();
    let session = format!("{base}&sid={sid}");
    http.post(&session)
        .body("40")
        .send()
        .await
        .expect("connect sent");
    // The poll may carry several packets (a ping, the connect ack, events), 0x1e-separated.
    loop {
        let polled = http.get(&session).send().await.expect("poll");
        let polled = polled.text().await.expect("poll body");
        let packets: Vec<&str> = polled.split('\u{1e}').collect();
        if packets.contains(&"2") {
            http.post(&session)
                .body("3")
                .send()
                .await
                .expect("pong sent");
        }
        if packets.iter().any(|p| p.starts_with("40")) {
            break;
        }
    }
    let mut ws = open_websocket(url, Some(&sid)).await;
    ws.send(Message::text("2probe")).await.expect("probe sent");
    read_until(&mut ws, |t| t == "3probe").await;
    ws.send(Message::text("5")).await.expect("upgrade sent");
    ws
}

/// Connects and disconnects `--connections` times; the server's RSS must come back down.
async fn churn(args: &Args) {
    let pid = args.pid.expect("--pid is needed for RSS figures");
    // Batches of `CHURN_BATCH` sockets open at once, then closed: the server sees real churn.
    // The warm-up runs the same pattern, so the baseline includes the allocator's high-water
    // mark for one batch (freed memory stays mapped for reuse); growth past it is a leak.
    const CHURN_BATCH: usize = 500;
    let warm_up = (2 * CHURN_BATCH).min(args.connections);
    churn_batches(&args.url, warm_up, CHURN_BATCH, || {}).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = rss_kib(pid);
    let mut peak = baseline;
    churn_batches(&args.url, args.connections, CHURN_BATCH, || {
        peak = peak.max(rss_kib(pid))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(pid);
    println!(
        "churn: {} connect/disconnect cycles; server RSS {baseline} KiB after warm-up, peak {peak} KiB, {after} KiB after ({:+.1} %)",
        args.connections,
        (after as f64 - baseline as f64) * 100.0 / baseline as f64
    );
}

/// Opens `total` sockets `batch` at a time, calling `at_peak` with each batch open, and closes them.
async fn churn_batches(url: &str, total: usize, batch: usize, mut at_peak: impl FnMut()) {
    let mut left = total;
    while left > 0 {
        let size = left.min(batch);
        let mut open = Vec::with_capacity(size);
        for _ in 0..size {
            open.push(open_socket(url).await);
        }
        at_peak();
        for mut ws in open {
            let _ = ws.close(None).await;
        }
        left -= size;
    }
}

/// `--busy` sockets joined to their own project, receiving `--busy-rate` broadcasts a second
/// until the returned handle is dropped.
async fn busy_load(args: &Args, http: &reqwest::Client) -> Option<tokio::task::JoinHandle<()>> {
    if args.busy == 0 {
        return None;
    }
    let project_id = create_project(http, &args.url).await;
    for _ in 0..args.busy {
        let mut ws = open_socket(&args.url).await;
        join(&mut ws, project_id).await;
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if matches!(&msg, Message::Text(t) if t.as_str() == "2") {
                    let _ = ws.send(Message::text("3")).await;
                }
            }
        });
    }
    let trigger = format!("{}/api/projects/{project_id}/events", args.url);
    let http = http.clone();
    let pause = Duration::from_secs_f64(1.0 / args.busy_rate);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(pause);
        for seq in 0u64.. {
            tick.tick().await;
            let _ = http
                .post(&trigger)
                .json(&json!({ "event": "busy", "data": { "seq": seq } }))
                .send()
                .await;
        }
    }))
}

/// Reads until a text packet passes `wanted`, answering Engine.IO pings on the way.
async fn read_until(ws: &mut Ws, wanted: impl Fn(&str) -> bool) -> String {
    loop {
        let text = read_text(ws).await;
        if text == "2" {
            let _ = ws.send(Message::text("3")).await;
            continue;
        }
        if wanted(&text) {
            return text;
        }
    }
}

async fn first_token(args: &Args, http: &reqwest::Client) {
    let project_id = create_project(http, &args.url).await;
    let chat: Value = http
        .post(format!("{}/api/projects/{project_id}/chats", args.url))
        .json(&json!({}))
        .send()
        .await
        .expect("chat created")
        .json()
        .await
        .expect("chat JSON");
    let doc = "Water boils at 100 degrees Celsius at sea level. Ice melts at 0 degrees.";
    http.post(format!("{}/api/projects/{project_id}/documents", args.url))
        .json(&json!({ "filename": "water.txt", "content": doc }))
        .send()
        .await
        .expect("document sent");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy = busy_load(args, http).await;
    let mut ws = open_socket(&args.url).await;
    let chat_id = chat["id"].as_i64().expect("chat id");
    let (mut received, mut first, mut complete) = (hist(), hist(), hist());
    for i in 0..args.events {
        let started = Instant::now();
        let payload = json!({ "chat_id": chat_id, "message": format!("water boils {i}") });
        ws.send(Message::text(format!("42[\"send_message\",{payload}]")))
            .await
            .expect("message sent");
        read_until(&mut ws, |t| t.starts_with("42[\"message_received\"")).await;
        received.record(started.elapsed().as_micros() as u64).ok();
        read_until(&mut ws, |t| t.starts_with("42[\"message_token\"")).await;
        first.record(started.elapsed().as_micros() as u64).ok();
        read_until(&mut ws, |t| t.starts_with("42[\"message_complete\"")).await;
        complete.record(started.elapsed().as_micros() as u64).ok();
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    if let Some(busy) = busy {
        busy.abort();
    }
    println!(
        "first_token: {} messages ({} other sockets busy); message_received p50 {:.2} p99 {:.2} ms; first token p50 {:.2} p99 {:.2} ms; complete p50 {:.2} p99 {:.2} ms",
        args.events,
        args.busy,
        ms(&received, 0.5),
        ms(&received, 0.99),
        ms(&first, 0.5),
        ms(&first, 0.99),
        ms(&complete, 0.5),
        ms(&complete, 0.99)
    );
}

async fn ping(args: &Args, http: &reqwest::Client) {
    let busy = busy_load(args, http).await;
    let mut ws = open_socket(&args.url).await;
    let mut rtt = hist();
    for _ in 0..args.events {
        let started = Instant::now();
        ws.send(Message::text("42[\"ping\",{}]"))
            .await
            .expect("ping sent");
        read_until(&mut ws, |t| t.starts_with("42[\"pong\"")).await;
        rtt.record(started.elapsed().as_micros() as u64).ok();
    }
    if let Some(busy) = busy {
        busy.abort();
    }
    println!(
        "ping: {} round trips ({} other sockets busy), p50 {:.3} ms, p99 {:.3} ms",
        args.events,
        args.busy,
        rtt.value_at_quantile(0.5) as f64 / 1000.0,
        rtt.value_at_quantile(0.99) as f64 / 1000.0
    );
}

fn hist() -> Histogram<u64> {
    Histogram::<u64>::new(3).expect("histogram")
}
