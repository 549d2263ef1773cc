//! Telling plain text, Markdown and PDF apart by content (magic bytes, UTF-8 validity) as well
//! as by the declared name and type, and refusing what is not what it says.

use crate::error::{AppError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Markdown,
    Pdf,
}

impl Kind {
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Text => "text/plain",
            Kind::Markdown => "text/markdown",
            Kind::Pdf => "application/pdf",
        }
    }
}

/// What the client said the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Declared {
    Pdf,
    Markdown,
    Text,
    /// Said nothing useful (no extension, `application/octet-stream`).
    Unknown,
    /// Something we don't take (an image, a Word file…).
    Other,
}

fn declared(filename: &str, content_type: Option<&str>) -> Declared {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    let by_name = match ext.as_deref() {
        Some("pdf") => Declared::Pdf,
        Some("md" | "markdown") => Declared::Markdown,
        Some("txt" | "text" | "log" | "csv" | "rst") => Declared::Text,
        Some(_) => Declared::Other,
        None => Declared::Unknown,
    };
    let mime = content_type.map(|t| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    let by_type = match mime.as_deref() {
        Some("application/pdf") => Declared::Pdf,
        Some("text/markdown" | "text/x-markdown") => Declared::Markdown,
        Some(t) if t.starts_with("text/") => Declared::Text,
        None | Some("application/octet-stream") | Some("") => Declared::Unknown,
        Some(_) => Declared::Other,
    };
    match (by_name, by_type) {
        (Declared::Unknown, t) => t,
        (n, Declared::Unknown) => n,
        // A text type with a Markdown name is Markdown.
        (Declared::Markdown, Declared::Text) => Declared::Markdown,
        (n, _) => n,
    }
}

/// The kind of an upload, or 415 (a type we don't take) / 422 (not what it says it is).
pub fn detect(filename: &str, content_type: Option<&str>, bytes: &[u8]) -> Result<Kind, AppError> {
    let is_pdf = bytes.starts_with(b"%PDF-");
    let is_text = !is_pdf && std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0);
    let unsupported = || {
        AppError::new(
            ErrorCode::UnsupportedMediaType,
            "unsupported file type: upload plain text, Markdown or PDF",
        )
    };
    match declared(filename, content_type) {
        Declared::Pdf if is_pdf => Ok(Kind::Pdf),
        Declared::Pdf => Err(AppError::new(
            ErrorCode::Unprocessable,
            "the file is declared as PDF but is not one (no %PDF header)",
        )),
        Declared::Markdown | Declared::Text if is_pdf => Err(AppError::new(
            ErrorCode::Unprocessable,
            "the file is declared as text but is a PDF; name it .pdf",
        )),
        Declared::Markdown if is_text => Ok(Kind::Markdown),
        Declared::Text if is_text => Ok(Kind::Text),
        Declared::Markdown | Declared::Text => Err(AppError::new(
            ErrorCode::Unprocessable,
            "the file is declared as text but is not valid UTF-8 text",
        )),
        Declared::Unknown if is_pdf => Ok(Kind::Pdf),
        Declared::Unknown if is_text => Ok(Kind::Text),
        Declared::Unknown | Declared::Other => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decides_with_the_declaration() {
        assert_eq!(detect("a.pdf", None, b"%PDF-1.4 ...").unwrap(), Kind::Pdf);
        assert_eq!(detect("notes", None, b"%PDF-1.7").unwrap(), Kind::Pdf);
        assert_eq!(
            detect("a.md", Some("text/plain"), b"# hi").unwrap(),
            Kind::Markdown
        );
        assert_eq!(
            detect("a", Some("text/markdown"), b"# hi").unwrap(),
            Kind::Markdown
        );
        assert_eq!(
            detect("a.txt", None, "héllo".as_bytes()).unwrap(),
            Kind::Text
        );
        assert_eq!(detect("blob", None, b"plain words").unwrap(), Kind::Text);
    }

    #[test]
    fn lies_and_unsupported_types_are_refused() {
        let code = |r: Result<Kind, AppError>| r.unwrap_err().code;
        assert_eq!(
            code(detect("a.pdf", None, b"hello")),
            ErrorCode::Unprocessable
        );
        assert_eq!(
            code(detect("a.txt", None, &[0xff, 0xfe, 0x00])),
            ErrorCode::Unprocessable
        );
        assert_eq!(
            code(detect("a.txt", None, b"%PDF-1.4")),
            ErrorCode::Unprocessable
        );
        assert_eq!(
            code(detect("a.png", Some("image/png"), &[0x89, b'P'])),
            ErrorCode::UnsupportedMediaType
        );
        assert_eq!(
            code(detect("blob", None, &[0x89, 0x00, 0xff])),
            ErrorCode::UnsupportedMediaType
        );
    }
}
