//! The load generator (`examples/loadgen`) against a real server, as CI's smoke test: small N,
//! every scenario, completeness asserted (a lost or reordered event fails), speed not measured.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ragcast"))
        .env_remove("REDIS_URL")
        .env("RAGCAST_BIND", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/smoke.db?mode=rwc", dir.path().display()),
        )
        .env("RAGCAST_RATE_EVENTS_PER_SEC", "1000000")
        .env("RAGCAST_RATE_EVENTS_BURST", "1000000")
        .env("RAGCAST_RATE_MESSAGES_PER_MIN", "1000000")
        .env("RAGCAST_RATE_MESSAGES_BURST", "1000000")
        .env("RUST_LOG", "warn,ragcast=info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("server log ended").unwrap();
        if let Some((_, url)) = line.split_once("listening on ") {
            break url.trim().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        url,
        _dir: dir,
    }
}

fn loadgen() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ragcast"));
    bin.parent().unwrap().join("examples").join("loadgen")
}

fn run(server: &Server, args: &[&str]) -> String {
    let output = Command::new(loadgen())
        .args(args)
        .args([
            "--url",
            &server.url,
            "--pid",
            &server.child.id().to_string(),
            "--smoke",
        ])
        .output()
        .expect("the loadgen example is built by cargo test");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "loadgen {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn every_scenario_runs_and_the_fanout_loses_nothing() {
    let server = start_server();
    let out = run(&server, &["fanout", "--receivers", "50", "--events", "30"]);
    assert!(
        out.contains("1500/1500 delivered (0 lost), 0 out of order"),
        "{out}"
    );
    let out = run(&server, &["connect", "--connections", "30"]);
    assert!(out.contains("30 websocket handshakes"), "{out}");
    let out = run(
        &server,
        &["connect", "--connections", "30", "--transport", "polling"],
    );
    assert!(out.contains("30 polling-then-upgrade handshakes"), "{out}");
    let out = run(&server, &["idle", "--connections", "30"]);
    assert!(out.contains("30 connections joined"), "{out}");
    let out = run(&server, &["first_token", "--events", "10", "--busy", "20"]);
    assert!(out.contains("10 messages (20 other sockets busy)"), "{out}");
    let out = run(&server, &["ping", "--events", "20", "--busy", "20"]);
    assert!(
        out.contains("20 round trips (20 other sockets busy)"),
        "{out}"
    );
    let out = run(&server, &["tokens", "--receivers", "20", "--events", "20"]);
    assert!(out.contains("tokens: 400/400 token deliveries"), "{out}");
    let out = run(
        &server,
        &["producer", "--receivers", "20", "--events", "30"],
    );
    assert!(out.contains("producer: 600/600 token deliveries"), "{out}");
    let out = run(
        &server,
        &[
            "producer",
            "--receivers",
            "20",
            "--events",
            "30",
            "--rate",
            "500",
        ],
    );
    assert!(out.contains("producer: 600/600 token deliveries"), "{out}");
    let out = run(&server, &["churn", "--connections", "200"]);
    assert!(out.contains("200 connect/disconnect cycles"), "{out}");
}
