//! PDF text, page by page, extracted in a child process (`ragcast extract-pdf`) whose address
//! space is capped. lopdf bounds each stream while it inflates, but parsing a page's content
//! costs ~25 times its size in memory (a 200 MB stream took 5 GB), and memory the server's
//! allocator once held stays held; a child's memory is bounded by the kernel and returns whole
//! when it exits, so no upload can take the server down.
//!
//! - `limits`: what one PDF may cost (settings), and the sentence naming each limit.
//! - `child`: the extraction itself, run inside the child.
//! - `worker`: the server's side: start the child, feed it the PDF, read its pages.

mod child;
mod limits;
mod worker;

pub use child::run_if_child;
pub use limits::PdfLimits;
pub use worker::{check, Event, Extraction, PdfError};

use serde::{Deserialize, Serialize};

/// The first argument that turns the binary into the extraction child.
const CHILD_COMMAND: &str = "extract-pdf";
/// The server's pid, given to the child, which checks that its parent is still that process.
const PARENT_ENV: &str = "RAGCAST_PDF_PARENT";

/// Text is sent in pieces of at most this many bytes, so each line the server reads is small.
const PIECE_BYTES: usize = 16 * 1024;

/// One line the child writes on its standard output (JSON lines).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line {
    /// The PDF loaded: how many pages it has.
    Pages { count: usize },
    /// A piece of page `page`'s text (pages come in order, each in one or more pieces).
    Text { page: u32, text: String },
    /// Page `page` is done.
    PageDone { page: u32 },
    /// The PDF cannot be read (not a PDF, encrypted, no pages).
    Unreadable { reason: String },
    /// The PDF is over one of the limits.
    OverLimit { reason: String },
}

/// What the child is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Load it and count its pages (at upload, to refuse a broken file at once).
    Check,
    /// Extract every page's text.
    Extract,
}

impl Mode {
    fn as_arg(self) -> &'static str {
        match self {
            Mode::Check => "check",
            Mode::Extract => "extract",
        }
    }
}
