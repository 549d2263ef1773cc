//! A wrong setting stops the start with one line naming it and exit status 2.

use std::process::Command;

fn start(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ragcast"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("RAGCAST_BIND", "127.0.0.1:0")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_database_url_exits_2_naming_it() {
    let (code, stderr) = start(&[], &[("DATABASE_URL", "mysql://nowhere/db")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn an_unreachable_database_exits_2_naming_it() {
    let (code, stderr) = start(&["--database-url", "postgres://127.0.0.1:1/none"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--database-url"), "{stderr}");
}

#[test]
fn an_unreachable_or_wrong_redis_exits_2_naming_it() {
    let (code, stderr) = start(&["--redis-url", "redis://127.0.0.1:1/"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--redis-url (REDIS_URL)"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let (code, stderr) = start(&[], &[("REDIS_URL", "redis://h/?protocol=resp2")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("RESP3"), "{stderr}");
}

#[test]
fn an_unknown_llm_exits_2_naming_it() {
    let (code, stderr) = start(&["--llm", "gpt-magic"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--llm"), "{stderr}");
    let (code, stderr) = start(&[], &[("RAGCAST_LLM", "nope")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--llm"), "{stderr}");
}

#[test]
fn a_bad_bind_address_exits_2_naming_it() {
    let (code, stderr) = start(&[], &[("RAGCAST_BIND", "not-an-address")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("RAGCAST_BIND"), "{stderr}");
}

#[test]
fn auth_none_on_a_public_address_warns_once_at_start() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ragcast"))
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("RAGCAST_BIND", "0.0.0.0:0")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        let done = line.contains("listening on");
        seen.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let warnings: Vec<_> = seen
        .iter()
        .filter(|l| l.contains("auth mode `none`"))
        .collect();
    assert_eq!(warnings.len(), 1, "{seen:#?}");
    assert!(warnings[0].contains("WARN"));
}

#[test]
fn an_embedder_that_cannot_start_exits_2_naming_its_setting() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    let (code, stderr) = start(&["--embedder", "builtin", "--embedder-model-dir", dir], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--embedder-model-dir"), "{stderr}");
    assert!(stderr.contains("scripts/fetch-model"), "{stderr}");
    let (code, stderr) = start(
        &[
            "--embedder",
            "openai",
            "--embedder-base-url",
            "http://127.0.0.1:1/v1",
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--embedder-base-url"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn without_a_model_auto_starts_with_keyword_search_and_says_how_to_turn_it_on() {
    let empty = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ragcast"))
        .current_dir(empty.path())
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("RAGCAST_BIND", "127.0.0.1:0")
        .env("RAGCAST_EMBEDDER_MODEL_DIR", empty.path().join("none"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let mut seen = Vec::new();
    let started = lines.by_ref().any(|line| {
        let line = line.unwrap();
        seen.push(line.clone());
        line.contains("listening on")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(started, "{seen:?}");
    let hint: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains("semantic retrieval is off"))
        .collect();
    assert_eq!(hint.len(), 1, "{seen:?}");
    assert!(hint[0].contains("scripts/fetch-model"));
}
