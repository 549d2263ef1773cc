//! Turning a question into search terms both full-text engines accept verbatim.

const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from",
    "how", "i", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "so", "that", "the",
    "their", "there", "these", "this", "to", "was", "we", "what", "when", "where", "which", "who",
    "why", "will", "with", "you", "your",
];

/// At most this many terms reach the index: a pasted essay must not become a huge query.
const MAX_TERMS: usize = 32;

/// Lower-cased alphanumeric words of two characters or more, without stopwords or repeats.
/// Only letters and digits survive, so the terms need no escaping in FTS5 or `to_tsquery`.
pub fn query_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if word.chars().count() < 2 || STOPWORDS.contains(&word.as_str()) {
            continue;
        }
        if !terms.contains(&word) {
            terms.push(word);
        }
        if terms.len() == MAX_TERMS {
            break;
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::query_terms;

    #[test]
    fn drops_punctuation_stopwords_and_repeats() {
        assert_eq!(
            query_terms("What is the \"boiling\" point of WATER? water!"),
            vec!["boiling", "point", "water"]
        );
    }

    #[test]
    fn keeps_unicode_letters() {
        assert_eq!(query_terms("Größe café"), vec!["größe", "café"]);
    }
}
