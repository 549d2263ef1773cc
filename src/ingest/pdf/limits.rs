//! What one PDF may cost. Every limit has a setting, and a document over one is `failed` with a
//! sentence that names that setting.

use std::time::Duration;

const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfLimits {
    /// Bytes one stream (or one page's content) may inflate to (`--pdf-max-stream-mb`).
    pub max_stream_bytes: u64,
    /// Bytes all of a document's page content may inflate to (`--pdf-max-inflated-mb`).
    pub max_inflated_bytes: u64,
    /// Pages (`--pdf-max-pages`).
    pub max_pages: usize,
    /// Bytes of extracted text (`--pdf-max-text-mb`).
    pub max_text_bytes: u64,
    /// Address space of the extraction process (`--pdf-memory-mb`).
    pub memory_bytes: u64,
    /// Wall-clock time of one extraction (`--pdf-timeout-secs`).
    pub timeout: Duration,
}

impl Default for PdfLimits {
    fn default() -> Self {
        Self {
            max_stream_bytes: 64 * MIB,
            max_inflated_bytes: 256 * MIB,
            max_pages: 5000,
            max_text_bytes: 32 * MIB,
            memory_bytes: 1024 * MIB,
            timeout: Duration::from_secs(120),
        }
    }
}

fn mib(bytes: u64) -> u64 {
    bytes / MIB
}

impl PdfLimits {
    pub(super) fn stream_exceeded(&self) -> String {
        format!(
            "a PDF stream inflates past the limit of {} MiB (--pdf-max-stream-mb)",
            mib(self.max_stream_bytes)
        )
    }

    pub(super) fn inflated_exceeded(&self) -> String {
        format!(
            "the PDF's page content inflates past the limit of {} MiB in all (--pdf-max-inflated-mb)",
            mib(self.max_inflated_bytes)
        )
    }

    pub(super) fn pages_exceeded(&self, pages: usize) -> String {
        format!(
            "the PDF has {pages} pages, more than the limit of {} (--pdf-max-pages)",
            self.max_pages
        )
    }

    pub(super) fn text_exceeded(&self) -> String {
        format!(
            "the PDF's text is larger than the limit of {} MiB (--pdf-max-text-mb)",
            mib(self.max_text_bytes)
        )
    }

    pub(super) fn memory_exceeded(&self) -> String {
        format!(
            "reading the PDF needed more memory than the limit of {} MiB (--pdf-memory-mb)",
            mib(self.memory_bytes)
        )
    }

    pub(super) fn time_exceeded(&self) -> String {
        format!(
            "reading the PDF took longer than the limit of {} s (--pdf-timeout-secs)",
            self.timeout.as_secs()
        )
    }

    /// The child's arguments after its mode.
    pub(super) fn to_args(self) -> Vec<String> {
        vec![
            self.max_stream_bytes.to_string(),
            self.max_inflated_bytes.to_string(),
            self.max_pages.to_string(),
            self.max_text_bytes.to_string(),
            self.memory_bytes.to_string(),
        ]
    }

    /// Reads what `to_args` wrote (the timeout is the server's to enforce).
    pub(super) fn from_args(args: &[String]) -> Option<Self> {
        let [stream, inflated, pages, text, memory] = args else {
            return None;
        };
        Some(Self {
            max_stream_bytes: stream.parse().ok()?,
            max_inflated_bytes: inflated.parse().ok()?,
            max_pages: pages.parse().ok()?,
            max_text_bytes: text.parse().ok()?,
            memory_bytes: memory.parse().ok()?,
            timeout: Duration::ZERO,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_cross_to_the_child_unchanged() {
        let limits = PdfLimits {
            max_pages: 7,
            ..PdfLimits::default()
        };
        let back = PdfLimits::from_args(&limits.to_args()).unwrap();
        assert_eq!(
            back,
            PdfLimits {
                timeout: Duration::ZERO,
                ..limits
            }
        );
        assert!(PdfLimits::from_args(&["1".into()]).is_none());
    }
}
