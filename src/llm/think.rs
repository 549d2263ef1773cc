//! Reasoning models served without a reasoning parser (Ollama without `think`, llama.cpp or vLLM
//! without `--reasoning-parser`) put their thinking in the text, as a leading
//! `<think>…</think>`. PROTOCOL §5 wants reasoning in `message_reasoning`, never in
//! `message_token`, so a reply that opens with that tag has its thinking moved out.

use futures::StreamExt;

use super::{LlmEvent, LlmStream};

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// Moves a leading `<think>…</think>` of the text into reasoning events.
pub fn split_thinking(stream: LlmStream) -> LlmStream {
    futures::stream::unfold(
        (stream, ThinkSplitter::default(), false),
        |(mut stream, mut splitter, ended)| async move {
            if ended {
                return None;
            }
            let out: Vec<_> = match stream.next().await {
                Some(Ok(event)) => splitter.push(event).into_iter().map(Ok).collect(),
                Some(Err(e)) => {
                    let mut out: Vec<_> = splitter.finish().into_iter().map(Ok).collect();
                    out.push(Err(e));
                    return Some((out, (stream, splitter, true)));
                }
                None => {
                    let out = splitter.finish().into_iter().map(Ok).collect();
                    return Some((out, (stream, splitter, true)));
                }
            };
            Some((out, (stream, splitter, false)))
        },
    )
    .flat_map(futures::stream::iter)
    .boxed()
}

/// Where the text is, relative to a leading `<think>` block.
#[derive(Debug)]
enum Place {
    /// Before any text that rules a leading tag in or out; holds what came so far.
    Start(String),
    /// Inside the block; holds a tail that may be the start of `</think>`.
    Thinking(String),
    /// Just after the block: the blank lines that separate it from the answer are dropped.
    AfterBlock,
    /// The answer, or there was no block: text passes through.
    Text,
}

#[derive(Debug)]
pub struct ThinkSplitter {
    place: Place,
}

impl Default for ThinkSplitter {
    fn default() -> Self {
        Self {
            place: Place::Start(String::new()),
        }
    }
}

impl ThinkSplitter {
    pub fn push(&mut self, event: LlmEvent) -> Vec<LlmEvent> {
        let LlmEvent::Text(text) = event else {
            return vec![event];
        };
        match &mut self.place {
            Place::Text => vec![LlmEvent::Text(text)],
            Place::Start(held) => {
                held.push_str(&text);
                let start = held.trim_start();
                if start.len() < OPEN.len() && OPEN.starts_with(start) {
                    return Vec::new(); // maybe the tag, maybe not: wait for more
                }
                match start.strip_prefix(OPEN) {
                    Some(rest) => {
                        let rest = rest.to_owned();
                        self.place = Place::Thinking(String::new());
                        self.think(rest)
                    }
                    None => {
                        let all = std::mem::take(held);
                        self.place = Place::Text;
                        vec![LlmEvent::Text(all)]
                    }
                }
            }
            Place::Thinking(_) => self.think(text),
            Place::AfterBlock => self.after_block(&text),
        }
    }

    fn after_block(&mut self, text: &str) -> Vec<LlmEvent> {
        let answer = text.trim_start();
        if answer.is_empty() {
            return Vec::new();
        }
        self.place = Place::Text;
        vec![LlmEvent::Text(answer.to_owned())]
    }

    /// The end of the stream: whatever is held goes out as what it was.
    pub fn finish(&mut self) -> Vec<LlmEvent> {
        match std::mem::replace(&mut self.place, Place::Text) {
            Place::Start(held) if !held.is_empty() => vec![LlmEvent::Text(held)],
            Place::Thinking(held) if !held.is_empty() => vec![LlmEvent::Reasoning(held)],
            _ => Vec::new(),
        }
    }

    fn think(&mut self, text: String) -> Vec<LlmEvent> {
        let Place::Thinking(held) = &mut self.place else {
            return vec![LlmEvent::Text(text)];
        };
        held.push_str(&text);
        if let Some(end) = held.find(CLOSE) {
            let thought = held[..end].to_owned();
            let after = held[end + CLOSE.len()..].to_owned();
            self.place = Place::AfterBlock;
            let mut out = Vec::new();
            if !thought.is_empty() {
                out.push(LlmEvent::Reasoning(thought));
            }
            out.extend(self.after_block(&after));
            return out;
        }
        // Keep back a tail that could begin `</think>` (ASCII, so the cut is a char boundary).
        let keep = (1..CLOSE.len())
            .rev()
            .find(|&n| held.ends_with(&CLOSE[..n]))
            .unwrap_or(0);
        let thought: String = held.drain(..held.len() - keep).collect();
        if thought.is_empty() {
            Vec::new()
        } else {
            vec![LlmEvent::Reasoning(thought)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pieces: &[&str]) -> Vec<LlmEvent> {
        let mut splitter = ThinkSplitter::default();
        let mut out: Vec<LlmEvent> = pieces
            .iter()
            .flat_map(|p| splitter.push(LlmEvent::Text((*p).to_owned())))
            .collect();
        out.extend(splitter.finish());
        out
    }

    fn joined(events: &[LlmEvent]) -> (String, String) {
        let (mut reasoning, mut text) = (String::new(), String::new());
        for event in events {
            match event {
                LlmEvent::Reasoning(t) => reasoning.push_str(t),
                LlmEvent::Text(t) => text.push_str(t),
                _ => {}
            }
        }
        (reasoning, text)
    }

    #[test]
    fn a_leading_block_becomes_reasoning_wherever_the_chunks_are_cut() {
        let whole = "<think>Water boils at 100.\nSo yes.</think>\n\nIt boils at 100 °C.";
        let expected = (
            "Water boils at 100.\nSo yes.".to_owned(),
            "It boils at 100 °C.".to_owned(),
        );
        for cut in 0..=whole.len() {
            if !whole.is_char_boundary(cut) {
                continue;
            }
            for second in cut..=whole.len() {
                if !whole.is_char_boundary(second) {
                    continue;
                }
                let pieces = [&whole[..cut], &whole[cut..second], &whole[second..]];
                let events = run(&pieces);
                assert_eq!(joined(&events), expected, "cuts at {cut} and {second}");
                assert!(
                    events
                        .iter()
                        .all(|e| !matches!(e, LlmEvent::Text(t) if t.contains("think>"))),
                    "cuts at {cut} and {second}: {events:?}"
                );
            }
        }
    }

    #[test]
    fn text_without_a_leading_tag_is_left_alone() {
        for pieces in [
            &["<thin", "king is fun"][..],
            &["Hello <think>not a block</think>"],
            &["<"],
            &["  plain"],
        ] {
            let events = run(pieces);
            assert_eq!(joined(&events), (String::new(), pieces.concat()));
        }
    }

    #[test]
    fn an_unclosed_block_is_all_reasoning() {
        let events = run(&["<think>still ", "thinking </thi"]);
        assert_eq!(
            joined(&events),
            ("still thinking </thi".to_owned(), String::new())
        );
    }

    #[test]
    fn other_events_pass_through() {
        let mut splitter = ThinkSplitter::default();
        let reasoning = LlmEvent::Reasoning("separate".into());
        assert_eq!(splitter.push(reasoning.clone()), vec![reasoning]);
    }
}
