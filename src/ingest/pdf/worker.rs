//! The server's side of an extraction: the child is started with the limits, fed the PDF on its
//! standard input, and read line by line; its time is bounded here, its memory by itself. A
//! child that is dropped (the ingestion stopped) is killed.

use std::path::Path;
use std::process::{ExitStatus, Stdio};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LinesCodec};

use super::{Line, Mode, PdfLimits, CHILD_COMMAND, PARENT_ENV, PIECE_BYTES};
use crate::ingest::chunker::PageText;

/// The longest line the child writes: a piece of text, JSON-escaped (at most 6 bytes per byte).
const MAX_LINE: usize = PIECE_BYTES * 6 + 256;
/// The end of the child's standard error kept to tell why it died.
const STDERR_TAIL: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// Not a usable PDF: refused at upload (422).
    #[error("{0}")]
    Unreadable(String),
    /// Over a limit; the sentence names the setting.
    #[error("{0}")]
    OverLimit(String),
    /// The extraction itself broke (the child could not start, or died for another reason).
    #[error("text extraction failed: {0}")]
    Failed(String),
}

/// What an extraction yields, in order: the page count, then each page.
#[derive(Debug)]
pub enum Event {
    Pages(usize),
    Page(PageText),
}

/// Loads the PDF in a child and counts its pages.
pub async fn check(exe: &Path, bytes: Vec<u8>, limits: PdfLimits) -> Result<usize, PdfError> {
    let mut extraction = Extraction::start(exe, Mode::Check, bytes, limits)?;
    match extraction.next().await? {
        Some(Event::Pages(count)) => {
            extraction.finish().await?;
            Ok(count)
        }
        other => Err(PdfError::Failed(format!(
            "the extraction process answered {other:?} instead of a page count"
        ))),
    }
}

/// One running extraction child.
pub struct Extraction {
    child: Child,
    lines: FramedRead<ChildStdout, LinesCodec>,
    stderr: JoinHandle<String>,
    deadline: Instant,
    limits: PdfLimits,
    page: Option<PageText>,
}

impl Extraction {
    pub fn start(
        exe: &Path,
        mode: Mode,
        bytes: Vec<u8>,
        limits: PdfLimits,
    ) -> Result<Self, PdfError> {
        let mut child = Command::new(exe)
            .arg(CHILD_COMMAND)
            .arg(mode.as_arg())
            .args(limits.to_args())
            .env(PARENT_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                PdfError::Failed(format!(
                    "cannot start the extraction process {}: {e}",
                    exe.display()
                ))
            })?;
        let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(PdfError::Failed(
                "the extraction process has no pipes".into(),
            ));
        };
        // Written beside the reading, so neither side waits on a full pipe.
        tokio::spawn(async move {
            let _ = stdin.write_all(&bytes).await;
        });
        let stderr = tokio::spawn(async move {
            let mut all = Vec::new();
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = stderr.read(&mut buf).await {
                all.extend_from_slice(&buf[..n]);
                if all.len() > 2 * STDERR_TAIL {
                    all.drain(..all.len() - STDERR_TAIL);
                }
            }
            String::from_utf8_lossy(&all).into_owned()
        });
        Ok(Self {
            child,
            lines: FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE)),
            stderr,
            deadline: Instant::now() + limits.timeout,
            limits,
            page: None,
        })
    }

    /// The next event, or `None` once the child ended cleanly.
    pub async fn next(&mut self) -> Result<Option<Event>, PdfError> {
        loop {
            let line = match tokio::time::timeout_at(self.deadline, self.lines.next()).await {
                Err(_) => return Err(self.kill(self.limits.time_exceeded()).await),
                Ok(None) => return self.finish().await.map(|()| None),
                Ok(Some(Err(e))) => {
                    return Err(self.kill_failed(format!("unreadable output: {e}")).await)
                }
                Ok(Some(Ok(line))) => line,
            };
            let line: Line = match serde_json::from_str(&line) {
                Ok(line) => line,
                Err(e) => return Err(self.kill_failed(format!("unreadable output: {e}")).await),
            };
            match line {
                Line::Pages { count } => return Ok(Some(Event::Pages(count))),
                Line::Text { page, text } => {
                    let current = self.page.get_or_insert_with(|| PageText {
                        page: Some(page as i32),
                        text: String::new(),
                    });
                    current.text.push_str(&text);
                }
                Line::PageDone { page } => {
                    let done = self.page.take().unwrap_or(PageText {
                        page: Some(page as i32),
                        text: String::new(),
                    });
                    return Ok(Some(Event::Page(done)));
                }
                Line::Unreadable { reason } => return Err(PdfError::Unreadable(reason)),
                Line::OverLimit { reason } => return Err(PdfError::OverLimit(reason)),
            }
        }
    }

    /// Waits for the child to exit and says why it failed, if it did.
    async fn finish(&mut self) -> Result<(), PdfError> {
        let status = match tokio::time::timeout_at(self.deadline, self.child.wait()).await {
            Err(_) => return Err(self.kill(self.limits.time_exceeded()).await),
            Ok(Err(e)) => return Err(PdfError::Failed(format!("cannot wait for it: {e}"))),
            Ok(Ok(status)) => status,
        };
        if status.success() {
            return Ok(());
        }
        let stderr = (&mut self.stderr).await.unwrap_or_default();
        Err(died(status, &stderr, &self.limits))
    }

    async fn kill(&mut self, reason: String) -> PdfError {
        let _ = self.child.kill().await;
        PdfError::OverLimit(reason)
    }

    async fn kill_failed(&mut self, reason: String) -> PdfError {
        let _ = self.child.kill().await;
        PdfError::Failed(reason)
    }
}

/// Why a child that exited with `status` failed, from the end of its standard error.
fn died(status: ExitStatus, stderr: &str, limits: &PdfLimits) -> PdfError {
    if stderr.contains("memory allocation of") {
        return PdfError::OverLimit(limits.memory_exceeded());
    }
    if stderr.contains("has overflowed its stack") {
        return PdfError::OverLimit("the PDF is nested too deeply to be read".into());
    }
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    PdfError::Failed(match last {
        Some(line) => format!("the extraction process ended with {status}: {line}"),
        None => format!("the extraction process ended with {status}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_child_that_ran_out_of_memory_names_the_limit() {
        let limits = PdfLimits::default();
        let aborted = ExitStatus::from_raw(6);
        match died(aborted, "memory allocation of 8 bytes failed\n", &limits) {
            PdfError::OverLimit(reason) => assert!(reason.contains("--pdf-memory-mb"), "{reason}"),
            other => panic!("{other:?}"),
        }
        match died(ExitStatus::from_raw(9), "", &limits) {
            PdfError::Failed(reason) => assert!(reason.contains("signal"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
