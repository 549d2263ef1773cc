//! Every arrow points down: a module of `src/` may import (`crate::…`) only modules of a lower
//! layer, so no import cycle can form and the transports never know each other
//! (docs/ARCHITECTURE.md draws the same table). Sources are parsed with `syn`, so grouped
//! imports (`use crate::{a, b::c}`), paths in code and paths inside macro calls all count.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

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
    // Read at wiring time only; it names the admin namespace's settings, so above the transports.
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

/// The top-level modules a file names through `crate::`.
#[derive(Default)]
struct CrateImports(BTreeSet<String>);

impl CrateImports {
    /// `crate::x…` inside a macro call's tokens (`tracing::info!`, `json!`…), which syn leaves
    /// unparsed.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, tree) in trees.iter().enumerate() {
            match tree {
                TokenTree::Group(group) => self.scan_tokens(group.stream()),
                TokenTree::Ident(ident) if ident == "crate" => {
                    if let [TokenTree::Punct(a), TokenTree::Punct(b), TokenTree::Ident(name), ..] =
                        &trees[i + 1..]
                    {
                        if a.as_char() == ':' && b.as_char() == ':' {
                            self.0.insert(name.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The modules a `use crate::…` tree reaches right below `crate`.
    fn below_crate(&mut self, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                self.0.insert(path.ident.to_string());
            }
            syn::UseTree::Name(name) => {
                self.0.insert(name.ident.to_string());
            }
            syn::UseTree::Rename(rename) => {
                self.0.insert(rename.ident.to_string());
            }
            syn::UseTree::Group(group) => group.items.iter().for_each(|t| self.below_crate(t)),
            // `use crate::*` reaches everything: name it so it is refused.
            syn::UseTree::Glob(_) => {
                self.0.insert("*".to_owned());
            }
        }
    }
}

impl<'ast> Visit<'ast> for CrateImports {
    fn visit_use_tree(&mut self, tree: &'ast syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) if path.ident == "crate" => self.below_crate(&path.tree),
            syn::UseTree::Group(group) => group.items.iter().for_each(|t| self.visit_use_tree(t)),
            _ => {}
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let mut segments = path.segments.iter();
        if let (Some(first), Some(second)) = (segments.next(), segments.next()) {
            if first.ident == "crate" {
                self.0.insert(second.ident.to_string());
            }
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.scan_tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}

fn imports(source: &str) -> BTreeSet<String> {
    let file = syn::parse_file(source).expect("a source file syn can parse");
    let mut found = CrateImports::default();
    found.visit_file(&file);
    found.0
}

/// `module`'s imports that do not point to a lower layer, as `path uses crate::x`.
fn upward(module: &str, path: &str, source: &str) -> Vec<String> {
    let Some(own) = layer_of(module) else {
        return vec![format!(
            "{module} ({path}) is in no layer of tests/api/layers.rs"
        )];
    };
    imports(source)
        .into_iter()
        .filter(|import| import != module && !SIDEWAYS.contains(&(module, import.as_str())))
        .filter(|import| !matches!(layer_of(import), Some(layer) if layer < own))
        .map(|import| format!("{path} uses crate::{import}"))
        .collect()
}

#[test]
fn every_import_points_to_a_lower_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut refused = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src/");
        let module = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|name| name.trim_end_matches(".rs").to_owned())
            .expect("a module name");
        let source = std::fs::read_to_string(&file).expect("readable source");
        refused.extend(upward(
            &module,
            &format!("src/{}", relative.display()),
            &source,
        ));
    }
    assert!(
        refused.is_empty(),
        "imports that do not point down:\n{}",
        refused.join("\n")
    );
}

/// A module of the store layer that reaches up in every way an import can be written.
const FIXTURE: &str = r#"
use crate::{time, chat::ChatService, broadcast::{self, Audience}};
use crate::events as ev;
use std::collections::HashMap;

fn f() -> crate::http::Router {
    let _ = crate::time::now();
    tracing::info!(at = ?crate::auth::Caller::Open, "x");
    crate::http::Router::new()
}
"#;

#[test]
fn the_checker_reports_every_kind_of_upward_import() {
    assert_eq!(
        imports(FIXTURE),
        BTreeSet::from(["auth", "broadcast", "chat", "events", "http", "time"].map(str::to_owned))
    );
    assert_eq!(
        upward("store", "src/store/fixture.rs", FIXTURE),
        [
            "src/store/fixture.rs uses crate::auth",
            "src/store/fixture.rs uses crate::broadcast",
            "src/store/fixture.rs uses crate::chat",
            "src/store/fixture.rs uses crate::events",
            "src/store/fixture.rs uses crate::http",
        ]
    );
    // Downward only: nothing to report.
    assert!(upward(
        "chat",
        "src/chat/fixture.rs",
        "use crate::{store, time::now};"
    )
    .is_empty());
    assert_eq!(
        upward("stray", "src/stray.rs", ""),
        ["stray (src/stray.rs) is in no layer of tests/api/layers.rs"]
    );
}
