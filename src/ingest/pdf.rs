//! PDF text, page by page, with lopdf.

use lopdf::Document;

use super::chunker::PageText;

/// Parses a PDF, or says why it can't be used.
pub fn parse(bytes: &[u8]) -> Result<Document, String> {
    let doc = Document::load_mem(bytes).map_err(|e| format!("the PDF cannot be read: {e}"))?;
    if doc.is_encrypted() {
        return Err("the PDF is encrypted; upload an unencrypted copy".into());
    }
    Ok(doc)
}

pub fn page_count(doc: &Document) -> usize {
    doc.get_pages().len()
}

/// The text of page `number` (1-based); an unreadable page counts as empty.
pub fn page_text(doc: &Document, number: u32) -> PageText {
    let text = doc.extract_text(&[number]).unwrap_or_else(|e| {
        tracing::debug!(page = number, "no text on page: {e}");
        String::new()
    });
    PageText {
        page: Some(number as i32),
        text,
    }
}
