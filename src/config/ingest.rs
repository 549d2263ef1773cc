//! Settings of document ingestion: how text is cut into chunks, and what one PDF may cost.
//! clap checks the ranges itself.

use std::time::Duration;

use clap::Args;

use super::SettingError;
use crate::ingest::chunker::ChunkSettings;
use crate::ingest::pdf::PdfLimits;

#[derive(Debug, Clone, Args)]
pub struct ChunkArgs {
    /// Size of a document chunk, in characters.
    #[arg(long, env = "RAGCAST_CHUNK_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub chunk_size: u64,

    /// Overlap between neighbouring chunks, in characters (less than half of --chunk-size).
    #[arg(long, env = "RAGCAST_CHUNK_OVERLAP", default_value_t = 150)]
    pub chunk_overlap: u64,
}

impl ChunkArgs {
    pub fn settings(&self) -> Result<ChunkSettings, SettingError> {
        if self.chunk_overlap >= self.chunk_size / 2 {
            return Err(SettingError::new(
                "--chunk-overlap",
                "RAGCAST_CHUNK_OVERLAP",
                "must be less than half of --chunk-size",
            ));
        }
        Ok(ChunkSettings {
            size: self.chunk_size as usize,
            overlap: self.chunk_overlap as usize,
        })
    }
}

const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone, Args)]
pub struct PdfArgs {
    /// MiB one PDF stream (or one page's content) may inflate to; past it the document fails.
    #[arg(long, env = "RAGCAST_PDF_MAX_STREAM_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub pdf_max_stream_mb: u64,

    /// MiB all of one PDF's page content may inflate to.
    #[arg(long, env = "RAGCAST_PDF_MAX_INFLATED_MB", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub pdf_max_inflated_mb: u64,

    /// Pages one PDF may have.
    #[arg(long, env = "RAGCAST_PDF_MAX_PAGES", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub pdf_max_pages: u64,

    /// MiB of text one PDF may yield.
    #[arg(long, env = "RAGCAST_PDF_MAX_TEXT_MB", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub pdf_max_text_mb: u64,

    /// MiB of address space the PDF extraction process may use.
    #[arg(long, env = "RAGCAST_PDF_MEMORY_MB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(128..=1_048_576))]
    pub pdf_memory_mb: u64,

    /// Seconds one PDF's extraction may take.
    #[arg(long, env = "RAGCAST_PDF_TIMEOUT_SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub pdf_timeout_secs: u64,
}

impl PdfArgs {
    pub fn limits(&self) -> PdfLimits {
        PdfLimits {
            max_stream_bytes: self.pdf_max_stream_mb * MIB,
            max_inflated_bytes: self.pdf_max_inflated_mb * MIB,
            max_pages: self.pdf_max_pages as usize,
            max_text_bytes: self.pdf_max_text_mb * MIB,
            memory_bytes: self.pdf_memory_mb * MIB,
            timeout: Duration::from_secs(self.pdf_timeout_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        pdf: super::PdfArgs,
    }

    #[test]
    fn defaults_are_the_documented_limits() {
        let only = Only::try_parse_from(["x"]).unwrap();
        assert_eq!(only.pdf.limits(), crate::ingest::pdf::PdfLimits::default());
    }

    #[test]
    fn out_of_range_values_are_refused_by_clap() {
        assert!(Only::try_parse_from(["x", "--pdf-max-pages", "0"]).is_err());
        assert!(Only::try_parse_from(["x", "--pdf-memory-mb", "16"]).is_err());
    }
}
