//! What the transports ask of a project's room besides chatting: entering and leaving it,
//! typing, following a task, creating chats and back-end notifications. Each checks access and
//! existence, then reaches the room; handlers only parse and answer.

use entities::project;
use serde::Serialize;
use socketioxide::socket::Sid;

use super::{Joiner, Member, RoomService};
use crate::auth::Caller;
use crate::broadcast::{send_to_socket, Audience, Fold};
use crate::error::{AppError, ErrorCode};
use crate::protocol::names;
use crate::protocol::outgoing::{PresenceList, ProjectRoom, ProjectUpdate, Typing, UpdateKind};
use crate::protocol::PublicId;
use crate::socket::Socket;
use crate::views::ChatView;
use crate::{rooms, store};

/// The title of a chat created without one.
const DEFAULT_CHAT_TITLE: &str = "New chat";

impl RoomService {
    /// The rooms `caller` joins to follow `task_id`'s `ai_progress`: any task for the API key and
    /// auth mode `none`; for a user, their own copy of the task room plus the API key's
    /// generations of it in projects they may see, or `forbidden` when it is another user's task.
    pub async fn task_rooms(
        &self,
        caller: &Caller,
        task_id: &str,
    ) -> Result<Vec<String>, AppError> {
        let Some(user) = caller.user_id() else {
            return Ok(vec![rooms::task(task_id, None)]);
        };
        // A live generation's row is stored before it runs, so this sees it.
        let generations = store::messages::task_generations(&self.db, task_id).await?;
        let foreign = generations.iter().any(|g| g.user_id.is_some());
        let own = generations
            .iter()
            .any(|g| g.user_id.as_deref() == Some(user));
        if foreign && !own {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                "this task belongs to another user",
            ));
        }
        let mut rooms = vec![rooms::task(task_id, Some(user))];
        rooms.extend(
            generations
                .iter()
                .filter(|g| g.user_id.is_none())
                .filter(|g| caller.may_use(g.project_id))
                .map(|g| rooms::project_task(g.project_id, task_id)),
        );
        Ok(rooms)
    }

    /// The project, or `not_found`.
    pub async fn project(&self, project_id: i64) -> Result<project::Model, AppError> {
        store::projects::find(&self.db, project_id)
            .await?
            .ok_or_else(|| AppError::not_found("project"))
    }

    /// May `caller` enter `project_{id}`? Forbidden before not-found: a token must not learn
    /// which projects exist.
    pub async fn check_join(&self, caller: &Caller, project_id: i64) -> Result<(), AppError> {
        caller.require_project(project_id)?;
        self.project(project_id).await.map(drop)
    }

    /// `typing` to the chat's project room, except the typing socket itself.
    pub async fn typing(
        &self,
        caller: &Caller,
        from: Sid,
        public_id: PublicId,
        chat_id: i64,
        typing: bool,
    ) -> Result<(), AppError> {
        let found = store::chats::find(&self.db, chat_id)
            .await?
            .ok_or_else(|| AppError::not_found("chat"))?;
        caller.require_visible(found.project_id, "chat")?;
        // Not worth waiting for: a socket that is behind does without.
        self.broadcaster.send_folded(
            &Audience::room(rooms::project(found.project_id)).except(from),
            names::TYPING,
            &Typing {
                chat_id,
                user_id: caller.user_id(),
                sid: public_id,
                typing,
            },
            Fold::Droppable,
        );
        Ok(())
    }

    /// A new chat (a blank title becomes the default), announced as `project_update`
    /// `chat_created`.
    pub async fn create_chat(
        &self,
        caller: &Caller,
        project_id: i64,
        title: Option<&str>,
    ) -> Result<ChatView, AppError> {
        caller.require_project(project_id)?;
        self.project(project_id).await?;
        let title = title
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(DEFAULT_CHAT_TITLE);
        let view = ChatView::from(store::chats::create(&self.db, project_id, title).await?);
        self.announce(project_id, UpdateKind::ChatCreated, &view);
        Ok(view)
    }

    /// Puts `socket` in `project_{id}`: the room, `project_joined`, its presence and the
    /// `presence` list of who is there.
    pub fn enter(&self, socket: &Socket, joiner: &Joiner, project_id: i64) -> Vec<Member> {
        socket.join(rooms::project(project_id));
        send_to_socket(socket, names::PROJECT_JOINED, &ProjectRoom { project_id });
        let members = self.presence.join(project_id, joiner);
        send_to_socket(
            socket,
            names::PRESENCE,
            &PresenceList {
                project_id,
                members: &members,
            },
        );
        members
    }

    /// Takes `socket` out of `project_{id}`: the room, its presence, `project_left` to it.
    pub fn leave(&self, socket: &Socket, joiner: &Joiner, project_id: i64) {
        socket.leave(rooms::project(project_id));
        self.presence.leave(project_id, joiner);
        send_to_socket(socket, names::PROJECT_LEFT, &ProjectRoom { project_id });
    }

    /// A back end's event into `project_{id}`; answers how many sockets it reached here.
    pub async fn notify<T: Serialize + ?Sized>(
        &self,
        caller: &Caller,
        project_id: i64,
        event: &str,
        payload: &T,
    ) -> Result<usize, AppError> {
        caller.require_backend()?;
        self.project(project_id).await?;
        Ok(self
            .broadcaster
            .send(&Audience::room(rooms::project(project_id)), event, payload))
    }

    fn announce<T: Serialize>(&self, project_id: i64, kind: UpdateKind, data: T) {
        self.broadcaster.send(
            &Audience::room(rooms::project(project_id)),
            names::PROJECT_UPDATE,
            &ProjectUpdate {
                project_id,
                kind,
                data,
            },
        );
    }
}
