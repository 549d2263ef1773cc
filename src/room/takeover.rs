//! A person takes a chat over (PROTOCOL §9.1): `assistant: "off"` while they answer, `"on"` to
//! hand it back. The pipeline reads the switch at every message.

use serde::Deserialize;

use super::RoomService;
use crate::auth::Caller;
use crate::broadcast::Audience;
use crate::error::AppError;
use crate::protocol::names;
use crate::protocol::outgoing::{ChatChange, ProjectUpdate, UpdateKind};
use crate::protocol::payloads::{Payload, MAX_TITLE_CHARS};
use crate::views::ChatView;
use crate::{rooms, store};
use entities::AssistantMode;

/// `PATCH /api/chats/{id}`: what to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatPatch {
    /// `"on"` (ragcast's model answers) or `"off"` (a person has taken the chat over).
    pub assistant: Option<AssistantMode>,
    pub title: Option<String>,
}

impl Payload for ChatPatch {
    fn validate(&self) -> Result<(), String> {
        if self.assistant.is_none() && self.title.is_none() {
            return Err("give `assistant` or `title`".into());
        }
        match &self.title {
            Some(t) if t.trim().is_empty() => Err("`title` must not be blank".into()),
            Some(t) if t.chars().count() > MAX_TITLE_CHARS => Err(format!(
                "`title` must be at most {MAX_TITLE_CHARS} characters"
            )),
            _ => Ok(()),
        }
    }
}

impl RoomService {
    /// Changes a chat's assistant switch and title, announced to its project's room as
    /// `project_update` `chat_updated`. The API key, or an operator of the project.
    pub async fn update_chat(
        &self,
        caller: &Caller,
        chat_id: i64,
        patch: ChatPatch,
    ) -> Result<ChatView, AppError> {
        let chat = store::chats::find(&self.db, chat_id)
            .await?
            .ok_or_else(|| AppError::not_found("chat"))?;
        caller.require_visible(chat.project_id, "chat")?;
        caller.require_operator(chat.project_id)?;
        let updated = store::chats::update(
            &self.db,
            chat_id,
            patch.assistant,
            patch.title.as_deref().map(str::trim),
        )
        .await?
        .ok_or_else(|| AppError::not_found("chat"))?;
        let view = ChatView::from(updated);
        tracing::info!(chat_id, assistant = ?view.assistant, "chat updated");
        self.broadcaster.send(
            &Audience::room(rooms::project(view.project_id)),
            names::PROJECT_UPDATE,
            &ProjectUpdate {
                project_id: view.project_id,
                kind: UpdateKind::ChatUpdated,
                data: ChatChange {
                    chat_id: view.id,
                    assistant: view.assistant,
                    title: &view.title,
                },
            },
        );
        Ok(view)
    }
}
