//! The built-in generator: no model. It answers with the sentences of the retrieved sources most
//! relevant to the question, each cited as `[n]`, streamed word by word.
//! Deterministic: the same sources and question give the same tokens.

use std::time::Duration;

use futures::stream::{self, StreamExt};

use super::{GenerationRequest, LlmEvent, LlmProvider, LlmStream};
use crate::retrieval::{query_terms, Retrieval, Source};
use crate::store::FinishReason;

pub const BUILTIN_MODEL: &str = "builtin";
pub const NOTHING_RELEVANT: &str =
    "The project's documents hold nothing relevant to this question.";

/// How the built-in generator paces and bounds its answers.
#[derive(Debug, Clone)]
pub struct BuiltinSettings {
    pub token_delay: Duration,
    pub max_tokens: usize,
}

pub struct BuiltinGenerator {
    token_delay: Duration,
    max_tokens: usize,
}

impl BuiltinGenerator {
    pub fn new(settings: &BuiltinSettings) -> Self {
        Self {
            token_delay: settings.token_delay,
            max_tokens: settings.max_tokens,
        }
    }
}

impl LlmProvider for BuiltinGenerator {
    fn default_model(&self) -> &str {
        BUILTIN_MODEL
    }

    /// It answers from the sources alone.
    fn uses_history(&self) -> bool {
        false
    }

    fn generate(&self, request: GenerationRequest) -> LlmStream {
        let answer = compose_answer(&request.question, &request.sources);
        let mut tokens: Vec<String> = answer.split_inclusive(' ').map(str::to_owned).collect();
        let finish = if tokens.len() > self.max_tokens {
            tokens.truncate(self.max_tokens);
            FinishReason::Length
        } else {
            FinishReason::Stop
        };
        let delay = self.token_delay;
        let text = stream::iter(tokens).then(move |token| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(LlmEvent::Text(token))
        });
        text.chain(stream::once(async move { Ok(LlmEvent::Finish(finish)) }))
            .boxed()
    }
}

/// A sentence of source `source_rank` (0-based) and its relevance to the question.
struct Candidate<'a> {
    text: &'a str,
    source_rank: usize,
    position: usize,
    relevance: f64,
}

/// Sentences scoring under this share of the best one are left out.
const KEEP_SHARE: f64 = 0.5;
/// Sentences of the first source cited when it was found by meaning alone.
const SEMANTIC_SENTENCES: usize = 2;

/// The sentences that answer best, each cited. A sentence's relevance is the sum of the inverse
/// sentence frequencies of the question terms it holds, so a term every sentence shares ("water"
/// in thirty "Fact N: water …" lines) weighs little and the distinctive one ("boiling") decides;
/// sentences under half the best are left out. When no sentence shares a term but the first
/// source was found by meaning (a paraphrase), its first sentences answer.
fn compose_answer(question: &str, sources: &[Source]) -> String {
    let terms: Vec<String> = query_terms(question).iter().map(|t| stem(t)).collect();
    let mut sentence_terms: Vec<(usize, usize, &str, Vec<String>)> = Vec::new();
    for (source_rank, source) in sources.iter().enumerate() {
        for (position, sentence) in sentences(&source.content).enumerate() {
            let words: Vec<String> = query_terms(sentence).iter().map(|w| stem(w)).collect();
            sentence_terms.push((source_rank, position, sentence, words));
        }
    }
    let total = sentence_terms.len() as f64;
    let weight = |term: &String| {
        let holding = sentence_terms
            .iter()
            .filter(|(.., w)| w.contains(term))
            .count() as f64;
        (1.0 + total / holding.max(1.0)).ln()
    };
    let weights: Vec<f64> = terms.iter().map(weight).collect();
    let mut candidates: Vec<Candidate> = sentence_terms
        .iter()
        .filter_map(|(source_rank, position, text, words)| {
            let relevance: f64 = terms
                .iter()
                .zip(&weights)
                .filter(|(t, _)| words.contains(t))
                .map(|(_, w)| w)
                .sum();
            (relevance > 0.0).then_some(Candidate {
                text,
                source_rank: *source_rank,
                position: *position,
                relevance,
            })
        })
        .collect();
    if candidates.is_empty() {
        return match sources.first() {
            Some(first)
                if first.metadata.document().and_then(|d| d.retrieval)
                    == Some(Retrieval::Vector) =>
            {
                let parts: Vec<String> = sentences(&first.content)
                    .take(SEMANTIC_SENTENCES)
                    .map(|s| format!("{s} [1]"))
                    .collect();
                if parts.is_empty() {
                    NOTHING_RELEVANT.to_owned()
                } else {
                    parts.join(" ")
                }
            }
            _ => NOTHING_RELEVANT.to_owned(),
        };
    }
    // Best first; among equals, the better source, then document order.
    candidates.sort_by(|a, b| {
        b.relevance
            .total_cmp(&a.relevance)
            .then(a.source_rank.cmp(&b.source_rank))
            .then(a.position.cmp(&b.position))
    });
    let floor = candidates[0].relevance * KEEP_SHARE;
    let mut seen: Vec<&str> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for candidate in candidates.into_iter().filter(|c| c.relevance >= floor) {
        if seen.contains(&candidate.text) {
            continue;
        }
        seen.push(candidate.text);
        parts.push(format!(
            "{} [{}]",
            candidate.text,
            candidate.source_rank + 1
        ));
    }
    parts.join(" ")
}

/// Sentences of a passage, whitespace collapsed: split after `.`, `!` or `?` followed by a space,
/// and at line breaks.
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let mut out = Vec::new();
    // A Markdown heading names a section; it answers nothing.
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut start = 0;
        let bytes = line.as_bytes();
        for (i, c) in line.char_indices() {
            let ends = matches!(c, '.' | '!' | '?')
                && bytes
                    .get(i + 1)
                    .is_none_or(|next| next.is_ascii_whitespace());
            if ends {
                out.push(line[start..=i].trim());
                start = i + 1;
            }
        }
        out.push(line[start..].trim());
    }
    out.into_iter()
        .filter(|s| s.chars().any(char::is_alphanumeric))
}

/// A light suffix strip so "boiling" meets "boil" as the porter-stemmed index does.
fn stem(word: &str) -> String {
    for suffix in ["ing", "ed", "es", "ly", "s"] {
        if let Some(base) = word.strip_suffix(suffix) {
            if base.chars().count() >= 3 {
                return base.to_owned();
            }
        }
    }
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::{Metadata, SourceMetadata};

    fn source(content: &str) -> Source {
        Source {
            id: 1,
            content: content.to_owned(),
            metadata: Metadata::Document(SourceMetadata {
                document_id: 1,
                filename: "a.txt".into(),
                page: None,
                chunk_index: 0,
                retrieval: None,
            }),
            score: 0.5,
        }
    }

    #[test]
    fn cites_the_most_relevant_sentences() {
        let sources = [
            source("Cats sleep a lot. Water boils at 100 degrees at sea level."),
            source("Boiling water is hot."),
        ];
        let answer = compose_answer("At what temperature does water boil?", &sources);
        assert_eq!(
            answer,
            "Water boils at 100 degrees at sea level. [1] Boiling water is hot. [2]"
        );
    }

    #[test]
    fn the_distinctive_term_decides_among_many_sentences() {
        let mut doc: Vec<String> = (0..30)
            .map(|i| format!("Fact {i}: water covers {i} percent of a lake."))
            .collect();
        doc.insert(
            12,
            "Water boils at 100 degrees Celsius at sea level.".into(),
        );
        doc.insert(20, "Boiling water kills most germs.".into());
        let answer = compose_answer("When does water boil?", &[source(&doc.join(" "))]);
        assert_eq!(
            answer,
            "Water boils at 100 degrees Celsius at sea level. [1] Boiling water kills most germs. [1]"
        );
    }

    #[test]
    fn a_source_found_by_meaning_alone_answers_with_its_first_sentences() {
        let mut found = source("Staff accounts require two-factor authentication. Badges open doors. Lunch is at noon.");
        if let Metadata::Document(document) = &mut found.metadata {
            document.retrieval = Some(Retrieval::Vector);
        }
        assert_eq!(
            compose_answer("Do I need 2FA?", &[found]),
            "Staff accounts require two-factor authentication. [1] Badges open doors. [1]"
        );
    }

    #[test]
    fn markdown_headings_are_not_cited() {
        let answer = compose_answer("water", &[source("# Water\n\nWater is wet.")]);
        assert_eq!(answer, "Water is wet. [1]");
    }

    #[test]
    fn says_plainly_when_nothing_is_relevant() {
        assert_eq!(compose_answer("quantum gravity", &[]), NOTHING_RELEVANT);
        assert_eq!(
            compose_answer("quantum gravity", &[source("Cats sleep.")]),
            NOTHING_RELEVANT
        );
    }

    #[tokio::test]
    async fn tokens_join_to_the_answer_and_respect_the_cap() {
        let generator = BuiltinGenerator::new(&BuiltinSettings {
            token_delay: Duration::ZERO,
            max_tokens: 3,
        });
        let events: Vec<_> = generator
            .generate(GenerationRequest {
                model: BUILTIN_MODEL.into(),
                temperature: None,
                question: "water".into(),
                sources: vec![source("Water is wet and clear.")],
                history: vec![],
            })
            .collect()
            .await;
        let events: Vec<LlmEvent> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            events,
            vec![
                LlmEvent::Text("Water ".into()),
                LlmEvent::Text("is ".into()),
                LlmEvent::Text("wet ".into()),
                LlmEvent::Finish(FinishReason::Length),
            ]
        );
    }
}
