//! The tracing subscriber: human-readable lines on stderr, filtered by `RUST_LOG`.

use tracing_subscriber::filter::Directive;
use tracing_subscriber::EnvFilter;

/// socketioxide and engineioxide print every packet at debug level — handshake tokens and chat
/// text included — so they stay at `info` whatever `RUST_LOG` says: no secret in any log line.
const CAPPED: &[&str] = &["socketioxide=info", "engineioxide=info"];

pub fn init(default_filter: &str) {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    for cap in CAPPED {
        if let Ok(directive) = cap.parse::<Directive>() {
            filter = filter.add_directive(directive);
        }
    }
    // `try_init` so tests that build several apps in one process don't panic.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
