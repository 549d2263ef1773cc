//! Splitting extracted text into passages: paragraph and sentence boundaries first, a hard split
//! only for a sentence longer than a chunk. Neighbouring chunks share up to `overlap` characters
//! of whole sentences, so an answer that straddles a boundary is still found whole.

/// One page of extracted text; `page` is 1-based for PDFs and `None` for text.
#[derive(Debug, Clone)]
pub struct PageText {
    pub page: Option<i32>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub chunk_index: i32,
    pub page: Option<i32>,
    pub content: String,
}

#[derive(Debug, Clone, Copy)]
pub struct ChunkSettings {
    /// Target size in characters.
    pub size: usize,
    /// Characters of trailing sentences repeated at the start of the next chunk.
    pub overlap: usize,
}

fn len(s: &str) -> usize {
    s.chars().count()
}

/// Chunks never cross a page, so each keeps one page number.
pub fn chunk_pages(pages: &[PageText], settings: ChunkSettings) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for page in pages {
        for content in chunk_text(&page.text, settings) {
            chunks.push(Chunk {
                chunk_index: chunks.len() as i32,
                page: page.page,
                content,
            });
        }
    }
    chunks
}

pub fn chunk_text(text: &str, settings: ChunkSettings) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut current_len = 0;
    for paragraph in paragraphs(text) {
        let mut units = split_sentences(&paragraph, settings.size);
        // A paragraph break is kept as a blank line inside a chunk.
        if let (Some(last), Some(first)) = (current.last_mut(), units.first_mut()) {
            last.truncate(last.trim_end().len());
            first.insert_str(0, "\n\n");
        }
        for unit in units {
            let unit_len = len(&unit);
            if current_len + unit_len > settings.size && !current.is_empty() {
                chunks.push(current.concat().trim().to_owned());
                current = overlap_tail(&current, settings.overlap);
                current_len = current.iter().map(|s| len(s)).sum();
            }
            current_len += unit_len;
            current.push(unit);
        }
    }
    if !current.is_empty() {
        let last = current.concat().trim().to_owned();
        if !last.is_empty() {
            chunks.push(last);
        }
    }
    chunks
}

/// The trailing sentences of a chunk that fit in `overlap` characters.
fn overlap_tail(units: &[String], overlap: usize) -> Vec<String> {
    let mut tail = Vec::new();
    let mut total = 0;
    for unit in units.iter().rev() {
        let unit_len = len(unit);
        if total + unit_len > overlap {
            break;
        }
        total += unit_len;
        tail.push(unit.trim_start_matches('\n').to_owned());
    }
    tail.reverse();
    tail
}

/// Paragraphs separated by blank lines, inner whitespace collapsed.
fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&line.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Sentences, each ending with its separating space; a sentence over `max` characters is cut
/// at word boundaries (or anywhere, for a word longer than `max`).
fn split_sentences(paragraph: &str, max: usize) -> Vec<String> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = paragraph.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        let at_end =
            matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_some_and(|&(_, next)| next == ' ');
        if at_end {
            let end = at + c.len_utf8() + 1;
            sentences.push(paragraph[start..end].to_owned());
            start = end;
        }
    }
    if start < paragraph.len() {
        sentences.push(format!("{} ", &paragraph[start..]));
    }
    sentences
        .into_iter()
        .flat_map(|s| hard_split(s, max))
        .collect()
}

fn hard_split(sentence: String, max: usize) -> Vec<String> {
    if len(&sentence) <= max {
        return vec![sentence];
    }
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for word in sentence.split_inclusive(' ') {
        if len(&piece) + len(word) > max && !piece.is_empty() {
            pieces.push(std::mem::take(&mut piece));
        }
        if len(word) > max {
            let chars: Vec<char> = word.chars().collect();
            for part in chars.chunks(max) {
                pieces.push(part.iter().collect());
            }
            continue;
        }
        piece.push_str(word);
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: ChunkSettings = ChunkSettings {
        size: 100,
        overlap: 30,
    };

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(
            chunk_text("Hello world.\n\nSecond   paragraph.", SETTINGS),
            vec!["Hello world.\n\nSecond paragraph."]
        );
    }

    #[test]
    fn chunks_end_at_sentence_boundaries_and_overlap() {
        let text = (0..20)
            .map(|i| format!("Sentence number {i} is here."))
            .collect::<Vec<_>>()
            .join(" ");
        let chunks = chunk_text(&text, SETTINGS);
        assert!(chunks.len() > 3);
        for chunk in &chunks {
            assert!(len(chunk) <= SETTINGS.size, "{chunk}");
            assert!(chunk.ends_with('.'), "{chunk}");
        }
        // The last sentence of a chunk opens the next one.
        for pair in chunks.windows(2) {
            let last_sentence = pair[0].rsplit(". ").next().unwrap();
            assert!(pair[1].starts_with(last_sentence), "{pair:?}");
        }
        // Nothing is lost.
        for i in 0..20 {
            let needle = format!("Sentence number {i} is here.");
            assert!(chunks.iter().any(|c| c.contains(&needle)), "{needle}");
        }
    }

    #[test]
    fn a_giant_word_is_cut() {
        let word = "x".repeat(250);
        let chunks = chunk_text(&word, SETTINGS);
        assert_eq!(chunks.iter().map(|c| len(c)).sum::<usize>(), 250);
    }

    #[test]
    fn pages_keep_their_numbers_and_indices_run_on() {
        let pages = [
            PageText {
                page: Some(1),
                text: "First page.".into(),
            },
            PageText {
                page: Some(2),
                text: "Second page.".into(),
            },
        ];
        let chunks = chunk_pages(&pages, SETTINGS);
        assert_eq!(chunks.len(), 2);
        assert_eq!((chunks[1].chunk_index, chunks[1].page), (1, Some(2)));
    }
}
