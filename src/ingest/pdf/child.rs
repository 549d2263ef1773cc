//! The extraction child: `ragcast extract-pdf <check|extract> <limits…>` reads one PDF on its
//! standard input and writes JSON lines (`Line`) on its standard output. It caps its own address
//! space first, so a PDF that needs more memory ends this process, never the server.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use lopdf::{DecompressError, Document, LoadOptions};

use super::{Line, Mode, PdfLimits, CHILD_COMMAND, PARENT_ENV, PIECE_BYTES};

/// Runs the child when the binary was started as one; `None` for a normal start.
pub fn run_if_child() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = args.split_first()?;
    (command == CHILD_COMMAND).then(|| run(rest))
}

fn run(args: &[String]) -> ExitCode {
    let mode = match args.first().map(String::as_str) {
        Some("check") => Mode::Check,
        Some("extract") => Mode::Extract,
        _ => return usage(),
    };
    let Some(limits) = PdfLimits::from_args(&args[1..]) else {
        return usage();
    };
    if let Err(e) = die_with_parent() {
        eprintln!("{e}");
        return ExitCode::from(3);
    }
    if let Err(e) = cap_address_space(limits.memory_bytes) {
        eprintln!("cannot cap the address space: {e}");
        return ExitCode::from(3);
    }
    let mut bytes = Vec::new();
    if let Err(e) = io::stdin().lock().read_to_end(&mut bytes) {
        eprintln!("cannot read the PDF: {e}");
        return ExitCode::from(3);
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let mut emit = |line: Line| -> io::Result<()> {
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
        out.flush()
    };
    match extract(&bytes, mode, &limits, &mut emit) {
        Ok(()) => ExitCode::SUCCESS,
        // The server went away: nobody reads the rest.
        Err(_) => ExitCode::from(3),
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: ragcast {CHILD_COMMAND} <check|extract> <limits> (started by the server)");
    ExitCode::from(2)
}

/// Has the kernel kill this process when the server dies (a `kill -9` included), so a large
/// PDF's extraction never outlives it; and exits if the server is already gone.
fn die_with_parent() -> io::Result<()> {
    use rustix::process::{getppid, set_parent_process_death_signal, Signal};
    set_parent_process_death_signal(Some(Signal::KILL))?;
    let expected = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|pid| pid.parse::<i32>().ok());
    let parent = getppid().map(|pid| pid.as_raw_nonzero().get());
    match expected {
        // Started by someone else (by hand): nothing to compare with.
        None => Ok(()),
        Some(pid) if Some(pid) == parent => Ok(()),
        Some(_) => Err(io::Error::other("the server is gone")),
    }
}

fn cap_address_space(bytes: u64) -> io::Result<()> {
    use rustix::process::{setrlimit, Resource, Rlimit};
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    )
    .map_err(io::Error::from)
}

fn is_over_limit(e: &lopdf::Error) -> bool {
    matches!(
        e,
        lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded { .. })
    )
}

/// Loads the PDF and, in `Extract` mode, emits its text page by page within `limits`.
fn extract(
    bytes: &[u8],
    mode: Mode,
    limits: &PdfLimits,
    emit: &mut dyn FnMut(Line) -> io::Result<()>,
) -> io::Result<()> {
    let options = LoadOptions {
        max_decompressed_size: Some(limits.max_stream_bytes as usize),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(doc) => doc,
        Err(e) if is_over_limit(&e) => {
            return emit(Line::OverLimit {
                reason: limits.stream_exceeded(),
            })
        }
        Err(e) => {
            return emit(Line::Unreadable {
                reason: format!("the PDF cannot be read: {e}"),
            })
        }
    };
    if doc.is_encrypted() {
        return emit(Line::Unreadable {
            reason: "the PDF is encrypted; upload an unencrypted copy".into(),
        });
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return emit(Line::Unreadable {
            reason: "the PDF has no pages".into(),
        });
    }
    if pages.len() > limits.max_pages {
        return emit(Line::OverLimit {
            reason: limits.pages_exceeded(pages.len()),
        });
    }
    emit(Line::Pages { count: pages.len() })?;
    if mode == Mode::Check {
        return Ok(());
    }

    let mut inflated = 0u64;
    let mut text_bytes = 0u64;
    for (&page, &page_id) in &pages {
        // Measured first, so the document's budget holds before the content is parsed.
        let cap = limits
            .max_stream_bytes
            .min(limits.max_inflated_bytes.saturating_sub(inflated));
        match doc.get_page_content_with_limit(page_id, cap as usize) {
            Ok(content) => inflated += content.len() as u64,
            Err(e) if is_over_limit(&e) => {
                let reason = if cap < limits.max_stream_bytes {
                    limits.inflated_exceeded()
                } else {
                    limits.stream_exceeded()
                };
                return emit(Line::OverLimit { reason });
            }
            // Unreadable content: the page counts as empty.
            Err(_) => {}
        }
        let mut text = String::new();
        for piece in doc.extract_text_chunks_with_limit(&[page], limits.max_stream_bytes as usize) {
            match piece {
                Ok(piece) => text.push_str(&piece),
                Err(e) if is_over_limit(&e) => {
                    return emit(Line::OverLimit {
                        reason: limits.stream_exceeded(),
                    })
                }
                // A font or operator that cannot be decoded: the rest of the page still counts.
                Err(_) => {}
            }
        }
        // PostgreSQL text cannot hold U+0000, and it carries no meaning in a passage.
        let text = text.replace('\0', "");
        text_bytes += text.len() as u64;
        if text_bytes > limits.max_text_bytes {
            return emit(Line::OverLimit {
                reason: limits.text_exceeded(),
            });
        }
        for piece in pieces(&text, PIECE_BYTES) {
            emit(Line::Text {
                page,
                text: piece.to_owned(),
            })?;
        }
        emit(Line::PageDone { page })?;
    }
    Ok(())
}

/// `text` cut at character boundaries into pieces of at most `max` bytes.
fn pieces(text: &str, max: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_characters_whole() {
        let text = "aé".repeat(10);
        let cut: Vec<&str> = pieces(&text, 4).collect();
        assert!(cut.iter().all(|p| p.len() <= 4));
        assert_eq!(cut.concat(), text);
        assert_eq!(pieces("", 4).count(), 0);
    }

    #[test]
    fn a_file_that_is_no_pdf_is_unreadable() {
        let mut lines = Vec::new();
        extract(
            b"%PDF-1.4 garbage",
            Mode::Check,
            &PdfLimits::default(),
            &mut |line| {
                lines.push(line);
                Ok(())
            },
        )
        .unwrap();
        assert!(matches!(lines.as_slice(), [Line::Unreadable { .. }]));
    }
}
