//! The prompt every model provider sends: a system message listing the retrieved sources as
//! `[1]…[n]`, the chat's history trimmed oldest-first to a budget, the question last.

use serde::Serialize;

use super::{GenerationRequest, HistoryTurn};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

const INSTRUCTIONS: &str = "You answer questions about the user's project documents. \
Ground every statement in the numbered sources below and cite them as [n] right after the \
statement they support. If the sources do not contain the answer, say so plainly instead of \
guessing.";

pub fn system_message(request: &GenerationRequest) -> String {
    let mut text = String::from(INSTRUCTIONS);
    if request.sources.is_empty() {
        text.push_str("\n\nNo sources were found for this question.");
        return text;
    }
    text.push_str("\n\nSources:");
    for (n, source) in request.sources.iter().enumerate() {
        let place = match source.metadata.document() {
            Some(document) => match document.page {
                Some(page) => format!("{}, page {page}", document.filename),
                None => document.filename.clone(),
            },
            None => "given by the back end".to_owned(),
        };
        text.push_str(&format!(
            "\n\n[{}] ({place})\n{}",
            n + 1,
            source.content.trim()
        ));
    }
    text
}

/// The most recent turns whose total length fits `budget_chars`, oldest first.
pub fn trim_history(history: &[HistoryTurn], budget_chars: usize) -> Vec<ChatMessage> {
    let mut kept = Vec::new();
    let mut used = 0;
    for turn in history.iter().rev() {
        let len = turn.content.chars().count();
        if used + len > budget_chars {
            break;
        }
        used += len;
        kept.push(ChatMessage {
            role: turn.role.as_str().to_owned(),
            content: turn.content.clone(),
        });
    }
    kept.reverse();
    kept
}

pub fn messages(request: &GenerationRequest, history_budget_chars: usize) -> Vec<ChatMessage> {
    let mut messages = vec![ChatMessage {
        role: "system".into(),
        content: system_message(request),
    }];
    messages.extend(trim_history(&request.history, history_budget_chars));
    messages.push(ChatMessage {
        role: "user".into(),
        content: request.question.clone(),
    });
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::Role;

    fn turn(role: Role, content: &str) -> HistoryTurn {
        HistoryTurn {
            role,
            content: content.into(),
        }
    }

    #[test]
    fn history_is_trimmed_oldest_first() {
        let history = [
            turn(Role::User, "aaaa"),
            turn(Role::Assistant, "bbbb"),
            turn(Role::User, "cc"),
        ];
        let kept = trim_history(&history, 6);
        assert_eq!(
            kept.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
            ["bbbb", "cc"]
        );
        assert!(trim_history(&history, 1).is_empty());
    }
}
