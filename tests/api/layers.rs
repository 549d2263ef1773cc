//! Every arrow points down: a module of `src/` may import (`crate::…`) only modules of a lower
//! layer, so no import cycle can form and the transports never know each other
//! (docs/ARCHITECTURE.md draws the same table).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bottom first. A module may use the modules of the layers below its own, never its own layer's
/// neighbours (so siblings stay independent) unless listed in `SIDEWAYS`.
const LAYERS: &[&[&str]] = &[
    &[
        "error",
        "time",
        "rooms",
        "embed",
        "shutdown",
        "telemetry",
        "socket",
        "traffic",
    ],
    // Counts its connections' bytes in `traffic`; what happens to sockets (socket, time).
    &["net", "activity"],
    &["store", "views", "protocol"],
    &["auth", "broadcast", "retrieval"],
    &["llm", "cluster"],
    &["ingest"],
    &["chat", "room"],
    // The transports: socket events, HTTP (and the cluster, below them, sees neither).
    &["events", "http", "admin", "engine"],
    &["config"],
    &["app"],
    &["main", "lib"],
];

/// Imports allowed within one layer (none today).
const SIDEWAYS: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file names as `crate::x`.
fn imports(source: &str) -> BTreeSet<String> {
    source
        .match_indices("crate::")
        .map(|(at, _)| {
            source[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn every_import_points_to_a_lower_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src/");
        let module = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|name| name.trim_end_matches(".rs").to_owned())
            .expect("a module name");
        let Some(own) = layer_of(&module) else {
            panic!(
                "{module} (src/{}) is in no layer of tests/api/layers.rs",
                relative.display()
            );
        };
        let source = std::fs::read_to_string(&file).expect("readable source");
        for import in imports(&source) {
            if import == module || SIDEWAYS.contains(&(module.as_str(), import.as_str())) {
                continue;
            }
            match layer_of(&import) {
                Some(layer) if layer < own => {}
                _ => upward.push(format!("src/{} uses crate::{import}", relative.display())),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not point down:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_import() {
    let found = imports("use crate::chat::ChatService;\nfn f() { crate::time::now(); }");
    assert_eq!(
        found,
        BTreeSet::from(["chat".to_owned(), "time".to_owned()])
    );
    assert!(layer_of("chat") > layer_of("cluster"));
}
